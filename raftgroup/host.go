// Package raftgroup owns the dragonboat NodeHost: its life cycle, shard IDs,
// starting and stopping partition replicas, leader tracking, and the
// controller shard that replicates cluster metadata.
package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/samsa-io/samsa/partition"
)

// ControllerShardID is the Raft shard that holds cluster metadata.
const ControllerShardID uint64 = 1

// FirstPartitionShardID is the first shard ID handed to a partition.
const FirstPartitionShardID uint64 = 1000

// Config configures a Host.
type Config struct {
	NodeID   uint64
	DataDir  string // Raft state goes in DataDir/raft
	RaftAddr string // host:port for Raft traffic
	// InitialMembers are the controller's voters (node ID → Raft address);
	// empty means this node alone.
	InitialMembers map[uint64]string
	// RTTMillisecond is the Raft tick; elections take ElectionRTT ticks.
	RTTMillisecond uint64
	ElectionRTT    uint64
	HeartbeatRTT   uint64
	// SnapshotEntries bounds the Raft log: the partition log is the state,
	// so a snapshot is only a sync point and the Raft log stays a short WAL.
	SnapshotEntries    uint64
	CompactionOverhead uint64
	// OnLeaderChange, if set, is called when any shard's leader changes.
	OnLeaderChange func(shardID, leaderID, term uint64)
	// OnMetadata is called with the new metadata after every controller apply.
	OnMetadata func(*Metadata)
	// Join, if set, adds this node to a running cluster's controller (as
	// an observer, through another broker) the first time it starts;
	// InitialMembers are then ignored.
	Join func() error
	// Rejoin, if set, asks the cluster to replace this node's controller
	// replica, whose Raft state is lost or damaged, by a new one: it
	// returns the new replica ID and whether it is an observer.
	Rejoin func() (replicaID uint64, observer bool, err error)
	// WasMember says this node was part of the cluster before (it has
	// seen the cluster's metadata): missing controller state then means
	// lost state, not a first start.
	WasMember bool
	// OnSyncPropose, if set, is told how long each SyncPropose took (the
	// controller's proposals: metrics).
	OnSyncPropose func(shardID uint64, d time.Duration)
}

func (c *Config) setDefaults() {
	if c.NodeID == 0 {
		c.NodeID = 1
	}
	// A 10 ms tick with elections after 30-60 ticks: a new partition has a
	// leader within about half a second, and failover stays well under
	// the 3 s clients tolerate.
	if c.RTTMillisecond == 0 {
		c.RTTMillisecond = 10
	}
	if c.ElectionRTT == 0 {
		c.ElectionRTT = 30
	}
	if c.HeartbeatRTT == 0 {
		c.HeartbeatRTT = 3
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 1000
	}
	if c.CompactionOverhead == 0 {
		c.CompactionOverhead = 200
	}
	if len(c.InitialMembers) == 0 {
		c.InitialMembers = map[uint64]string{c.NodeID: c.RaftAddr}
	}
}

var quietOnce sync.Once

// quietLoggers silences dragonboat below ERROR.
func quietLoggers() {
	quietOnce.Do(func() {
		for _, name := range []string{"config", "dragonboat", "gossip", "logdb", "pebblekv", "raft", "raftpb",
			"registry", "rsm", "server", "settings", "tan", "tools", "transport", "LogDB", "raft-mt", "grpc"} {
			// Elections and transport hiccups log at WARNING; an operator
			// needs them only when debugging.
			logger.GetLogger(name).SetLevel(logger.ERROR)
		}
	})
}

// Host is one broker's NodeHost plus the controller replica.
type Host struct {
	cfg        Config
	nh         *dragonboat.NodeHost
	controller *controllerSM

	mu       sync.Mutex
	leaders  map[uint64]LeaderInfo
	replicas map[uint64]uint64 // shard → this node's replica ID
	// ctrlID is this node's controller replica ID: the node ID, or a new
	// ID after its controller state was lost (controllerReplicaFile).
	ctrlID uint64
	// damaged are replicas whose Raft log failed verification at start,
	// by shard; the broker replaces them (see verifyLogDB).
	damaged map[uint64]damagedLog
	last    map[uint64]LeaderInfo // shard → the last leader seen (never 0)
	// unreachable are Raft addresses whose last dial failed.
	unreachable map[string]bool
	persist     *persistRegistry
}

// LeaderInfo is a shard's known leader and term (the Kafka leader epoch).
type LeaderInfo struct {
	LeaderID uint64 // the leader's node (broker) ID, not its replica ID
	Term     uint64
}

type leaderListener struct{ h *Host }

