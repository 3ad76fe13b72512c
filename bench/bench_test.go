package bench

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRunAgainstFake(t *testing.T) {
	c, ctx := fakeCluster(t, 1)

	var progress bytes.Buffer
	cfg := Config{
		Brokers:     c.ListenAddrs(),
		Records:     10_000,
		RecordSizes: []int{100},
		Partitions:  3,
		Producers:   2,
		Runs:        2,
		Progress:    &progress,
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	if len(rep.Topics) != 1 {
		t.Fatalf("topics %+v", rep.Topics)
	}
	if tp := rep.Topics[0]; !strings.HasPrefix(tp.Name, "bench-") || tp.Partitions != 3 || !tp.Created {
		t.Fatalf("topic %+v", tp)
	}
	// Modes interleave within each run.
	var order []string
	for _, p := range rep.Produce {
		order = append(order, p.Acks)
	}
	if got := strings.Join(order, ","); got != "0,1,all,0,1,all" {
		t.Fatalf("execution order %s", got)
	}
	for _, p := range rep.Produce {
		if p.Records != 10_000 || p.Bytes != 1_000_000 || p.RecordsPerSec <= 0 || p.MBPerSec <= 0 ||
			!plausible(p.Latency, 10_000) || p.E2E == nil || !plausible(*p.E2E, 10_000) {
			t.Fatalf("implausible produce result %+v (e2e %+v)", p, p.E2E)
		}
	}
	// Each consume reads what its run produced, including one warm-up
	// record per producer per mode.
	perRun := int64(3 * (10_000 + cfg.Producers))
	if len(rep.Consume) != 2 || rep.Consume[0].Records != perRun || rep.Consume[1].Records != perRun ||
		rep.Consume[1].Bytes != perRun*100 || rep.Consume[1].RecordsPerSec <= 0 {
		t.Fatalf("consume results %+v", rep.Consume)
	}

	if len(rep.Summary) != 4 || rep.Summary[0].Mode != "acks=0" || rep.Summary[3].Mode != "consume" {
		t.Fatalf("summary %+v", rep.Summary)
	}
	for _, s := range rep.Summary {
		r := s.RecordsPerSec
		if s.Runs != 2 || r.Min > r.Median || r.Median > r.Max || r.Min <= 0 {
			t.Fatalf("summary stat %+v", s)
		}
		if (s.Latency == nil) != (s.Mode == "consume") || (s.E2E == nil) != (s.Mode == "consume") {
			t.Fatalf("latency presence for %s", s.Mode)
		}
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"acks=0", "acks=1", "acks=all", "consume", "–", "E2E P99.9 ms"} {
		if !strings.Contains(table.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, table.String())
		}
	}
	// Without a matrix there are no RF/SIZE/CODEC columns.
	if strings.Contains(table.String(), "CODEC") {
		t.Fatalf("constant dimensions got columns:\n%s", table.String())
	}
	if n := strings.Count(progress.String(), "\n"); n != 8 {
		t.Fatalf("want 8 progress lines, got %d:\n%s", n, progress.String())
	}
	t.Logf("\n%s", table.String())
}

// plausible: a latency with the expected sample count and ordered
// percentiles.
func plausible(l Latency, count int64) bool {
	return l.Count == count && l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max
}

func TestRunReusesTopicAndDeletes(t *testing.T) {
	c, ctx := fakeCluster(t, 1, kfake.SeedTopics(2, "existing"))

	rep, err := Run(ctx, Config{Brokers: c.ListenAddrs(), Topic: "existing", Partitions: 8,
		Acks: []string{"-1"}, Records: 500, SkipConsume: true, DeleteTopic: true})
	if err != nil {
		t.Fatal(err)
	}
	// An existing topic keeps its partitions and is not deleted.
	if tp := rep.Topics[0]; tp.Name != "existing" || tp.Partitions != 2 || tp.Created || len(rep.Consume) != 0 || rep.Produce[0].Acks != "all" {
		t.Fatalf("report %+v", rep)
	}
	adm := kadm.NewClient(mustClient(t, c))
	if tds, err := adm.ListTopics(ctx, "existing"); err != nil || tds["existing"].Err != nil {
		t.Fatalf("existing topic gone: %v %v", err, tds["existing"].Err)
	}
}

