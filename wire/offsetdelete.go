package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

func handleOffsetDelete(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.OffsetDeleteRequest)
	return groupCall(rc, req.Group, func(code int16) *kmsg.OffsetDeleteResponse {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = code
		return resp
	}, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.OffsetDeleteResponse)) {
		c.OffsetDelete(now, req, respond)
	})
}
