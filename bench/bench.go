// Package bench is a produce/consume benchmark harness for any
// Kafka-protocol cluster (Samsa, Apache Kafka, Redpanda, kfake). It uses
// franz-go as the client so results are comparable across brokers.
//
// A benchmark creates (or reuses) a topic, then for each run produces
// Config.Records records per acks mode, interleaving the modes within a run
// (run 1: acks=0, acks=1, acks=all; run 2: ...) so that slow drift of the
// machine or broker (page cache, compaction, thermal) spreads evenly over
// the modes instead of biasing whichever mode ran last. After each run's
// produce phase it reads the whole topic from the beginning.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config describes one benchmark. Zero values take the defaults noted.
type Config struct {
	Brokers           []string `json:"brokers"`
	Topic             string   `json:"topic"`              // default "bench-<random hex>"
	Partitions        int32    `json:"partitions"`         // used when creating the topic; default 6, -1 = broker default
	ReplicationFactor int16    `json:"replication_factor"` // used when creating the topic; default -1 = broker default
	Acks              []string `json:"acks"`               // "0", "1", "all"; default all three
	Records           int      `json:"records"`            // per acks mode per run; default 1,000,000
	RecordSize        int      `json:"record_size"`        // value bytes; default 100
	Compression       string   `json:"compression"`        // none|gzip|snappy|lz4|zstd; default none
	Producers         int      `json:"producers"`          // concurrent producer clients; default 1
	Runs              int      `json:"runs"`               // default 1

	Linger             time.Duration `json:"linger_ns"`            // default 5ms
	MaxBufferedRecords int           `json:"max_buffered_records"` // per producer; default 500,000
	BatchMaxBytes      int32         `json:"batch_max_bytes"`      // default 1 MiB

	SkipConsume bool `json:"skip_consume"`
	DeleteTopic bool `json:"delete_topic"` // delete the topic afterwards if this run created it

	// Progress, if set, receives one line per finished phase so long
	// benchmarks show signs of life.
	Progress io.Writer `json:"-"`
}

// Defaults used by Config.withDefaults (exported for CLI flag defaults).
const (
	DefaultRecords            = 1_000_000
	DefaultRecordSize         = 100
	DefaultPartitions         = 6
	DefaultLinger             = 5 * time.Millisecond
	DefaultMaxBufferedRecords = 500_000
	DefaultBatchMaxBytes      = 1 << 20
)

// DefaultAcks is the acks sweep used when Config.Acks is empty.
var DefaultAcks = []string{"0", "1", "all"}

// stallTimeout aborts the consume phase when the topic stops yielding
// records before reaching its end offsets (e.g. lost leader).
const stallTimeout = 30 * time.Second

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = RandomTopic()
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if len(c.Acks) == 0 {
		c.Acks = DefaultAcks
	}
	acks := make([]string, len(c.Acks))
	for i, a := range c.Acks {
		acks[i] = normalizeAcks(a)
	}
	c.Acks = acks
	if c.Records == 0 {
		c.Records = DefaultRecords
	}
	if c.RecordSize == 0 {
		c.RecordSize = DefaultRecordSize
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.Producers == 0 {
		c.Producers = 1
	}
	if c.Runs == 0 {
		c.Runs = 1
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.MaxBufferedRecords == 0 {
		c.MaxBufferedRecords = DefaultMaxBufferedRecords
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = DefaultBatchMaxBytes
	}
	return c
}

func (c Config) validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("bench: no brokers")
	case c.Records < 0:
		return fmt.Errorf("bench: records %d must be positive", c.Records)
	case c.RecordSize < 0:
		return fmt.Errorf("bench: record size %d must not be negative", c.RecordSize)
	case c.Producers < 1 || c.Producers > c.Records:
		return fmt.Errorf("bench: producers %d must be between 1 and the record count", c.Producers)
	case c.Runs < 1:
		return fmt.Errorf("bench: runs %d must be at least 1", c.Runs)
	case c.Partitions < -1:
		return fmt.Errorf("bench: partitions %d must be positive or -1", c.Partitions)
	}
	seen := map[string]bool{}
	for _, a := range c.Acks {
		if _, err := AcksOpts(a); err != nil {
			return err
		}
		if seen[a] {
			return fmt.Errorf("bench: acks %q listed twice", a)
		}
		seen[a] = true
	}
	_, err := CompressionOpt(c.Compression)
	return err
}

// RandomTopic returns a fresh "bench-<hex>" name so concurrent or repeated
// benchmarks never read each other's records.
func RandomTopic() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "bench-" + hex.EncodeToString(b[:])
}

func normalizeAcks(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	if a == "-1" {
		return "all"
	}
	return a
}

