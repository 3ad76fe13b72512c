package actors

import (
	"errors"
	"fmt"

	"github.com/lni/dragonboat/v4"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/raftgroup"
)

// Error is a failure with a Kafka error code and a message for the client.
type Error struct {
	Code    int16
	Message string
}

func (e *Error) Error() string {
	if ke := kerr.ErrorForCode(e.Code); ke != nil {
		if e.Message == "" {
			return ke.Error()
		}
		return ke.Error() + ": " + e.Message
	}
	return fmt.Sprintf("error %d: %s", e.Code, e.Message)
}

func errorf(ke *kerr.Error, format string, args ...any) *Error {
	return &Error{Code: ke.Code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode maps any error to a Kafka error code (0 for nil).
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var rc raftgroup.ErrCode
	if errors.As(err, &rc) {
		return int16(rc)
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if errors.Is(err, errTimeout) {
		return kerr.RequestTimedOut.Code
	}
	// A Raft group that is still starting, electing or overloaded: a
	// retriable answer, so clients try again rather than give up.
	for _, transient := range []error{dragonboat.ErrShardNotReady, dragonboat.ErrSystemBusy, dragonboat.ErrTimeout,
		dragonboat.ErrAborted, dragonboat.ErrShardNotFound} {
		if errors.Is(err, transient) {
			return kerr.RequestTimedOut.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// ErrorMessage is the message to send with an error code, if any.
func ErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Message == "" {
			return nil
		}
		return &e.Message
	}
	s := err.Error()
	return &s
}

var errTimeout = errors.New("timed out")
