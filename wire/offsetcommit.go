package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

func handleOffsetCommit(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.OffsetCommitRequest)
	return groupCall(rc, req.Group, func(code int16) *kmsg.OffsetCommitResponse {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.OffsetCommitResponse)) {
		c.OffsetCommit(now, req, respond)
	})
}
