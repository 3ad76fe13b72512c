package raftgroup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Broker is a registered broker.
type Broker struct {
	NodeID   int32  `json:"node_id"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
	RaftAddr string `json:"raft_addr"`
	Rack     string `json:"rack,omitempty"`
}

// PartitionAssignment is one partition's Raft shard and replicas (broker IDs,
// the first being the preferred leader).
type PartitionAssignment struct {
	Partition int32   `json:"partition"`
	ShardID   uint64  `json:"shard_id"`
	Replicas  []int32 `json:"replicas"`
	// Initial are the replicas the shard was created with, when they
	// differ from Replicas: they bootstrap the Raft group. Replicas added
	// later (Joined) join it through a membership change.
	Initial []int32 `json:"initial,omitempty"`
	Joined  []int32 `json:"joined,omitempty"`
	// Gens counts how often a broker was added back to this shard: Raft
	// never reuses a removed replica ID, so a returning broker gets a new
	// one (see ReplicaID).
	Gens map[int32]uint32 `json:"gens,omitempty"`
	// Reassign is an ongoing AlterPartitionReassignments.
	Reassign *Reassignment `json:"reassign,omitempty"`
}

// Reassignment moves a partition from Original to Target replicas: targets
// are added as Raft members first, and once in sync the others are removed.
type Reassignment struct {
	Target   []int32 `json:"target"`
	Original []int32 `json:"original"`
}

// ReplicaID is the Raft replica ID of node's replica of this shard: the node
// ID, with the generation in the high bits when the node was re-added.
func (a PartitionAssignment) ReplicaID(node int32) uint64 {
	return uint64(a.Gens[node])<<32 | uint64(uint32(node))
}

// withNewReplica gives node a replica ID not used in the shard before and
// marks it as joining (the caller adds it to Replicas if needed).
func (a PartitionAssignment) withNewReplica(node int32) PartitionAssignment {
	a.Initial = a.InitialReplicas()
	gens := maps.Clone(a.Gens)
	if gens == nil {
		gens = map[int32]uint32{}
	}
	if g, ok := gens[node]; ok {
		gens[node] = g + 1
	} else if slices.Contains(a.Initial, node) {
		gens[node] = 1
	} else {
		gens[node] = 0
	}
	a.Gens = gens
	if !slices.Contains(a.Joined, node) {
		a.Joined = append(slices.Clone(a.Joined), node)
	}
	return a
}

// NodeOf is the broker a Raft replica ID belongs to.
func NodeOf(replicaID uint64) int32 { return int32(uint32(replicaID)) }

// InitialReplicas are the replicas that bootstrapped the shard.
func (a PartitionAssignment) InitialReplicas() []int32 {
	if a.Initial != nil {
		return a.Initial
	}
	return a.Replicas
}

// Joins reports whether node's replica joins the shard through a membership
// change rather than bootstrapping it.
func (a PartitionAssignment) Joins(node int32) bool {
	return slices.Contains(a.Joined, node)
}

// Adding and Removing are the replicas an ongoing reassignment adds and
// removes, as ListPartitionReassignments reports them.
func (a PartitionAssignment) Adding() []int32 {
	if a.Reassign == nil {
		return nil
	}
	return minus(a.Reassign.Target, a.Reassign.Original)
}

func (a PartitionAssignment) Removing() []int32 {
	if a.Reassign == nil {
		return nil
	}
	return minus(a.Reassign.Original, a.Reassign.Target)
}

func minus(a, b []int32) []int32 {
	out := []int32{}
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// Topic is a topic's replicated metadata.
type Topic struct {
	Name       string                `json:"name"`
	ID         [16]byte              `json:"id"`
	Partitions []PartitionAssignment `json:"partitions"`
	Configs    map[string]string     `json:"configs,omitempty"` // only explicitly set topic configs
	Internal   bool                  `json:"internal,omitempty"`
}

// Metadata is the cluster metadata. A value handed out by Host.Metadata is
// immutable: every change makes a new one.
type Metadata struct {
	Brokers map[int32]Broker  `json:"brokers"`
	Topics  map[string]*Topic `json:"topics"`
	// Leaders is each partition shard's leader and epoch (the Raft term),
	// as reported by the leader's broker: how a broker that holds no
	// replica of a partition answers Metadata for it.
	Leaders map[uint64]LeaderState `json:"leaders,omitempty"`
	// Elections are requested preferred-leader elections (ElectLeaders):
	// shard → the replica that should lead. The current leader hands over;
	// the new leader's LeaderChange clears the request.
	Elections      map[uint64]int32 `json:"elections,omitempty"`
	NextShardID    uint64           `json:"next_shard_id"`
	NextProducerID int64            `json:"next_producer_id"`
	Index          uint64           `json:"index"` // Raft index of the last applied change
}

// LeaderState is a partition leader and its epoch.
type LeaderState struct {
	Leader int32 `json:"leader"`
	Epoch  int32 `json:"epoch"`
}

// TopicByID finds a topic by its UUID.
func (m *Metadata) TopicByID(id [16]byte) *Topic {
	for _, t := range m.Topics {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// BrokerIDs returns the registered broker IDs in order.
func (m *Metadata) BrokerIDs() []int32 {
	ids := make([]int32, 0, len(m.Brokers))
	for id := range m.Brokers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (m *Metadata) clone() *Metadata {
	c := *m
	c.Brokers = make(map[int32]Broker, len(m.Brokers))
	for k, v := range m.Brokers {
		c.Brokers[k] = v
	}
	c.Topics = make(map[string]*Topic, len(m.Topics))
	for k, v := range m.Topics {
		c.Topics[k] = v // topics are replaced, never mutated, so sharing is safe
	}
	c.Leaders = make(map[uint64]LeaderState, len(m.Leaders))
	for k, v := range m.Leaders {
		c.Leaders[k] = v
	}
	c.Elections = make(map[uint64]int32, len(m.Elections))
	for k, v := range m.Elections {
		c.Elections[k] = v
	}
	return &c
}

func (t *Topic) clone() *Topic {
	c := *t
	c.Partitions = append([]PartitionAssignment(nil), t.Partitions...)
	c.Configs = make(map[string]string, len(t.Configs))
	for k, v := range t.Configs {
		c.Configs[k] = v
	}
	return &c
}

// Command is a controller proposal. Exactly one field is set.
type Command struct {
	RegisterBroker      *Broker           `json:"register_broker,omitempty"`
	CreateTopic         *CreateTopic      `json:"create_topic,omitempty"`
	DeleteTopic         string            `json:"delete_topic,omitempty"`
	CreatePartitions    *CreatePartitions `json:"create_partitions,omitempty"`
	AlterConfigs        *AlterConfigs     `json:"alter_configs,omitempty"`
	AllocateProducerIDs int64             `json:"allocate_producer_ids,omitempty"`
	LeaderChange        *LeaderChange     `json:"leader_change,omitempty"`
	ElectLeaders        map[uint64]int32  `json:"elect_leaders,omitempty"`
	ReplicaReport       *ReplicaReport    `json:"replica_report,omitempty"`
	// AlterReassignments starts, changes or (nil target) cancels partition
	// reassignments.
	AlterReassignments []AlterReassignment `json:"alter_reassignments,omitempty"`
	// ReplicaAdded records that a reassignment target is being added to the
	// shard's Raft group; ReassignmentDone that the reassignment finished.
	ReplicaAdded     *ReplicaAdded `json:"replica_added,omitempty"`
	ReassignmentDone uint64        `json:"reassignment_done,omitempty"`
	// ReplicaReset replaces a damaged replica with a fresh one (a new
	// replica ID) that the leader adds in its place and fills by snapshot.
	ReplicaReset *ReplicaAdded `json:"replica_reset,omitempty"`
}

// LeaderChange records that Leader leads ShardID in Epoch. Reports from an
// older epoch than the recorded one are ignored, so a slow report from a
// deposed leader cannot overwrite its successor.
type LeaderChange struct {
	ShardID uint64 `json:"shard_id"`
	Leader  int32  `json:"leader"`
	Epoch   int32  `json:"epoch"`
}

// AlterReassignment is one partition's new target replicas; nil cancels.
type AlterReassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Target    []int32 `json:"target"`
}

// ReplicaAdded adds Node to the shard's replicas.
type ReplicaAdded struct {
	ShardID uint64 `json:"shard_id"`
	Node    int32  `json:"node"`
}

// ReplicaReport is a broker's periodic heartbeat through the controller: the
// log end offset of each replica it holds, at its clock's TimeMs. It feeds
// broker liveness and the ISR.
type ReplicaReport struct {
	Node   int32            `json:"node"`
	TimeMs int64            `json:"time_ms"`
	Ends   map[uint64]int64 `json:"ends"`
	// ShuttingDown: the broker is handing its leaderships away to stop
	// (SIGTERM); none may be handed to it (Kafka's controlled shutdown).
	ShuttingDown bool `json:"shutting_down,omitempty"`
}

// CreateTopic creates a topic; placement happens in the state machine so it
// sees the same broker list on every replica.
type CreateTopic struct {
	Name              string            `json:"name"`
	ID                [16]byte          `json:"id"`
	NumPartitions     int32             `json:"num_partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
	Internal          bool              `json:"internal,omitempty"`
	StartIndex        int32             `json:"start_index"`       // random start for round-robin placement
	Brokers           []int32           `json:"brokers,omitempty"` // live brokers to place on
}

