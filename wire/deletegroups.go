package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// handleDeleteGroups deletes each group at its own coordinator.
func handleDeleteGroups(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DeleteGroupsRequest)
	failed := func(g string, code int16) kmsg.DeleteGroupsResponseGroup {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, code
		return rg
	}
	collect := perGroup(rc, req.Groups, failed,
		func(c *coordinator.Coordinator, now time.Time, i int, respond func(kmsg.DeleteGroupsResponseGroup)) {
			g := req.Groups[i]
			one := kmsg.NewPtrDeleteGroupsRequest()
			one.SetVersion(req.GetVersion())
			one.Groups = []string{g}
			c.DeleteGroups(now, one, func(r *kmsg.DeleteGroupsResponse) {
				if len(r.Groups) == 1 {
					respond(r.Groups[0])
				} else {
					respond(failed(g, notCoordinator))
				}
			})
		})
	rc.later(func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		resp.Groups = collect()
		return resp
	})
	return nil
}
