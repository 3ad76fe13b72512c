package wire

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// handleListGroups lists the groups this broker coordinates, as Kafka does;
// clients ask every broker.
func handleListGroups(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	ctx, cancel := adminContext(rc, 0)
	defer cancel()
	var mu sync.Mutex
	rc.s.b.EachGroupCoordinator(ctx, func(c *coordinator.Coordinator, _ time.Time) {
		part := c.ListGroups(req)
		mu.Lock()
		resp.Groups = append(resp.Groups, part.Groups...)
		if part.ErrorCode != 0 {
			resp.ErrorCode = part.ErrorCode
		}
		mu.Unlock()
	})
	return resp
}
