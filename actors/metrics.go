package actors

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/samsa-io/samsa/coordinator"
	"github.com/samsa-io/samsa/raftgroup"
	"github.com/samsa-io/samsa/telemetry"
)

// Metrics returns the broker's metrics.
func (b *Broker) Metrics() *telemetry.Metrics { return b.metrics }

// Tracing returns the broker's tracer.
func (b *Broker) Tracing() *telemetry.Tracing { return b.tracing }

// countElection counts a leadership this broker won, once per term.
func (b *Broker) countElection(shard, term uint64) {
	b.wonMu.Lock()
	defer b.wonMu.Unlock()
	if b.wonTerm[shard] >= term {
		return
	}
	b.wonTerm[shard] = term
	b.metrics.LeaderElections.Inc()
}

// trackISR counts ISR shrinks and expands of the partitions this broker
// leads, comparing each ISR with the one at the previous report tick. The
// ISR is derived from replica reports, not stored, so this is where its
// changes become visible. A partition seen for the first time as leader is
// only recorded: its earlier history was another leader's to count.
func (b *Broker) trackISR() {
	md := b.Metadata()
	seen := make(map[uint64][]int32, len(b.isrSeen))
	for _, t := range md.Topics {
		for _, a := range t.Partitions {
			if leader, _ := b.host.IsLeader(a.ShardID); !leader || len(a.Replicas) < 2 {
				continue
			}
			isr := b.InSyncReplicas(a)
			if prev, ok := b.isrSeen[a.ShardID]; ok {
				for _, r := range prev {
					if !slices.Contains(isr, r) {
						b.metrics.ISRShrinks.Inc()
						break
					}
				}
				for _, r := range isr {
					if !slices.Contains(prev, r) {
						b.metrics.ISRExpands.Inc()
						break
					}
				}
			}
			seen[a.ShardID] = isr
		}
	}
	b.isrSeen = seen
}

// PartitionStats is this broker's view for the partition gauges.
func (b *Broker) PartitionStats() telemetry.PartitionStats {
	md := b.Metadata()
	var st telemetry.PartitionStats
	st.ControllerActive, _ = b.host.IsLeader(raftgroup.ControllerShardID)
	if b.peers != nil {
		st.PeersUp = b.peers.up()
	}
	for _, t := range md.Topics {
		for _, a := range t.Partitions {
			b.mu.RLock()
			p := b.parts[a.ShardID]
			b.mu.RUnlock()
			if p != nil {
				st.Partitions++
				if leader, _ := b.host.IsLeader(a.ShardID); leader {
					st.Leaders++
					if len(b.InSyncReplicas(a)) < len(a.Replicas) {
						st.UnderReplicated++
					}
				}
			}
			if st.ControllerActive && !b.hasLeader(a, p) {
				st.Offline++
			}
		}
	}
	return st
}

// hasLeader: the partition has a reachable Raft leader. A stranded replica
// answers clients as leader for reads, but has none.
func (b *Broker) hasLeader(a raftgroup.PartitionAssignment, local *Partition) bool {
	if _, _, ok := b.PartitionLeader(a.ShardID); !ok {
		return false
	}
	if local != nil {
		stranded, _ := local.Stranded()
		return !stranded
	}
	return true
}

// GroupLags is the lag of every committed offset of the groups this broker
// coordinates: the partition's high watermark (this broker's own when it
// leads the partition, else the leader's last replica report) minus the
// committed offset.
func (b *Broker) GroupLags(ctx context.Context) []telemetry.GroupLag {
	var mu sync.Mutex
	var out []telemetry.GroupLag
	closed := false // a coordinator answering after ctx ended is ignored
	b.EachGroupCoordinator(ctx, func(c *coordinator.Coordinator, _ time.Time) {
		var mine []telemetry.GroupLag
		for _, g := range c.GroupIDs() {
			rg := c.FetchOffsets(g, nil, false)
			for _, t := range rg.Topics {
				for _, p := range t.Partitions {
					if p.ErrorCode == 0 && p.Offset >= 0 {
						mine = append(mine, telemetry.GroupLag{Group: g, Topic: t.Topic, Partition: p.Partition, Lag: p.Offset})
					}
				}
			}
		}
		mu.Lock()
		if !closed {
			out = append(out, mine...)
		}
		mu.Unlock()
	})
	mu.Lock()
	closed = true
	committed := out
	mu.Unlock()
	md := b.Metadata()
	lags := committed[:0]
	for _, l := range committed {
		hw, ok := b.highWatermark(md, l.Topic, l.Partition)
		if !ok {
			continue
		}
		l.Lag = max(hw-l.Lag, 0)
		lags = append(lags, l)
	}
	return lags
}

// highWatermark is a partition's high watermark as well as this broker
// knows it: its own if it leads the partition, else the leader's last
// report (at most a report interval old), else its own replica's.
func (b *Broker) highWatermark(md *raftgroup.Metadata, topic string, index int32) (int64, bool) {
	t := md.Topics[topic]
	if t == nil || index < 0 || int(index) >= len(t.Partitions) {
		return 0, false
	}
	a := t.Partitions[index]
	p := b.Partition(topic, index)
	if p != nil {
		if leader, _ := p.Leader(); leader {
			return p.HighWatermark(), true
		}
	}
	if leader, _, ok := b.PartitionLeader(a.ShardID); ok {
		if st, ok := b.host.ReplicaStatus(a.ShardID)[leader]; ok {
			return st.End, true
		}
	}
	if p != nil {
		return p.HighWatermark(), true
	}
	return 0, false
}

// forgetDeletedTopics drops the metrics of topics that no longer exist.
func (b *Broker) forgetDeletedTopics(md *raftgroup.Metadata) {
	for _, name := range b.metrics.Topics() {
		if _, ok := md.Topics[name]; !ok {
			b.metrics.ForgetTopic(name)
		}
	}
}
