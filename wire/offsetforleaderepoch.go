package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetForLeaderEpoch answers, from the partition's leader epoch
// cache, where an epoch ended: clients use it to detect log truncation after
// a leader change (KIP-320).
func handleOffsetForLeaderEpoch(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	b := rc.s.b
	md := b.Metadata()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := md.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			sp.ErrorCode = func() int16 {
				if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
					return kerr.UnknownTopicOrPartition.Code
				}
				p := b.Partition(rt.Topic, rp.Partition)
				if p == nil {
					return kerr.NotLeaderForPartition.Code
				}
				leader, epoch := p.Leader()
				if !leader {
					return kerr.NotLeaderForPartition.Code
				}
				if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, epoch); code != 0 {
					return code
				}
				sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
				return 0
			}()
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
