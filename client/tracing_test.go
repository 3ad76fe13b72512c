package client

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/samsa-io/samsa/broker"
)

// newRecorder is an SDK tracer provider whose ended spans a SpanRecorder
// keeps (synchronously: a span is there once End returns).
func newRecorder(t testing.TB) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, rec
}

// endedSpans returns the ended spans named name.
func endedSpans(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// attrs returns a span's attributes as strings.
func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func checkAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	got := attrs(s)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q (all: %v)", s.Name(), k, got[k], v, got)
		}
	}
}

func header(r *Record, key string) (string, int) {
	v, n := "", 0
	for _, h := range r.Headers {
		if h.Key == key {
			v, n = string(h.Value), n+1
		}
	}
	return v, n
}

// traceparentOf is the traceparent header a sampled span context becomes.
func traceparentOf(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
}

// A record sent with a span in ctx gets a PRODUCER span, the child of that
// span, with the messaging attributes including where the record landed;
// its context goes on the wire as the record's traceparent, replacing one
// the application set (which the span links to). Read back by this client
// and by franz-go, the header names the producer span.
func TestTracingProduce(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		tp, sr := newRecorder(t)
		topic := newTopic(t, tg, 3)
		ctx := testCtx(t, 60*time.Second)
		p := newTestProducer(t, tg, WithTracerProvider(tp), WithClientID("traced-producer"))

		pctx, parent := tp.Tracer("test").Start(ctx, "parent")
		stale := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
		})
		shared := []Header{{"app", []byte("x")}, {"traceparent", []byte(traceparentOf(stale))}}
		rec := &Record{Topic: topic, Key: []byte("k1"), Value: []byte("v1"), Headers: shared}
		md, err := p.SendSync(pctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		parent.End()

		spans := endedSpans(sr, "send "+topic)
		if len(spans) != 1 {
			t.Fatalf("%d send spans, want 1", len(spans))
		}
		s := spans[0]
		if s.SpanKind() != trace.SpanKindProducer {
			t.Errorf("kind %v, want producer", s.SpanKind())
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("send span's parent %v, want the caller's span %v", s.Parent(), parent.SpanContext())
		}
		if s.Status().Code != codes.Unset {
			t.Errorf("status %v", s.Status())
		}
		checkAttrs(t, s, map[string]string{
			"messaging.system": "kafka", "messaging.operation.name": "send", "messaging.operation.type": "send",
			"messaging.destination.name": topic, "messaging.kafka.message.key": "k1",
			"messaging.client.id":                "traced-producer",
			"messaging.destination.partition.id": strconv.Itoa(int(md.Partition)),
			"messaging.kafka.offset":             strconv.FormatInt(md.Offset, 10),
		})
		if l := s.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != stale.SpanID() {
			t.Errorf("links %v, want the replaced creation context %v", l, stale.SpanID())
		}
		want := traceparentOf(s.SpanContext())
		if v, n := header(rec, "traceparent"); v != want || n != 1 {
			t.Errorf("sent record's traceparent %q (%d), want %q once", v, n, want)
		}
		if v, _ := header(&Record{Headers: shared}, "traceparent"); v != traceparentOf(stale) {
			t.Errorf("the application's Headers slice was edited: %q", v)
		}

		// On the wire: read back with this client (untraced) and franz-go.
		c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
		c.Assign(TopicPartition{topic, md.Partition})
		got := consumeN(t, ctx, c, 1)[0]
		if v, n := header(got, "traceparent"); v != want || n != 1 {
			t.Errorf("consumed traceparent %q (%d), want %q once", v, n, want)
		}
		if v, _ := header(got, "app"); v != "x" {
			t.Errorf("app header %q lost", v)
		}
		if _, n := header(got, "tracestate"); n != 0 {
			t.Errorf("empty tracestate written")
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(tg.addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		var kv string
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == "traceparent" {
					kv = string(h.Value)
				}
			}
		})
		if kv != want {
			t.Errorf("franz-go read traceparent %q, want %q", kv, want)
		}
	})
}