// CreatePartitions grows a topic to Count partitions.
type CreatePartitions struct {
	Topic      string  `json:"topic"`
	Count      int32   `json:"count"`
	StartIndex int32   `json:"start_index"`
	Brokers    []int32 `json:"brokers,omitempty"`
}

// AlterConfigs changes a topic's configs: with Replace the topic's configs
// become exactly Set (AlterConfigs); otherwise Set and Delete are applied
// incrementally (IncrementalAlterConfigs).
type AlterConfigs struct {
	Topic   string            `json:"topic"`
	Replace bool              `json:"replace,omitempty"`
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
}

// controllerSM replicates Metadata. It is an in-memory state machine with JSON
// snapshots: metadata is small.
type controllerSM struct {
	mu       sync.Mutex // serialises Update against snapshotting
	md       atomic.Pointer[Metadata]
	onChange func(*Metadata)
	status   replicaStatus
}

func newControllerSM(onChange func(*Metadata)) *controllerSM {
	c := &controllerSM{onChange: onChange, status: replicaStatus{m: map[uint64]map[int32]ReplicaStatus{}, seen: map[int32]int64{}}}
	c.status.leaderOf = func(shard uint64) (int32, bool) {
		ls, ok := c.md.Load().Leaders[shard]
		return ls.Leader, ok
	}
	c.md.Store(&Metadata{Brokers: map[int32]Broker{}, Topics: map[string]*Topic{}, Leaders: map[uint64]LeaderState{}, Elections: map[uint64]int32{},
		NextShardID: FirstPartitionShardID, NextProducerID: 1000})
	return c
}

