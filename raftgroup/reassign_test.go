package raftgroup

import (
	"encoding/json"
	"slices"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestReassignmentCommands: a reassignment records its target, adds replicas
// (joining, with fresh replica IDs for a broker that held the shard before),
// and on completion leaves exactly the target; cancel goes back.
func TestReassignmentCommands(t *testing.T) {
	c := newControllerSM(nil)
	idx := uint64(0)
	propose := func(cmd *Command) int16 {
		t.Helper()
		idx++
		data, _ := json.Marshal(cmd)
		res, err := c.Update(sm.Entry{Index: idx, Cmd: data})
		if err != nil {
			t.Fatal(err)
		}
		return int16(res.Value)
	}
	for n := int32(1); n <= 4; n++ {
		propose(&Command{RegisterBroker: &Broker{NodeID: n}})
	}
	propose(&Command{CreateTopic: &CreateTopic{Name: "t", NumPartitions: 1, ReplicationFactor: 3, Brokers: []int32{1, 2, 3}}})
	part := func() PartitionAssignment { return c.md.Load().Topics["t"].Partitions[0] }
	shard := part().ShardID

	if code := propose(&Command{AlterReassignments: []AlterReassignment{{Topic: "t", Partition: 0, Target: []int32{2, 3, 9}}}}); code != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("unknown broker in target: code %d", code)
	}
	if code := propose(&Command{AlterReassignments: []AlterReassignment{{Topic: "t", Partition: 0}}}); code != kerr.NoReassignmentInProgress.Code {
		t.Fatalf("cancel without a reassignment: code %d", code)
	}
	orig := slices.Clone(part().Replicas)
	target := []int32{4}
	for _, r := range orig {
		if r != orig[0] {
			target = append(target, r)
		}
	}
	propose(&Command{AlterReassignments: []AlterReassignment{{Topic: "t", Partition: 0, Target: target}}})
	if a := part(); !slices.Equal(a.Adding(), []int32{4}) || !slices.Equal(a.Removing(), orig[:1]) {
		t.Fatalf("adding %v removing %v", a.Adding(), a.Removing())
	}
	propose(&Command{ReplicaAdded: &ReplicaAdded{ShardID: shard, Node: 4}})
	a := part()
	if !a.Joins(4) || a.Joins(orig[1]) || a.ReplicaID(4) != 4 || len(a.Replicas) != 4 || !slices.Equal(a.InitialReplicas(), orig) {
		t.Fatalf("after adding 4: %+v", a)
	}
	propose(&Command{ReassignmentDone: shard})
	if a := part(); !slices.Equal(a.Replicas, target) || a.Reassign != nil {
		t.Fatalf("after done: %+v", a)
	}

	// Back onto the broker that left: it needs a replica ID Raft never saw.
	propose(&Command{AlterReassignments: []AlterReassignment{{Topic: "t", Partition: 0, Target: orig}}})
	propose(&Command{ReplicaAdded: &ReplicaAdded{ShardID: shard, Node: orig[0]}})
	if a := part(); a.ReplicaID(orig[0]) != 1<<32|uint64(orig[0]) || !a.Joins(orig[0]) || NodeOf(a.ReplicaID(orig[0])) != orig[0] {
		t.Fatalf("returning broker: replica ID %x, joins %v", a.ReplicaID(orig[0]), a.Joins(orig[0]))
	}
	// Cancel: the target goes back to where this reassignment started.
	propose(&Command{AlterReassignments: []AlterReassignment{{Topic: "t", Partition: 0}}})
	if a := part(); !slices.Equal(a.Reassign.Target, target) {
		t.Fatalf("cancel: target %v, want %v", a.Reassign.Target, target)
	}
	propose(&Command{ReassignmentDone: shard})

	// A damaged replica is replaced by a fresh replica ID.
	before := part().ReplicaID(target[1])
	propose(&Command{ReplicaReset: &ReplicaAdded{ShardID: shard, Node: target[1]}})
	if a := part(); a.ReplicaID(target[1]) == before || !a.Joins(target[1]) || a.Reassign == nil || !slices.Equal(a.Replicas, target) {
		t.Fatalf("after reset: %+v", a)
	}
}
