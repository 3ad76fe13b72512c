package integration

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupKcatWithFranzGo: a kcat -G balanced consumer and a franz-go
// member join one group (both in its first generation, within
// group.initial.rebalance.delay.ms) and share a topic: together they read
// every record once; when kcat leaves, its committed offsets hold.
func TestGroupKcatWithFranzGo(t *testing.T) {
	kcatPath := needKcat(t)
	b := startBroker(t, "", map[string]string{"group.initial.rebalance.delay.ms": "3000", "offsets.topic.num.partitions": "3"})
	ctx := testContext(t, 2*time.Minute)
	if _, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 6, 1, nil, "mixed"); err != nil {
		t.Fatal(err)
	}
	produceValues(t, b.Addr(), "mixed", 0, 600)

	var mu sync.Mutex
	counts := map[string]int{}
	franz := 0
	member := newClient(t, b.Addr(), kgo.ConsumerGroup("mixed-group"), kgo.ConsumeTopics("mixed"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Balancers(kgo.RangeBalancer()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		var quietSince time.Time
		for ctx.Err() == nil {
			pctx, cancel := contextWithTimeout(ctx, 300*time.Millisecond)
			fs := member.PollFetches(pctx)
			cancel()
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { counts[string(r.Value)]++; franz++ })
			total := len(counts)
			mu.Unlock()
			if fs.NumRecords() > 0 || total < 600 {
				quietSince = time.Time{}
				continue
			}
			// Everything read: keep polling a little to catch re-reads.
			if quietSince.IsZero() {
				quietSince = time.Now()
			} else if time.Since(quietSince) > 3*time.Second {
				return
			}
		}
	}()
	cmd := exec.Command(kcatPath, "-b", b.Addr(), "-G", "mixed-group", "-X", "auto.offset.reset=earliest",
		"-X", "partition.assignment.strategy=range", "-e", "-q", "mixed")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	kcatRead := 0
	mu.Lock()
	for _, v := range strings.Fields(string(out)) {
		counts[v]++
		kcatRead++
	}
	mu.Unlock()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for v, n := range counts {
		if n != 1 {
			t.Fatalf("record %s read %d times", v, n)
		}
	}
	if len(counts) != 600 || kcatRead == 0 || franz == 0 {
		t.Fatalf("read %d distinct records (kcat %d, franz-go %d), want 600 shared by both", len(counts), kcatRead, franz)
	}
	t.Logf("kcat read %d, franz-go read %d", kcatRead, franz)
}

// TestGroupRebalancesWhenPartitionsAdded: adding partitions to a subscribed
// topic makes the coordinator rebalance the group (a new generation, with
// the client's metadata still stale), and the group consumes the new
// partitions.
func TestGroupRebalancesWhenPartitionsAdded(t *testing.T) {
	b := startBroker(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "3"})
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr())
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "growing"); err != nil {
		t.Fatal(err)
	}
	member := newClient(t, b.Addr(), kgo.ConsumerGroup("growers"), kgo.ConsumeTopics("growing"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	produceValues(t, b.Addr(), "growing", 0, 10)
	got := 0
	for got < 10 {
		fs := member.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	// The generation before the change: the rebalance may complete before
	// the records below are produced.
	_, gen0 := member.GroupMetadata()
	if _, err := adm.UpdatePartitions(ctx, 4, "growing"); err != nil {
		t.Fatal(err)
	}
	pcl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(2); p < 4; p++ {
		if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: "growing", Partition: p, Value: []byte("new")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		member.PollFetches(mustCtx(ctx, 200*time.Millisecond))
		if _, g := member.GroupMetadata(); g > gen0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rebalance after adding partitions (generation %d)", gen0)
		}
	}
	// The member's own metadata is fresh only after metadata.max.age (5
	// min by default); the rebalance above came from the broker. Whether
	// the new partitions are consumed then depends on the group leader's
	// metadata, which a fresh member of the group has.
	fresh := newClient(t, b.Addr(), kgo.ConsumerGroup("growers"), kgo.ConsumeTopics("growing"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	member.Close()
	seen := map[int32]bool{}
	for len(seen) < 2 {
		fs := fresh.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Partition >= 2 {
				seen[r.Partition] = true
			}
		})
	}
}

func mustCtx(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	_ = cancel // expires on its own; the poll loop is short
	return c
}
