package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/raftgroup"
)

// KIP-951: a NOT_LEADER_OR_FOLLOWER answer to Produce (v10+) or Fetch (v16+)
// names the partition's current leader and how to reach it, so a client
// moves the partition at once instead of waiting for a metadata refresh
// (franz-go throttles those to one per MetadataMinAge, 5 s by default).
// That turns a leader move (preferred-leader rebalance, graceful shutdown,
// reassignment) into a single retry.

// leaderHint is the partition's leader as this broker knows it, or ok=false
// when there is none it can name (election running, leader unreachable).
func leaderHint(b *actors.Broker, t *raftgroup.Topic, partition int32) (leader, epoch int32, ok bool) {
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return -1, -1, false
	}
	// This broker may name itself: a proposal refused while leadership is
	// being handed over fails NOT_LEADER_OR_FOLLOWER although the transfer
	// may not happen (the target died). A hint with the leader and epoch
	// the client already has makes franz-go retry here after a backoff,
	// where without a hint it waits for a metadata refresh (up to 5 s).
	return b.PartitionLeader(t.Partitions[partition].ShardID)
}

// hintedBrokers collects the endpoints of the leaders named in hints.
type hintedBrokers struct {
	b    *actors.Broker
	seen map[int32]bool
	ids  []int32
}

func (h *hintedBrokers) add(id int32) {
	if h.seen == nil {
		h.seen = make(map[int32]bool)
	}
	if !h.seen[id] {
		h.seen[id] = true
		h.ids = append(h.ids, id)
	}
}

// each calls fn with every named leader's advertised endpoint.
func (h *hintedBrokers) each(fn func(id int32, host string, port int32, rack *string)) {
	if len(h.ids) == 0 {
		return
	}
	md := h.b.Metadata()
	for _, id := range h.ids {
		br, ok := md.Brokers[id]
		if !ok {
			continue
		}
		var rack *string
		if br.Rack != "" {
			r := br.Rack
			rack = &r
		}
		fn(id, br.Host, br.Port, rack)
	}
}

// addProduceLeaderHints fills CurrentLeader and NodeEndpoints of a Produce
// response for its NOT_LEADER_OR_FOLLOWER partitions.
func addProduceLeaderHints(b *actors.Broker, resp *kmsg.ProduceResponse) {
	if resp.GetVersion() < 10 {
		return
	}
	md := b.Metadata()
	h := hintedBrokers{b: b}
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		for pi := range st.Partitions {
			sp := &st.Partitions[pi]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			if leader, epoch, ok := leaderHint(b, md.Topics[st.Topic], sp.Partition); ok {
				sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
				h.add(leader)
			}
		}
	}
	h.each(func(id int32, host string, port int32, rack *string) {
		resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: id, Host: host, Port: port, Rack: rack})
	})
}

// addFetchLeaderHints is addProduceLeaderHints for Fetch.
func addFetchLeaderHints(b *actors.Broker, resp *kmsg.FetchResponse) {
	if resp.GetVersion() < 16 {
		return
	}
	md := b.Metadata()
	h := hintedBrokers{b: b}
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		t := md.Topics[st.Topic]
		if resp.GetVersion() >= 13 {
			t = md.TopicByID(st.TopicID)
		}
		for pi := range st.Partitions {
			sp := &st.Partitions[pi]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			if leader, epoch, ok := leaderHint(b, t, sp.Partition); ok {
				sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
				h.add(leader)
			}
		}
	}
	h.each(func(id int32, host string, port int32, rack *string) {
		resp.Brokers = append(resp.Brokers, kmsg.FetchResponseBroker{NodeID: id, Host: host, Port: port, Rack: rack})
	})
}
