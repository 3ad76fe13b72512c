package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

func handleHeartbeat(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.HeartbeatRequest)
	return groupCall(rc, req.Group, func(code int16) *kmsg.HeartbeatResponse {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return resp
	}, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.HeartbeatResponse)) {
		respond(c.Heartbeat(now, req))
	})
}
