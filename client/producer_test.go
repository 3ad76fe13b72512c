package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Expected values from Kafka's UtilsTest.testMurmur2 (Java client).
func TestMurmur2JavaVectors(t *testing.T) {
	cases := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for in, want := range cases {
		if got := murmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

// KeyPartition must agree with franz-go's Kafka-compatible hasher (itself
// checked against the Java client) on arbitrary keys.
func TestKeyPartitionMatchesKgo(t *testing.T) {
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		key := make([]byte, r.IntN(40))
		for j := range key {
			key[j] = byte(r.Uint32())
		}
		n := int32(1 + r.IntN(64))
		want := int32(kp.Partition(&kgo.Record{Key: key}, int(n)))
		if got := KeyPartition(key, n); got != want {
			t.Fatalf("case %d: key %x n %d: got %d, kgo %d", i, key, n, got, want)
		}
	}
}

func TestPartitioners(t *testing.T) {
	rr := RoundRobinPartitioner()
	for i := range 10 {
		if got := rr.Partition(&Record{Topic: "a", Key: []byte("same")}, 4); got != int32(i%4) {
			t.Fatalf("round robin %d: %d", i, got)
		}
	}
	sp := DefaultPartitioner()
	first := sp.Partition(&Record{Topic: "s"}, 8)
	for range 5 {
		if got := sp.Partition(&Record{Topic: "s"}, 8); got != first {
			t.Fatalf("sticky moved before batch.size: %d then %d", first, got)
		}
	}
	sp.(batchObserver).onAppend("s", first, 100, 100)
	if got := sp.Partition(&Record{Topic: "s"}, 8); got == first {
		t.Fatal("sticky did not move after a full batch")
	}
	if got := ManualPartitioner().Partition(&Record{Partition: 3}, 8); got != 3 {
		t.Fatal("manual partitioner ignored Partition")
	}
}

// Each codec and acks level round-trips through the broker.
func TestCompressionAndAcks(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, codec := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
			for _, acks := range []Acks{AcksNone, AcksLeader, AcksAll} {
				t.Run(fmt.Sprintf("%s/acks=%d", codec, acks), func(t *testing.T) {
					topic := newTopic(t, tg, 1)
					p := newTestProducer(t, tg, WithCompression(codec), WithAcks(acks), WithLinger(20*time.Millisecond))
					produceN(t, p, topic, 200, nil)
					c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
					c.Assign(TopicPartition{topic, 0})
					recs := consumeN(t, testCtx(t, 30*time.Second), c, 200)
					for i, r := range recs {
						if string(r.Value) != "v"+strconv.Itoa(i) || r.Offset != int64(i) {
							t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
						}
					}
				})
			}
		}
	})
}

// Many small batches with 5 requests in flight per connection keep
// per-partition order and have no duplicates.
func TestIdempotentOrdering(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 4)
		p := newTestProducer(t, tg, WithBatchSize(200), WithLinger(0), WithMaxInFlight(5))
		const n = 4000
		produceN(t, p, topic, n, func(i int) []byte { return []byte(strconv.Itoa(i % 16)) })
		c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
		c.Assign(TopicPartition{topic, 0}, TopicPartition{topic, 1}, TopicPartition{topic, 2}, TopicPartition{topic, 3})
		recs := consumeN(t, testCtx(t, 60*time.Second), c, n)
		last := map[string]int{}
		for _, r := range recs {
			i, _ := strconv.Atoi(string(r.Value[1:]))
			k := string(r.Key)
			if prev, ok := last[k]; ok && i <= prev {
				t.Fatalf("key %s: value %d after %d", k, i, prev)
			}
			last[k] = i
		}
	})
}

// With buffer.memory full and the broker not answering, Send blocks and
// then fails after max.block.ms; delivery.timeout.ms fails what was buffered.
func TestBackPressureAndDeliveryTimeout(t *testing.T) {
	tg := newKfake(t)
	topic := newTopic(t, tg, 1)
	tg.fake.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		tg.fake.KeepControl()
		return nil, nil, true // swallow: never answer
	})
	p := newTestProducer(t, tg,
		WithBufferMemory(2000), WithMaxBlock(200*time.Millisecond), WithLinger(0),
		WithDeliveryTimeout(time.Second), WithRequestTimeout(300*time.Millisecond))
	ctx := testCtx(t, 30*time.Second)
	var delivered sync.WaitGroup
	var timeouts atomic.Int32
	sent := 0
	var err error
	for ; sent < 100; sent++ {
		delivered.Add(1)
		err = p.Send(ctx, &Record{Topic: topic, Value: make([]byte, 100)}, func(_ RecordMetadata, err error) {
			if errors.Is(err, ErrDeliveryTimeout) {
				timeouts.Add(1)
			}
			delivered.Done()
		})
		if err != nil {
			delivered.Done()
			break
		}
	}
	if !errors.Is(err, ErrBufferFull) {
		t.Fatalf("send %d: %v, want ErrBufferFull", sent, err)
	}
	if sent == 0 || sent > 2000/121+1 {
		t.Fatalf("%d records buffered in 2000 bytes", sent)
	}
	delivered.Wait()
	if int(timeouts.Load()) != sent {
		t.Fatalf("%d of %d records failed with ErrDeliveryTimeout", timeouts.Load(), sent)
	}
	// Memory came back: a Send succeeds again.
	if err := p.Send(ctx, &Record{Topic: topic, Value: []byte("x")}, nil); err != nil {
		t.Fatalf("send after timeouts: %v", err)
	}
}

