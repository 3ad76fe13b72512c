package actors

import (
	"context"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/raftgroup"
)

// reportLoop publishes, through the controller, leadership this broker
// gains (so every broker can answer Metadata for partitions it does not
// hold) and a periodic replica report (liveness and the ISR).
func (b *Broker) reportLoop() {
	defer b.wg.Done()
	interval := b.reportInterval()
	t := time.NewTicker(interval)
	defer t.Stop()
	lastRebalance := time.Now()
	// Report at once: until a broker's first report lands, the others can
	// only assume it is alive.
	b.publishReport()
	for {
		select {
		case <-b.stop:
			return
		case <-b.leaderC:
			b.publishLeaders()
		case <-t.C:
			b.publishLeaders()
			b.publishReport()
			b.trackISR()
			b.runElections() // retried until the new leader reports
			b.driveReassignments()
			all := time.Since(lastRebalance) >= time.Duration(b.settings.Int64("leader.imbalance.check.interval.seconds"))*time.Second
			if all {
				lastRebalance = time.Now()
			}
			if b.settings.Bool("auto.leader.rebalance.enable") {
				b.preferredLeaders(all)
			}
		}
	}
}

// reportInterval is how often replica reports go out: every second, or a
// third of replica.lag.time.max.ms if that is shorter.
func (b *Broker) reportInterval() time.Duration {
	interval := time.Second
	if lag := time.Duration(b.settings.Int64("replica.lag.time.max.ms")) * time.Millisecond; lag > 0 && lag/3 < interval {
		interval = lag / 3
	}
	return interval
}

// canTakeLeadership: leadership only moves to a broker whose last report is
// at most two and a half report intervals old (one missed report is
// tolerated), whose process is not known to be gone (peerWatch) and whose
// Raft transport is reachable. Handing leadership to one that just died
// would stall the partition until the transfer times out (proposals are
// refused meanwhile), and broker.session.timeout.ms is far too slow a
// signal for that.
func (b *Broker) canTakeLeadership(node int32) bool {
	if b.peerDown(node) || !b.host.Reachable(node) || b.host.BrokerShuttingDown(node) {
		return false
	}
	last, ok := b.host.BrokerLastSeen(node)
	if !ok {
		return false
	}
	return time.Duration(b.opts.Clock().UnixMilli()-last)*time.Millisecond <= b.reportInterval()*5/2
}

// freshPartition is how long after this broker starts a replica it moves
// leadership to the preferred replica at every report tick, so new topics
// (and a restarted broker's partitions) get Kafka's leader placement quickly
// rather than at the next leader.imbalance.check.interval.seconds.
const freshPartition = time.Minute

// preferredLeaders hands leadership of partitions this broker leads to their
// preferred replica (the first in the assignment) when that replica is alive
// and in sync: auto.leader.rebalance.enable.
func (b *Broker) preferredLeaders(all bool) {
	md := b.Metadata()
	for _, t := range md.Topics {
		for _, a := range t.Partitions {
			if len(a.Replicas) < 2 || a.Replicas[0] == b.opts.NodeID {
				continue
			}
			b.mu.RLock()
			p := b.parts[a.ShardID]
			b.mu.RUnlock()
			if p == nil || (!all && time.Since(p.startedAt) > freshPartition) {
				continue
			}
			if leader, _ := b.host.IsLeader(a.ShardID); !leader {
				continue
			}
			pref := a.Replicas[0]
			for _, r := range b.InSyncReplicas(a) {
				if r == pref && b.canTakeLeadership(pref) {
					_ = b.host.TransferLeadership(a.ShardID, a.ReplicaID(pref))
				}
			}
		}
	}
}

func (b *Broker) proposeQuietly(cmd *raftgroup.Command) { b.proposeWithin(cmd, 5*time.Second) }

func (b *Broker) proposeWithin(cmd *raftgroup.Command, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, err := b.host.ProposeController(ctx, cmd); err != nil {
		b.log.Debug("controller proposal failed", "err", err)
	}
}

// publishLeaders records this broker's leaderships the controller does not
// know yet.
func (b *Broker) publishLeaders() {
	md := b.Metadata()
	b.mu.RLock()
	shards := make([]uint64, 0, len(b.parts))
	for id := range b.parts {
		shards = append(shards, id)
	}
	b.mu.RUnlock()
	sort.Slice(shards, func(i, j int) bool { return shards[i] < shards[j] })
	for _, id := range shards {
		leader, term := b.host.IsLeader(id)
		if !leader {
			continue
		}
		want := raftgroup.LeaderState{Leader: b.opts.NodeID, Epoch: int32(term)}
		if md.Leaders[id] == want && md.Elections[id] != b.opts.NodeID {
			continue
		}
		b.proposeQuietly(&raftgroup.Command{LeaderChange: &raftgroup.LeaderChange{ShardID: id, Leader: want.Leader, Epoch: want.Epoch}})
	}
}

func (b *Broker) publishReport() { b.proposeQuietly(b.report()) }

