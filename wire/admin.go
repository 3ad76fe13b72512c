package wire

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// adminContext bounds an admin request by its timeout (default 30 s).
func adminContext(rc *reqCtx, timeoutMs int32) (context.Context, context.CancelFunc) {
	d := time.Duration(timeoutMs) * time.Millisecond
	if d <= 0 || d > 5*time.Minute {
		d = 30 * time.Second
	}
	return context.WithTimeout(rc, d)
}

func strp(s string) *string { return &s }

// errMsg returns a message pointer for an error, nil for none.
func errMsg(err error, code int16) *string {
	if err == nil || code == 0 {
		return nil
	}
	return strp(err.Error())
}

var _ = kmsg.NewCreateTopicsResponseTopic
