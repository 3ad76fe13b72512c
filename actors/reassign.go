package actors

import (
	"context"
	"slices"
	"time"

	"github.com/samsa-io/samsa/raftgroup"
)

// Partition reassignment (AlterPartitionReassignments) is a Raft membership
// change driven by the partition's leader, one step per report tick, each
// step safe to repeat after a crash or a leader change:
//
//  1. record each target broker in the assignment (its broker starts a
//     replica that joins the group), then add it as a Raft voter;
//  2. wait until every target replica is in the ISR;
//  3. if the leader itself is leaving, hand leadership to a target;
//  4. remove the replicas not in the target, then mark the reassignment
//     done (Replicas = target). Removed brokers drop their copy.
//
// The Raft membership, not the metadata, says what has happened, so a new
// leader picks up wherever the old one stopped.

// ReassignmentResult is one partition's answer to AlterReassignments.
type ReassignmentResult struct {
	Topic     string
	Partition int32
	Err       error
}

// AlterReassignments starts, changes or (nil target) cancels reassignments.
func (b *Broker) AlterReassignments(ctx context.Context, changes []raftgroup.AlterReassignment) []ReassignmentResult {
	out := make([]ReassignmentResult, 0, len(changes))
	for _, c := range changes {
		_, err := b.host.ProposeController(ctx, &raftgroup.Command{AlterReassignments: []raftgroup.AlterReassignment{c}})
		out = append(out, ReassignmentResult{Topic: c.Topic, Partition: c.Partition, Err: err})
	}
	return out
}

// SyncedMetadata returns metadata that includes every controller change
// committed before the call (a linearizable read), for admin requests that
// must see their own earlier writes whichever broker answers them.
func (b *Broker) SyncedMetadata(ctx context.Context) (*raftgroup.Metadata, error) {
	if err := b.host.Barrier(ctx, raftgroup.ControllerShardID); err != nil {
		return nil, err
	}
	return b.Metadata(), nil
}

// driveReassignments advances the reassignments of partitions led here.
func (b *Broker) driveReassignments() {
	md := b.Metadata()
	for _, t := range md.Topics {
		for _, a := range t.Partitions {
			if a.Reassign == nil {
				continue
			}
			if leader, _ := b.host.IsLeader(a.ShardID); !leader {
				continue
			}
			if err := b.reassignStep(md, a); err != nil {
				b.log.Debug("reassignment step", "topic", t.Name, "partition", a.Partition, "err", err)
			}
		}
	}
}

func (b *Broker) reassignStep(md *raftgroup.Metadata, a raftgroup.PartitionAssignment) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	target := a.Reassign.Target
	for _, n := range target {
		if !slices.Contains(a.Replicas, n) {
			_, err := b.host.ProposeController(ctx, &raftgroup.Command{ReplicaAdded: &raftgroup.ReplicaAdded{ShardID: a.ShardID, Node: n}})
			return err // continue with the new assignment next tick
		}
	}
	voters, _, err := b.host.Members(ctx, a.ShardID)
	if err != nil {
		return err
	}
	for _, n := range target {
		id := a.ReplicaID(n)
		if _, ok := voters[id]; ok {
			continue
		}
		br, ok := md.Brokers[n]
		if !ok {
			return nil // unregistered: the reassignment waits for it
		}
		// A damaged replica being replaced (ReplicaReset): its old
		// replica ID leaves before the new one joins.
		for old := range voters {
			if raftgroup.NodeOf(old) == n {
				if err := b.host.RemoveReplica(ctx, a.ShardID, old); err != nil {
					return err
				}
				b.log.Info("removed damaged replica", "shard", a.ShardID, "broker", n)
			}
		}
		if err := b.host.AddReplica(ctx, a.ShardID, id, br.RaftAddr); err != nil {
			return err
		}
		b.log.Info("added replica", "shard", a.ShardID, "broker", n)
	}
	isr := b.InSyncReplicas(a)
	for _, n := range target {
		if !slices.Contains(isr, n) {
			return nil // still catching up
		}
	}
	if !slices.Contains(target, b.opts.NodeID) {
		for _, n := range target {
			if b.canTakeLeadership(n) {
				return b.host.TransferLeadership(a.ShardID, a.ReplicaID(n))
			}
		}
		return nil
	}
	for _, n := range a.Replicas {
		if slices.Contains(target, n) {
			continue
		}
		for id := range voters {
			if raftgroup.NodeOf(id) != n {
				continue
			}
			if err := b.host.RemoveReplica(ctx, a.ShardID, id); err != nil {
				return err
			}
			b.log.Info("removed replica", "shard", a.ShardID, "broker", n)
		}
	}
	_, err = b.host.ProposeController(ctx, &raftgroup.Command{ReassignmentDone: a.ShardID})
	return err
}