func (c *controllerSM) Update(e sm.Entry) (sm.Result, error) {
	var cmd Command
	if err := json.Unmarshal(e.Cmd, &cmd); err != nil {
		return sm.Result{Value: uint64(kerr.InvalidRequest.Code)}, nil
	}
	if cmd.ReplicaReport != nil {
		c.status.apply(cmd.ReplicaReport)
		return sm.Result{}, nil
	}
	if cmd.RegisterBroker != nil {
		// Registration is a (re)start: its old replica status is stale.
		c.status.forget(cmd.RegisterBroker.NodeID)
	}
	if lc := cmd.LeaderChange; lc != nil {
		md := c.md.Load()
		if cur, ok := md.Leaders[lc.ShardID]; ok && (cur.Epoch > lc.Epoch || cur == (LeaderState{lc.Leader, lc.Epoch})) && md.Elections[lc.ShardID] != lc.Leader {
			return sm.Result{}, nil // stale or unchanged: no new metadata
		}
	}
	c.mu.Lock()
	md := c.md.Load().clone()
	md.Index = e.Index
	code, data := apply(md, &cmd)
	if code == 0 {
		c.md.Store(md)
	}
	c.mu.Unlock()
	if code == 0 && c.onChange != nil {
		c.onChange(md)
	}
	return sm.Result{Value: uint64(code), Data: data}, nil
}

