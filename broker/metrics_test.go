package broker

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/metricstest"
)

// clientCounts is what franz-go itself reports having sent and read: the
// amounts the broker's counters must move by.
type clientCounts struct {
	producedBytes, produced int
	fetchedBytes, fetched   int
	produceReqs             int
}

// clientHooks are franz-go hooks that keep clientCounts.
type clientHooks struct {
	mu sync.Mutex
	c  clientCounts
}

// A v2 record batch's header; franz-go's batch metrics leave it out.
const batchOverhead = 61

func (c *clientHooks) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.producedBytes += m.CompressedBytes + batchOverhead
	c.c.produced += m.NumRecords
}

func (c *clientHooks) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.fetchedBytes += m.CompressedBytes + batchOverhead
	c.c.fetched += m.NumRecords
}

func (c *clientHooks) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.Produce.Int16() && err == nil {
		c.mu.Lock()
		c.c.produceReqs++
		c.mu.Unlock()
	}
}

func (c *clientHooks) snapshot() clientCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c
}

// waitFor returns the counts once ok accepts them.
func (c *clientHooks) waitFor(t *testing.T, ctx context.Context, ok func(clientCounts) bool) clientCounts {
	t.Helper()
	for {
		s := c.snapshot()
		if ok(s) {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("client hooks never reached the expected counts: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsEndpoint runs a broker with its admin port, produces and
// consumes with franz-go, and checks /metrics moved by exactly what the
// client says it sent and read; then a group's lag from a committed offset.
func TestMetricsEndpoint(t *testing.T) {
	baseline := runtime.NumGoroutine()
	defer checkGoroutines(t, baseline)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := Start(ctx, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", RaftAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		AdminListen: "127.0.0.1:0", Settings: map[string]string{"offsets.topic.num.partitions": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	admin := "http://" + b.AdminAddr()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, err := metricstest.Status(ctx, admin+path); err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d, %v", path, code, err)
		}
	}
	scrape := func() map[string]float64 {
		t.Helper()
		m, err := metricstest.Scrape(ctx, admin+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	const topic = "metered"
	var counts clientHooks
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic), kgo.WithHooks(&counts))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	before := scrape()
	const rounds, each = 3, 10
	for r := 0; r < rounds; r++ {
		recs := make([]*kgo.Record, each)
		for i := range recs {
			recs[i] = &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("round %d record %d", r, i))}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// franz-go may run its batch hook after the promise that ProduceSync
	// waits for.
	sent := counts.waitFor(t, ctx, func(c clientCounts) bool { return c.produced == rounds*each })
	after := scrape()
	series := func(name, labels string) string { return name + "{" + labels + "}" }
	delta := func(key string) float64 { return after[key] - before[key] }
	tl := `topic="` + topic + `"`
	checks := []struct {
		key  string
		want float64
	}{
		{series("samsa_topic_bytes_in_total", tl), float64(sent.producedBytes)},
		{series("samsa_topic_records_in_total", tl), rounds * each},
		{series("samsa_requests_total", `api="Produce"`), float64(sent.produceReqs)},
		{series("samsa_request_duration_seconds_count", `api="Produce"`), float64(sent.produceReqs)},
	}
	for _, c := range checks {
		if got := delta(c.key); got != c.want {
			t.Errorf("%s moved by %v, want %v", c.key, got, c.want)
		}
	}
	if delta(series("samsa_request_duration_seconds_sum", `api="Produce"`)) <= 0 {
		t.Errorf("Produce latency sum did not move")
	}
	// Every latency lands in a bucket: the +Inf bucket counts them all.
	if got := delta(series("samsa_request_duration_seconds_bucket", `api="Produce",le="+Inf"`)); got != float64(sent.produceReqs) {
		t.Errorf("Produce latency +Inf bucket moved by %v, want %d", got, sent.produceReqs)
	}
	if delta(series("samsa_raft_propose_duration_seconds_count", `group="partition"`)) < 1 {
		t.Errorf("no partition Raft proposal observed")
	}
	for key, want := range map[string]float64{"samsa_partitions": 1, "samsa_leader_partitions": 1,
		"samsa_under_replicated_partitions": 0, "samsa_offline_partitions": 0, "samsa_controller_active": 1} {
		if after[key] != want {
			t.Errorf("%s = %v, want %v", key, after[key], want)
		}
	}
	if after["samsa_leader_elections_total"] < 1 {
		t.Errorf("samsa_leader_elections_total = %v after a partition got its leader", after["samsa_leader_elections_total"])
	}

	// Consume everything once: bytes and records out move by what the
	// consumer read.
	before = scrape()
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(&counts))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for got := 0; got < rounds*each; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	read := counts.waitFor(t, ctx, func(c clientCounts) bool { return c.fetched == rounds*each })
	after = scrape()
	if got := delta(series("samsa_topic_bytes_out_total", tl)); got != float64(read.fetchedBytes) {
		t.Errorf("bytes out moved by %v, the consumer read %d", got, read.fetchedBytes)
	}
	if got := delta(series("samsa_topic_records_out_total", tl)); got != rounds*each {
		t.Errorf("records out moved by %v, want %d", got, rounds*each)
	}
	if delta(series("samsa_request_duration_seconds_count", `api="Fetch"`)) < 1 {
		t.Errorf("no Fetch request observed")
	}

	// A group that committed offset 10 of 30 lags by 20, then by 0.
	const group = "lagging"
	commit := func(off int64) {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: off, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, group, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	lagKey := series("samsa_consumer_group_lag", `group="`+group+`",partition="0",`+tl)
	commit(10)
	if got, ok := scrape()[lagKey]; !ok || got != rounds*each-10 {
		t.Errorf("%s = %v (present %v), want %d", lagKey, got, ok, rounds*each-10)
	}
	commit(rounds * each)
	if got, ok := scrape()[lagKey]; !ok || got != 0 {
		t.Errorf("%s = %v (present %v), want 0", lagKey, got, ok)
	}
	cons.Close()
	prod.Close()
}

// TestReadyzWaitsForCluster: the admin port is up (healthz) while a broker
// waits for its controller quorum, and /readyz says 503 until the broker
// has joined and serves Kafka; after Close the port is gone.
func TestReadyzWaitsForCluster(t *testing.T) {
	baseline := runtime.NumGoroutine()
	defer checkGoroutines(t, baseline)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raft1, raft2 := "127.0.0.1:"+strconv.Itoa(freePort(t)), "127.0.0.1:"+strconv.Itoa(freePort(t))
	initial := map[uint64]string{1: raft1, 2: raft2}
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t))
	type started struct {
		b   *Broker
		err error
	}
	first := make(chan started, 1)
	go func() {
		b, err := Start(ctx, Config{NodeID: 1, DataDir: t.TempDir(), Listen: "127.0.0.1:0", RaftAddr: raft1,
			InitialCluster: initial, AdminListen: admin})
		first <- started{b, err}
	}()
	url := "http://" + admin
	for {
		code, err := metricstest.Status(ctx, url+"/healthz")
		if err == nil && code == http.StatusOK {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("admin port never came up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Node 2 is not started: no controller quorum, so node 1 cannot be ready.
	if code, err := metricstest.Status(ctx, url+"/readyz"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before joining: %d, %v", code, err)
	}
	b2, err := Start(ctx, Config{NodeID: 2, DataDir: t.TempDir(), Listen: "127.0.0.1:0", RaftAddr: raft2, InitialCluster: initial})
	if err != nil {
		t.Fatal(err)
	}
	s := <-first
	if s.err != nil {
		b2.Close()
		t.Fatal(s.err)
	}
	if code, err := metricstest.Status(ctx, url+"/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("/readyz after joining: %d, %v", code, err)
	}
	var wg sync.WaitGroup
	for _, b := range []*Broker{s.b, b2} {
		wg.Add(1)
		go func() { defer wg.Done(); b.Close() }()
	}
	wg.Wait()
	if _, err := metricstest.Status(ctx, url+"/healthz"); err == nil {
		t.Errorf("admin port still answers after Close")
	}
}
