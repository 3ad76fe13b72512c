package client

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerName is the instrumentation scope of the client's spans.
const TracerName = "github.com/samsa-io/samsa/client"

// Span names and operations follow the OpenTelemetry messaging semantic
// conventions v1.37.0 (the semconv package of the otel release in go.mod):
// a span is named "{messaging.operation.name} {destination}", a send whose
// context is injected into the record as its creation context is a
// PRODUCER span, and a consumer span is a "process" span of kind CONSUMER
// that links to the record's creation context.
const (
	opSend    = "send"
	opProcess = "process"
)

// tracing is a Producer's or Consumer's OpenTelemetry instrumentation,
// resolved once from the options.
type tracing struct {
	// tracer is nil when the provider is a no-op one: no span is started.
	tracer trace.Tracer
	// unsetGlobal is the global provider as it is before the application
	// sets one, when that is the provider used: a no-op too, until
	// otel.SetTracerProvider replaces it (see on). Starting a span through
	// it would cost a few allocations per record for nothing.
	unsetGlobal trace.TracerProvider
	sendOpts    []trace.SpanStartOption // built once: a variadic slice per call escapes
	processOpts []trace.SpanStartOption
	prop        propagation.TextMapPropagator
	// fields are prop's header keys, cached: Fields allocates on every call
	// for a composite propagator, and injection is per record.
	fields   []string
	clientID attribute.KeyValue
	group    string

	op    string   // opSend for a producer, opProcess for a consumer
	names sync.Map // topic → span name, not built again for each record
}

func newTracing(cfg *config, op string) *tracing {
	t := &tracing{
		prop:     cfg.propagator,
		clientID: semconv.MessagingClientID(cfg.clientID),
		group:    cfg.groupID,
		op:       op,
	}
	tp := cfg.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if _, off := tp.(noop.TracerProvider); !off {
		t.tracer = tp.Tracer(TracerName, trace.WithSchemaURL(semconv.SchemaURL))
	}
	// otel.GetTracerProvider returns its internal delegating provider only
	// until one is set, then the one set. Should the type be renamed, the
	// shortcut is lost, not correctness.
	if rt := reflect.TypeOf(tp); rt.Kind() == reflect.Pointer && rt.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" {
		t.unsetGlobal = tp
	}
	t.sendOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	t.processOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	if t.prop == nil {
		t.prop = defaultPropagator()
	}
	t.fields = t.prop.Fields()
	return t
}

// defaultPropagator is the global propagator, or W3C trace context while
// the global one is the SDK's default empty composite (which would write
// nothing, silently breaking propagation).
func defaultPropagator() propagation.TextMapPropagator {
	if p := otel.GetTextMapPropagator(); len(p.Fields()) > 0 {
		return p
	}
	return propagation.TraceContext{}
}

// on reports whether spans are to be started: a provider that is not a
// no-op, or the global one since the application set it.
func (t *tracing) on() bool {
	return t.tracer != nil && (t.unsetGlobal == nil || otel.GetTracerProvider() != t.unsetGlobal)
}

func (t *tracing) spanName(topic string) string {
	if n, ok := t.names.Load(topic); ok {
		return n.(string)
	}
	n := t.op + " " + topic
	t.names.Store(topic, n)
	return n
}

// startSend starts rec's producer span, a child of ctx's span, and writes
// its context into rec's headers, before rec is sized and encoded so the
// header goes on the wire. It returns the span to end once the delivery
// result is known, or nil when there is nothing to end (not recording).
// Without a tracer, the caller's own span context, if any, is propagated.
func (t *tracing) startSend(ctx context.Context, rec *Record) trace.Span {
	var span trace.Span
	if t.on() {
		ctx, span = t.tracer.Start(ctx, t.spanName(rec.Topic), t.sendOpts...)
		if span.IsRecording() {
			span.SetAttributes(
				semconv.MessagingSystemKafka,
				semconv.MessagingOperationName(opSend),
				semconv.MessagingOperationTypeSend,
				semconv.MessagingDestinationName(rec.Topic),
				t.clientID,
			)
			setKeyAttrs(span, rec)
			// A creation context the application put in the record is
			// replaced below; keep the correlation with a link.
			if sc := t.extract(rec); sc.IsValid() {
				span.AddLink(trace.Link{SpanContext: sc})
			}
		}
	}
	// Most sends pass a bare context; skip the span lookup for those.
	if ctx != context.Background() && ctx != context.TODO() && trace.SpanContextFromContext(ctx).IsValid() {
		t.inject(ctx, rec)
	}
	if span != nil && !span.IsRecording() {
		return nil
	}
	return span
}

