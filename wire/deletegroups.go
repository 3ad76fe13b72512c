package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// handleDeleteGroups deletes each group at its own coordinator.
func handleDeleteGroups(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DeleteGroupsRequest)
	chans := make([]chan kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	for i, g := range req.Groups {
		ch := make(chan kmsg.DeleteGroupsResponseGroup, 1)
		chans[i] = ch
		g := g
		one := kmsg.NewPtrDeleteGroupsRequest()
		one.SetVersion(req.GetVersion())
		one.Groups = []string{g}
		fail := func(code int16) {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, code
			ch <- rg
		}
		rc.s.b.WithGroupCoordinator(g, func(c *coordinator.Coordinator, now time.Time) {
			c.DeleteGroups(now, one, func(r *kmsg.DeleteGroupsResponse) {
				if len(r.Groups) == 1 {
					ch <- r.Groups[0]
				} else {
					fail(notCoordinator)
				}
			})
		}, fail)
	}
	rc.later(func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for i, ch := range chans {
			select {
			case g := <-ch:
				resp.Groups = append(resp.Groups, g)
			case <-rc.Done():
				rg := kmsg.NewDeleteGroupsResponseGroup()
				rg.Group, rg.ErrorCode = req.Groups[i], notCoordinator
				resp.Groups = append(resp.Groups, rg)
			}
		}
		return resp
	})
	return nil
}
