package raftgroup

import "sync"

// ReplicaStatus is what the controller last heard of one replica.
type ReplicaStatus struct {
	End        int64 // log end offset
	ReportMs   int64 // when it was reported
	CaughtUpMs int64 // last report at which it had reached the leader's end
}

// replicaStatus is soft state built from ReplicaReports: not snapshotted
// (a recovered controller replica relearns it within one report interval),
// and not part of Metadata, so reports do not churn metadata copies.
type replicaStatus struct {
	mu   sync.RWMutex
	m    map[uint64]map[int32]ReplicaStatus // shard → node → status
	seen map[int32]int64                    // node → last report time
	// stopping: brokers whose last report said they are shutting down.
	stopping map[int32]bool
	// leaders is filled from metadata when computing catch-up.
	leaderOf func(shard uint64) (int32, bool)
}

func (s *replicaStatus) apply(r *ReplicaReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[r.Node] = r.TimeMs
	if r.ShuttingDown {
		if s.stopping == nil {
			s.stopping = map[int32]bool{}
		}
		s.stopping[r.Node] = true
	} else {
		delete(s.stopping, r.Node)
	}
	// A report lists every replica the broker runs: one it no longer
	// reports (removed, or set aside to be rebuilt) has no status.
	for shard, reps := range s.m {
		if _, ok := r.Ends[shard]; !ok {
			delete(reps, r.Node)
		}
	}
	for shard, end := range r.Ends {
		reps := s.m[shard]
		if reps == nil {
			reps = map[int32]ReplicaStatus{}
			s.m[shard] = reps
		}
		st := reps[r.Node]
		st.End, st.ReportMs = end, r.TimeMs
		reps[r.Node] = st
	}
	// A replica is caught up when its end reaches the end its leader last
	// reported; the leader itself always is.
	for shard := range r.Ends {
		reps := s.m[shard]
		leader, ok := int32(-1), false
		if s.leaderOf != nil {
			leader, ok = s.leaderOf(shard)
		}
		if !ok {
			continue
		}
		lst, lok := reps[leader]
		for node, st := range reps {
			if node == leader || (lok && st.End >= lst.End) {
				st.CaughtUpMs = st.ReportMs
				reps[node] = st
			}
		}
	}
}

// forget drops what is known of node's replicas: it restarted, and each
// must show again that it caught up before it counts as in sync.
func (s *replicaStatus) forget(node int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, reps := range s.m {
		delete(reps, node)
	}
}

func (s *replicaStatus) get(shard uint64) map[int32]ReplicaStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[int32]ReplicaStatus, len(s.m[shard]))
	for k, v := range s.m[shard] {
		out[k] = v
	}
	return out
}

func (s *replicaStatus) lastSeen(node int32) (int64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.seen[node]
	return t, ok
}

func (s *replicaStatus) shuttingDown(node int32) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stopping[node]
}

// BrokerShuttingDown reports whether the broker's last report said it is
// shutting down.
func (h *Host) BrokerShuttingDown(node int32) bool { return h.controller.status.shuttingDown(node) }

// ReplicaStatus returns what the controller last heard of the shard's replicas.
func (h *Host) ReplicaStatus(shard uint64) map[int32]ReplicaStatus {
	return h.controller.status.get(shard)
}

// BrokerLastSeen returns the time (ms) of the broker's last report.
func (h *Host) BrokerLastSeen(node int32) (int64, bool) { return h.controller.status.lastSeen(node) }