func (b *Broker) report() *raftgroup.Command {
	r := &raftgroup.ReplicaReport{Node: b.opts.NodeID, TimeMs: b.opts.Clock().UnixMilli(), Ends: map[uint64]int64{},
		ShuttingDown: b.shuttingDown.Load()}
	b.mu.RLock()
	for id, p := range b.parts {
		r.Ends[id] = p.HighWatermark()
	}
	b.mu.RUnlock()
	return &raftgroup.Command{ReplicaReport: r}
}

// PartitionLeader returns the leader broker and epoch of a partition shard:
// this broker's Raft view when it holds a replica, else the controller's
// record, unless that leader's broker has stopped reporting.
func (b *Broker) PartitionLeader(shardID uint64) (leader int32, epoch int32, ok bool) {
	b.mu.RLock()
	_, local := b.parts[shardID]
	b.mu.RUnlock()
	if local || shardID == raftgroup.ControllerShardID {
		li, ok := b.host.Leader(shardID)
		// A leader whose broker the Raft transport cannot reach, or whose
		// process is gone (peerWatch), has most likely just died: say no
		// leader rather than send clients to a dead broker (Metadata then
		// waits for the election, see AwaitingLeader).
		if !ok || !b.host.Reachable(int32(li.LeaderID)) || b.peerDown(int32(li.LeaderID)) {
			b.mu.RLock()
			p := b.parts[shardID]
			b.mu.RUnlock()
			if p != nil {
				if stranded, epoch := p.Stranded(); stranded {
					return b.opts.NodeID, epoch, true
				}
			}
			return -1, -1, false
		}
		return int32(li.LeaderID), int32(li.Term), true
	}
	ls, ok := b.Metadata().Leaders[shardID]
	if !ok || !b.brokerAlive(ls.Leader) || !b.host.Reachable(ls.Leader) || b.peerDown(ls.Leader) {
		return -1, -1, false
	}
	return ls.Leader, ls.Epoch, true
}

// brokerAlive: a broker is alive while its reports keep arriving within
// broker.session.timeout.ms. A broker never heard from counts as alive only
// during the first session timeout after this broker started (reports are
// soft state, relearned after a restart): one that stopped before its first
// report must not stay in the ISR forever.
func (b *Broker) brokerAlive(node int32) bool {
	if node == b.opts.NodeID {
		return true
	}
	now, timeout := b.opts.Clock().UnixMilli(), b.settings.Int64("broker.session.timeout.ms")
	last, ok := b.host.BrokerLastSeen(node)
	if !ok {
		return now-b.startMs <= timeout
	}
	return now-last <= timeout
}

// InSyncReplicas is the leader plus the replicas that reached the leader's
// log end within replica.lag.time.max.ms.
func (b *Broker) InSyncReplicas(a raftgroup.PartitionAssignment) []int32 {
	leader, _, ok := b.PartitionLeader(a.ShardID)
	if !ok {
		return []int32{}
	}
	isr := []int32{leader}
	if len(a.Replicas) == 1 {
		return isr
	}
	lag := b.settings.Int64("replica.lag.time.max.ms")
	now := b.opts.Clock().UnixMilli()
	st := b.host.ReplicaStatus(a.ShardID)
	for _, r := range a.Replicas {
		if r == leader {
			continue
		}
		s, ok := st[r]
		switch {
		case ok && now-s.CaughtUpMs <= lag && b.brokerAlive(r):
			isr = append(isr, r)
		case !ok && st[leader].End == 0 && b.brokerAlive(r):
			// Not reported yet, and the leader has nothing to be behind
			// on: a new partition starts with all replicas in sync.
			isr = append(isr, r)
		}
	}
	return isr
}

// successor picks the replica to hand a partition to: an in-sync replica
// that can take leadership, else any other in-sync replica (right after
// start-up nobody has reported yet), else any replica that can take it (a
// new partition's followers are out of the ISR until their first report;
// Raft hands leadership only to a replica that has the whole log), else
// none.
func (b *Broker) successor(a raftgroup.PartitionAssignment) (int32, bool) {
	isr := b.InSyncReplicas(a)
	for _, r := range isr {
		if r != b.opts.NodeID && b.canTakeLeadership(r) {
			return r, true
		}
	}
	for _, r := range isr {
		if r != b.opts.NodeID && b.brokerAlive(r) {
			return r, true
		}
	}
	for _, r := range a.Replicas {
		if r != b.opts.NodeID && b.canTakeLeadership(r) {
			return r, true
		}
	}
	return -1, false
}