func mustClient(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestConfigValidation(t *testing.T) {
	base := Config{Brokers: []string{"127.0.0.1:1"}}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Brokers = nil }, "no brokers"},
		{func(c *Config) { c.Acks = []string{"2"} }, `acks "2"`},
		{func(c *Config) { c.Acks = []string{"all", "-1"} }, "listed twice"},
		{func(c *Config) { c.Compressions = []string{"brotli"} }, "compression"},
		{func(c *Config) { c.Records = 3; c.Producers = 4 }, "producers"},
		{func(c *Config) { c.Runs = -1 }, "runs"},
		{func(c *Config) { c.ReplicationFactors = []int16{3, 0} }, "replication factor 0"},
		{func(c *Config) { c.ReplicationFactors = []int16{3, 3} }, "replication factor 3 listed twice"},
		{func(c *Config) { c.RecordSizes = []int{100, 100} }, "record size 100 listed twice"},
		{func(c *Config) { c.Compressions = []string{"lz4", "LZ4"} }, "compression lz4 listed twice"},
		{func(c *Config) { c.RecordSizes = []int{4} }, "end-to-end"},
		{func(c *Config) { c.Rate = -1 }, "rate"},
	} {
		cfg := base
		tc.mod(&cfg)
		_, err := Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestStatOf(t *testing.T) {
	if s := statOf([]float64{5, 1, 3}); s != (Stat{Median: 3, Min: 1, Max: 5}) {
		t.Fatal(s)
	}
	if s := statOf([]float64{4, 1, 2, 10}); s != (Stat{Median: 3, Min: 1, Max: 10}) {
		t.Fatal(s)
	}
}

// TestRunTxnAgainstFake: the transaction benchmark commits its
// transactions (read back under read_committed) and reports plausible
// latencies per partition count.
func TestRunTxnAgainstFake(t *testing.T) {
	c, ctx := fakeCluster(t, 1)
	rep, err := RunTxn(ctx, TxnConfig{Brokers: c.ListenAddrs(), Partitions: []int{1, 5}, Transactions: 20, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 4 || rep.Results[0].Partitions != 1 || rep.Results[1].Partitions != 5 {
		t.Fatalf("results %+v", rep.Results)
	}
	for _, r := range rep.Results {
		if r.PerSec <= 0 || r.Commit.P50 <= 0 || r.Commit.P50 > r.Commit.P99 || r.Total.P50 < r.Commit.P50 {
			t.Fatalf("implausible %+v", r)
		}
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "commit p99 ms") {
		t.Fatalf("table %v:\n%s", err, table.String())
	}
	// Every transaction committed: 2 runs × (21 × 1 + 21 × 5) records.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(rep.Config.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for n := 0; n < 2*(21+21*5); {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d committed records", n)
		}
		n += fs.NumRecords()
	}
}

// fakeCluster starts an in-process kfake cluster of n brokers and returns
// it with a context that bounds the test.
func fakeCluster(t *testing.T, n int, opts ...kfake.Opt) (*kfake.Cluster, context.Context) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(n)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c, ctx
}

// TestListOffsetsRetries: a retriable partition error (a leader not ready
// just after topic creation) is retried; others fail at once.
func TestListOffsetsRetries(t *testing.T) {
	calls := 0
	list := func(_ context.Context, topics ...string) (kadm.ListedOffsets, error) {
		calls++
		var err error
		if calls < 3 {
			err = kerr.NotLeaderForPartition
		}
		return kadm.ListedOffsets{topics[0]: {0: {Topic: topics[0], Offset: 7, Err: err}}}, nil
	}
	offs, err := listOffsets(context.Background(), list, "t")
	if o, _ := offs.Lookup("t", 0); err != nil || calls != 3 || o.Offset != 7 {
		t.Fatalf("offsets %v, error %v after %d calls", offs, err, calls)
	}

	calls = 0
	fatal := func(context.Context, ...string) (kadm.ListedOffsets, error) {
		calls++
		return nil, kerr.TopicAuthorizationFailed
	}
	if _, err := listOffsets(context.Background(), fatal, "t"); !errors.Is(err, kerr.TopicAuthorizationFailed) || calls != 1 {
		t.Fatalf("error %v after %d calls", err, calls)
	}
}

// TestCreateTopicRetriesSettling: UNKNOWN_SERVER_ERROR on CreateTopics
// (what Samsa answers while a Raft group is not ready) is retried until
// the topic is created; a non-transient error fails at once.
func TestCreateTopicRetriesSettling(t *testing.T) {
	c, ctx := fakeCluster(t, 1)
	fails := 0
	failCreate := func(code int16, times int) {
		c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
			if fails >= times {
				c.DropControl()
				return nil, nil, false
			}
			fails++
			c.KeepControl()
			resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
			resp.Version = req.GetVersion()
			for _, rt := range req.(*kmsg.CreateTopicsRequest).Topics {
				st := kmsg.NewCreateTopicsResponseTopic()
				st.Topic, st.ErrorCode = rt.Topic, code
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		})
	}
	failCreate(kerr.UnknownServerError.Code, 2)
	adm := kadm.NewClient(mustClient(t, c))
	parts, created, err := ensureTopic(ctx, adm, "settling", 2, 1)
	if err != nil || !created || parts != 2 || fails != 2 {
		t.Fatalf("partitions %d, created %v, error %v after %d failures", parts, created, err, fails)
	}

	fails = 0
	failCreate(kerr.InvalidReplicationFactor.Code, 5)
	if _, _, err := ensureTopic(ctx, adm, "invalid", 2, 1); !errors.Is(err, kerr.InvalidReplicationFactor) || fails != 1 {
		t.Fatalf("error %v after %d failures", err, fails)
	}
}
