package client

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/samsa-io/samsa/broker"
)

// target is a cluster the suite runs against: franz-go's in-process fake
// (kfake, 3 brokers, fresh per test) or a real in-process Samsa broker
// (one per test binary; tests use unique topic and group names).
type target struct {
	name  string
	samsa bool
	addrs []string
	fake  *kfake.Cluster // kfake only
}

func (tg *target) opts(extra ...Option) []Option {
	o := []Option{WithBrokers(tg.addrs...), WithRetryBackoff(20 * time.Millisecond)}
	if os.Getenv("CLIENT_DEBUG") != "" {
		o = append(o, WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	return append(o, extra...)
}

var (
	samsaOnce sync.Once
	samsaB    *broker.Broker
	samsaDir  string
	samsaErr  error
)

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// samsaBroker starts the shared Samsa broker on first use, as
// integration/helpers_test.go does: loopback listener, temp data dir.
func samsaBroker(t testing.TB) *broker.Broker {
	t.Helper()
	samsaOnce.Do(func() {
		samsaDir, samsaErr = os.MkdirTemp("", "samsa-client-test-")
		if samsaErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		samsaB, samsaErr = broker.Start(ctx, broker.Config{
			DataDir:  samsaDir,
			Listen:   "127.0.0.1:0",
			RaftAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
			// Short group timings keep rebalance tests quick.
			Settings: map[string]string{"group.initial.rebalance.delay.ms": "0"},
		})
	})
	if samsaErr != nil {
		t.Fatalf("start samsa broker: %v", samsaErr)
	}
	return samsaB
}

func TestMain(m *testing.M) {
	code := m.Run()
	if samsaB != nil {
		samsaB.Close()
	}
	if samsaDir != "" {
		os.RemoveAll(samsaDir)
	}
	os.Exit(code)
}

func newKfake(t testing.TB, opts ...kfake.Opt) *target {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &target{name: "kfake", addrs: c.ListenAddrs(), fake: c}
}

func newSamsa(t testing.TB) *target {
	b := samsaBroker(t)
	return &target{name: "samsa", samsa: true, addrs: []string{b.Addr()}}
}

// forEachTarget runs fn as a subtest against kfake and Samsa.
func forEachTarget(t *testing.T, fn func(t *testing.T, tg *target)) {
	t.Run("kfake", func(t *testing.T) { fn(t, newKfake(t)) })
	t.Run("samsa", func(t *testing.T) { fn(t, newSamsa(t)) })
}

var nameSeq atomic.Int64

// uniq returns a name unique within the test binary run.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nameSeq.Add(1))
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newTestAdmin(t testing.TB, tg *target) *Admin {
	t.Helper()
	a, err := NewAdmin(tg.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// newTopic creates a topic with n partitions and returns its name.
func newTopic(t testing.TB, tg *target, n int32, configs ...map[string]string) string {
	t.Helper()
	name := uniq("t")
	spec := TopicSpec{Name: name, Partitions: n, ReplicationFactor: 1}
	if len(configs) > 0 {
		spec.Configs = configs[0]
	}
	a, err := NewAdmin(tg.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.CreateTopics(testCtx(t, 30*time.Second), spec); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return name
}

func newTestProducer(t testing.TB, tg *target, opts ...Option) *Producer {
	t.Helper()
	p, err := NewProducer(tg.opts(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func newTestConsumer(t testing.TB, tg *target, opts ...Option) *Consumer {
	t.Helper()
	c, err := NewConsumer(tg.opts(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// consumeN polls until n records arrived or ctx ends.
func consumeN(t testing.TB, ctx context.Context, c *Consumer, n int) []*Record {
	t.Helper()
	var out []*Record
	for len(out) < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			c.mu.Lock()
			var st []string
			for _, cp := range c.parts {
				st = append(st, fmt.Sprintf("%s pos=%d need=%v reset=%d inflight=%v buffered=%v paused=%v hw=%d", cp.tp, cp.position, cp.needOffset, cp.resetTo, cp.inflight, cp.buffered, cp.paused, cp.hw))
			}
			c.mu.Unlock()
			t.Fatalf("poll after %d/%d records: %v; partitions: %v", len(out), n, err, st)
		}
		out = append(out, recs...)
	}
	return out
}

// produceN sends n records with values v0..v{n-1} to topic and waits.
func produceN(t testing.TB, p *Producer, topic string, n int, key func(i int) []byte) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := range n {
		wg.Add(1)
		rec := &Record{Topic: topic, Value: []byte("v" + strconv.Itoa(i))}
		if key != nil {
			rec.Key = key(i)
		}
		if err := p.Send(ctx, rec, func(_ RecordMetadata, err error) {
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
			wg.Done()
		}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		t.Fatalf("delivery: %v", e)
	}
}