// A record the broker rejects ends its span with the error: status Error,
// the exception event and error.type the Kafka error's name.
func TestTracingProduceError(t *testing.T) {
	tg := newSamsa(t)
	tp, sr := newRecorder(t)
	topic := newTopic(t, tg, 1, map[string]string{"max.message.bytes": "200"})
	p := newTestProducer(t, tg, WithTracerProvider(tp), WithRetries(0))
	_, err := p.SendSync(testCtx(t, 30*time.Second), &Record{Topic: topic, Value: make([]byte, 1000)})
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("send: %v, want MESSAGE_TOO_LARGE", err)
	}
	spans := endedSpans(sr, "send "+topic)
	if len(spans) != 1 {
		t.Fatalf("%d send spans", len(spans))
	}
	s := spans[0]
	if s.Status().Code != codes.Error || len(s.Events()) == 0 || s.Events()[0].Name != "exception" {
		t.Errorf("status %v, events %v", s.Status(), s.Events())
	}
	checkAttrs(t, s, map[string]string{"error.type": "MESSAGE_TOO_LARGE", "messaging.destination.partition.id": "0",
		"messaging.kafka.message.tombstone": ""})
	if _, ok := attrs(s)["messaging.kafka.offset"]; ok {
		t.Errorf("failed send has an offset")
	}
	if s.Parent().IsValid() {
		t.Errorf("send without a span in ctx has parent %v", s.Parent())
	}
}

// Each record a group consumer's Poll returns gets a CONSUMER span linked
// to (not a child of) the producer's span, with the group, partition and
// offset; RecordContext makes the application's spans its children. An
// untraced consumer's RecordContext continues the producer's trace.
func TestTracingConsume(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ptp, psr := newRecorder(t)
		ctp, csr := newRecorder(t)
		topic := newTopic(t, tg, 2)
		group := uniq("g")
		ctx := testCtx(t, 60*time.Second)
		p := newTestProducer(t, tg, WithTracerProvider(ptp))
		const n = 4
		for i := range n {
			sctx, s := ptp.Tracer("test").Start(ctx, "app")
			rec := &Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v")}
			if _, err := p.SendSync(sctx, rec); err != nil {
				t.Fatal(err)
			}
			s.End()
		}
		producers := sendSpans(psr, topic) // partition/offset → send span
		if len(producers) != n {
			t.Fatalf("%d send spans", len(producers))
		}

		c := newTestConsumer(t, tg, groupOpts(group, WithTracerProvider(ctp), WithClientID("traced-consumer"))...)
		c.Subscribe(topic)
		recs := consumeN(t, ctx, c, n)
		spans := endedSpans(csr, "process "+topic)
		if len(spans) != n {
			t.Fatalf("%d process spans for %d records", len(spans), n)
		}
		byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			byID[s.SpanContext().SpanID()] = s
		}
		for _, r := range recs {
			where := strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
			rctx := RecordContext(ctx, r)
			s := byID[trace.SpanContextFromContext(rctx).SpanID()]
			if s == nil {
				t.Fatalf("RecordContext of %s has no process span", where)
			}
			if s.SpanKind() != trace.SpanKindConsumer {
				t.Errorf("kind %v, want consumer", s.SpanKind())
			}
			prod := producers[where]
			if l := s.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != prod.SpanContext().SpanID() ||
				l[0].SpanContext.TraceID() != prod.SpanContext().TraceID() || !l[0].SpanContext.IsRemote() {
				t.Errorf("%s: links %v, want the producer span %v", where, l, prod.SpanContext())
			}
			if s.Parent().IsValid() || s.SpanContext().TraceID() == prod.SpanContext().TraceID() {
				t.Errorf("%s: process span is in the producer's trace (parent %v), want a link only", where, s.Parent())
			}
			checkAttrs(t, s, map[string]string{
				"messaging.system": "kafka", "messaging.operation.name": "process", "messaging.operation.type": "process",
				"messaging.destination.name": topic, "messaging.destination.partition.id": strconv.Itoa(int(r.Partition)),
				"messaging.kafka.offset": strconv.FormatInt(r.Offset, 10), "messaging.consumer.group.name": group,
				"messaging.client.id": "traced-consumer", "messaging.kafka.message.key": string(r.Key),
			})
			// The application's processing joins the consumer span.
			_, work := ctp.Tracer("test").Start(rctx, "work")
			work.End()
			if ro := work.(sdktrace.ReadOnlySpan); ro.Parent().SpanID() != s.SpanContext().SpanID() {
				t.Errorf("processing span's parent %v, want the process span", ro.Parent())
			}
		}

		// Polled under the application's span, process spans are its
		// children (still linked to the producers).
		produceN(t, p, topic, 1, nil)
		pctx, poll := ctp.Tracer("test").Start(ctx, "poll-loop")
		r := consumeN(t, pctx, c, 1)[0]
		poll.End()
		s := trace.SpanFromContext(RecordContext(ctx, r)).(sdktrace.ReadOnlySpan)
		if s.Parent().SpanID() != poll.SpanContext().SpanID() || len(s.Links()) != 1 {
			t.Errorf("process span parent %v links %v, want the poll span and one link", s.Parent(), s.Links())
		}

		// An untraced consumer: RecordContext gives the producer's
		// context as a remote parent, so application spans continue it.
		plain := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
		plain.Assign(allParts(topic, 2)...)
		producers = sendSpans(psr, topic)
		for _, r := range consumeN(t, ctx, plain, n+1) {
			sc := trace.SpanContextFromContext(RecordContext(ctx, r))
			prod := producers[strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10)]
			if !sc.IsRemote() || sc.SpanID() != prod.SpanContext().SpanID() || sc.TraceID() != prod.SpanContext().TraceID() {
				t.Errorf("untraced RecordContext %v, want the producer's %v", sc, prod.SpanContext())
			}
		}
	})
}

