package wire

import (
	"context"
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/telemetry"
)

// requestContext is the context a request's handler runs in: with tracing
// on, it carries the request's span (also set in p, ended with the
// response); off, it is the server's, and costs nothing.
func (s *Server) requestContext(d decoded, size int, p *pending) context.Context {
	if !s.tracing.On {
		return s.ctx
	}
	ctx, span := startRequestSpan(s, d, size)
	p.span = span
	return ctx
}

// startRequestSpan starts the span of one request (tracing is on). A
// produce whose first batch with a W3C traceparent header on its first
// record joins that record's trace.
func startRequestSpan(s *Server, d decoded, size int) (context.Context, trace.Span) {
	parent := context.Context(s.ctx)
	req, isProduce := d.req.(*kmsg.ProduceRequest)
	if isProduce {
		parent = produceParent(parent, req)
	}
	ctx, span := s.tracing.Tracer.Start(parent, kmsg.NameForKey(d.key), trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() {
		span.SetAttributes(
			telemetry.AttrSystem,
			telemetry.AttrAPI.String(kmsg.NameForKey(d.key)),
			telemetry.AttrAPIVersion.Int(int(d.version)),
			telemetry.AttrClientID.String(d.clientID),
			telemetry.AttrRequestSize.Int(size),
		)
		switch r := d.req.(type) {
		case *kmsg.ProduceRequest:
			if len(r.Topics) == 1 {
				span.SetAttributes(telemetry.AttrTopic.String(r.Topics[0].Topic))
				if len(r.Topics[0].Partitions) == 1 {
					span.SetAttributes(telemetry.Partition(r.Topics[0].Partitions[0].Partition))
				}
			}
		case *kmsg.FetchRequest:
			if len(r.Topics) == 1 {
				name := r.Topics[0].Topic
				if r.GetVersion() >= 13 {
					if t := s.b.Metadata().TopicByID(r.Topics[0].TopicID); t != nil {
						name = t.Name
					}
				}
				span.SetAttributes(telemetry.AttrTopic.String(name))
				if len(r.Topics[0].Partitions) == 1 {
					span.SetAttributes(telemetry.Partition(r.Topics[0].Partitions[0].Partition))
				}
			}
		}
	}
	return ctx, span
}

// produceParent returns ctx carrying the remote span context of the first
// batch (in request order) whose first record has a traceparent header.
func produceParent(ctx context.Context, req *kmsg.ProduceRequest) context.Context {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp, ok := batch.FirstRecordHeader(p.Records, "traceparent")
			if !ok {
				continue
			}
			carrier := propagation.MapCarrier{"traceparent": string(tp)}
			if ts, ok := batch.FirstRecordHeader(p.Records, "tracestate"); ok {
				carrier["tracestate"] = string(ts)
			}
			out := propagation.TraceContext{}.Extract(ctx, carrier)
			if trace.SpanContextFromContext(out).IsValid() {
				return out
			}
		}
	}
	return ctx
}

// endRequestSpan records the response's first error code and ends span.
func endRequestSpan(span trace.Span, resp kmsg.Response) {
	if span.IsRecording() && resp != nil {
		telemetry.SetErrorCode(span, responseErrorCode(resp))
	}
	span.End()
}

// responseErrorCode is the first error code in a response: produce, the
// hot one, directly; any other by reflection.
func responseErrorCode(resp kmsg.Response) int16 {
	if r, ok := resp.(*kmsg.ProduceResponse); ok {
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return p.ErrorCode
				}
			}
		}
		return 0
	}
	return firstErrorCode(reflect.ValueOf(resp), 0)
}

// firstErrorCode finds the first non-zero ErrorCode field in a response,
// depth first: the top-level code, else the first topic's or partition's.
// Only traced requests pay for the reflection.
func firstErrorCode(v reflect.Value, depth int) int16 {
	if depth > 6 {
		return 0
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return firstErrorCode(v.Elem(), depth)
	case reflect.Struct:
		if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 && f.Int() != 0 {
			return int16(f.Int())
		}
		for i := 0; i < v.NumField(); i++ {
			if k := v.Field(i).Kind(); k == reflect.Slice || k == reflect.Struct {
				if c := firstErrorCode(v.Field(i), depth+1); c != 0 {
					return c
				}
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			return 0 // bytes, strings, numbers
		}
		for i := 0; i < v.Len(); i++ {
			if c := firstErrorCode(v.Index(i), depth+1); c != 0 {
				return c
			}
		}
	}
	return 0
}