// A NOT_LEADER_OR_FOLLOWER answer makes the producer refresh metadata and
// retry; moving the partition's leader is followed too.
func TestProducerNotLeaderRetry(t *testing.T) {
	tg := newKfake(t)
	topic := newTopic(t, tg, 1)
	var injected atomic.Int32
	tg.fake.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if injected.Add(1) > 3 {
			return nil, nil, false
		}
		tg.fake.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = ErrNotLeaderOrFollower.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	p := newTestProducer(t, tg)
	ctx := testCtx(t, 30*time.Second)
	md, err := p.SendSync(ctx, &Record{Topic: topic, Value: []byte("a")})
	if err != nil || md.Offset != 0 {
		t.Fatalf("send through NOT_LEADER: %+v %v", md, err)
	}
	if injected.Load() < 4 {
		t.Fatalf("only %d produce requests", injected.Load())
	}
	// Move the leader; the next sends follow it.
	old := tg.fake.LeaderFor(topic, 0)
	if err := tg.fake.MoveTopicPartition(topic, 0, (old+1)%3); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		md, err := p.SendSync(ctx, &Record{Topic: topic, Value: []byte("b")})
		if err != nil || md.Offset != int64(i+1) {
			t.Fatalf("send %d after move: %+v %v", i, md, err)
		}
	}
}

// metadata.max.age.ms picks up new partitions without any error.
func TestMetadataMaxAge(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		p := newTestProducer(t, tg, WithMetadataMaxAge(100*time.Millisecond), WithPartitioner(RoundRobinPartitioner()))
		ctx := testCtx(t, 30*time.Second)
		if _, err := p.SendSync(ctx, &Record{Topic: topic}); err != nil {
			t.Fatal(err)
		}
		if err := newTestAdmin(t, tg).CreatePartitions(ctx, topic, 3); err != nil {
			t.Fatal(err)
		}
		seen := map[int32]bool{}
		for len(seen) < 3 {
			md, err := p.SendSync(ctx, &Record{Topic: topic})
			if err != nil {
				t.Fatal(err)
			}
			seen[md.Partition] = true
		}
	})
}

