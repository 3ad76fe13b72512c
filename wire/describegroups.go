package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

func handleDescribeGroups(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DescribeGroupsRequest)
	chans := make([]chan kmsg.DescribeGroupsResponseGroup, len(req.Groups))
	for i, g := range req.Groups {
		ch := make(chan kmsg.DescribeGroupsResponseGroup, 1)
		chans[i] = ch
		g := g
		rc.s.b.WithGroupCoordinator(g, func(c *coordinator.Coordinator, _ time.Time) {
			ch <- c.DescribeGroup(g, req.IncludeAuthorizedOperations)
		}, func(code int16) {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, code
			ch <- rg
		})
	}
	rc.later(func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for i, ch := range chans {
			select {
			case g := <-ch:
				resp.Groups = append(resp.Groups, g)
			case <-rc.Done():
				rg := kmsg.NewDescribeGroupsResponseGroup()
				rg.Group, rg.ErrorCode = req.Groups[i], notCoordinator
				resp.Groups = append(resp.Groups, rg)
			}
		}
		return resp
	})
	return nil
}
