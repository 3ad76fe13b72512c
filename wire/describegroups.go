package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

func handleDescribeGroups(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DescribeGroupsRequest)
	collect := perGroup(rc, req.Groups, func(g string, code int16) kmsg.DescribeGroupsResponseGroup {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, code
		return rg
	}, func(c *coordinator.Coordinator, _ time.Time, i int, respond func(kmsg.DescribeGroupsResponseGroup)) {
		respond(c.DescribeGroup(req.Groups[i], req.IncludeAuthorizedOperations))
	})
	rc.later(func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		resp.Groups = collect()
		return resp
	})
	return nil
}