// A dead first bootstrap broker is skipped.
func TestSeveralBootstrapBrokers(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		dead := "127.0.0.1:" + strconv.Itoa(freePort(t))
		p, err := NewProducer(WithBrokers(dead, tg.addrs[0]), WithDialTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(context.Background())
		for range 3 {
			if _, err := p.SendSync(testCtx(t, 30*time.Second), &Record{Topic: topic, Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

type countingInterceptor struct {
	sent, acked, failed atomic.Int32
}

func (c *countingInterceptor) OnSend(r *Record) *Record {
	c.sent.Add(1)
	r2 := *r
	r2.Headers = append(append([]Header(nil), r.Headers...), Header{Key: "intercepted", Value: []byte("yes")})
	return &r2
}

func (c *countingInterceptor) OnAcknowledgement(_ *Record, err error) {
	if err != nil {
		c.failed.Add(1)
	} else {
		c.acked.Add(1)
	}
}

// Interceptors see every send and acknowledgement and may rewrite records;
// Close delivers what is still lingering.
func TestInterceptorsAndCloseDelivers(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 2)
		ic := &countingInterceptor{}
		p, err := NewProducer(tg.opts(WithProducerInterceptors(ic), WithLinger(time.Hour), WithBatchSize(1<<20))...)
		if err != nil {
			t.Fatal(err)
		}
		var acked atomic.Int32
		for i := range 50 {
			if err := p.Send(testCtx(t, 10*time.Second), &Record{Topic: topic, Value: []byte(strconv.Itoa(i))}, func(_ RecordMetadata, err error) {
				if err == nil {
					acked.Add(1)
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(testCtx(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if acked.Load() != 50 || ic.sent.Load() != 50 || ic.acked.Load() != 50 || ic.failed.Load() != 0 {
			t.Fatalf("acked %d, interceptor sent %d acked %d failed %d", acked.Load(), ic.sent.Load(), ic.acked.Load(), ic.failed.Load())
		}
		if err := p.Send(context.Background(), &Record{Topic: topic}, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("send after close: %v", err)
		}
		c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
		c.Assign(TopicPartition{topic, 0}, TopicPartition{topic, 1})
		for _, r := range consumeN(t, testCtx(t, 30*time.Second), c, 50) {
			if len(r.Headers) != 1 || r.Headers[0].Key != "intercepted" {
				t.Fatalf("record without interceptor header: %+v", r.Headers)
			}
		}
	})
}

// Send from many goroutines at once (run with -race).
func TestConcurrentSends(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 3)
		p := newTestProducer(t, tg, WithLinger(time.Millisecond))
		var wg sync.WaitGroup
		var errs atomic.Int32
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					if _, err := p.SendSync(testCtx(t, 30*time.Second), &Record{Topic: topic, Key: []byte{byte(g)}, Value: []byte(strconv.Itoa(i))}); err != nil {
						errs.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if errs.Load() > 0 {
			t.Fatalf("%d sends failed", errs.Load())
		}
		ends, err := newTestAdmin(t, tg).ListOffsets(testCtx(t, 10*time.Second), OffsetLatest,
			TopicPartition{topic, 0}, TopicPartition{topic, 1}, TopicPartition{topic, 2})
		if err != nil {
			t.Fatal(err)
		}
		if ends[TopicPartition{topic, 0}]+ends[TopicPartition{topic, 1}]+ends[TopicPartition{topic, 2}] != 800 {
			t.Fatalf("log ends %v, want 800 records", ends)
		}
	})
}

// Produce requests whose connection dies after the broker received them are
// retried; idempotence makes the broker drop the duplicates, so every record
// is written exactly once and in order.
func TestIdempotentRetriesAfterConnectionLoss(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 2)
		var produces atomic.Int32
		fault := func(req kmsg.Request) bool {
			_, ok := req.(*kmsg.ProduceRequest)
			return ok && produces.Add(1)%4 == 0 // every 4th produce request
		}
		connFault.Store(&fault)
		defer connFault.Store(nil)
		p := newTestProducer(t, tg, WithBatchSize(300), WithLinger(0))
		const n = 500
		produceN(t, p, topic, n, func(i int) []byte { return []byte(strconv.Itoa(i % 8)) })
		connFault.Store(nil)
		if produces.Load() < 8 {
			t.Fatalf("only %d produce requests: no faults injected", produces.Load())
		}
		c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
		c.Assign(allParts(topic, 2)...)
		recs := consumeN(t, testCtx(t, 30*time.Second), c, n)
		pctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if more, _ := c.Poll(pctx); len(more) > 0 {
			t.Fatalf("%d duplicate records", len(more))
		}
		last := map[string]int{}
		seen := map[string]bool{}
		for _, r := range recs {
			if seen[string(r.Value)] {
				t.Fatalf("duplicate %s", r.Value)
			}
			seen[string(r.Value)] = true
			i, _ := strconv.Atoi(string(r.Value[1:]))
			if prev, ok := last[string(r.Key)]; ok && i <= prev {
				t.Fatalf("key %s: %d after %d", r.Key, i, prev)
			}
			last[string(r.Key)] = i
		}
	})
}

// Leaders move around while producing and consuming: every record arrives
// exactly once and in order per key.
func TestLeaderShuffleChaos(t *testing.T) {
	tg := newKfake(t)
	topic := newTopic(t, tg, 4)
	ctx := testCtx(t, 60*time.Second)
	stop := make(chan struct{})
	var shuffler sync.WaitGroup
	shuffler.Add(1)
	go func() {
		defer shuffler.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				tg.fake.ShufflePartitionLeaders()
			}
		}
	}()
	defer func() { close(stop); shuffler.Wait() }()

	const n = 3000
	c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest), WithFetchMaxWait(20*time.Millisecond))
	c.Assign(allParts(topic, 4)...)
	got := make(chan []*Record, 1)
	go func() {
		var recs []*Record
		for len(recs) < n && ctx.Err() == nil {
			rs, err := c.Poll(ctx)
			if err != nil {
				break
			}
			recs = append(recs, rs...)
		}
		got <- recs
	}()
	p := newTestProducer(t, tg, WithBatchSize(500), WithLinger(time.Millisecond))
	produceN(t, p, topic, n, func(i int) []byte { return []byte(strconv.Itoa(i % 32)) })
	recs := <-got
	if len(recs) != n {
		t.Fatalf("consumed %d of %d records", len(recs), n)
	}
	last := map[string]int{}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[string(r.Value)] {
			t.Fatalf("duplicate %s", r.Value)
		}
		seen[string(r.Value)] = true
		i, _ := strconv.Atoi(string(r.Value[1:]))
		if prev, ok := last[string(r.Key)]; ok && i <= prev {
			t.Fatalf("key %s: %d after %d", r.Key, i, prev)
		}
		last[string(r.Key)] = i
	}
}
