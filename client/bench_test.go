package client

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Benchmarks of this client against franz-go's kgo on the same in-process
// Samsa broker: 100-byte records, 6 partitions, acks=all with idempotence,
// linger 5ms, 1 MiB batches for both. Run:
//
//	go test ./client/ -run '^$' -bench 'Produce|Consume' -benchtime 300000x -count 3
const (
	benchRecordSize = 100
	benchPartitions = 6
)

func benchValue() []byte {
	v := make([]byte, benchRecordSize)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}

// benchSend produces b.N records of value to topic with this client,
// batching as the kgo comparison does, and reports records/s.
func benchSend(b *testing.B, tg *target, topic string, value []byte, extra ...Option) {
	opts := append([]Option{WithLinger(5 * time.Millisecond), WithBatchSize(1 << 20), WithBufferMemory(256 << 20), WithMaxRequestSize(16 << 20)}, extra...)
	p, err := NewProducer(tg.opts(opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	var wg sync.WaitGroup
	b.SetBytes(benchRecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		if err := p.Send(ctx, &Record{Topic: topic, Value: value}, func(_ RecordMetadata, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkProduce(b *testing.B) {
	tg := newSamsa(b)
	value := benchValue()
	b.Run("client=samsa", func(b *testing.B) {
		topic := newTopic(b, tg, benchPartitions)
		benchSend(b, tg, topic, value)
	})
	b.Run("client=kgo", func(b *testing.B) {
		topic := newTopic(b, tg, benchPartitions)
		// kgo compresses with snappy by default; match the uncompressed
		// batches of the other run.
		cl, err := kgo.NewClient(kgo.SeedBrokers(tg.addrs...), kgo.ProducerLinger(5*time.Millisecond),
			kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<21), kgo.DefaultProduceTopic(topic),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ctx := context.Background()
		var wg sync.WaitGroup
		b.SetBytes(benchRecordSize)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkProduceTracing is BenchmarkProduce's client=samsa run with
// tracing off (the default: the global provider, no-op) and on (an SDK
// provider sampling every span, exporting nowhere, so what is measured is
// the client's instrumentation and the SDK, not an exporter):
//
//	go test ./client/ -run '^$' -bench ProduceTracing -benchtime 300000x -count 3
func BenchmarkProduceTracing(b *testing.B) {
	tg := newSamsa(b)
	value := benchValue()
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"tracing=off", nil},
		{"tracing=on", []Option{WithTracerProvider(sdktrace.NewTracerProvider())}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			topic := newTopic(b, tg, benchPartitions)
			benchSend(b, tg, topic, value, tc.opts...)
		})
	}
}

// BenchmarkTracingHooks is the per-record cost of the tracing hooks alone,
// no broker: a send span started and ended, and a Poll's consumer spans.
// off: the default global provider; noop: WithTracerProvider(noop); on: an
// SDK provider sampling everything and exporting nowhere.
func BenchmarkTracingHooks(b *testing.B) {
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", nil},
		{"noop", noopProvider()},
		{"on", sdktrace.NewTracerProvider()},
	} {
		cfg := newConfig([]Option{WithTracerProvider(tc.tp), WithGroupID("g")})
		b.Run("send/"+tc.name, func(b *testing.B) {
			tr := newTracing(cfg, opSend)
			ctx := context.Background()
			md := RecordMetadata{Topic: "bench", Partition: 1, Offset: 42}
			rec := &Record{Topic: "bench", Value: []byte("v")}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				rec.Headers = nil
				if span := tr.startSend(ctx, rec); span != nil {
					endSend(span, md, nil)
				}
			}
		})
		b.Run("process/"+tc.name, func(b *testing.B) {
			tr := newTracing(cfg, opProcess)
			ctx := context.Background()
			// A Poll's worth of records, each from a traced producer.
			recs := make([]*Record, 100)
			for j := range recs {
				recs[j] = &Record{Topic: "bench", Offset: int64(j), Value: []byte("v"),
					Headers: []Header{{"traceparent", []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}}
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i += len(recs) { // an op is a record
				tr.processSpans(ctx, recs)
			}
		})
	}
}

// fillTopic writes n benchmark records to a fresh topic (with kgo and its
// default snappy compression, so both consumers read identical batches).
func fillTopic(b *testing.B, tg *target, n int) string {
	topic := newTopic(b, tg, benchPartitions)
	cl, err := kgo.NewClient(kgo.SeedBrokers(tg.addrs...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<21), kgo.DefaultProduceTopic(topic))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := benchValue()
	for i := 0; i < n; i++ {
		cl.Produce(context.Background(), &kgo.Record{Value: value, Key: []byte(strconv.Itoa(i % 1000))}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return topic
}

func BenchmarkConsume(b *testing.B) {
	tg := newSamsa(b)
	b.Run("client=samsa", func(b *testing.B) {
		topic := fillTopic(b, tg, b.N)
		c, err := NewConsumer(tg.opts(WithAutoOffsetReset(ResetEarliest), WithMaxPollRecords(10000))...)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(context.Background())
		b.SetBytes(benchRecordSize)
		b.ReportAllocs()
		b.ResetTimer()
		c.Assign(allParts(topic, benchPartitions)...)
		ctx := context.Background()
		for n := 0; n < b.N; {
			recs, err := c.Poll(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += len(recs)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("client=kgo", func(b *testing.B) {
		topic := fillTopic(b, tg, b.N)
		b.SetBytes(benchRecordSize)
		b.ReportAllocs()
		b.ResetTimer()
		cl, err := kgo.NewClient(kgo.SeedBrokers(tg.addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ctx := context.Background()
		for n := 0; n < b.N; {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				b.Fatal(err)
			}
			n += fs.NumRecords()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

func noopProvider() trace.TracerProvider { return noop.NewTracerProvider() }
