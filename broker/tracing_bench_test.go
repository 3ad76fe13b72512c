package broker

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// produceRequests counts the Produce requests franz-go sends.
type produceRequests struct{ n atomic.Int64 }

func (p *produceRequests) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.Produce.Int16() && err == nil {
		p.n.Add(1)
	}
}

// BenchmarkProduceTracing measures produce throughput through a real
// broker with tracing off (the default), with the no-op tracer called on
// every request (what tracing costs the code paths when nothing records),
// and with an SDK tracer recording every span into a discarding exporter
// (tracing fully on). One op is one 100-byte record. Tracing is paid per
// request and per batch, so the producer keeps batches small (linger 0, at
// most 32 records buffered, acks=1, 6 partitions): thousands of requests a
// second rather than a few large ones.
func BenchmarkProduceTracing(b *testing.B) {
	modes := []struct {
		name string
		tp   func() (trace.TracerProvider, func())
	}{
		{"off", func() (trace.TracerProvider, func()) { return nil, func() {} }},
		{"noop", func() (trace.TracerProvider, func()) { return noop.NewTracerProvider(), func() {} }},
		{"sdk", func() (trace.TracerProvider, func()) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
				sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			return tp, func() { tp.Shutdown(context.Background()) }
		}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			tp, stop := m.tp()
			defer stop()
			ctx := context.Background()
			br, err := Start(ctx, Config{DataDir: benchDir(b), Listen: "127.0.0.1:0",
				RaftAddr: "127.0.0.1:" + strconv.Itoa(freePort(b)), TracerProvider: tp})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			var reqs produceRequests
			cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("bench"),
				kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(32), kgo.WithHooks(&reqs))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 1, nil, "bench"); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 100)
			// Warm up: metadata, connections, partition leaders.
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			reqs.n.Store(0)
			var wg sync.WaitGroup
			var failed atomic.Int64
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						failed.Add(1)
					}
					wg.Done()
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if failed.Load() > 0 {
				b.Fatalf("%d records failed", failed.Load())
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(reqs.n.Load())/elapsed.Seconds(), "requests/s")
		})
	}
}

// benchDir is a data directory in memory (/dev/shm) when there is one: a
// disk's fsync times vary far more than what tracing costs, and would hide
// it. BENCH_DIR overrides.
func benchDir(b *testing.B) string {
	parent := os.Getenv("BENCH_DIR")
	if parent == "" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			parent = "/dev/shm"
		}
	}
	if parent == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "samsa-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
