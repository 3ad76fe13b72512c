package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRunAgainstFake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	cfg := Config{
		Brokers:    c.ListenAddrs(),
		Records:    10_000,
		RecordSize: 100,
		Partitions: 3,
		Producers:  2,
		Runs:       2,
		Progress:   &progress,
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	if !strings.HasPrefix(rep.Topic, "bench-") || rep.Partitions != 3 || !rep.TopicCreated {
		t.Fatalf("topic %q partitions %d created %v", rep.Topic, rep.Partitions, rep.TopicCreated)
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
		l := p.Latency
		if p.Records != 10_000 || p.Bytes != 1_000_000 || p.RecordsPerSec <= 0 || p.MBPerSec <= 0 ||
			l.P50 <= 0 || l.P50 > l.P95 || l.P95 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
			t.Fatalf("implausible produce result %+v", p)
		}
	}
	// Each consume reads everything produced so far, including one
	// warm-up record per producer per mode.
	perRun := int64(3 * (10_000 + cfg.Producers))
	if len(rep.Consume) != 2 || rep.Consume[0].Records != perRun || rep.Consume[1].Records != 2*perRun ||
		rep.Consume[1].Bytes != 2*perRun*100 || rep.Consume[1].RecordsPerSec <= 0 {
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
		if (s.Latency == nil) != (s.Mode == "consume") {
			t.Fatalf("latency presence for %s", s.Mode)
		}
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"acks=0", "acks=1", "acks=all", "consume", "–"} {
		if !strings.Contains(table.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, table.String())
		}
	}
	if n := strings.Count(progress.String(), "\n"); n != 8 {
		t.Fatalf("want 8 progress lines, got %d:\n%s", n, progress.String())
	}
	t.Logf("\n%s", table.String())
}

func TestRunReusesTopicAndDeletes(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "existing"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	rep, err := Run(ctx, Config{Brokers: c.ListenAddrs(), Topic: "existing", Partitions: 8,
		Acks: []string{"-1"}, Records: 500, SkipConsume: true, DeleteTopic: true})
	if err != nil {
		t.Fatal(err)
	}
	// An existing topic keeps its partitions and is not deleted.
	if rep.Partitions != 2 || rep.TopicCreated || len(rep.Consume) != 0 || rep.Produce[0].Acks != "all" {
		t.Fatalf("report %+v", rep)
	}
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
		{func(c *Config) { c.Compression = "brotli" }, "compression"},
		{func(c *Config) { c.Records = 3; c.Producers = 4 }, "producers"},
		{func(c *Config) { c.Runs = -1 }, "runs"},
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
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
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
