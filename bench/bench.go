// Package bench is a produce/consume benchmark harness for any
// Kafka-protocol cluster (Samsa, Apache Kafka, Redpanda, kfake). It uses
// franz-go as the client so results are comparable across brokers.
//
// A benchmark is a matrix of cells (replication factor × record size ×
// codec × acks mode; see Config.Cells) with one topic per replication
// factor. Each run produces Config.Records records per cell, all cells in
// turn (run 1: cell 1, cell 2, ...; run 2: ...), so that slow drift of
// the machine or broker (page cache, compaction, thermal) spreads evenly
// over the cells instead of biasing whichever ran last. While a cell
// produces, a consumer reads its records back for the end-to-end latency;
// after each run's cells of a topic, a consume phase reads what the run
// wrote to it.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
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
// The list fields span the matrix: every combination of replication
// factor, record size, codec and acks mode is one cell (see Cells).
type Config struct {
	Brokers            []string `json:"brokers"`
	Topic              string   `json:"topic"`               // default "bench-<random hex>"; "-rfN" is appended when several factors are measured
	Partitions         int32    `json:"partitions"`          // used when creating topics; default 6, -1 = broker default
	ReplicationFactors []int16  `json:"replication_factors"` // one topic per factor; default [-1] = broker default
	Acks               []string `json:"acks"`                // "0", "1", "all", "all-noidem"; default 0, 1, all
	RecordSizes        []int    `json:"record_sizes"`        // value bytes; default [100]
	Compressions       []string `json:"compressions"`        // none|gzip|snappy|lz4|zstd; default [none]
	Records            int      `json:"records"`             // per cell per run; default 1,000,000
	MaxCellBytes       int64    `json:"max_cell_bytes"`      // if > 0, caps a cell's records at this many value bytes
	Producers          int      `json:"producers"`           // concurrent producer clients; default 1
	Runs               int      `json:"runs"`                // default 1

	// Rate, if > 0, produces at this many records per second per cell,
	// summed over all producers (each takes an equal share), instead of
	// as fast as possible. Latencies are then measured from each record's
	// scheduled send time, so a stalled broker or a full client buffer
	// shows up as latency instead of as fewer samples (no coordinated
	// omission).
	Rate float64 `json:"rate"`
	// NoE2E skips the end-to-end measurement: no consumer runs during
	// the produce phase and values carry no send timestamp.
	NoE2E bool `json:"no_e2e"`

	Linger             time.Duration `json:"linger_ns"`            // default 5ms; negative = no linger (0 means the default)
	MaxBufferedRecords int           `json:"max_buffered_records"` // per producer; default 500,000
	MaxBufferedBytes   int           `json:"max_buffered_bytes"`   // per producer; default 256 MiB
	BatchMaxBytes      int32         `json:"batch_max_bytes"`      // default 1 MiB

	SkipConsume bool `json:"skip_consume"`
	DeleteTopic bool `json:"delete_topic"` // delete the topics afterwards if this run created them

	// Progress, if set, receives one line per finished phase so long
	// benchmarks show signs of life; with ProgressBar it also shows a
	// bar (records done of total, rate, ETA) redrawn in place, for
	// terminals.
	Progress    io.Writer `json:"-"`
	ProgressBar bool      `json:"-"`
}

// Defaults used by Config.withDefaults (exported for CLI flag defaults).
const (
	DefaultRecords            = 1_000_000
	DefaultRecordSize         = 100
	DefaultPartitions         = 6
	DefaultLinger             = 5 * time.Millisecond
	DefaultMaxBufferedRecords = 500_000
	DefaultMaxBufferedBytes   = 256 << 20
	DefaultBatchMaxBytes      = 1 << 20
)

// DefaultAcks is the acks sweep used when Config.Acks is empty.
var DefaultAcks = []string{"0", "1", "all"}

// stallTimeout aborts a consumer (consume phase or end-to-end) when the
// topic stops yielding records before it has them all (e.g. lost leader).
const stallTimeout = 30 * time.Second

