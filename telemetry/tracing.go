package telemetry

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerName names the broker's tracer (the instrumentation scope).
const TracerName = "github.com/samsa-io/samsa"

// Tracing is a broker's tracer. When off (the default) nothing calls it:
// the hot paths test On first, and child spans are only started under a
// recording parent (see Recording), so tracing costs a branch per request.
type Tracing struct {
	Tracer trace.Tracer
	// On: spans are started. Off, the tracer is the no-op one.
	On       bool
	shutdown func(context.Context) error
}

// Off is tracing switched off.
func Off() *Tracing { return &Tracing{Tracer: noop.NewTracerProvider().Tracer(TracerName)} }

// NewTracing traces with tp (tests pass an SDK provider with an in-memory
// exporter). The caller owns tp.
func NewTracing(tp trace.TracerProvider) *Tracing {
	return &Tracing{Tracer: tp.Tracer(TracerName), On: true}
}

// TracingFromEnv configures tracing from the standard OpenTelemetry
// variables: OTEL_TRACES_EXPORTER (otlp, console or none; unset means none,
// unlike the SDK's otlp default: a broker traces only when asked),
// OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL and the rest of the exporter's
// variables, OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (read by the
// SDK; default parentbased_always_on), OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES. node is recorded as samsa.node.id.
func TracingFromEnv(ctx context.Context, node int32) (*Tracing, error) {
	if v := os.Getenv("OTEL_TRACES_EXPORTER"); v == "" || v == "none" {
		return Off(), nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %w", err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return Off(), nil
	}
	// Ours first, so OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
	res, err := resource.Merge(resource.NewSchemaless(
		attribute.String("service.name", "samsa"),
		attribute.String("samsa.node.id", strconv.Itoa(int(node))),
	), resource.Environment())
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	t := NewTracing(tp)
	t.shutdown = tp.Shutdown
	return t, nil
}

// Shutdown flushes and stops a provider TracingFromEnv made.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Recording returns a tracer for a child span when ctx carries a recording
// span. Callers build attributes only when ok, so a request that is not
// traced allocates nothing for its children.
func Recording(ctx context.Context) (trace.Tracer, bool) {
	sp := trace.SpanFromContext(ctx)
	if !sp.IsRecording() {
		return nil, false
	}
	return sp.TracerProvider().Tracer(TracerName), true
}

// Span attributes. OpenTelemetry's messaging conventions where they fit,
// kafka.* and samsa.* for the rest.
var (
	AttrSystem      = attribute.String("messaging.system", "kafka")
	AttrAPI         = attribute.Key("kafka.api.name") // Produce, Fetch, ...
	AttrAPIVersion  = attribute.Key("kafka.api.version")
	AttrClientID    = attribute.Key("messaging.client.id")
	AttrRequestSize = attribute.Key("kafka.request.size") // bytes of the request frame
	AttrTopic       = attribute.Key("messaging.destination.name")
	AttrRecords     = attribute.Key("messaging.batch.message_count")
	AttrBytes       = attribute.Key("samsa.bytes") // record batch bytes appended or read
	AttrOffset      = attribute.Key("messaging.kafka.offset")
	AttrErrorCode   = attribute.Key("kafka.error_code")
	AttrShard       = attribute.Key("samsa.raft.shard_id")
	AttrGroup       = attribute.Key("messaging.consumer.group.name")
	AttrTxnID       = attribute.Key("kafka.transactional_id")
)

// Partition is the partition attribute (a string, as the conventions say).
func Partition(p int32) attribute.KeyValue {
	return attribute.String("messaging.destination.partition.id", strconv.Itoa(int(p)))
}

// SetErrorCode records a Kafka error code on span; non-zero is an error
// status named after the code.
func SetErrorCode(span trace.Span, code int16) {
	span.SetAttributes(AttrErrorCode.Int(int(code)))
	if code != 0 {
		name := strconv.Itoa(int(code))
		if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
			name = ke.Message // NOT_LEADER_OR_FOLLOWER, ...
		}
		span.SetAttributes(attribute.String("error.type", name))
		span.SetStatus(codes.Error, name)
	}
}