// transferLeadership hands leadership of the partitions this broker leads
// to another replica before shutting down, so clients move without waiting
// for an election timeout. It reports whether it moved any.
func (b *Broker) transferLeadership(wait time.Duration) bool {
	md := b.Metadata()
	var moving []uint64
	for _, t := range md.Topics {
		for _, a := range t.Partitions {
			if len(a.Replicas) < 2 {
				continue
			}
			if leader, _ := b.host.IsLeader(a.ShardID); !leader {
				continue
			}
			if r, ok := b.successor(a); ok {
				if err := b.host.TransferLeadership(a.ShardID, a.ReplicaID(r)); err == nil {
					moving = append(moving, a.ShardID)
				}
			}
		}
	}
	if leader, _ := b.host.IsLeader(raftgroup.ControllerShardID); leader {
		for _, id := range md.BrokerIDs() {
			if id == b.opts.NodeID || !b.brokerAlive(id) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			replica, voter, ok := b.host.ControllerReplicaOf(ctx, id)
			cancel()
			if !ok || !voter {
				continue // observers cannot lead
			}
			if b.host.TransferLeadership(raftgroup.ControllerShardID, replica) == nil {
				moving = append(moving, raftgroup.ControllerShardID)
			}
			break
		}
	}
	deadline := time.Now().Add(wait)
	for _, id := range moving {
		for time.Now().Before(deadline) {
			if leader, _ := b.host.IsLeader(id); !leader {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return len(moving) > 0
}

// LiveBrokers returns the registered brokers that are alive, in ID order:
// Metadata lists only these, as Kafka does, so clients do not dial the dead.
func (b *Broker) LiveBrokers() []raftgroup.Broker {
	md := b.Metadata()
	var out []raftgroup.Broker
	for _, id := range md.BrokerIDs() {
		// A broker whose process is gone is left out at once, as Kafka
		// leaves out a fenced one: clients stop dialing it and no new
		// replica is placed on it.
		if b.brokerAlive(id) && !b.peerDown(id) {
			out = append(out, md.Brokers[id])
		}
	}
	return out
}

func (b *Broker) liveBrokerIDs() []int32 {
	var ids []int32
	for _, br := range b.LiveBrokers() {
		ids = append(ids, br.NodeID)
	}
	return ids
}

// runElections carries out requested preferred-leader elections for the
// partitions this broker leads.
func (b *Broker) runElections() {
	md := b.Metadata()
	for shard, target := range md.Elections {
		if target == b.opts.NodeID {
			continue // publishLeaders reports it
		}
		if leader, _ := b.host.IsLeader(shard); leader && b.canTakeLeadership(target) {
			if t, i := md.PartitionByShard(shard); t != nil {
				_ = b.host.TransferLeadership(shard, t.Partitions[i].ReplicaID(target))
			}
		}
	}
}

// ElectionResult is one partition's outcome of ElectPreferredLeaders.
type ElectionResult struct {
	Topic     string
	Partition int32
	Err       error
}

// ElectPreferredLeaders moves leadership of the given partitions (all when
// nil) to their preferred replica, as Kafka's preferred leader election
// does, and waits until it happened or ctx ends.
func (b *Broker) ElectPreferredLeaders(ctx context.Context, want map[string][]int32) []ElectionResult {
	md := b.Metadata()
	var out []ElectionResult
	req := map[uint64]int32{}
	where := map[uint64]int{}
	add := func(t *raftgroup.Topic, p int32) {
		r := ElectionResult{Topic: t.Name, Partition: p}
		if p < 0 || int(p) >= len(t.Partitions) {
			r.Err = errorf(kerr.UnknownTopicOrPartition, "")
			out = append(out, r)
			return
		}
		a := t.Partitions[p]
		pref := a.Replicas[0]
		leader, _, ok := b.PartitionLeader(a.ShardID)
		inSync := false
		for _, id := range b.InSyncReplicas(a) {
			inSync = inSync || id == pref
		}
		switch {
		case ok && leader == pref:
			r.Err = errorf(kerr.ElectionNotNeeded, "")
		case !inSync || !b.brokerAlive(pref):
			r.Err = errorf(kerr.PreferredLeaderNotAvailable, "preferred replica %d is not in sync", pref)
		default:
			req[a.ShardID] = pref
			where[a.ShardID] = len(out)
		}
		out = append(out, r)
	}
	if want == nil {
		for _, t := range md.Topics {
			for i := range t.Partitions {
				add(t, int32(i))
			}
		}
	}
	for name, parts := range want {
		t := md.Topics[name]
		if t == nil {
			for _, p := range parts {
				out = append(out, ElectionResult{Topic: name, Partition: p, Err: errorf(kerr.UnknownTopicOrPartition, "")})
			}
			continue
		}
		for _, p := range parts {
			add(t, p)
		}
	}
	if len(req) == 0 {
		return out
	}
	if _, err := b.host.ProposeController(ctx, &raftgroup.Command{ElectLeaders: req}); err != nil {
		for shard := range req {
			out[where[shard]].Err = err
		}
		return out
	}
	b.signalReconcile() // local leaders hand over at once
	for shard, target := range req {
		for {
			if leader, _, ok := b.PartitionLeader(shard); ok && leader == target {
				break
			}
			if ctx.Err() != nil {
				out[where[shard]].Err = errorf(kerr.RequestTimedOut, "leadership did not move in time")
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}