// stampSize is the prefix of each value holding its send time (unix ns,
// big endian) for the end-to-end measurement.
const stampSize = 8

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = RandomTopic()
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if len(c.ReplicationFactors) == 0 {
		c.ReplicationFactors = []int16{-1}
	}
	if len(c.Acks) == 0 {
		c.Acks = DefaultAcks
	}
	c.Acks = mapStrings(c.Acks, normalizeAcks)
	if len(c.RecordSizes) == 0 {
		c.RecordSizes = []int{DefaultRecordSize}
	}
	if len(c.Compressions) == 0 {
		c.Compressions = []string{"none"}
	}
	c.Compressions = mapStrings(c.Compressions, func(s string) string {
		if s = strings.ToLower(strings.TrimSpace(s)); s == "" {
			return "none"
		}
		return s
	})
	if c.Records == 0 {
		c.Records = DefaultRecords
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
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = DefaultBatchMaxBytes
	}
	return c
}

func mapStrings(in []string, f func(string) string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

func (c Config) validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("bench: no brokers")
	case c.Records < 0:
		return fmt.Errorf("bench: records %d must be positive", c.Records)
	case c.Producers < 1 || c.Producers > c.Records:
		return fmt.Errorf("bench: producers %d must be between 1 and the record count", c.Producers)
	case c.Runs < 1:
		return fmt.Errorf("bench: runs %d must be at least 1", c.Runs)
	case c.Partitions < -1:
		return fmt.Errorf("bench: partitions %d must be positive or -1", c.Partitions)
	case c.Rate < 0:
		return fmt.Errorf("bench: rate %g must not be negative", c.Rate)
	}
	for _, rf := range c.ReplicationFactors {
		if rf == 0 || rf < -1 {
			return fmt.Errorf("bench: replication factor %d must be positive or -1", rf)
		}
	}
	for _, size := range c.RecordSizes {
		if size < 0 {
			return fmt.Errorf("bench: record size %d must not be negative", size)
		}
		if size < stampSize && !c.NoE2E {
			return fmt.Errorf("bench: record size %d: end-to-end latency needs at least %d bytes for the send time (or disable it)", size, stampSize)
		}
	}
	for _, a := range c.Acks {
		if _, err := AcksOpts(a); err != nil {
			return err
		}
	}
	for _, codec := range c.Compressions {
		if _, err := CompressionOpt(codec); err != nil {
			return err
		}
	}
	// A value listed twice would make two cells that summaries cannot
	// tell apart.
	if err := unique("acks", c.Acks); err != nil {
		return err
	}
	if err := unique("replication factor", c.ReplicationFactors); err != nil {
		return err
	}
	if err := unique("record size", c.RecordSizes); err != nil {
		return err
	}
	return unique("compression", c.Compressions)
}

