package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

func handleLeaveGroup(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.LeaveGroupRequest)
	return groupCall(rc, req.Group, func(code int16) *kmsg.LeaveGroupResponse {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp
	}, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.LeaveGroupResponse)) {
		respond(c.LeaveGroup(now, req))
	})
}