// apply mutates md (a private copy) and returns a Kafka error code.
func apply(md *Metadata, cmd *Command) (int16, []byte) {
	switch {
	case cmd.RegisterBroker != nil:
		md.Brokers[cmd.RegisterBroker.NodeID] = *cmd.RegisterBroker
	case cmd.CreateTopic != nil:
		ct := cmd.CreateTopic
		if _, ok := md.Topics[ct.Name]; ok {
			return kerr.TopicAlreadyExists.Code, nil
		}
		assign, code := place(md, ct.Brokers, 0, ct.NumPartitions, ct.ReplicationFactor, ct.StartIndex)
		if code != 0 {
			return code, nil
		}
		t := &Topic{Name: ct.Name, ID: ct.ID, Partitions: assign, Configs: map[string]string{}, Internal: ct.Internal}
		for k, v := range ct.Configs {
			t.Configs[k] = v
		}
		md.Topics[ct.Name] = t
	case cmd.DeleteTopic != "":
		if _, ok := md.Topics[cmd.DeleteTopic]; !ok {
			return kerr.UnknownTopicOrPartition.Code, nil
		}
		for _, a := range md.Topics[cmd.DeleteTopic].Partitions {
			delete(md.Leaders, a.ShardID)
			delete(md.Elections, a.ShardID)
		}
		delete(md.Topics, cmd.DeleteTopic)
	case cmd.CreatePartitions != nil:
		cp := cmd.CreatePartitions
		t, ok := md.Topics[cp.Topic]
		if !ok {
			return kerr.UnknownTopicOrPartition.Code, nil
		}
		have := int32(len(t.Partitions))
		if cp.Count <= have {
			return kerr.InvalidPartitions.Code, nil
		}
		rf := int16(len(t.Partitions[0].Replicas))
		assign, code := place(md, cp.Brokers, have, cp.Count-have, rf, cp.StartIndex)
		if code != 0 {
			return code, nil
		}
		t = t.clone()
		t.Partitions = append(t.Partitions, assign...)
		md.Topics[cp.Topic] = t
	case cmd.AlterConfigs != nil:
		ac := cmd.AlterConfigs
		t, ok := md.Topics[ac.Topic]
		if !ok {
			return kerr.UnknownTopicOrPartition.Code, nil
		}
		t = t.clone()
		if ac.Replace {
			t.Configs = map[string]string{}
		}
		for k, v := range ac.Set {
			t.Configs[k] = v
		}
		for _, k := range ac.Delete {
			delete(t.Configs, k)
		}
		md.Topics[ac.Topic] = t
	case cmd.LeaderChange != nil:
		lc := cmd.LeaderChange
		md.Leaders[lc.ShardID] = LeaderState{Leader: lc.Leader, Epoch: lc.Epoch}
		if md.Elections[lc.ShardID] == lc.Leader {
			delete(md.Elections, lc.ShardID)
		}
	case len(cmd.ElectLeaders) > 0:
		for shard, target := range cmd.ElectLeaders {
			md.Elections[shard] = target
		}
	case len(cmd.AlterReassignments) > 0:
		return alterReassignments(md, cmd.AlterReassignments)
	case cmd.ReplicaAdded != nil:
		ra := cmd.ReplicaAdded
		t, i := md.PartitionByShard(ra.ShardID)
		if t == nil {
			return kerr.UnknownTopicOrPartition.Code, nil
		}
		t = t.clone()
		a := t.Partitions[i]
		if slices.Contains(a.Replicas, ra.Node) {
			return 0, nil
		}
		a = a.withNewReplica(ra.Node)
		a.Replicas = append(slices.Clone(a.Replicas), ra.Node)
		t.Partitions[i] = a
		md.Topics[t.Name] = t
	case cmd.ReplicaReset != nil:
		rr := cmd.ReplicaReset
		t, i := md.PartitionByShard(rr.ShardID)
		if t == nil {
			return kerr.UnknownTopicOrPartition.Code, nil
		}
		a := t.Partitions[i]
		if !slices.Contains(a.Replicas, rr.Node) {
			return kerr.ReplicaNotAvailable.Code, nil
		}
		t = t.clone()
		a = a.withNewReplica(rr.Node)
		if a.Reassign == nil {
			// The leader's reassignment driver swaps the replica IDs.
			a.Reassign = &Reassignment{Target: slices.Clone(a.Replicas), Original: slices.Clone(a.Replicas)}
		}
		t.Partitions[i] = a
		md.Topics[t.Name] = t
	case cmd.ReassignmentDone != 0:
		t, i := md.PartitionByShard(cmd.ReassignmentDone)
		if t == nil {
			return kerr.UnknownTopicOrPartition.Code, nil
		}
		a := t.Partitions[i]
		if a.Reassign == nil {
			return kerr.NoReassignmentInProgress.Code, nil
		}
		t = t.clone()
		a.Initial = a.InitialReplicas()
		a.Replicas = slices.Clone(a.Reassign.Target)
		var joined []int32
		for _, n := range a.Joined {
			if slices.Contains(a.Replicas, n) {
				joined = append(joined, n)
			}
		}
		a.Joined, a.Reassign = joined, nil
		t.Partitions[i] = a
		md.Topics[t.Name] = t
	case cmd.AllocateProducerIDs > 0:
		start := md.NextProducerID
		md.NextProducerID += cmd.AllocateProducerIDs
		data, _ := json.Marshal(start)
		return 0, data
	default:
		return kerr.InvalidRequest.Code, nil
	}
	return 0, nil
}