func unique[T comparable](what string, xs []T) error {
	seen := map[T]bool{}
	for _, x := range xs {
		if seen[x] {
			return fmt.Errorf("bench: %s %v listed twice", what, x)
		}
		seen[x] = true
	}
	return nil
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
	rep := Report{Config: cfg, Started: time.Now()}
	if err := cfg.validate(); err != nil {
		return rep, err
	}

	admCl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("samsa-bench"))
	if err != nil {
		return rep, fmt.Errorf("bench: client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	for _, rf := range cfg.ReplicationFactors {
		name := cfg.topicFor(rf)
		parts, created, err := ensureTopic(ctx, adm, name, cfg.Partitions, rf)
		if created && cfg.DeleteTopic {
			defer func() {
				// The benchmark ctx may be done; cleanup gets its own budget.
				dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, _ = adm.DeleteTopic(dctx, name)
			}()
		}
		if err != nil {
			return rep, err
		}
		rep.Topics = append(rep.Topics, TopicInfo{Name: name, ReplicationFactor: rf, Partitions: parts, Created: created})
	}

	cells := cfg.Cells()
	payloads := map[int][][]byte{}
	var total int64
	for _, c := range cells {
		n := cfg.CellRecords(c.RecordSize)
		total += int64(n)
		if _, ok := payloads[c.RecordSize]; !ok {
			payloads[c.RecordSize] = makePayloads(c.RecordSize, n)
		}
	}
	prog := newProgress(cfg.Progress, cfg.ProgressBar, total*int64(cfg.Runs))
	defer prog.close()

	for run := 1; run <= cfg.Runs; run++ {
		for _, t := range rep.Topics {
			// The consume phase reads what this run wrote to the topic,
			// so every run's read is the same size.
			var from kadm.ListedOffsets
			if !cfg.SkipConsume {
				if from, err = listOffsets(ctx, adm.ListEndOffsets, t.Name); err != nil {
					rep.finish()
					return rep, err
				}
			}
			for _, c := range cells {
				if c.ReplicationFactor != t.ReplicationFactor {
					continue
				}
				prog.phase(fmt.Sprintf("run %d/%d %s", run, cfg.Runs, c))
				res, err := produceCell(ctx, cfg, adm, t.Name, c, run, payloads[c.RecordSize], prog)
				if err != nil {
					rep.finish()
					return rep, err
				}
				rep.Produce = append(rep.Produce, res)
				prog.linef("run %d/%d %s produce: %s", run, cfg.Runs, c, res.line())
			}
			if cfg.SkipConsume {
				continue
			}
			prog.phase(fmt.Sprintf("run %d/%d consume %s", run, cfg.Runs, t.Name))
			res, err := consumeRun(ctx, cfg, adm, t, run, from)
			if err != nil {
				rep.finish()
				return rep, err
			}
			rep.Consume = append(rep.Consume, res)
			prog.linef("run %d/%d rf=%s consume: %s", run, cfg.Runs, rfName(t.ReplicationFactor), res.line())
		}
	}
	rep.finish()
	return rep, nil
}

// ensureTopic creates the topic unless it exists and waits until every
// partition has a leader, so the first timed produce does not include
// topic creation or leader election. It returns the partition count and
// whether it created the topic.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, rf int16) (int, bool, error) {
	created, err := createTopic(ctx, adm, topic, partitions, rf)
	if err != nil {
		return 0, false, err
	}
	for {
		tds, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return 0, created, fmt.Errorf("bench: metadata: %w", err)
		}
		if td, ok := tds[topic]; ok && td.Err == nil && len(td.Partitions) > 0 && allLed(td) {
			return len(td.Partitions), created, nil
		}
		select {
		case <-ctx.Done():
			return 0, created, fmt.Errorf("bench: topic %s has no leaders yet: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createTopic creates the topic, or finds it exists. It creates first
// rather than looks first because metadata for a missing topic takes
// franz-go seconds of retries.
func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, rf int16) (bool, error) {
	deadline := time.Now().Add(stallTimeout)
	for {
		r, err := adm.CreateTopic(ctx, partitions, rf, nil, topic)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, kerr.TopicAlreadyExists):
			return false, nil
		case settling(err) && time.Now().Before(deadline):
			if err := sleepUntil(ctx, time.Now().Add(listRetryBackoff)); err != nil {
				return false, err
			}
			continue
		}
		// Not allowed to create it, say, which is fine if it exists.
		if tds, lerr := adm.ListTopics(ctx, topic); lerr == nil && tds[topic].Err == nil && len(tds[topic].Partitions) > 0 {
			return false, nil
		}
		if r.ErrMessage != "" {
			return false, fmt.Errorf("bench: create topic %s: %w: %s", topic, err, r.ErrMessage)
		}
		return false, fmt.Errorf("bench: create topic %s: %w", topic, err)
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
	return hdrhistogram.New(1, maxLatencyUS, 3)
}

// warmupHeader marks the untimed record each producer sends before a
// cell; its value is the cell's nonce so the end-to-end consumer knows
// the records of this cell from stragglers of the previous one.
const warmupHeader = "bench-warmup"

