// Package client is Samsa's native Go client for Kafka-protocol brokers:
// a Producer, a Consumer (standalone or in a consumer group) and an Admin.
// It speaks the Kafka wire protocol itself, using kmsg only for message
// encoding; connections, batching, metadata, retries, partitioning and the
// group protocol are implemented here. It works against Samsa and any other
// Kafka-compatible broker; its tests run against both Samsa and franz-go's
// kfake.
//
// # Configuration
//
// Everything is configured with functional options shared by the three
// types; each option documents the Java client setting it mirrors
// (batch.size, linger.ms, acks, ...):
//
//	p, err := client.NewProducer(
//		client.WithBrokers("127.0.0.1:9092", "127.0.0.1:9093"),
//		client.WithAcks(client.AcksAll),
//		client.WithLinger(5*time.Millisecond),
//		client.WithCompression(client.CompressionZstd),
//	)
//
// # Producing
//
// Producer.Send is asynchronous: it partitions the record, appends it to its
// partition's batch and returns; the callback later gets the offset or the
// error. Producer.SendSync waits. Batches are sent when they reach batch.size
// or after linger.ms; buffer.memory bounds buffered bytes and Send blocks up
// to max.block.ms for room. Idempotence is on by default (acks=all): the
// broker deduplicates retries and keeps order with up to 5 requests in flight.
// DefaultPartitioner hashes keys exactly as the Java client (murmur2), so a
// key lands on the same partition whichever client wrote it; keyless
// records use the uniform sticky partitioner. Flush and Close deliver what
// is buffered.
//
// Transactions (WithTransactionalID): InitTransactions once, then
// BeginTransaction, Send, optionally SendOffsetsToTransaction, and
// CommitTransaction or AbortTransaction.
//
// # Consuming
//
// A Consumer either gets partitions with Assign or joins WithGroupID through
// Subscribe / SubscribeRegex (the classic group protocol with range,
// roundrobin, sticky or cooperative-sticky assignment, static membership
// with WithGroupInstanceID). Poll returns records; in a group it also runs
// rebalances, calling the RebalanceListener on the polling goroutine, and
// auto commits. Fetching runs in the background. Wakeup interrupts a
// blocked Poll from another goroutine.
//
//	c, _ := client.NewConsumer(client.WithBrokers(addr), client.WithGroupID("g"))
//	c.Subscribe("events")
//	for {
//		recs, err := c.Poll(ctx)
//		if err != nil { ... }
//		for _, r := range recs { ... }
//	}
//
// # Tracing
//
// With an OpenTelemetry tracer provider, set with WithTracerProvider or
// globally with otel.SetTracerProvider (the default is the global one, a
// no-op until set), producers and consumers create spans following the
// messaging semantic conventions (semconv v1.37.0):
//
//   - Send starts a PRODUCER span "send <topic>", the child of the span in
//     Send's ctx, ending when the delivery result is known (partition and
//     offset, or the error). Its context is written into the record's
//     headers (traceparent, and tracestate when set) before the record is
//     encoded, replacing any the record had (the span links to that one),
//     so consumers and a tracing broker join the trace. Without a tracer,
//     a span context carried by Send's ctx is still written.
//
//   - Poll gives each record it returns a CONSUMER span "process <topic>",
//     a child of Poll's ctx, linked to (not a child of) the producer's
//     span, with the group, partition and offset. It ends at once: it marks
//     the hand-over. RecordContext(ctx, rec) returns ctx with that span, so
//     the application's processing spans become its children. Without
//     consumer tracing, RecordContext returns ctx with the producer's span
//     context as a remote parent instead.
//
// Processing each record in its trace:
//
//	for _, r := range recs {
//		ctx, span := tracer.Start(client.RecordContext(ctx, r), "handle order")
//		handle(ctx, r)
//		span.End()
//	}
//
// WithPropagator changes how the context is written to and read from
// headers; the default is the global propagator, or W3C trace context if
// none is set. Off, tracing costs a few nanoseconds per record and no
// allocation.
//
// # Errors
//
// Kafka error codes are exported values (ErrNotLeaderOrFollower,
// ErrTopicAlreadyExists, ...) generated from errors.tsv; returned errors wrap
// them, so test with errors.Is. IsRetriable tells retriable ones apart.
//
// # Concurrency and lifecycle
//
// All three types are safe for concurrent use. Close stops every goroutine
// they started and closes their connections.
package client
