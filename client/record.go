package client

import (
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a record to produce or a consumed one.
type Record struct {
	Topic string
	// Partition is set by the partitioner when producing (ManualPartitioner
	// uses it as given) and by the consumer when consuming.
	Partition int32
	Key       []byte // nil: null key
	Value     []byte // nil: null value (a tombstone on compacted topics)
	Headers   []Header
	// Timestamp is the record's timestamp; zero when producing means now
	// (CreateTime). Consumed records carry the broker's (LogAppendTime
	// topics) or the producer's.
	Timestamp time.Time
	// Offset is set on consumed records and, after delivery, on produced ones.
	Offset int64
	// LeaderEpoch is the partition leader epoch the record was written in.
	LeaderEpoch int32

	span trace.Span // a consumed record's consumer span, for RecordContext
}

// size approximates a record's encoded size, used for batch.size and
// buffer.memory accounting.
func (r *Record) size() int {
	n := 21 + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// RecordMetadata is the delivery result of a produced record.
type RecordMetadata struct {
	Topic     string
	Partition int32
	Offset    int64 // -1 with acks=0
	Timestamp time.Time
}

// ProducerInterceptor sees records before they are partitioned and their
// delivery results (interceptor.classes). OnSend may return a modified copy.
// OnAcknowledgement runs on the callback goroutine; keep it quick.
type ProducerInterceptor interface {
	OnSend(*Record) *Record
	OnAcknowledgement(*Record, error)
}

// ConsumerInterceptor sees records before Poll returns them and offsets
// after they are committed.
type ConsumerInterceptor interface {
	OnConsume([]*Record) []*Record
	OnCommit(map[TopicPartition]int64)
}