// produceCell runs one cell once: Producers clients produce the cell's
// records (as fast as they can, or on the Rate schedule) while, unless
// NoE2E, a consumer reads them back for the end-to-end latency.
func produceCell(ctx context.Context, cfg Config, adm *kadm.Client, topic string, cell Cell, run int, payloads [][]byte, prog *progress) (ProduceResult, error) {
	records := cfg.CellRecords(cell.RecordSize)
	res := ProduceResult{Run: run, Cell: cell}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	nonce := time.Now()
	var e2e *e2eConsumer
	if !cfg.NoE2E {
		var err error
		if e2e, err = startE2E(ctx, cfg, adm, topic, nonce, int64(records), cfg.Producers); err != nil {
			return res, err
		}
		defer e2e.close()
	}

	ackOpts, _ := AcksOpts(cell.Acks)
	comp, _ := CompressionOpt(cell.Compression)
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("samsa-bench"),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(max(cfg.Linger, 0)),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.MaxBufferedBytes(cfg.MaxBufferedBytes),
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
		warm := &kgo.Record{Value: payloads[0], Headers: []kgo.RecordHeader{{Key: warmupHeader, Value: stamp(nonce)}}}
		if err := cl.ProduceSync(ctx, warm).FirstErr(); err != nil {
			return res, fmt.Errorf("bench: %s warm-up produce: %w", cell, err)
		}
	}
	// The consumer has seen the warm-ups, so its fetch session is up
	// before the first timed record.
	if e2e != nil {
		if err := e2e.waitWarm(ctx); err != nil {
			return res, err
		}
	}

	var (
		wg       sync.WaitGroup
		failed   atomic.Int64
		firstErr atomic.Pointer[error]
		hists    = make([]*hdrhistogram.Histogram, cfg.Producers)
		lags     = make([]time.Duration, cfg.Producers)
	)
	start := time.Now()
	for i, cl := range clients {
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
			recordLatency(h, time.Since(r.Timestamp))
			prog.add(1)
		}
		wg.Go(func() {
			p := producer{cl: cl, cfg: cfg, index: i, records: records, payloads: payloads, stamp: e2e != nil, promise: promise}
			lags[i] = p.run(ctx, start)
			if err := cl.Flush(ctx); err != nil {
				firstErr.CompareAndSwap(nil, &err)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)

	if p := firstErr.Load(); p != nil {
		return res, fmt.Errorf("bench: run %d %s: %d of %d records failed, first error: %w",
			run, cell, failed.Load(), records, *p)
	}
	all := latencyHist()
	for _, h := range hists {
		all.Merge(h)
	}
	res.Records = int64(records)
	res.Bytes = int64(records) * int64(cell.RecordSize)
	res.RecordsPerSec, res.MBPerSec = rates(res.Records, res.Bytes, res.Elapsed)
	res.Latency = latencyOf(all)
	if cfg.Rate > 0 {
		res.SendLagMax = ms(slices.Max(lags).Microseconds())
	}
	if e2e != nil {
		h, err := e2e.wait(ctx)
		if err != nil {
			return res, fmt.Errorf("bench: run %d %s: %w", run, cell, err)
		}
		l := latencyOf(h)
		res.E2E = &l
	}
	return res, nil
}

// producer is one client's share of a cell.
type producer struct {
	cl       *kgo.Client
	cfg      Config
	index    int // of Producers
	records  int // in the whole cell
	payloads [][]byte
	stamp    bool // prefix each value with its send time
	promise  func(*kgo.Record, error)
}

// run produces the producer's records: those numbered index, index +
// Producers, ... of the cell. With a Rate, record k is due at start +
// k/Rate; it is sent then (never earlier), or at once if the producer has
// fallen behind, and its latency counts from the due time. It returns how
// far behind schedule the producer fell at most.
func (p producer) run(ctx context.Context, start time.Time) time.Duration {
	var lag time.Duration
	off := p.index * 7919 // spread producers over the payload pool
	for k := p.index; k < p.records; k += p.cfg.Producers {
		sent := time.Now()
		if p.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(k) * float64(time.Second) / p.cfg.Rate))
			if err := sleepUntil(ctx, due); err != nil {
				return lag
			}
			lag = max(lag, time.Since(due))
			sent = due
		}
		v := p.payloads[(off+k)%len(p.payloads)]
		if p.stamp {
			v = stamped(v, sent)
		}
		// Timestamp doubles as the send time the promise measures from:
		// franz-go keeps a preset timestamp (the broker gets it as
		// CreateTime).
		p.cl.Produce(ctx, &kgo.Record{Value: v, Timestamp: sent}, p.promise)
	}
	return lag
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stamped returns a copy of v whose first stampSize bytes hold t; a copy
// because the payload pool is shared by all records.
func stamped(v []byte, t time.Time) []byte {
	out := make([]byte, len(v))
	copy(out[stampSize:], v[stampSize:])
	binary.BigEndian.PutUint64(out, uint64(t.UnixNano()))
	return out
}

