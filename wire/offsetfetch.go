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
	groups := make([]string, len(req.Groups))
	for i, g := range req.Groups {
		groups[i] = g.Group
	}
	collect := perGroup(rc, groups, func(g string, code int16) kmsg.OffsetFetchResponseGroup {
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group, rg.ErrorCode = g, code
		return rg
	}, func(c *coordinator.Coordinator, _ time.Time, i int, respond func(kmsg.OffsetFetchResponseGroup)) {
		g := req.Groups[i]
		respond(c.FetchOffsets(g.Group, g.Topics, req.RequireStable))
	})
	rc.later(func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.Groups = collect()
		return resp
	})
	return nil
}
