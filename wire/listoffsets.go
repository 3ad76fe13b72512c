package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/raftgroup"
)

// Special ListOffsets timestamps.
const (
	latestTimestamp       = -1
	earliestTimestamp     = -2
	maxTimestamp          = -3 // KIP-734
	earliestLocalTimstamp = -4 // KIP-405; with no tiered storage, the earliest
)

func handleListOffsets(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	b := rc.s.b
	md := b.Metadata()
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := md.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			sp.ErrorCode = listOffset(rc, t, rt.Topic, rp, req.IsolationLevel == 1, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func listOffset(rc *reqCtx, t *raftgroup.Topic, topic string, rp kmsg.ListOffsetsRequestTopicPartition, readCommitted bool, sp *kmsg.ListOffsetsResponseTopicPartition) int16 {
	p, l, epoch, code := leaderPartition(rc.s.b, t, topic, rp.Partition, rp.CurrentLeaderEpoch)
	if code != 0 {
		return code
	}
	sp.LeaderEpoch = epoch
	switch rp.Timestamp {
	case latestTimestamp:
		sp.Offset = p.HighWatermark()
		if readCommitted {
			sp.Offset = p.LastStableOffset()
		}
	case earliestTimestamp, earliestLocalTimstamp:
		sp.Offset = l.StartOffset()
	case maxTimestamp:
		ts, off := l.MaxTimestamp()
		sp.Timestamp, sp.Offset = ts, off
	default:
		if rp.Timestamp < 0 {
			return kerr.InvalidRequest.Code
		}
		if off, ts, ok := l.OffsetForTimestamp(rp.Timestamp); ok && off < p.HighWatermark() {
			sp.Offset, sp.Timestamp = off, ts
		}
	}
	if rc.p.version == 0 {
		sp.OldStyleOffsets = []int64{sp.Offset}
	}
	return 0
}