func stamp(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

// maxLatencyUS is latencyHist's upper bound; larger values are clamped.
const maxLatencyUS = int64(time.Hour / time.Microsecond)

func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(min(max(d.Microseconds(), 1), maxLatencyUS))
}

// listOffsets lists a topic's start or end offsets, retrying settling
// errors for up to stallTimeout: just after a topic is created, metadata
// can name a leader that is not ready yet (NOT_LEADER_FOR_PARTITION).
func listOffsets(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) (kadm.ListedOffsets, error) {
	deadline := time.Now().Add(stallTimeout)
	for {
		offs, err := list(ctx, topic)
		if err == nil {
			err = offs.Error()
		}
		if err == nil {
			return offs, nil
		}
		if !settling(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: list offsets of %s: %w", topic, err)
		}
		if err := sleepUntil(ctx, time.Now().Add(listRetryBackoff)); err != nil {
			return nil, err
		}
	}
}

// listRetryBackoff is the pause between attempts of a request that
// failed while the cluster settles.
const listRetryBackoff = 200 * time.Millisecond

// settling reports errors worth retrying for a while during setup:
// retriable ones and UNKNOWN_SERVER_ERROR, which is how Samsa answers
// while a Raft group is not ready (e.g. just after topics were deleted).
func settling(err error) bool {
	return kerr.IsRetriable(err) || errors.Is(err, kerr.UnknownServerError)
}

// consumeRun reads the topic from the offsets in from (the end offsets
// when the run began) to the end offsets seen when the phase begins: all
// records this run produced to the topic.
func consumeRun(ctx context.Context, cfg Config, adm *kadm.Client, t TopicInfo, run int, from kadm.ListedOffsets) (ConsumeResult, error) {
	res := ConsumeResult{Run: run, Topic: t.Name, ReplicationFactor: t.ReplicationFactor}
	ends, err := listOffsets(ctx, adm.ListEndOffsets, t.Name)
	if err != nil {
		return res, err
	}

	remaining := map[int32]int64{} // partition -> end offset still to reach
	at := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := from.Lookup(o.Topic, o.Partition)
		if o.Offset > s.Offset {
			remaining[o.Partition] = o.Offset
			at[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(remaining) == 0 {
		return res, nil
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("samsa-bench"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.Name: at}),
	)
	if err != nil {
		return res, fmt.Errorf("bench: consumer: %w", err)
	}
	defer cl.Close()

	start := time.Now()
	err = pollUntil(ctx, cl, func(p kgo.FetchTopicPartition) {
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
	}, func() bool { return len(remaining) == 0 }, func() int64 { return res.Records })
	if err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	res.RecordsPerSec, res.MBPerSec = rates(res.Records, res.Bytes, res.Elapsed)
	return res, nil
}

// pollUntil polls cl, handing each partition's records to each, until
// done reports true. It fails on fetch errors and when nothing arrives
// for stallTimeout; count says how far it got, for that error.
func pollUntil(ctx context.Context, cl *kgo.Client, each func(kgo.FetchTopicPartition), done func() bool, count func() int64) error {
	for !done() {
		pctx, cancel := context.WithTimeout(ctx, stallTimeout)
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("bench: consume %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			if errors.Is(ferr, context.DeadlineExceeded) {
				ferr = fmt.Errorf("bench: consume stalled for %s after %d records", stallTimeout, count())
			}
			return ferr
		}
		fetches.EachPartition(each)
	}
	return nil
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