// endSend records a send's result and ends its span. md is zero when Send
// itself failed, before the record had a partition for sure.
func endSend(span trace.Span, md RecordMetadata, err error) {
	if md.Topic != "" {
		span.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(md.Partition))))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
	} else if md.Offset >= 0 { // -1 with acks=0
		span.SetAttributes(semconv.MessagingKafkaOffset(int(md.Offset)))
	}
	span.End()
}

// errorType is error.type: the Kafka error name when there is one (low
// cardinality, as the conventions ask), else "_OTHER".
func errorType(err error) string {
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Name
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

func setKeyAttrs(span trace.Span, rec *Record) {
	if rec.Key != nil {
		span.SetAttributes(semconv.MessagingKafkaMessageKey(string(rec.Key)))
	}
	if rec.Value == nil {
		span.SetAttributes(semconv.MessagingKafkaMessageTombstone(true))
	}
}

// inject writes ctx's span context into rec's headers with the propagator,
// replacing the headers it writes rather than adding a second traceparent.
// The slice is copied, not edited in place: applications often share one
// Headers slice between records.
func (t *tracing) inject(ctx context.Context, rec *Record) {
	hs := make([]Header, 0, len(rec.Headers)+len(t.fields))
	for _, h := range rec.Headers {
		if !t.isField(h.Key) {
			hs = append(hs, h)
		}
	}
	rec.Headers = hs
	t.prop.Inject(ctx, headerCarrier{rec})
}

func (t *tracing) isField(key string) bool {
	for _, f := range t.fields {
		if f == key {
			return true
		}
	}
	return false
}

// extract returns the span context in rec's headers (invalid if none).
func (t *tracing) extract(rec *Record) trace.SpanContext {
	if !t.hasField(rec) {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(t.prop.Extract(context.Background(), headerCarrier{rec}))
}

func (t *tracing) hasField(rec *Record) bool {
	for _, h := range rec.Headers {
		if t.isField(h.Key) {
			return true
		}
	}
	return false
}

// processSpans gives each record Poll returns a CONSUMER span, a child of
// Poll's ctx (the application's ambient span, if any) linked to the
// record's creation context (the producer's span): the conventions' default
// for a consumer, since a record's processing is not part of the producer's
// operation. The span is ended at once; it marks the hand-over, and
// RecordContext returns it for the application's processing spans.
func (t *tracing) processSpans(ctx context.Context, recs []*Record) {
	if !t.on() {
		return
	}
	parent := trace.SpanContextFromContext(ctx).SpanID()
	for _, r := range recs {
		_, span := t.tracer.Start(ctx, t.spanName(r.Topic), t.processOpts...)
		if !span.IsRecording() {
			if span.SpanContext().SpanID() == parent {
				// The tracer made no span of its own (a no-op one): it
				// will not for the other records of this Poll either.
				return
			}
			// Sampled out: keep it so processing spans are sampled out too.
			r.span = span
			continue
		}
		if sc := t.extract(r); sc.IsValid() {
			span.AddLink(trace.Link{SpanContext: sc})
		}
		span.SetAttributes(
			semconv.MessagingSystemKafka,
			semconv.MessagingOperationName(opProcess),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingDestinationName(r.Topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(int(r.Partition))),
			semconv.MessagingKafkaOffset(int(r.Offset)),
			t.clientID,
		)
		if t.group != "" {
			span.SetAttributes(semconv.MessagingConsumerGroupName(t.group))
		}
		setKeyAttrs(span, r)
		span.End()
		r.span = span
	}
}

// RecordContext returns ctx for processing a consumed record, so the
// application's spans continue the record's trace: with the consumer span
// Poll created for rec (which links to the producer's span) as the parent;
// or, when the consumer did not trace (no tracer provider set), with the
// producer's span context from rec's headers as a remote parent, read with
// the global propagator (W3C trace context when none is set). Without
// either, ctx is returned as is.
func RecordContext(ctx context.Context, rec *Record) context.Context {
	if rec.span != nil {
		return trace.ContextWithSpan(ctx, rec.span)
	}
	if len(rec.Headers) == 0 {
		return ctx
	}
	return defaultPropagator().Extract(ctx, headerCarrier{rec})
}

// headerCarrier adapts a record's headers to a propagator. Set replaces a
// header of the same key.
type headerCarrier struct{ rec *Record }

func (c headerCarrier) Get(key string) string {
	for _, h := range c.rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) {
	for i := range c.rec.Headers {
		if c.rec.Headers[i].Key == key {
			c.rec.Headers[i].Value = []byte(value)
			return
		}
	}
	c.rec.Headers = append(c.rec.Headers, Header{Key: key, Value: []byte(value)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, len(c.rec.Headers))
	for i, h := range c.rec.Headers {
		keys[i] = h.Key
	}
	return keys
}
