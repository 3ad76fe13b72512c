package broker

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// spanAttr returns a span's attribute value as a string ("" if absent).
func spanAttr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// findSpans returns the ended spans named name that match ok.
func findSpans(exp *tracetest.InMemoryExporter, name string, ok func(tracetest.SpanStub) bool) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name && (ok == nil || ok(s)) {
			out = append(out, s)
		}
	}
	return out
}

// waitSpan waits for an ended span named name that matches ok: some spans
// (a rebalance, a transaction's completion) end after the client's answer.
func waitSpan(t *testing.T, ctx context.Context, exp *tracetest.InMemoryExporter, name string, ok func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	for {
		if got := findSpans(exp, name, ok); len(got) > 0 {
			return got[0]
		}
		if ctx.Err() != nil {
			var names []string
			for _, s := range exp.GetSpans() {
				names = append(names, s.Name)
			}
			t.Fatalf("no %s span; spans: %v", name, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func childOf(parent tracetest.SpanStub) func(tracetest.SpanStub) bool {
	return func(s tracetest.SpanStub) bool { return s.Parent.SpanID() == parent.SpanContext.SpanID() }
}

// TestTracing installs an in-memory exporter in a real broker and drives it
// with franz-go: a produce whose record carries a W3C traceparent joins that
// trace, with the partition append and its Raft proposal as children; a
// fetch has its partition reads; a consumer group's rebalance and a
// transaction's state changes are spans too.
func TestTracing(t *testing.T) {
	baseline := runtime.NumGoroutine()
	defer checkGoroutines(t, baseline)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := Start(ctx, Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", RaftAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		TracerProvider: tp, Settings: map[string]string{"offsets.topic.num.partitions": "1",
			"transaction.state.log.num.partitions": "1", "group.initial.rebalance.delay.ms": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const topic = "traced"
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ClientID("tracing-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	// The record's trace: as a traced producer would send it.
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	parentID := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	traceparent := "00-" + traceID.String() + "-" + parentID.String() + "-01"
	rec := &kgo.Record{Topic: topic, Value: []byte("traced value"), Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(traceparent)}}}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produce := waitSpan(t, ctx, exp, "Produce", func(s tracetest.SpanStub) bool { return s.SpanContext.TraceID() == traceID })
	if produce.Parent.SpanID() != parentID || !produce.Parent.IsRemote() {
		t.Errorf("Produce span's parent %v, want the record's span %v", produce.Parent.SpanID(), parentID)
	}
	if produce.SpanKind != trace.SpanKindServer {
		t.Errorf("Produce span kind %v", produce.SpanKind)
	}
	for key, want := range map[string]string{"kafka.api.name": "Produce", "messaging.client.id": "tracing-test",
		"messaging.destination.name": topic, "messaging.destination.partition.id": "0", "kafka.error_code": "0"} {
		if got := spanAttr(produce, key); got != want {
			t.Errorf("Produce span %s = %q, want %q", key, got, want)
		}
	}
	if v, _ := strconv.Atoi(spanAttr(produce, "kafka.api.version")); v < 3 {
		t.Errorf("Produce span version %q", spanAttr(produce, "kafka.api.version"))
	}
	appendSpan := waitSpan(t, ctx, exp, "partition.append", childOf(produce))
	if spanAttr(appendSpan, "messaging.kafka.offset") != "0" || spanAttr(appendSpan, "messaging.batch.message_count") != "1" {
		t.Errorf("append span attributes %v", appendSpan.Attributes)
	}
	raft := waitSpan(t, ctx, exp, "raft.propose", childOf(appendSpan))
	if raft.SpanContext.TraceID() != traceID || raft.EndTime.Before(raft.StartTime) {
		t.Errorf("raft span %+v", raft)
	}

	// Without a traceparent a produce starts its own trace.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("untraced")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	own := waitSpan(t, ctx, exp, "Produce", func(s tracetest.SpanStub) bool { return s.SpanContext.TraceID() != traceID })
	if own.Parent.IsValid() {
		t.Errorf("untraced produce has parent %v", own.Parent)
	}

	// A consumer group: its rebalance, and fetches with partition reads.
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup("traced-group"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for got := 0; got < 2; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	reb := waitSpan(t, ctx, exp, "group.rebalance", func(s tracetest.SpanStub) bool {
		return spanAttr(s, "messaging.consumer.group.name") == "traced-group"
	})
	if spanAttr(reb, "samsa.group.state") != "Stable" || spanAttr(reb, "samsa.group.generation") != "1" {
		t.Errorf("rebalance span attributes %v", reb.Attributes)
	}
	if p := findSpans(exp, "JoinGroup", func(s tracetest.SpanStub) bool { return s.SpanContext.SpanID() == reb.Parent.SpanID() }); len(p) != 1 {
		t.Errorf("the rebalance is not a child of the JoinGroup that started it")
	}
	read := waitSpan(t, ctx, exp, "partition.read", func(s tracetest.SpanStub) bool { return spanAttr(s, "samsa.bytes") != "0" })
	if fetch := findSpans(exp, "Fetch", func(s tracetest.SpanStub) bool { return s.SpanContext.SpanID() == read.Parent.SpanID() }); len(fetch) != 1 {
		t.Errorf("partition.read is not a child of a Fetch span")
	}
	cons.Close()

	// A transaction: its state changes, the markers, all in the trace of
	// the EndTxn that committed it.
	txn, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.TransactionalID("traced-txn"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, &kgo.Record{Value: []byte("in a transaction")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	state := func(s string) func(tracetest.SpanStub) bool {
		return func(sp tracetest.SpanStub) bool {
			return spanAttr(sp, "kafka.transactional_id") == "traced-txn" && spanAttr(sp, "samsa.txn.state") == s
		}
	}
	prepare := waitSpan(t, ctx, exp, "txn.state_change", state("PrepareCommit"))
	if end := findSpans(exp, "EndTxn", func(s tracetest.SpanStub) bool { return s.SpanContext.SpanID() == prepare.Parent.SpanID() }); len(end) != 1 {
		t.Errorf("PrepareCommit is not a child of the EndTxn request")
	}
	complete := waitSpan(t, ctx, exp, "txn.state_change", state("CompleteCommit"))
	markers := waitSpan(t, ctx, exp, "txn.markers", func(s tracetest.SpanStub) bool {
		return spanAttr(s, "kafka.transactional_id") == "traced-txn"
	})
	for _, s := range []tracetest.SpanStub{complete, markers} {
		if s.SpanContext.TraceID() != prepare.SpanContext.TraceID() {
			t.Errorf("%s %v is not in the commit's trace", s.Name, s.Attributes)
		}
	}
	if spanAttr(markers, "samsa.txn.commit") != attribute.BoolValue(true).Emit() {
		t.Errorf("markers span %v", markers.Attributes)
	}
	txn.Close()
	cl.Close()
}