// sendSpans maps partition/offset to the send span of the record there.
func sendSpans(sr *tracetest.SpanRecorder, topic string) map[string]sdktrace.ReadOnlySpan {
	out := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range endedSpans(sr, "send "+topic) {
		a := attrs(s)
		out[a["messaging.destination.partition.id"]+"/"+a["messaging.kafka.offset"]] = s
	}
	return out
}

// Tracing is off by default: no provider set, a send whose ctx has no span
// adds no header and consumed records carry no span. A no-op provider
// still propagates a span the caller's ctx carries: that context is real.
func TestTracingOffByDefault(t *testing.T) {
	tg := newSamsa(t)
	topic := newTopic(t, tg, 1)
	ctx := testCtx(t, 60*time.Second)
	p := newTestProducer(t, tg)
	if p.tr.on() {
		t.Fatal("tracing on with the global provider unset")
	}
	bare := &Record{Topic: topic, Value: []byte("bare")}
	if _, err := p.SendSync(ctx, bare); err != nil {
		t.Fatal(err)
	}
	if len(bare.Headers) != 0 {
		t.Errorf("headers added without tracing: %v", bare.Headers)
	}

	sdk, sr := newRecorder(t)
	sctx, app := sdk.Tracer("app").Start(ctx, "app")
	defer app.End()
	np := newTestProducer(t, tg, WithTracerProvider(noop.NewTracerProvider()))
	if np.tr.tracer != nil {
		t.Error("a no-op provider gets a tracer")
	}
	carried := &Record{Topic: topic, Value: []byte("carried")}
	if _, err := np.SendSync(sctx, carried); err != nil {
		t.Fatal(err)
	}
	if v, _ := header(carried, "traceparent"); v != traceparentOf(app.SpanContext()) {
		t.Errorf("traceparent %q, want the caller's span %q", v, traceparentOf(app.SpanContext()))
	}

	c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
	c.Assign(TopicPartition{topic, 0})
	recs := consumeN(t, ctx, c, 2)
	for _, r := range recs {
		if r.span != nil {
			t.Errorf("untraced consumer gave record %d a span", r.Offset)
		}
	}
	if len(recs[0].Headers) != 0 || RecordContext(ctx, recs[0]) != ctx {
		t.Errorf("untraced record: headers %v", recs[0].Headers)
	}
	if got := len(sr.Ended()); got != 0 {
		t.Errorf("%d spans recorded by the application's provider", got)
	}
}