// PartitionByShard finds the topic and partition index of a shard.
func (m *Metadata) PartitionByShard(shard uint64) (*Topic, int) {
	for _, t := range m.Topics {
		for i, a := range t.Partitions {
			if a.ShardID == shard {
				return t, i
			}
		}
	}
	return nil, -1
}

// alterReassignments validates every change first, so a request applies all
// or nothing.
func alterReassignments(md *Metadata, changes []AlterReassignment) (int16, []byte) {
	for _, c := range changes {
		t, ok := md.Topics[c.Topic]
		if !ok || c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
			return kerr.UnknownTopicOrPartition.Code, nil
		}
		a := t.Partitions[c.Partition]
		if c.Target == nil {
			if a.Reassign == nil {
				return kerr.NoReassignmentInProgress.Code, nil
			}
			continue
		}
		if len(c.Target) == 0 {
			return kerr.InvalidReplicaAssignment.Code, nil
		}
		for i, n := range c.Target {
			if _, ok := md.Brokers[n]; !ok || slices.Contains(c.Target[:i], n) {
				return kerr.InvalidReplicaAssignment.Code, nil
			}
		}
	}
	for _, c := range changes {
		t := md.Topics[c.Topic].clone()
		a := t.Partitions[c.Partition]
		switch {
		case c.Target == nil: // cancel: go back to where it started
			a.Reassign = &Reassignment{Target: a.Reassign.Original, Original: a.Reassign.Original}
		case a.Reassign != nil:
			a.Reassign = &Reassignment{Target: slices.Clone(c.Target), Original: a.Reassign.Original}
		case slices.Equal(c.Target, a.Replicas):
			continue
		default:
			a.Reassign = &Reassignment{Target: slices.Clone(c.Target), Original: slices.Clone(a.Replicas)}
		}
		t.Partitions[c.Partition] = a
		md.Topics[c.Topic] = t
	}
	return 0, nil
}

