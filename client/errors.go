package client

//go:generate go run ./internal/generrors

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a Kafka protocol error code. Every code has one exported value
// (ErrNotLeaderOrFollower, ErrOffsetOutOfRange, ...), generated from
// errors.tsv; errors returned by this package wrap them, so callers test with
// errors.Is(err, client.ErrNotLeaderOrFollower).
type Error struct {
	Code      int16
	Name      string // Kafka's name, e.g. NOT_LEADER_OR_FOLLOWER
	Retriable bool   // the Java client's RetriableException classification
	Message   string
}

func (e *Error) Error() string { return e.Name + ": " + e.Message }

// ErrorForCode returns the error for a Kafka error code, nil for 0. Unknown
// codes get a fresh non-retriable Error so they are never silently dropped.
func ErrorForCode(code int16) error {
	if code == 0 {
		return nil
	}
	if e, ok := errorsByCode[code]; ok {
		return e
	}
	return &Error{Code: code, Name: fmt.Sprintf("UNKNOWN_ERROR_CODE_%d", code), Message: "error code unknown to this client"}
}

// IsRetriable reports whether err wraps a retriable Kafka error, or is a
// connection-level failure the client retries.
func IsRetriable(err error) bool {
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	var ce *connError
	return errors.As(err, &ce)
}

// codeErr attaches the broker's error message to a code, keeping errors.Is.
// Brokers often repeat the code's own name and description (Samsa puts them
// in front of its detail): only what adds information is kept.
func codeErr(code int16, msg *string) error {
	err := ErrorForCode(code)
	if err == nil || msg == nil {
		return err
	}
	text := err.Error()
	m := strings.TrimPrefix(strings.TrimPrefix(*msg, text), ": ")
	if strings.Contains(text, m) {
		return err
	}
	return fmt.Errorf("%w (%s)", err, m)
}

// Client-side errors.
var (
	// ErrClosed is returned by calls on a closed producer, consumer or admin.
	ErrClosed = errors.New("client: closed")
	// ErrWakeup is returned by a Poll interrupted by Consumer.Wakeup.
	ErrWakeup = errors.New("client: poll interrupted by Wakeup")
	// ErrRecordTooLarge is returned for a record larger than batch.size
	// allows or buffer.memory can ever hold.
	ErrRecordTooLarge = errors.New("client: record larger than max.request.size or buffer.memory")
	// ErrBufferFull is returned when buffer.memory stayed full for max.block.ms.
	ErrBufferFull = errors.New("client: buffer.memory exhausted for max.block.ms")
	// ErrDeliveryTimeout is returned for records not acknowledged within
	// delivery.timeout.ms.
	ErrDeliveryTimeout = errors.New("client: delivery.timeout.ms expired")
	// ErrNoOffsetForPartition is Poll's error with auto.offset.reset=none when a
	// partition has no committed offset.
	ErrNoOffsetForPartition = errors.New("client: no committed offset and auto.offset.reset is none")
	// ErrNotTransactional is returned by transaction calls on a producer
	// without a transactional.id.
	ErrNotTransactional = errors.New("client: producer has no transactional.id")
	// ErrTransactionState is returned for a transaction call in the wrong state
	// (e.g. CommitTransaction with no transaction begun).
	ErrTransactionState = errors.New("client: invalid transaction state for this call")
	// ErrTransactionAborted fails records dropped by AbortTransaction.
	ErrTransactionAborted = errors.New("client: transaction aborted")
	// ErrNotAssigned is returned when seeking or querying a partition the
	// consumer does not own.
	ErrNotAssigned = errors.New("client: partition not assigned to this consumer")
)

// connError is a failure of the connection, not a Kafka error code: the
// request may or may not have reached the broker.
type connError struct {
	addr string
	err  error
}

func (e *connError) Error() string { return "client: broker " + e.addr + ": " + e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// TopicError is the failure of one topic in a request that can name several
// (CreateTopics, DeleteTopics, CreatePartitions, topic configs). Calls naming
// several topics return one per failed topic, joined with errors.Join, so a
// caller can tell which topics failed and why; errors.Is still reaches the
// Kafka error.
type TopicError struct {
	Topic string
	Err   error
}

func (e *TopicError) Error() string { return "topic " + e.Topic + ": " + e.Err.Error() }
func (e *TopicError) Unwrap() error { return e.Err }

// GroupError is the failure of one group in a request that can name several
// (DeleteGroups); see TopicError.
type GroupError struct {
	Group string
	Err   error
}

func (e *GroupError) Error() string { return "group " + e.Group + ": " + e.Err.Error() }
func (e *GroupError) Unwrap() error { return e.Err }
