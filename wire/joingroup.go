package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

func handleJoinGroup(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.JoinGroupRequest)
	return groupCall(rc, req.Group, func(code int16) *kmsg.JoinGroupResponse {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation = code, -1
		return resp
	}, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.JoinGroupResponse)) {
		c.JoinGroup(now, req, rc.clientID, rc.clientHost(), respond)
	})
}