func (l leaderListener) LeaderUpdated(info raftio.LeaderInfo) {
	l.h.mu.Lock()
	node := uint64(0)
	if info.LeaderID != 0 {
		node = uint64(NodeOf(info.LeaderID))
	}
	l.h.leaders[info.ShardID] = LeaderInfo{LeaderID: node, Term: info.Term}
	if node != 0 {
		l.h.last[info.ShardID] = LeaderInfo{LeaderID: node, Term: info.Term}
	}
	l.h.mu.Unlock()
	if l.h.cfg.OnLeaderChange != nil {
		l.h.cfg.OnLeaderChange(info.ShardID, node, info.Term)
	}
}

// Start creates the NodeHost and starts (or restarts) the controller replica.
func Start(cfg Config) (*Host, error) {
	cfg.setDefaults()
	quietLoggers()
	h := &Host{cfg: cfg, leaders: make(map[uint64]LeaderInfo), replicas: map[uint64]uint64{}, last: map[uint64]LeaderInfo{}, unreachable: map[string]bool{}, persist: &persistRegistry{waiters: map[persistKey]func(){}}}
	logdb := config.GetTinyMemLogDBConfig()
	// tan allocates one write buffer per LogDB shard (16); they grow on
	// demand, so a small start keeps an idle broker small.
	logdb.KVWriteBufferSize = 1 << 20
	dir := filepath.Join(cfg.DataDir, "raft")
	nhc := config.NodeHostConfig{
		NodeHostDir:         dir,
		WALDir:              dir,
		RTTMillisecond:      cfg.RTTMillisecond,
		RaftAddress:         cfg.RaftAddr,
		RaftEventListener:   leaderListener{h},
		SystemEventListener: systemListener{h},
		Expert: config.ExpertConfig{
			LogDBFactory: notifyingFactory{inner: tan.Factory, reg: h.persist},
			LogDB:        logdb,
			Engine: config.EngineConfig{
				ExecShards: 4, CommitShards: 4, ApplyShards: 8, SnapshotShards: 4, CloseShards: 4,
			},
		},
	}
	damaged, err := verifyLogDB(nhc, dir)
	if err != nil {
		return nil, err
	}
	h.damaged = map[uint64]damagedLog{}
	for _, d := range damaged {
		h.damaged[d.ShardID] = d
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return nil, fmt.Errorf("raftgroup: start NodeHost: %w", err)
	}
	h.nh = nh
	h.controller = newControllerSM(cfg.OnMetadata)
	members := make(map[uint64]dragonboat.Target, len(cfg.InitialMembers))
	for id, addr := range cfg.InitialMembers {
		members[id] = addr
	}
	create := func(shardID, replicaID uint64) sm.IStateMachine { return h.controller }
	h.ctrlID = cfg.NodeID
	if data, err := os.ReadFile(filepath.Join(dir, controllerReplicaFile)); err == nil {
		if id, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err == nil && NodeOf(id) == int32(cfg.NodeID) {
			h.ctrlID = id
		}
	}
	// A broker that joined a running cluster is a non-voting member of the
	// controller group; the marker file remembers that across restarts.
	marker := filepath.Join(dir, "controller.observer")
	_, statErr := os.Stat(marker)
	observer, join := statErr == nil, false
	_, ctrlDamaged := h.damaged[ControllerShardID]
	lost := ctrlDamaged || (cfg.WasMember && !nh.HasNodeInfo(ControllerShardID, h.ctrlID))
	if observer && !lost {
		members = nil
	} else if lost {
		// Raft forbids a replica that forgot its log and votes to come
		// back under its old ID; the cluster swaps in a new one.
		if cfg.Rejoin == nil {
			nh.Close()
			return nil, fmt.Errorf("raftgroup: this node's controller Raft state is lost or damaged and there is no other broker to rebuild it from")
		}
		id, obs, err := cfg.Rejoin()
		if err != nil {
			nh.Close()
			return nil, fmt.Errorf("raftgroup: rebuilding this node's controller replica: %w", err)
		}
		if err := partition.WriteFileAtomic(dir, controllerReplicaFile, []byte(strconv.FormatUint(id, 10)+"\n")); err != nil {
			nh.Close()
			return nil, err
		}
		if obs {
			err = os.WriteFile(marker, []byte("joined\n"), 0o644)
		} else if err = os.Remove(marker); errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		if err != nil {
			nh.Close()
			return nil, err
		}
		h.ctrlID, members, observer, join = id, nil, obs, true
	} else if cfg.Join != nil && !nh.HasNodeInfo(ControllerShardID, h.ctrlID) {
		if err := cfg.Join(); err != nil {
			nh.Close()
			return nil, fmt.Errorf("raftgroup: joining the cluster: %w", err)
		}
		if err := os.WriteFile(marker, []byte("joined\n"), 0o644); err != nil {
			nh.Close()
			return nil, err
		}
		members, observer, join = nil, true, true
	}
	ccfg := h.shardConfig(ControllerShardID, h.ctrlID)
	ccfg.IsNonVoting = observer
	if err := nh.StartReplica(members, join, create, ccfg); err != nil {
		nh.Close()
		return nil, fmt.Errorf("raftgroup: start controller: %w", err)
	}
	return h, nil
}

