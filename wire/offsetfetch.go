package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// handleOffsetFetch answers one group (v0-v7) or several (v8+); each group
// goes to its own coordinator.
func handleOffsetFetch(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.OffsetFetchRequest)
	if req.GetVersion() < 8 {
		return groupCall(rc, req.Group, func(code int16) *kmsg.OffsetFetchResponse {
			resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = code
			return resp
		}, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.OffsetFetchResponse)) {
			respond(c.OffsetFetch(req))
		})
	}
	chans := make([]chan kmsg.OffsetFetchResponseGroup, len(req.Groups))
	for i, g := range req.Groups {
		ch := make(chan kmsg.OffsetFetchResponseGroup, 1)
		chans[i] = ch
		g := g
		rc.s.b.WithGroupCoordinator(g.Group, func(c *coordinator.Coordinator, _ time.Time) {
			ch <- c.FetchOffsets(g.Group, g.Topics, req.RequireStable)
		}, func(code int16) {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, code
			ch <- rg
		})
	}
	rc.later(func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		for i, ch := range chans {
			select {
			case g := <-ch:
				resp.Groups = append(resp.Groups, g)
			case <-rc.Done():
				rg := kmsg.NewOffsetFetchResponseGroup()
				rg.Group, rg.ErrorCode = req.Groups[i].Group, notCoordinator
				resp.Groups = append(resp.Groups, rg)
			}
		}
		return resp
	})
	return nil
}
