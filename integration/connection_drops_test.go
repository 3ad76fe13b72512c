package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dropProxy forwards TCP connections to a broker and cuts each one after a
// random lifetime, in whichever direction bytes happen to be flowing: a
// request lost on its way in, or (the case idempotence exists for) a
// request the broker wrote whose response is lost on its way out.
type dropProxy struct {
	ln      net.Listener
	target  string
	minLife time.Duration
	maxLife time.Duration
	drops   atomic.Int64
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
}

func newDropProxy(t *testing.T, minLife, maxLife time.Duration) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, minLife: minLife, maxLife: maxLife, conns: map[net.Conn]struct{}{}}
	t.Cleanup(p.close)
	return p
}

func (p *dropProxy) addr() string { return p.ln.Addr().String() }

func (p *dropProxy) start(target string) {
	p.target = target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go p.serve(c)
		}
	}()
}

func (p *dropProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *dropProxy) serve(c net.Conn) {
	defer p.wg.Done()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, s) {
		c.Close()
		s.Close()
		return
	}
	life := p.minLife + time.Duration(rand.Int64N(int64(p.maxLife-p.minLife)))
	cut := time.AfterFunc(life, func() {
		p.drops.Add(1)
		c.Close()
		s.Close()
	})
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
	<-done
	cut.Stop()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

func (p *dropProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// startBrokerBehind starts a broker whose advertised address is the
// proxy's, so clients reach it only through the proxy.
func startBrokerBehind(t *testing.T, p *dropProxy) string {
	t.Helper()
	b := startBrokerAdvertised(t, p.addr())
	p.start(b.Addr())
	return b.Addr()
}

// createTopicBehind creates topic through the proxy (clients learn only
// its address); a retry after a cut may find the topic already created.
func createTopicBehind(t *testing.T, ctx context.Context, direct, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, direct, kgo.AlwaysRetryEOF()))
	_, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatal(err)
	}
	// Leaders first: sarama fails records, rather than retry them, while a
	// partition has none.
	waitFor(t, ctx, "partition leaders", func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		led := 0
		for _, p := range md.Topics[topic].Partitions {
			if p.Leader >= 0 && p.Err == nil {
				led++
			}
		}
		return led == int(partitions)
	})
}

// checkSequences reads every partition of topic directly and checks that
// partition p holds exactly values "p-0" … "p-(n-1)", in order.
func checkSequences(t *testing.T, ctx context.Context, direct, topic string, partitions, n int) {
	t.Helper()
	cl := newClient(t, direct, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AlwaysRetryEOF())
	next := make([]int, partitions)
	total := 0
	for total < partitions*n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v (next per partition %v)", total, partitions*n, err, next)
		}
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("%d-%d", r.Partition, next[r.Partition])
			if string(r.Value) != want && bad == nil {
				bad = fmt.Errorf("partition %d offset %d: %q, want %q (a duplicate, gap or reordering)", r.Partition, r.Offset, r.Value, want)
			}
			next[r.Partition]++
			total++
		})
		if bad != nil {
			t.Fatal(bad)
		}
	}
	// Nothing beyond: no duplicate at the end either.
	for part := 0; part < partitions; part++ {
		if end := endOffset(t, ctx, cl, topic, int32(part)); end != int64(n) {
			t.Fatalf("partition %d ends at %d, want %d", part, end, n)
		}
	}
}

func endOffset(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, part int32) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = part, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v %+v", err, resp)
	}
	return resp.Topics[0].Partitions[0].Offset
}

// Producers write rounds of records until the proxy has cut this many of
// their connections (at most maxRounds rounds, and at least minRounds).
const (
	wantDrops = 25
	roundSize = 500 // records per partition per round
	minRounds = 10
	maxRounds = 2000
)

// TestIdempotentProducerConnectionDrops: idempotent producers (franz-go
// and sarama) write through a proxy that cuts every connection after 30-150
// ms, so requests are lost both before and after the broker writes them and
// are retried on new connections, until at least 25 connections were cut.
// Every partition ends up with each record exactly once, in order.
func TestIdempotentProducerConnectionDrops(t *testing.T) {
	ctx := testContext(t, 4*time.Minute)
	proxy := newDropProxy(t, 30*time.Millisecond, 150*time.Millisecond)
	direct := startBrokerBehind(t, proxy)
	const partitions = 3

	// produce runs rounds with send(part, i) until enough cuts, and returns
	// the number of records per partition.
	produce := func(t *testing.T, send func(part, i int), flush func()) int {
		before := proxy.drops.Load()
		n := 0
		for round := 0; round < maxRounds; round++ {
			for i := 0; i < roundSize; i++ {
				for part := 0; part < partitions; part++ {
					send(part, n)
				}
				n++
			}
			flush()
			if round+1 >= minRounds && proxy.drops.Load()-before >= wantDrops {
				t.Logf("%d records acknowledged through %d cut connections", n*partitions, proxy.drops.Load()-before)
				return n
			}
		}
		t.Fatalf("only %d connections cut in %d rounds: the test did not exercise retries", proxy.drops.Load()-before, maxRounds)
		return 0
	}

	t.Run("franz-go", func(t *testing.T) {
		const topic = "drops-kgo"
		createTopicBehind(t, ctx, direct, topic, partitions)
		// AlwaysRetryEOF: franz-go otherwise takes a connection closed
		// right after a request for a misconfiguration (SASL) and gives up.
		cl := newClient(t, proxy.addr(), kgo.AlwaysRetryEOF(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
		var wg sync.WaitGroup
		var failed atomic.Value
		n := produce(t, func(part, i int) {
			wg.Add(1)
			r := &kgo.Record{Partition: int32(part), Value: []byte(fmt.Sprintf("%d-%d", part, i))}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.CompareAndSwap(nil, err)
				}
				wg.Done()
			})
		}, func() {
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				t.Fatalf("produce: %v", err)
			}
		})
		checkSequences(t, ctx, direct, topic, partitions, n)
	})

	t.Run("sarama", func(t *testing.T) {
		const topic = "drops-sarama"
		createTopicBehind(t, ctx, direct, topic, partitions)
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Producer.Idempotent = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		cfg.Producer.Return.Successes = true
		cfg.Producer.Retry.Max = 1000
		cfg.Producer.Retry.Backoff = 10 * time.Millisecond
		cfg.Metadata.Retry.Backoff = 10 * time.Millisecond
		cfg.Net.MaxOpenRequests = 1
		p, err := sarama.NewAsyncProducer([]string{proxy.addr()}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		// Answers are drained as they come: sarama blocks its input while
		// its answer channels are full.
		acked := make(chan error, 1024)
		go func() {
			for {
				select {
				case _, ok := <-p.Successes():
					if !ok {
						return
					}
					acked <- nil
				case e, ok := <-p.Errors():
					if !ok {
						return
					}
					acked <- e.Err
				}
			}
		}()
		sent := 0
		n := produce(t, func(part, i int) {
			p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: int32(part), Value: sarama.StringEncoder(strconv.Itoa(part) + "-" + strconv.Itoa(i))}
			sent++
		}, func() {
			for ; sent > 0; sent-- {
				select {
				case err := <-acked:
					if err != nil {
						t.Fatalf("sarama produce: %v", err)
					}
				case <-ctx.Done():
					t.Fatalf("sarama: %d records not acknowledged", sent)
				}
			}
		})
		checkSequences(t, ctx, direct, topic, partitions, n)
	})
}