func (h *Host) shardConfig(shardID, replicaID uint64) config.Config {
	return config.Config{
		ReplicaID:          replicaID,
		ShardID:            shardID,
		CheckQuorum:        true,
		PreVote:            true,
		ElectionRTT:        h.cfg.ElectionRTT,
		HeartbeatRTT:       h.cfg.HeartbeatRTT,
		SnapshotEntries:    h.cfg.SnapshotEntries,
		CompactionOverhead: h.cfg.CompactionOverhead,
	}
}

// controllerReplicaFile holds this node's controller replica ID once it is
// no longer the node ID (its controller state was lost and replaced).
const controllerReplicaFile = "controller.replica"

// NodeID is this broker's node ID.
func (h *Host) NodeID() uint64 { return h.cfg.NodeID }

// ControllerReplicaOf is node's replica ID in the controller group (the node
// ID unless its controller state was once replaced), from the membership.
func (h *Host) ControllerReplicaOf(ctx context.Context, node int32) (id uint64, voter, ok bool) {
	voters, observers, err := h.Members(ctx, ControllerShardID)
	if err != nil {
		return 0, false, false
	}
	for r := range voters {
		if NodeOf(r) == node {
			return r, true, true
		}
	}
	for r := range observers {
		if NodeOf(r) == node {
			return r, false, true
		}
	}
	return 0, false, false
}

// DamagedLog reports whether this node's replica (replicaID) of the shard
// had its Raft log set aside as damaged when the broker started: the error
// wraps ErrRaftLogDamaged; nil if not.
func (h *Host) DamagedLog(shardID, replicaID uint64) error {
	h.mu.Lock()
	d, ok := h.damaged[shardID]
	h.mu.Unlock()
	if !ok || d.ReplicaID != replicaID {
		return nil
	}
	return fmt.Errorf("%w (moved to %s)", d.Err, d.Aside)
}

// HasRaftState reports whether this node holds Raft state for its replica
// (replicaID) of the shard.
func (h *Host) HasRaftState(shardID, replicaID uint64) bool {
	return h.nh.HasNodeInfo(shardID, replicaID)
}

// ForgetDamaged drops a damaged replica once it has been replaced.
func (h *Host) ForgetDamaged(shardID uint64) {
	h.mu.Lock()
	delete(h.damaged, shardID)
	h.mu.Unlock()
}

// Close stops every replica and the NodeHost.
func (h *Host) Close() { h.nh.Close() }

// StartPartition starts this node's replica (replicaID) of a partition shard.
// members maps the bootstrap replica IDs to Raft addresses; a replica added
// by a membership change joins instead (join, no members). newSM is called
// once by dragonboat.
func (h *Host) StartPartition(shardID, replicaID uint64, members map[uint64]string, join bool, newSM func() sm.IOnDiskStateMachine) error {
	targets := make(map[uint64]dragonboat.Target, len(members))
	for id, addr := range members {
		targets[id] = addr
	}
	if join {
		targets = nil
	}
	create := func(shardID, replicaID uint64) sm.IOnDiskStateMachine { return newSM() }
	err := h.nh.StartOnDiskReplica(targets, join, create, h.shardConfig(shardID, replicaID))
	if errors.Is(err, dragonboat.ErrShardAlreadyExist) {
		return nil
	}
	if err == nil {
		h.mu.Lock()
		h.replicas[shardID] = replicaID
		h.mu.Unlock()
	}
	return err
}

// AddReplica makes replicaID (at Raft address addr) a voting member of the
// shard; it must be called on the shard's leader.
func (h *Host) AddReplica(ctx context.Context, shardID, replicaID uint64, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return h.nh.SyncRequestAddReplica(ctx, shardID, replicaID, addr, 0)
}

// AddObserver makes replicaID a non-voting member of the shard: a broker
// that joined a running cluster follows the controller without changing
// its quorum.
func (h *Host) AddObserver(ctx context.Context, shardID, replicaID uint64, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return h.nh.SyncRequestAddNonVoting(ctx, shardID, replicaID, addr, 0)
}

