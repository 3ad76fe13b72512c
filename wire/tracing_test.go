package wire

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/telemetry"
)

var sink any

// BenchmarkProduceTracingHooks is what tracing adds to one produce request
// of one batch in the wire layer — the request span and the partition
// append span — with tracing off, with the no-op tracer, and with an SDK
// tracer recording into a discarding exporter. (The Raft proposal span is
// one more child like the append span.) Compare with the cost of a whole
// produce request in BenchmarkProduceTracing (broker package).
func BenchmarkProduceTracingHooks(b *testing.B) {
	recs := make([]batch.Record, 10)
	for i := range recs {
		recs[i] = batch.Record{OffsetDelta: int32(i), Value: make([]byte, 100)}
	}
	data, err := batch.Build(batch.Header{LastOffsetDelta: 9, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		b.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = 1
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: "orders", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: data}}}}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Topics = []kmsg.ProduceResponseTopic{{Topic: "orders", Partitions: []kmsg.ProduceResponseTopicPartition{{}}}}
	d := decoded{key: req.Key(), version: 9, clientID: "bench", req: req}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer sdk.Shutdown(context.Background())
	// baseline: the same request bookkeeping with no tracing code at all.
	b.Run("baseline", func(b *testing.B) {
		s := &Server{ctx: context.Background()}
		b.ReportAllocs()
		for range b.N {
			p := &pending{}
			rc := &reqCtx{Context: s.ctx, s: s, p: p}
			sink = rc
		}
	})
	for _, m := range []struct {
		name string
		t    *telemetry.Tracing
	}{{"off", telemetry.Off()}, {"noop", telemetry.NewTracing(noop.NewTracerProvider())}, {"sdk", telemetry.NewTracing(sdk)}} {
		b.Run(m.name, func(b *testing.B) {
			s := &Server{ctx: context.Background(), tracing: m.t}
			b.ReportAllocs()
			for range b.N {
				p := &pending{}
				rc := &reqCtx{Context: s.requestContext(d, len(data)+100, p), s: s, p: p}
				_, span := startAppendSpan(rc, "orders", 0, len(data), 10)
				if span != nil {
					telemetry.SetErrorCode(span, 0)
					span.End()
				}
				if p.span != nil {
					endRequestSpan(p.span, resp)
				}
				sink = rc
			}
		})
	}
}
