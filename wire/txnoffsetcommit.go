package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// handleTxnOffsetCommit commits a group's offsets inside a transaction
// (consume-transform-produce): they count once the transaction commits.
func handleTxnOffsetCommit(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.TxnOffsetCommitRequest)
	return groupCall(rc, req.Group, func(code int16) *kmsg.TxnOffsetCommitResponse {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.TxnOffsetCommitResponse)) {
		c.TxnOffsetCommit(now, req, respond)
	})
}