// The default provider is the global one, also when the application sets
// it after creating the producer; until then no span is started.
func TestTracingGlobalProvider(t *testing.T) {
	tg := newKfake(t)
	topic := newTopic(t, tg, 1)
	ctx := testCtx(t, 60*time.Second)
	p := newTestProducer(t, tg)
	unset := otel.GetTracerProvider()
	if p.tr.unsetGlobal == nil || p.tr.on() {
		t.Fatalf("the unset global provider (%T) is not recognized", unset)
	}
	tp, sr := newRecorder(t)
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(unset) }) // the tests after this one trace nothing
	rec := &Record{Topic: topic, Value: []byte("v")}
	if _, err := p.SendSync(ctx, rec); err != nil {
		t.Fatal(err)
	}
	spans := endedSpans(sr, "send "+topic)
	if len(spans) != 1 {
		t.Fatalf("%d send spans through the global provider", len(spans))
	}
	if v, _ := header(rec, "traceparent"); v != traceparentOf(spans[0].SpanContext()) {
		t.Errorf("traceparent %q, want the send span's", v)
	}
}

// WithPropagator decides the headers: here a custom key, read back by a
// consumer with the same propagator.
func TestTracingPropagator(t *testing.T) {
	tg := newKfake(t)
	topic := newTopic(t, tg, 1)
	ctx := testCtx(t, 60*time.Second)
	tp, sr := newRecorder(t)
	prop := keyPropagator{}
	p := newTestProducer(t, tg, WithTracerProvider(tp), WithPropagator(prop))
	rec := &Record{Topic: topic, Value: []byte("v"), Headers: []Header{{"x-span", []byte("old")}}}
	if _, err := p.SendSync(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, n := header(rec, "traceparent"); n != 0 {
		t.Errorf("traceparent written with a custom propagator")
	}
	send := endedSpans(sr, "send "+topic)[0]
	if v, n := header(rec, "x-span"); n != 1 || v != send.SpanContext().SpanID().String() {
		t.Errorf("x-span %q (%d)", v, n)
	}
	c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest), WithTracerProvider(tp), WithPropagator(prop))
	c.Assign(TopicPartition{topic, 0})
	consumeN(t, ctx, c, 1)
	proc := endedSpans(sr, "process "+topic)
	if len(proc) != 1 || len(proc[0].Links()) != 1 || proc[0].Links()[0].SpanContext.SpanID() != send.SpanContext().SpanID() {
		t.Errorf("process span not linked through the custom propagator")
	}
}

// keyPropagator carries a span context's IDs in x-trace and x-span.
type keyPropagator struct{}

func (keyPropagator) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	sc := trace.SpanContextFromContext(ctx)
	c.Set("x-trace", sc.TraceID().String())
	c.Set("x-span", sc.SpanID().String())
}

func (keyPropagator) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	tid, err1 := trace.TraceIDFromHex(c.Get("x-trace"))
	sid, err2 := trace.SpanIDFromHex(c.Get("x-span"))
	if err1 != nil || err2 != nil {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
}

func (keyPropagator) Fields() []string { return []string{"x-trace", "x-span"} }

// End to end: a broker tracing with its own provider puts its Produce span
// in the record's trace, as the child of the client's producer span.
func TestTracingBrokerJoinsProducerTrace(t *testing.T) {
	btp, bsr := newRecorder(t)
	dir := t.TempDir()
	ctx := testCtx(t, 90*time.Second)
	b, err := broker.Start(ctx, broker.Config{
		DataDir: dir, Listen: "127.0.0.1:0", RaftAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		TracerProvider: btp,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tg := &target{name: "samsa-traced", samsa: true, addrs: []string{b.Addr()}}
	topic := newTopic(t, tg, 1)
	tp, sr := newRecorder(t)
	p := newTestProducer(t, tg, WithTracerProvider(tp), WithClientID("joined"))
	if _, err := p.SendSync(ctx, &Record{Topic: topic, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	send := endedSpans(sr, "send "+topic)[0]
	for {
		var produce sdktrace.ReadOnlySpan
		for _, s := range endedSpans(bsr, "Produce") {
			if attrs(s)["messaging.client.id"] == "joined" {
				produce = s
			}
		}
		if produce != nil {
			if produce.SpanContext().TraceID() != send.SpanContext().TraceID() ||
				produce.Parent().SpanID() != send.SpanContext().SpanID() || !produce.Parent().IsRemote() {
				t.Errorf("broker Produce span %v (parent %v) is not in the producer span's trace %v",
					produce.SpanContext(), produce.Parent(), send.SpanContext())
			}
			return
		}
		if ctx.Err() != nil {
			var names []string
			for _, s := range bsr.Ended() {
				names = append(names, s.Name())
			}
			t.Fatalf("no Produce span from the client; broker spans: %s", strings.Join(names, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
