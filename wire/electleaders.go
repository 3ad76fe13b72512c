package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
)

// handleElectLeaders runs preferred leader elections. Unclean elections do
// not exist with Raft: a replica missing committed entries can never lead.
func handleElectLeaders(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	var want map[string][]int32
	if req.Topics != nil {
		want = map[string][]int32{}
		for _, t := range req.Topics {
			want[t.Topic] = append(want[t.Topic], t.Partitions...)
		}
	}
	if req.GetVersion() >= 1 && req.ElectionType != 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		for topic, parts := range want {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = topic
			for _, p := range parts {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, kerr.InvalidRequest.Code
				rp.ErrorMessage = strp("unclean leader election is not possible: partitions are Raft groups")
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	ctx, cancel := adminContext(rc, req.TimeoutMillis)
	defer cancel()
	byTopic := map[string]int{}
	for _, res := range rc.s.b.ElectPreferredLeaders(ctx, want) {
		i, ok := byTopic[res.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[res.Topic] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = res.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = res.Partition
		rp.ErrorCode = actors.ErrorCode(res.Err)
		rp.ErrorMessage = errMsg(res.Err, rp.ErrorCode)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp
}
