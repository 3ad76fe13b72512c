package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

func handleSyncGroup(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.SyncGroupRequest)
	return groupCall(rc, req.Group, func(code int16) *kmsg.SyncGroupResponse {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp
	}, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.SyncGroupResponse)) {
		c.SyncGroup(now, req, respond)
	})
}
