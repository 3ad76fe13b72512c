package client

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/broker"
)

// startSamsaAt starts a dedicated Samsa broker on a fixed address, so a
// restart on the same data directory is reachable at the same bootstrap
// address.
func startSamsaAt(t *testing.T, dir, listen, raft string) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{DataDir: dir, Listen: listen, RaftAddr: raft,
		Settings: map[string]string{"group.initial.rebalance.delay.ms": "0"}})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	return b
}

// The producer and a group consumer ride out a broker restart: records sent
// while it is down are delivered once it is back (idempotently: no
// duplicates), and the consumer resumes from its committed position.
func TestSamsaBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	raft := "127.0.0.1:" + strconv.Itoa(freePort(t))
	b := startSamsaAt(t, dir, listen, raft)
	var closeOnce sync.Once
	defer func() { closeOnce.Do(b.Close) }()
	tg := &target{name: "samsa-restart", samsa: true, addrs: []string{listen}}
	topic := newTopic(t, tg, 2)
	ctx := testCtx(t, 90*time.Second)

	p := newTestProducer(t, tg, WithDeliveryTimeout(60*time.Second), WithRequestTimeout(5*time.Second))
	produceN(t, p, topic, 100, func(i int) []byte { return []byte(strconv.Itoa(i % 4)) })
	c := newTestConsumer(t, tg, groupOpts(uniq("g"), WithAutoCommit(false))...)
	c.Subscribe(topic)
	consumeN(t, ctx, c, 100)
	if err := c.CommitSync(ctx); err != nil {
		t.Fatal(err)
	}

	closeOnce.Do(b.Close)
	// Send while the broker is down; these wait in the buffer.
	var wg sync.WaitGroup
	var failed sync.Map
	for i := 100; i < 200; i++ {
		wg.Add(1)
		rec := &Record{Topic: topic, Key: []byte(strconv.Itoa(i % 4)), Value: []byte("v" + strconv.Itoa(i))}
		if err := p.Send(ctx, rec, func(_ RecordMetadata, err error) {
			if err != nil {
				failed.Store(rec, err)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	b = startSamsaAt(t, dir, listen, raft)
	closeOnce = sync.Once{}
	defer func() { closeOnce.Do(b.Close) }()
	wg.Wait()
	failed.Range(func(k, v any) bool {
		t.Fatalf("record failed across the restart: %v", v)
		return false
	})
	recs := consumeN(t, ctx, c, 100)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[string(r.Value)] {
			t.Fatalf("duplicate %s", r.Value)
		}
		seen[string(r.Value)] = true
	}
	for i := 100; i < 200; i++ {
		if !seen["v"+strconv.Itoa(i)] {
			t.Fatalf("record v%d missing after restart (got %d records)", i, len(recs))
		}
	}
	p.Close(ctx)
	c.Close(ctx)
}

// A restart in the middle of a stream of in-flight idempotent batches: the
// broker must recognise retried batches it had already appended (its
// producer state survives the restart), so nothing is duplicated or lost.
func TestSamsaRestartMidStream(t *testing.T) {
	dir := t.TempDir()
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	raft := "127.0.0.1:" + strconv.Itoa(freePort(t))
	b := startSamsaAt(t, dir, listen, raft)
	var closeOnce sync.Once
	defer func() { closeOnce.Do(b.Close) }()
	tg := &target{name: "samsa-restart", samsa: true, addrs: []string{listen}}
	topic := newTopic(t, tg, 1)
	ctx := testCtx(t, 90*time.Second)

	p := newTestProducer(t, tg, WithDeliveryTimeout(60*time.Second), WithRequestTimeout(5*time.Second),
		WithBatchSize(200), WithLinger(0))
	const n = 3000
	var wg sync.WaitGroup
	var failed sync.Map
	var acked sync.WaitGroup
	acked.Add(n / 3)
	for i := range n {
		wg.Add(1)
		rec := &Record{Topic: topic, Value: []byte("v" + strconv.Itoa(i))}
		if err := p.Send(ctx, rec, func(_ RecordMetadata, err error) {
			if err != nil {
				failed.Store(rec, err)
			}
			if i < n/3 {
				acked.Done()
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			acked.Wait() // some delivered, many in flight or buffered
			closeOnce.Do(b.Close)
			b = startSamsaAt(t, dir, listen, raft)
			closeOnce = sync.Once{}
		}
	}
	wg.Wait()
	failed.Range(func(k, v any) bool {
		t.Fatalf("record failed across the restart: %v", v)
		return false
	})
	c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
	c.Assign(TopicPartition{topic, 0})
	recs := consumeN(t, ctx, c, n)
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if more, _ := c.Poll(pctx); len(more) > 0 {
		t.Fatalf("%d extra (duplicate) records after %d", len(more), n)
	}
	for i, r := range recs {
		if string(r.Value) != "v"+strconv.Itoa(i) {
			t.Fatalf("offset %d holds %s, want v%d", r.Offset, r.Value, i)
		}
	}
}
