package raftgroup

import "github.com/lni/dragonboat/v4/raftio"

// systemListener tracks which Raft peers this node cannot reach: a dial to
// a dead broker fails within milliseconds, long before an election timeout
// or a missed report says so, and Metadata should not send clients to a
// leader nobody can reach (see Host.Reachable).
type systemListener struct{ h *Host }

func (l systemListener) ConnectionEstablished(info raftio.ConnectionInfo) {
	if info.SnapshotConnection {
		return
	}
	l.h.mu.Lock()
	delete(l.h.unreachable, info.Address)
	l.h.mu.Unlock()
}

func (l systemListener) ConnectionFailed(info raftio.ConnectionInfo) {
	if info.SnapshotConnection {
		return
	}
	l.h.mu.Lock()
	l.h.unreachable[info.Address] = true
	l.h.mu.Unlock()
}

func (systemListener) NodeHostShuttingDown()                     {}
func (systemListener) NodeUnloaded(raftio.NodeInfo)              {}
func (systemListener) NodeDeleted(raftio.NodeInfo)               {}
func (systemListener) NodeReady(raftio.NodeInfo)                 {}
func (systemListener) MembershipChanged(raftio.NodeInfo)         {}
func (systemListener) SendSnapshotStarted(raftio.SnapshotInfo)   {}
func (systemListener) SendSnapshotCompleted(raftio.SnapshotInfo) {}
func (systemListener) SendSnapshotAborted(raftio.SnapshotInfo)   {}
func (systemListener) SnapshotReceived(raftio.SnapshotInfo)      {}
func (systemListener) SnapshotRecovered(raftio.SnapshotInfo)     {}
func (systemListener) SnapshotCreated(raftio.SnapshotInfo)       {}
func (systemListener) SnapshotCompacted(raftio.SnapshotInfo)     {}
func (systemListener) LogCompacted(raftio.EntryInfo)             {}
func (systemListener) LogDBCompacted(raftio.EntryInfo)           {}

// Reachable reports whether this node's Raft transport can currently reach
// node (its last dial did not fail). This node is always reachable.
func (h *Host) Reachable(node int32) bool {
	if uint64(node) == h.cfg.NodeID {
		return true
	}
	br, ok := h.Metadata().Brokers[node]
	if !ok {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.unreachable[br.RaftAddr]
}
