package wire

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/raftgroup"
)

// handleAlterPartitionReassignments starts, changes or cancels (null
// replicas) reassignments; the partitions' leaders carry them out as Raft
// membership changes (actors/reassign.go).
func handleAlterPartitionReassignments(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	var changes []raftgroup.AlterReassignment
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			changes = append(changes, raftgroup.AlterReassignment{Topic: t.Topic, Partition: p.Partition, Target: p.Replicas})
		}
	}
	ctx, cancel := adminContext(rc, req.TimeoutMillis)
	defer cancel()
	byTopic := map[string]int{}
	for _, res := range rc.s.b.AlterReassignments(ctx, changes) {
		i, ok := byTopic[res.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[res.Topic] = i
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = res.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		rp.Partition = res.Partition
		rp.ErrorCode = actors.ErrorCode(res.Err)
		rp.ErrorMessage = errMsg(res.Err, rp.ErrorCode)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp
}

// handleListPartitionReassignments lists ongoing reassignments: all of them,
// or those of the requested partitions.
func handleListPartitionReassignments(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	ctx, cancel := adminContext(rc, req.TimeoutMillis)
	defer cancel()
	md, err := rc.s.b.SyncedMetadata(ctx)
	if err != nil {
		resp.ErrorCode = kerr.NotController.Code
		resp.ErrorMessage = strp(err.Error())
		return resp
	}
	want := map[string]map[int32]bool{}
	for _, t := range req.Topics {
		want[t.Topic] = map[int32]bool{}
		for _, p := range t.Partitions {
			want[t.Topic][p] = true
		}
	}
	names := make([]string, 0, len(md.Topics))
	for name := range md.Topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if req.Topics != nil && want[name] == nil {
			continue
		}
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = name
		for _, a := range md.Topics[name].Partitions {
			if a.Reassign == nil || (req.Topics != nil && !want[name][a.Partition]) {
				continue
			}
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = a.Partition
			rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = a.Replicas, a.Adding(), a.Removing()
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp
}