// RemoveReplica removes replicaID from the shard's members.
func (h *Host) RemoveReplica(ctx context.Context, shardID, replicaID uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return h.nh.SyncRequestDeleteReplica(ctx, shardID, replicaID, 0)
}

// Members returns the shard's current voting and non-voting replica IDs as
// this node knows them (committed membership).
func (h *Host) Members(ctx context.Context, shardID uint64) (voters, observers map[uint64]string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := h.nh.SyncGetShardMembership(ctx, shardID)
	if err != nil {
		return nil, nil, err
	}
	return m.Nodes, m.NonVotings, nil
}

// StopPartition stops this node's replica of a shard; with removeData its
// Raft log is deleted too (the topic was deleted).
func (h *Host) StopPartition(shardID uint64, removeData bool) error {
	err := h.nh.StopShard(shardID)
	if err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) {
		return err
	}
	h.mu.Lock()
	delete(h.leaders, shardID)
	delete(h.last, shardID)
	replicaID, ok := h.replicas[shardID]
	delete(h.replicas, shardID)
	h.mu.Unlock()
	if !ok {
		replicaID = h.cfg.NodeID
	}
	if removeData {
		// RemoveData fails while the shard is still closing; retry briefly.
		for i := 0; i < 100; i++ {
			err = h.nh.RemoveData(shardID, replicaID)
			if !errors.Is(err, dragonboat.ErrShardNotStopped) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return err
	}
	return nil
}

// RemoveReplicaData deletes a replica's Raft state (the replica is not
// running on this node).
func (h *Host) RemoveReplicaData(shardID, replicaID uint64) error {
	err := h.nh.RemoveData(shardID, replicaID)
	if errors.Is(err, dragonboat.ErrShardNotStopped) || errors.Is(err, dragonboat.ErrShardNotFound) {
		return nil
	}
	return err
}

// Leader returns the shard's leader as this node knows it.
func (h *Host) Leader(shardID uint64) (LeaderInfo, bool) {
	h.mu.Lock()
	li, ok := h.leaders[shardID]
	h.mu.Unlock()
	if ok && li.LeaderID != 0 {
		return li, true
	}
	id, term, valid, err := h.nh.GetLeaderID(shardID)
	if err != nil || !valid || id == 0 {
		return LeaderInfo{}, false
	}
	return LeaderInfo{LeaderID: uint64(NodeOf(id)), Term: term}, true
}

// LastLeader is the last leader this node saw for the shard, even if the
// shard has none now.
func (h *Host) LastLeader(shardID uint64) (LeaderInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	li, ok := h.last[shardID]
	return li, ok
}

// IsLeader reports whether this node leads the shard, and the term.
func (h *Host) IsLeader(shardID uint64) (bool, uint64) {
	li, ok := h.Leader(shardID)
	return ok && li.LeaderID == h.cfg.NodeID, li.Term
}

// Propose submits cmd to a shard without waiting; the result arrives on the
// returned RequestState. It never blocks, so actors may call it in Receive.
func (h *Host) Propose(shardID uint64, cmd []byte, timeout time.Duration) (*dragonboat.RequestState, error) {
	return h.nh.Propose(h.nh.GetNoOPSession(shardID), cmd, timeout)
}

// SyncPropose submits cmd and waits for it to apply.
func (h *Host) SyncPropose(ctx context.Context, shardID uint64, cmd []byte) (sm.Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		// dragonboat requires a deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	start := time.Now()
	res, err := h.nh.SyncPropose(ctx, h.nh.GetNoOPSession(shardID), cmd)
	if err == nil && h.cfg.OnSyncPropose != nil {
		h.cfg.OnSyncPropose(shardID, time.Since(start))
	}
	return res, err
}

// WaitLeader blocks until the shard has a leader or ctx ends.
func (h *Host) WaitLeader(ctx context.Context, shardID uint64) (LeaderInfo, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if li, ok := h.Leader(shardID); ok {
			return li, nil
		}
		select {
		case <-ctx.Done():
			return LeaderInfo{}, ctx.Err()
		case <-t.C:
		}
	}
}

// TransferLeadership asks the shard's leader (this node) to hand leadership
// to target (a replica ID). It returns at once; the transfer completes
// asynchronously.
func (h *Host) TransferLeadership(shardID, target uint64) error {
	return h.nh.RequestLeaderTransfer(shardID, target)
}

// Barrier waits until this replica has applied everything committed before
// the call (a linearizable read): a new leader calls it before loading state
// from its log.
func (h *Host) Barrier(ctx context.Context, shardID uint64) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	_, err := h.nh.SyncRead(ctx, shardID, nil)
	return err
}