// AcksOpts returns the producer options for an acks mode "0", "1", "all"
// ("-1" is accepted as an alias) or "all-noidem". franz-go only allows
// idempotent writes with acks=all, so the weaker modes also disable
// idempotence; "all" is idempotent, as Kafka producers are by default, and
// "all-noidem" is acks=all without it, to measure what idempotence costs.
func AcksOpts(mode string) ([]kgo.Opt, error) {
	switch normalizeAcks(mode) {
	case "0":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}, nil
	case "1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, nil
	case "all":
		return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, nil
	case "all-noidem":
		return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite()}, nil
	}
	return nil, fmt.Errorf("acks %q: want 0, 1, all or all-noidem", mode)
}

// CompressionOpt returns the producer option for a codec name.
func CompressionOpt(name string) (kgo.Opt, error) {
	var c kgo.CompressionCodec
	switch strings.ToLower(name) {
	case "", "none":
		c = kgo.NoCompression()
	case "gzip":
		c = kgo.GzipCompression()
	case "snappy":
		c = kgo.SnappyCompression()
	case "lz4":
		c = kgo.Lz4Compression()
	case "zstd":
		c = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
	}
	return kgo.ProducerBatchCompression(c), nil
}

// Run executes the benchmark. On error the returned report holds the
// results of the phases that completed.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	rep := Report{Config: cfg, Topic: cfg.Topic, Started: time.Now()}
	if err := cfg.validate(); err != nil {
		return rep, err
	}

	admCl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("samsa-bench"))
	if err != nil {
		return rep, fmt.Errorf("bench: client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	parts, created, err := ensureTopic(ctx, adm, cfg)
	if err != nil {
		return rep, err
	}
	rep.Partitions = parts
	rep.TopicCreated = created
	if created && cfg.DeleteTopic {
		defer func() {
			// The benchmark ctx may be done; cleanup gets its own budget.
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = adm.DeleteTopic(dctx, cfg.Topic)
		}()
	}

	payloads := makePayloads(cfg.RecordSize, cfg.Records)
	for run := 1; run <= cfg.Runs; run++ {
		for _, acks := range cfg.Acks {
			res, err := produceRun(ctx, cfg, acks, run, payloads)
			if err != nil {
				rep.finish()
				return rep, err
			}
			rep.Produce = append(rep.Produce, res)
			cfg.progress("run %d/%d acks=%-3s produce: %s", run, cfg.Runs, acks, res.line())
		}
		if cfg.SkipConsume {
			continue
		}
		res, err := consumeRun(ctx, cfg, adm, run)
		if err != nil {
			rep.finish()
			return rep, err
		}
		rep.Consume = append(rep.Consume, res)
		cfg.progress("run %d/%d consume:      %s", run, cfg.Runs, res.line())
	}
	rep.finish()
	return rep, nil
}

func (c Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// ensureTopic creates the topic unless it exists and waits until every
// partition has a leader, so the first timed produce does not include
// topic creation or leader election. It returns the partition count.
func ensureTopic(ctx context.Context, adm *kadm.Client, cfg Config) (int, bool, error) {
	created := false
	tds, err := adm.ListTopics(ctx, cfg.Topic)
	if err != nil {
		return 0, false, fmt.Errorf("bench: metadata: %w", err)
	}
	if td, ok := tds[cfg.Topic]; !ok || td.Err != nil {
		r, err := adm.CreateTopic(ctx, cfg.Partitions, cfg.ReplicationFactor, nil, cfg.Topic)
		switch {
		case err == nil:
			created = true
		case errors.Is(err, kerr.TopicAlreadyExists):
			// Raced with another creator: reuse it.
		default:
			if r.ErrMessage != "" {
				return 0, false, fmt.Errorf("bench: create topic %s: %w: %s", cfg.Topic, err, r.ErrMessage)
			}
			return 0, false, fmt.Errorf("bench: create topic %s: %w", cfg.Topic, err)
		}
	}
	for {
		tds, err := adm.ListTopics(ctx, cfg.Topic)
		if err != nil {
			return 0, created, fmt.Errorf("bench: metadata: %w", err)
		}
		if td, ok := tds[cfg.Topic]; ok && td.Err == nil && len(td.Partitions) > 0 && allLed(td) {
			return len(td.Partitions), created, nil
		}
		select {
		case <-ctx.Done():
			return 0, created, fmt.Errorf("bench: topic %s has no leaders yet: %w", cfg.Topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func allLed(td kadm.TopicDetail) bool {
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// makePayloads returns distinct random values of the given size. Like
// kafka-producer-perf-test they are uppercase letters, but there are
// enough of them (about 8 MiB worth) that a 1 MiB batch never repeats a
// value, so compressed runs are not flattered by identical records.
func makePayloads(size, records int) [][]byte {
	n := 1
	if size > 0 {
		n = max(1, min(records, (8<<20)/size))
	}
	buf := make([]byte, n*size)
	for i := range buf {
		buf[i] = byte('A' + mrand.IntN(26))
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}
	return out
}

// latencyHist tracks microseconds from 1 µs to 1 h at 3 significant digits.
func latencyHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
}

func produceRun(ctx context.Context, cfg Config, acks string, run int, payloads [][]byte) (ProduceResult, error) {
	res := ProduceResult{Run: run, Acks: acks}
	ackOpts, _ := AcksOpts(acks)
	comp, _ := CompressionOpt(cfg.Compression)
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("samsa-bench"),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerLinger(cfg.Linger),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.ProducerBatchMaxBytes(cfg.BatchMaxBytes),
		comp,
	}, ackOpts...)

	clients := make([]*kgo.Client, cfg.Producers)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for i := range clients {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return res, fmt.Errorf("bench: producer: %w", err)
		}
		clients[i] = cl
		// One untimed record per client loads metadata, dials the
		// leader and (for acks=all) gets a producer ID, so connection
		// setup does not count as produce latency.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: payloads[0]}).FirstErr(); err != nil {
			return res, fmt.Errorf("bench: acks=%s warm-up produce: %w", acks, err)
		}
	}

	var (
		wg       sync.WaitGroup
		failed   atomic.Int64
		firstErr atomic.Pointer[error]
		hists    = make([]*hdrhistogram.Histogram, cfg.Producers)
		maxLat   = int64(time.Hour / time.Microsecond)
	)
	start := time.Now()
	for i, cl := range clients {
		n := cfg.Records / cfg.Producers
		if i < cfg.Records%cfg.Producers {
			n++
		}
		h := latencyHist()
		hists[i] = h
		// franz-go calls one client's promises serially, so each
		// producer's histogram needs no lock.
		promise := func(r *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			_ = h.RecordValue(min(max(time.Since(r.Timestamp).Microseconds(), 1), maxLat))
		}
		wg.Go(func() {
			off := i * 7919 // spread producers over the payload pool
			for j := range n {
				// Timestamp doubles as the send time: franz-go keeps a
				// preset timestamp (and the broker gets a true CreateTime).
				r := &kgo.Record{Value: payloads[(off+j)%len(payloads)], Timestamp: time.Now()}
				cl.Produce(ctx, r, promise)
			}
			if err := cl.Flush(ctx); err != nil {
				firstErr.CompareAndSwap(nil, &err)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)

	if p := firstErr.Load(); p != nil {
		return res, fmt.Errorf("bench: run %d acks=%s: %d of %d records failed, first error: %w",
			run, acks, failed.Load(), cfg.Records, *p)
	}
	all := latencyHist()
	for _, h := range hists {
		all.Merge(h)
	}
	res.Records = int64(cfg.Records)
	res.Bytes = int64(cfg.Records) * int64(cfg.RecordSize)
	res.RecordsPerSec, res.MBPerSec = rates(res.Records, res.Bytes, res.Elapsed)
	res.Latency = latencyOf(all)
	return res, nil
}

// consumeRun reads the topic from its log start to the end offsets seen
// when the phase begins (all records produced so far, in every run).
func consumeRun(ctx context.Context, cfg Config, adm *kadm.Client, run int) (ConsumeResult, error) {
	res := ConsumeResult{Run: run}
	starts, err := adm.ListStartOffsets(ctx, cfg.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return res, fmt.Errorf("bench: list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return res, fmt.Errorf("bench: list end offsets: %w", err)
	}

	remaining := map[int32]int64{} // partition -> end offset still to reach
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset > s.Offset {
			remaining[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(remaining) == 0 {
		return res, nil
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("samsa-bench"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: from}),
	)
	if err != nil {
		return res, fmt.Errorf("bench: consumer: %w", err)
	}
	defer cl.Close()

	start := time.Now()
	for len(remaining) > 0 {
		pctx, cancel := context.WithTimeout(ctx, stallTimeout)
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("bench: consume %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			if errors.Is(ferr, context.DeadlineExceeded) {
				ferr = fmt.Errorf("bench: consume stalled for %s after %d records", stallTimeout, res.Records)
			}
			return res, ferr
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				res.Records++
				res.Bytes += int64(len(r.Key) + len(r.Value))
			}
			if n := len(p.Records); n > 0 {
				// Offsets, not counts, decide completion: gaps from
				// compaction or control records must not hang us.
				if end, ok := remaining[p.Partition]; ok && p.Records[n-1].Offset+1 >= end {
					delete(remaining, p.Partition)
				}
			}
		})
	}
	res.Elapsed = time.Since(start)
	res.RecordsPerSec, res.MBPerSec = rates(res.Records, res.Bytes, res.Elapsed)
	return res, nil
}

// rates uses MB = 2^20 bytes, as kafka-producer-perf-test does, so the
// numbers line up with Apache Kafka's own tooling.
func rates(records, bytes int64, d time.Duration) (float64, float64) {
	s := d.Seconds()
	if s <= 0 {
		return 0, 0
	}
	return float64(records) / s, float64(bytes) / (1 << 20) / s
}
