package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// handleTxnOffsetCommit commits a group's offsets inside a transaction
// (consume-transform-produce): they count once the transaction commits.
// The group's __consumer_offsets partition must be in the transaction
// (KIP-890): verified first, or from v5 (part 2, where producers skip
// AddOffsetsToTxn) added.
func handleTxnOffsetCommit(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.TxnOffsetCommitRequest)
	fail := func(code int16) *kmsg.TxnOffsetCommitResponse {
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
	}
	b := rc.s.b
	rc.later(func() kmsg.Response {
		code := b.CheckTxnPartition(rc, req.TransactionalID, req.ProducerID, req.ProducerEpoch,
			b.OffsetsPartition(req.Group), req.GetVersion() >= 5)
		if code != 0 {
			return fail(txnOffsetCodeForCheck(code, req.GetVersion()))
		}
		return startGroupCall(rc, req.Group, fail, func(c *coordinator.Coordinator, now time.Time, respond func(*kmsg.TxnOffsetCommitResponse)) {
			c.TxnOffsetCommit(now, req, respond)
		})()
	})
	return nil
}

// txnOffsetCodeForCheck maps the transaction coordinator's answer to what a
// TxnOffsetCommit client retries or gives up on: the transaction
// coordinator being unavailable is retriable, and is not the group
// coordinator's NOT_COORDINATOR.
func txnOffsetCodeForCheck(code int16, version int16) int16 {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.RequestTimedOut.Code:
		return kerr.CoordinatorLoadInProgress.Code
	case kerr.InvalidProducerIDMapping.Code:
		return kerr.InvalidProducerEpoch.Code
	}
	return fencedCode(code, version >= 3)
}
