package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// chainMember is one member of a consume-transform-produce stage: a
// franz-go GroupTransactSession reading in (group) and writing each record
// with tag appended to out, each poll one transaction that also commits the
// consumed offsets. It runs until stop closes.
func chainMember(t *testing.T, ctx context.Context, seeds []string, group, txnID, in, out, tag string, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	newSession := func() *kgo.GroupTransactSession {
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(seeds...), kgo.TransactionalID(txnID),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.DefaultProduceTopic(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.TransactionTimeout(20*time.Second), kgo.SessionTimeout(6*time.Second),
			kgo.RetryTimeout(time.Minute), kgo.AlwaysRetryEOF())
		if err != nil {
			t.Errorf("%s: %v", txnID, err)
			return nil
		}
		return sess
	}
	sess := newSession()
	if sess == nil {
		return
	}
	defer func() { sess.Close() }()
	failures := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := sess.PollRecords(pctx, 50)
		cancel()
		if fs.NumRecords() == 0 {
			continue
		}
		err := sess.Begin()
		if err == nil {
			fs.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: []byte(string(r.Value) + "|" + tag)}, nil)
			})
			_, err = sess.End(ctx, kgo.TryCommit)
		}
		if err == nil {
			failures = 0
			continue
		}
		// A transaction that fails is aborted (its records and offsets
		// never count); the next poll starts again from the committed
		// offsets. A session that keeps failing (fenced, say) is replaced
		// by a new instance of the same transactional ID.
		failures++
		t.Logf("%s: transaction failed (%d in a row): %v", txnID, failures, err)
		if failures >= 3 {
			sess.Close()
			if sess = newSession(); sess == nil {
				return
			}
			failures = 0
		}
	}
}

// TestClusterExactlyOnceChainWithKill: a consume-transform-produce chain
// over three topics (in → mid → out, two stages, each a consumer group of
// GroupTransactSession members) on three broker processes, RF 3. Members
// join and leave mid-stream, and the broker coordinating a member's
// transactions is killed with SIGKILL in the middle. The final topic holds
// every input record exactly once under read_committed, having passed both
// stages once.
func TestClusterExactlyOnceChainWithKill(t *testing.T) {
	c := startCluster(t, 3, "--set", "transaction.state.log.num.partitions=3", "--set", "offsets.topic.num.partitions=3",
		"--set", "group.initial.rebalance.delay.ms=0")
	ctx := testContext(t, 4*time.Minute)
	seeds := strings.Split(c.addrs(0), ",")
	adm := newAdmin(t, c.addrs(0))
	for _, topic := range []string{"chain-in", "chain-mid", "chain-out"} {
		if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 3; p++ {
			waitISRPartition(t, ctx, c.procs[0].addr, topic, p, 3)
		}
	}
	const n = 3000
	in := newClient(t, c.addrs(0), kgo.DefaultProduceTopic("chain-in"))
	for i := 0; i < n; i++ {
		in.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 97)), Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	start := func(name, group, from, to, tag string) chan struct{} {
		stop := make(chan struct{})
		wg.Add(1)
		go chainMember(t, ctx, seeds, group, "chain-"+name, from, to, tag, stop, &wg)
		return stop
	}
	var stops []chan struct{}
	defer func() {
		for _, s := range stops {
			close(s)
		}
		wg.Wait()
	}()
	a1 := start("a1", "stage-a", "chain-in", "chain-mid", "a")
	b1 := start("b1", "stage-b", "chain-mid", "chain-out", "b")
	stops = append(stops, a1, b1)

	// The victim: the broker coordinating a1's transactions.
	coords := adm.FindTxnCoordinators(ctx, "chain-a1")
	victim := int32(-1)
	coords.Each(func(r kadm.FindCoordinatorResponse) { victim = r.NodeID })

	monitor := newClient(t, c.addrs(0), kgo.ConsumeTopics("chain-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.AlwaysRetryEOF())
	seen := map[string]int{}
	joined, killed, left := false, false, false
	for len(seen) < n {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := monitor.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("the chain delivered %d of %d records (members joined %v, broker killed %v, members left %v)", len(seen), n, joined, killed, left)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		switch {
		case !joined && len(seen) >= n/6:
			joined = true
			stops = append(stops, start("a2", "stage-a", "chain-in", "chain-mid", "a"), start("b2", "stage-b", "chain-mid", "chain-out", "b"))
			t.Logf("a2 and b2 joined at %d records", len(seen))
		case !killed && len(seen) >= n/3:
			killed = true
			if victim < 1 {
				victim = 2
			}
			c.procs[victim-1].kill()
			t.Logf("killed broker %d (coordinator of chain-a1's transactions) at %d records", victim, len(seen))
		case !left && len(seen) >= n/2:
			left = true
			close(a1)
			close(b1)
			stops = stops[2:]
			t.Logf("a1 and b1 left at %d records", len(seen))
		}
	}

	// Everything once: read the whole topic again under read_committed
	// from the surviving brokers.
	got := consumeValues(t, ctx, c.addrs(int(victim)), "chain-out", kgo.ReadCommitted())
	count := map[string]int{}
	for _, v := range got {
		count[v]++
	}
	for i := 0; i < n; i++ {
		if k := count[fmt.Sprintf("%d|a|b", i)]; k != 1 {
			t.Fatalf("input %d is in the output %d times (%d output records)", i, k, len(got))
		}
	}
	if len(got) != n {
		t.Fatalf("%d output records, want %d", len(got), n)
	}
}