// place assigns replicas for count new partitions starting at partition
// first, as Kafka does: leaders round-robin over the brokers from a random
// start, followers on the following brokers. When brokers have racks
// (broker.rack), the broker list alternates racks and a partition's replicas
// go to distinct racks while any rack is unused. candidates are the live
// brokers the proposer saw; empty means every registered broker.
func place(md *Metadata, candidates []int32, first, count int32, rf int16, start int32) ([]PartitionAssignment, int16) {
	brokers := md.BrokerIDs()
	if len(candidates) > 0 {
		brokers = brokers[:0:0]
		for _, id := range candidates {
			if _, ok := md.Brokers[id]; ok {
				brokers = append(brokers, id)
			}
		}
		sort.Slice(brokers, func(i, j int) bool { return brokers[i] < brokers[j] })
	}
	if count <= 0 {
		return nil, kerr.InvalidPartitions.Code
	}
	if rf <= 0 || int(rf) > len(brokers) {
		return nil, kerr.InvalidReplicationFactor.Code
	}
	brokers = rackAlternated(md, brokers)
	n := int32(len(brokers))
	racks := map[string]bool{}
	for _, id := range brokers {
		racks[md.Brokers[id].Rack] = true
	}
	if start < 0 {
		start = -start
	}
	out := make([]PartitionAssignment, count)
	for i := int32(0); i < count; i++ {
		p := first + i
		lead := (start + p) % n
		reps := []int32{brokers[lead]}
		used := map[string]bool{md.Brokers[brokers[lead]].Rack: true}
		chosen := map[int32]bool{brokers[lead]: true}
		for k := int32(1); int16(len(reps)) < rf && k < 2*n; k++ {
			id := brokers[(lead+k)%n]
			rack := md.Brokers[id].Rack
			if chosen[id] || (used[rack] && len(used) < len(racks) && k < n) {
				continue // prefer an unused rack on the first pass
			}
			reps = append(reps, id)
			chosen[id], used[rack] = true, true
		}
		out[i] = PartitionAssignment{Partition: p, ShardID: md.NextShardID, Replicas: reps}
		md.NextShardID++
	}
	return out, 0
}

// rackAlternated orders brokers so consecutive ones sit on different racks
// (Kafka's rack-alternated list); without racks the order is unchanged.
func rackAlternated(md *Metadata, brokers []int32) []int32 {
	byRack := map[string][]int32{}
	var racks []string
	for _, id := range brokers {
		r := md.Brokers[id].Rack
		if _, ok := byRack[r]; !ok {
			racks = append(racks, r)
		}
		byRack[r] = append(byRack[r], id)
	}
	if len(racks) <= 1 {
		return brokers
	}
	sort.Strings(racks)
	out := make([]int32, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

func (c *controllerSM) Lookup(q interface{}) (interface{}, error) { return c.md.Load(), nil }

func (c *controllerSM) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	c.mu.Lock()
	md := c.md.Load()
	c.mu.Unlock()
	return json.NewEncoder(w).Encode(md)
}

func (c *controllerSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	var md Metadata
	if err := json.NewDecoder(r).Decode(&md); err != nil {
		return err
	}
	if md.Brokers == nil {
		md.Brokers = map[int32]Broker{}
	}
	if md.Topics == nil {
		md.Topics = map[string]*Topic{}
	}
	if md.Leaders == nil {
		md.Leaders = map[uint64]LeaderState{}
	}
	if md.Elections == nil {
		md.Elections = map[uint64]int32{}
	}
	c.mu.Lock()
	c.md.Store(&md)
	c.mu.Unlock()
	if c.onChange != nil {
		c.onChange(&md)
	}
	return nil
}

func (c *controllerSM) Close() error { return nil }

// Metadata returns this node's view of the cluster metadata.
func (h *Host) Metadata() *Metadata { return h.controller.md.Load() }

// ErrCode is a controller rejection carrying a Kafka error code.
type ErrCode int16

func (e ErrCode) Error() string {
	if ke := kerr.ErrorForCode(int16(e)); ke != nil {
		return ke.Error()
	}
	return fmt.Sprintf("error code %d", int16(e))
}

// ProposeController applies cmd to the controller shard and waits. A Kafka
// rejection (topic exists, ...) comes back as an ErrCode.
func (h *Host) ProposeController(ctx context.Context, cmd *Command) ([]byte, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	res, err := h.SyncPropose(ctx, ControllerShardID, data)
	if err != nil {
		return nil, err
	}
	if res.Value != 0 {
		return nil, ErrCode(int16(res.Value))
	}
	return res.Data, nil
}

// AllocateProducerIDs reserves n producer IDs, unique across the cluster and
// restarts, and returns the first.
func (h *Host) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	data, err := h.ProposeController(ctx, &Command{AllocateProducerIDs: n})
	if err != nil {
		return 0, err
	}
	var start int64
	if err := json.Unmarshal(data, &start); err != nil {
		return 0, errors.New("raftgroup: bad producer ID allocation result")
	}
	return start, nil
}
