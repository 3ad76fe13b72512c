// Package actors is the broker's actor system: a supervised protoactor actor
// per partition that proposes produced batches to the partition's Raft group,
// and the Broker facade the wire layer calls (topics, produce, partitions to
// read). Actors never block in Receive; Raft results come back on goroutines.
package actors

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/config"
	"github.com/samsa-io/samsa/partition"
	"github.com/samsa-io/samsa/raftgroup"
	"github.com/samsa-io/samsa/telemetry"
)

// Options configures a Broker.
type Options struct {
	NodeID   int32
	DataDir  string
	Host     string // advertised Kafka host
	Port     int32  // advertised Kafka port
	RaftAddr string
	// InitialMembers are the controller voters (node ID → Raft address).
	InitialMembers map[uint64]string
	// Join is a running cluster's broker (Kafka address) through which this
	// broker joins the controller the first time it starts.
	Join     string
	Settings *config.Broker
	Logger   *slog.Logger
	// Clock returns the current time; tests may replace it.
	Clock func() time.Time
	// Metrics are the broker's metrics; nil gets a fresh set.
	Metrics *telemetry.Metrics
	// Tracing is the broker's tracer; nil is off.
	Tracing *telemetry.Tracing
}

type topicPartition struct {
	topic string
	index int32
}

// Broker is one broker's partitions, actors and Raft host.
type Broker struct {
	opts     Options
	settings *config.Broker
	log      *slog.Logger
	system   *actor.ActorSystem
	super    *actor.PID
	host     *raftgroup.Host

	mu    sync.RWMutex
	parts map[uint64]*Partition // by shard ID
	byTP  map[topicPartition]*Partition

	reconcileC chan struct{}
	leaderC    chan struct{} // leadership gained: publish it
	reconMu    sync.Mutex    // one reconcile at a time
	stop       chan struct{}
	wg         sync.WaitGroup

	pidMu            sync.Mutex
	nextPID, pidHigh int64

	reqID atomic.Uint64

	startMs int64 // when this broker started (opts.Clock), see brokerAlive

	ibMu     sync.Mutex
	ibClient *kgo.Client // to other brokers (interBrokerClient)

	metrics *telemetry.Metrics
	tracing *telemetry.Tracing
	// isrSeen is the ISR of each partition this broker led at the last
	// report tick, to count shrinks and expands (reportLoop only).
	isrSeen map[uint64][]int32
	// wonTerm is the last term in which this broker became a shard's
	// leader, so a repeated leader event is not counted twice.
	wonMu   sync.Mutex
	wonTerm map[uint64]uint64
	// peersSaved is what savePeers last wrote (reconcile only).
	peersSaved string
	peers      *peerWatch
	// shuttingDown: set once the broker starts handing its leaderships
	// away; its reports say so, and no leadership is handed back to it.
	shuttingDown atomic.Bool
}

// Start starts the Raft host, the controller and the partitions this broker
// holds, and returns when the broker can serve.
func Start(ctx context.Context, opts Options) (*Broker, error) {
	if opts.Settings == nil {
		opts.Settings = config.NewBroker(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.NodeID == 0 {
		opts.NodeID = 1
	}
	if opts.Metrics == nil {
		opts.Metrics = telemetry.NewMetrics()
	}
	if opts.Tracing == nil {
		opts.Tracing = telemetry.Off()
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, err
	}
	if err := checkMetaProperties(opts.DataDir, opts.NodeID); err != nil {
		return nil, err
	}
	b := &Broker{
		opts: opts, settings: opts.Settings, log: opts.Logger,
		parts: map[uint64]*Partition{}, byTP: map[topicPartition]*Partition{},
		reconcileC: make(chan struct{}, 1), leaderC: make(chan struct{}, 1), stop: make(chan struct{}),
		startMs: opts.Clock().UnixMilli(),
		metrics: opts.Metrics, tracing: opts.Tracing, isrSeen: map[uint64][]int32{}, wonTerm: map[uint64]uint64{},
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	// Partition actors are children of one supervisor: one-for-one restarts
	// with back-off, so a panicking partition actor restarts alone.
	superProps := actor.PropsFromProducer(func() actor.Actor { return &supervisorActor{} },
		actor.WithSupervisor(actor.NewExponentialBackoffStrategy(10*time.Second, 10*time.Millisecond)))
	b.super = b.system.Root.Spawn(superProps)

	host, err := raftgroup.Start(raftgroup.Config{
		NodeID:         uint64(opts.NodeID),
		DataDir:        opts.DataDir,
		RaftAddr:       opts.RaftAddr,
		InitialMembers: opts.InitialMembers,
		OnMetadata:     func(*raftgroup.Metadata) { b.signalReconcile() },
		OnLeaderChange: b.onLeaderChange,
		Join:           b.joinFunc(ctx),
		Rejoin:         b.rejoinFunc(ctx),
		WasMember:      wasMember(opts.DataDir),
		OnSyncPropose: func(shard uint64, d time.Duration) {
			if shard == raftgroup.ControllerShardID {
				b.metrics.ObservePropose("controller", d)
			}
		},
	})
	if err != nil {
		b.system.Shutdown()
		return nil, err
	}
	b.host = host
	if err := b.register(ctx); err != nil {
		b.Close()
		return nil, err
	}
	b.reconcile()
	b.waitLocalLeaders(ctx)
	b.peers = newPeerWatch(b)
	b.wg.Add(4)
	go b.reconcileLoop()
	go b.maintenanceLoop()
	go b.reportLoop()
	go b.peerLoop()
	return b, nil
}

// register waits for the controller and records this broker's addresses.
func (b *Broker) register(ctx context.Context) error {
	if _, err := b.host.WaitLeader(ctx, raftgroup.ControllerShardID); err != nil {
		return fmt.Errorf("waiting for the controller: %w", err)
	}
	me := raftgroup.Broker{NodeID: b.opts.NodeID, Host: b.opts.Host, Port: b.opts.Port,
		RaftAddr: b.opts.RaftAddr, Rack: b.settings.String("broker.rack")}
	for {
		// Registered even when unchanged: a registration also tells the
		// cluster this broker restarted, so its replicas' old catch-up
		// status no longer counts toward the ISR.
		cur, ok := b.host.Metadata().Brokers[me.NodeID]
		if ok && cur.RaftAddr != me.RaftAddr {
			// Two brokers with one node ID would be one Raft replica twice.
			return fmt.Errorf("node id %d is registered with Raft address %s, not %s: another broker uses this node id, or this node's Raft address changed",
				me.NodeID, cur.RaftAddr, me.RaftAddr)
		}
		_, err := b.host.ProposeController(ctx, &raftgroup.Command{RegisterBroker: &me})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("registering broker: %w", err)
		}
		b.log.Debug("registering broker: retrying", "err", err)
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLocalLeaders gives restarted partitions a moment to elect leaders
// before clients arrive, so the first requests after a restart do not bounce
// with LEADER_NOT_AVAILABLE. It never fails: a partition that cannot elect
// (its peers are down) is reported through metadata as usual.
func (b *Broker) waitLocalLeaders(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	b.mu.RLock()
	ids := make([]uint64, 0, len(b.parts))
	for id := range b.parts {
		ids = append(ids, id)
	}
	b.mu.RUnlock()
	for _, id := range ids {
		if _, err := b.host.WaitLeader(wctx, id); err != nil {
			return
		}
	}
}

// Close stops the partitions, the Raft host and the actor system.
func (b *Broker) Close() {
	select {
	case <-b.stop:
		return
	default:
	}
	b.HandOffLeadership(5 * time.Second)
	close(b.stop)
	b.wg.Wait()
	b.ibMu.Lock()
	if b.ibClient != nil {
		b.ibClient.Close()
		b.ibClient = nil
	}
	b.ibMu.Unlock()
	if b.host != nil {
		b.host.Close() // stops every replica; state machines sync on close
	}
	b.system.Shutdown()
}

// HandOffLeadership hands the leadership of every partition (and the
// controller) this broker leads to another in-sync replica and waits up to
// wait for it to move. Called while the broker still serves, clients that
// produce meanwhile get NOT_LEADER_OR_FOLLOWER naming the new leader
// (KIP-951) instead of a closed connection and a metadata refresh. It
// reports whether any leadership moved.
func (b *Broker) HandOffLeadership(wait time.Duration) bool {
	select {
	case <-b.stop:
		return false
	default:
	}
	if b.host == nil {
		return false
	}
	// Tell the others first, so the new leaders do not hand leadership
	// back to their preferred replica (this one) at their next tick.
	// Bounded: a cluster that lost its controller quorum hears nothing.
	b.shuttingDown.Store(true)
	b.proposeWithin(b.report(), time.Second)
	return b.transferLeadership(wait)
}

// NodeID is this broker's ID.
func (b *Broker) NodeID() int32 { return b.opts.NodeID }

// Settings returns the broker settings.
func (b *Broker) Settings() *config.Broker { return b.settings }

// Metadata returns the cluster metadata as this broker knows it.
func (b *Broker) Metadata() *raftgroup.Metadata { return b.host.Metadata() }

// ClusterID is a stable identifier for the cluster.
func (b *Broker) ClusterID() string { return "samsa-cluster" }

// Partition returns the local partition, if this broker holds it.
func (b *Broker) Partition(topic string, index int32) *Partition {
	b.mu.RLock()
	p := b.byTP[topicPartition{topic, index}]
	b.mu.RUnlock()
	return p
}

func (b *Broker) signalReconcile() {
	select {
	case b.reconcileC <- struct{}{}:
	default:
	}
}

func (b *Broker) onLeaderChange(shardID, leaderID, term uint64) {
	b.mu.RLock()
	p := b.parts[shardID]
	b.mu.RUnlock()
	if p != nil {
		p.wake() // parked fetches re-check leadership
		b.notifyGroupLeadership(p)
		if leaderID == uint64(b.opts.NodeID) {
			b.system.Root.Send(p.pid, leaderMsg{})
		}
	}
	if leaderID == uint64(b.opts.NodeID) && shardID != raftgroup.ControllerShardID {
		b.countElection(shardID, term)
		select {
		case b.leaderC <- struct{}{}:
		default:
		}
	}
}

func (b *Broker) reconcileLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.stop:
			return
		case <-b.reconcileC:
			b.reconcile()
		}
	}
}

// partitionDir is Kafka's log directory name for a partition.
func (b *Broker) partitionDir(topic string, index int32) string {
	return filepath.Join(b.opts.DataDir, fmt.Sprintf("%s-%d", topic, index))
}

// reconcile starts and stops local replicas to match the metadata.
func (b *Broker) reconcile() {
	b.reconMu.Lock()
	defer b.reconMu.Unlock()
	md := b.host.Metadata()
	type want struct {
		t *raftgroup.Topic
		a raftgroup.PartitionAssignment
	}
	desired := map[uint64]want{}
	for _, t := range md.Topics {
		for _, a := range t.Partitions {
			for _, r := range a.Replicas {
				if r == b.opts.NodeID {
					desired[a.ShardID] = want{t, a}
				}
			}
		}
	}
	b.mu.RLock()
	var stale []*Partition
	for id, p := range b.parts {
		if _, ok := desired[id]; !ok {
			stale = append(stale, p)
		}
	}
	b.mu.RUnlock()
	for _, p := range stale {
		b.stopPartition(p, true)
	}
	b.forgetDeletedTopics(md)
	b.savePeers(md)
	ids := make([]uint64, 0, len(desired))
	for id := range desired {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		w := desired[id]
		b.mu.RLock()
		p := b.parts[id]
		b.mu.RUnlock()
		if p != nil && p.replicaID != w.a.ReplicaID(b.opts.NodeID) {
			// Removed from the shard and added back: the old replica's
			// state is gone from the group; start over as the new one.
			b.stopPartition(p, true)
			p = nil
		}
		if p != nil {
			p.setConfigs(w.t.Configs)
			continue
		}
		if err := b.startPartition(md, w.t, w.a); err != nil && !errors.Is(err, errRebuilding) {
			b.log.Error("starting partition", "topic", w.t.Name, "partition", w.a.Partition, "err", err)
		}
	}
	b.runElections()
}

const partitionMetadataFile = "partition.metadata"

// metaPropertiesFile records which node a data directory belongs to, as
// Kafka's meta.properties does, so a directory is never started as another
// node.
const metaPropertiesFile = "meta.properties"

func checkMetaProperties(dir string, node int32) error {
	path := filepath.Join(dir, metaPropertiesFile)
	want := fmt.Sprintf("version=1\nnode.id=%d\n", node)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return os.WriteFile(path, []byte(want), 0o644)
	}
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "node.id="); ok && v != fmt.Sprint(node) {
			return fmt.Errorf("data directory %s belongs to node %s, not node %d (%s)", dir, v, node, path)
		}
	}
	return nil
}

func (b *Broker) startPartition(md *raftgroup.Metadata, t *raftgroup.Topic, a raftgroup.PartitionAssignment) error {
	dir := b.partitionDir(t.Name, a.Partition)
	// A directory left by a deleted topic of the same name (a crash between
	// deletion and cleanup) must not be mistaken for this topic's log.
	meta := fmt.Sprintf("version: 0\ntopic_id: %s\n", uuid.UUID(t.ID).String())
	if cur, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile)); err == nil && string(cur) != meta {
		b.log.Warn("removing stale partition directory", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := b.verifyReplica(t, a, dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, partitionMetadataFile), []byte(meta), 0o644); err != nil {
		return err
	}
	p := &Partition{Topic: t.Name, Index: a.Partition, ShardID: a.ShardID, TopicID: t.ID, b: b, dir: dir,
		waiters: map[chan struct{}]struct{}{}, startedAt: time.Now()}
	p.setConfigs(t.Configs)
	p.sm = partition.NewStateMachine(dir, b.settings.LogConfig(t.Configs), p.applied)
	p.sm.SetProducerIDExpiration(b.settings.Int64("producer.id.expiration.ms"))
	members := map[uint64]string{}
	for _, r := range a.InitialReplicas() {
		if br, ok := md.Brokers[r]; ok {
			members[uint64(r)] = br.RaftAddr
		}
	}
	p.replicaID = a.ReplicaID(b.opts.NodeID)
	props := actor.PropsFromProducer(func() actor.Actor { return &partitionActor{p: p} })
	res, err := b.system.Root.RequestFuture(b.super, &spawnChild{props: props}, 10*time.Second).Result()
	if err != nil {
		return fmt.Errorf("spawning partition actor: %w", err)
	}
	p.pid = res.(*actor.PID)
	if t.Name == OffsetsTopic {
		gprops := actor.PropsFromProducer(func() actor.Actor { return &groupActor{coordHost: coordHost{p: p, what: "group coordinator"}} })
		res, err := b.system.Root.RequestFuture(b.super, &spawnChild{props: gprops}, 10*time.Second).Result()
		if err != nil {
			b.system.Root.Stop(p.pid)
			return fmt.Errorf("spawning group coordinator actor: %w", err)
		}
		p.groupPID = res.(*actor.PID)
	}
	if t.Name == TransactionStateTopic {
		tprops := actor.PropsFromProducer(func() actor.Actor { return &txnActor{coordHost: coordHost{p: p, what: "transaction coordinator"}} })
		res, err := b.system.Root.RequestFuture(b.super, &spawnChild{props: tprops}, 10*time.Second).Result()
		if err != nil {
			b.system.Root.Stop(p.pid)
			return fmt.Errorf("spawning transaction coordinator actor: %w", err)
		}
		p.txnPID = res.(*actor.PID)
	}
	b.mu.Lock()
	b.parts[a.ShardID] = p
	b.byTP[topicPartition{t.Name, a.Partition}] = p
	b.mu.Unlock()
	if err := b.host.StartPartition(a.ShardID, p.replicaID, members, a.Joins(b.opts.NodeID), func() sm.IOnDiskStateMachine { return p.sm }); err != nil {
		b.mu.Lock()
		delete(b.parts, a.ShardID)
		delete(b.byTP, topicPartition{t.Name, a.Partition})
		b.mu.Unlock()
		b.system.Root.Stop(p.pid)
		return err
	}
	return nil
}

// verifyReplica checks a partition's replica before it starts: its Raft log
// (verified when the broker started, raftgroup.ErrRaftLogDamaged) and its
// partition log. A log that lost applied records (a corrupt or truncated
// segment) or a damaged Raft log is never served: the directory is set aside
// and, when other replicas exist, the controller replaces this replica with
// a fresh one that the leader fills by snapshot. With no other replica the
// partition stays offline.
func (b *Broker) verifyReplica(t *raftgroup.Topic, a raftgroup.PartitionAssignment, dir string) error {
	replicaID := a.ReplicaID(b.opts.NodeID)
	raftErr := b.host.DamagedLog(a.ShardID, replicaID)
	if raftErr == nil && !b.host.HasRaftState(a.ShardID, replicaID) && replicaExisted(dir, a) {
		// The replica ran before but its Raft state is gone (the raft
		// directory was lost): it must not come back as the same Raft
		// replica, which may have voted and acknowledged.
		raftErr = fmt.Errorf("%w: shard %d replica %d: no Raft state, but the replica ran before", raftgroup.ErrRaftLogDamaged, a.ShardID, replicaID)
	}
	err := raftErr
	if err == nil {
		err = partition.VerifyReplica(dir, b.settings.LogConfig(t.Configs))
		if err == nil || !errors.Is(err, partition.ErrDamaged) {
			return err
		}
	}
	if len(a.Replicas) < 2 {
		b.log.Error("partition replica damaged and no other replica to repair it from; partition offline", "topic", t.Name, "partition", a.Partition, "err", err)
		return err
	}
	aside := fmt.Sprintf("%s.damaged-%d", dir, time.Now().UnixMilli())
	b.log.Error("partition replica damaged: setting it aside and rebuilding this replica from the others",
		"topic", t.Name, "partition", a.Partition, "moved_to", aside, "err", err)
	if err := os.Rename(dir, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if raftErr == nil {
		if err := b.host.RemoveReplicaData(a.ShardID, replicaID); err != nil {
			b.log.Warn("removing the damaged replica's Raft data", "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, perr := b.host.ProposeController(ctx, &raftgroup.Command{ReplicaReset: &raftgroup.ReplicaAdded{ShardID: a.ShardID, Node: b.opts.NodeID}})
	if perr != nil {
		return fmt.Errorf("requesting a replacement replica: %w", perr)
	}
	b.host.ForgetDamaged(a.ShardID)
	// The reset bumped this replica's ID; reconcile starts the new one.
	return errRebuilding
}

// replicaExisted reports whether a partition replica ran here before: it
// applied records, or (with other replicas, where a false alarm only costs
// a rebuild) its directory was set up, which happens before the Raft
// replica starts.
func replicaExisted(dir string, a raftgroup.PartitionAssignment) bool {
	if _, err := os.Stat(filepath.Join(dir, partitionMetadataFile)); err != nil {
		return false
	}
	return len(a.Replicas) > 1 || partition.HasApplied(dir)
}

// errRebuilding: the replica was replaced and starts again under a new ID.
var errRebuilding = errors.New("replica being rebuilt from the other replicas")

func (b *Broker) stopPartition(p *Partition, deleted bool) {
	b.mu.Lock()
	delete(b.parts, p.ShardID)
	if b.byTP[topicPartition{p.Topic, p.Index}] == p {
		delete(b.byTP, topicPartition{p.Topic, p.Index})
	}
	b.mu.Unlock()
	if err := b.host.StopPartition(p.ShardID, deleted); err != nil {
		b.log.Warn("stopping partition", "topic", p.Topic, "partition", p.Index, "err", err)
	}
	b.system.Root.Stop(p.pid)
	if p.groupPID != nil {
		b.system.Root.Stop(p.groupPID)
	}
	if p.txnPID != nil {
		b.system.Root.Stop(p.txnPID)
	}
	p.stopped.Store(true)
	p.wake()
	b.wonMu.Lock()
	delete(b.wonTerm, p.ShardID)
	b.wonMu.Unlock()
	if deleted {
		// The state machine may still be closing (a segment roll or a
		// flush in flight recreates files): retry briefly.
		var err error
		for i := 0; i < 50; i++ {
			if err = os.RemoveAll(p.dir); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			b.log.Warn("removing partition directory", "dir", p.dir, "err", err)
		}
	}
}

// maintenanceLoop runs retention and compaction, as Kafka's log manager does
// every log.retention.check.interval.ms.
func (b *Broker) maintenanceLoop() {
	defer b.wg.Done()
	interval := time.Duration(b.settings.Int64("log.retention.check.interval.ms")) * time.Millisecond
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.RunMaintenance()
		}
	}
}

// RunMaintenance applies retention and compaction to every local partition now.
func (b *Broker) RunMaintenance() {
	b.mu.RLock()
	parts := make([]*Partition, 0, len(b.parts))
	for _, p := range b.parts {
		parts = append(parts, p)
	}
	b.mu.RUnlock()
	now := b.opts.Clock().UnixMilli()
	for _, p := range parts {
		l := p.sm.Log()
		if l == nil || p.stopped.Load() {
			continue
		}
		policy := b.settings.TopicValue(p.configs(), "cleanup.policy")
		if strings.Contains(policy, "delete") {
			if _, err := l.EnforceRetention(now); err != nil {
				b.log.Warn("retention", "topic", p.Topic, "partition", p.Index, "err", err)
			}
		}
		if strings.Contains(policy, "compact") {
			if _, err := p.sm.Compact(now); err != nil {
				b.log.Warn("compaction", "topic", p.Topic, "partition", p.Index, "err", err)
			}
		}
	}
}

var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// ValidateTopicName applies Kafka's topic name rules.
func ValidateTopicName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return errorf(kerr.InvalidTopicException, "topic name %q is illegal", name)
	case len(name) > 249:
		return errorf(kerr.InvalidTopicException, "topic name is longer than 249 characters")
	case !legalTopic.MatchString(name):
		return errorf(kerr.InvalidTopicException, "topic name %q contains characters other than ASCII alphanumerics, '.', '_' and '-'", name)
	}
	return nil
}

func randomStart() int32 {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<20))
	if err != nil {
		return 0
	}
	return int32(n.Int64())
}

// CreateTopic creates a topic. partitions and rf of -1 take the broker
// defaults. It returns once this broker serves the new partitions (or ctx ends).
func (b *Broker) CreateTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string, validateOnly bool) (*raftgroup.Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	if partitions == -1 {
		partitions = int32(b.settings.Int64("num.partitions"))
	}
	if rf == -1 {
		rf = int16(b.settings.Int64("default.replication.factor"))
	}
	if partitions <= 0 {
		return nil, errorf(kerr.InvalidPartitions, "number of partitions must be larger than 0")
	}
	if rf <= 0 {
		return nil, errorf(kerr.InvalidReplicationFactor, "replication factor must be larger than 0")
	}
	md := b.Metadata()
	live := b.liveBrokerIDs()
	if int(rf) > len(live) {
		return nil, errorf(kerr.InvalidReplicationFactor, "replication factor: %d larger than available brokers: %d", rf, len(live))
	}
	for k, v := range configs {
		if err := config.ValidateTopicConfig(k, v); err != nil {
			return nil, errorf(kerr.InvalidConfig, "%v", err)
		}
	}
	if _, ok := md.Topics[name]; ok {
		return nil, errorf(kerr.TopicAlreadyExists, "topic '%s' already exists", name)
	}
	if validateOnly {
		return &raftgroup.Topic{Name: name, Configs: configs, Partitions: make([]raftgroup.PartitionAssignment, partitions)}, nil
	}
	id := uuid.New()
	_, err := b.host.ProposeController(ctx, &raftgroup.Command{CreateTopic: &raftgroup.CreateTopic{
		Name: name, ID: id, NumPartitions: partitions, ReplicationFactor: rf, Configs: configs,
		Internal: strings.HasPrefix(name, "__"), StartIndex: randomStart(), Brokers: live,
	}})
	if err != nil {
		return nil, err
	}
	t := b.Metadata().Topics[name]
	if t == nil {
		return nil, errorf(kerr.UnknownServerError, "topic vanished after creation")
	}
	b.waitServing(ctx, t)
	return t, nil
}

// waitServing waits until this broker's replicas of the topic have leaders,
// so a produce right after creation does not bounce.
func (b *Broker) waitServing(ctx context.Context, t *raftgroup.Topic) {
	b.reconcile()
	for _, a := range t.Partitions {
		for _, r := range a.Replicas {
			if r == b.opts.NodeID {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, _ = b.host.WaitLeader(wctx, a.ShardID)
				cancel()
			}
		}
	}
}

// AutoCreateTopic creates a topic with the defaults if auto.create.topics.enable.
func (b *Broker) AutoCreateTopic(ctx context.Context, name string) (*raftgroup.Topic, error) {
	if !b.settings.Bool("auto.create.topics.enable") {
		return nil, errorf(kerr.UnknownTopicOrPartition, "")
	}
	t, err := b.CreateTopic(ctx, name, -1, -1, nil, false)
	if ErrorCode(err) == kerr.TopicAlreadyExists.Code {
		return b.Metadata().Topics[name], nil
	}
	return t, err
}

// DeleteTopic deletes a topic and, through reconciliation, its partitions.
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	if !b.settings.Bool("delete.topic.enable") {
		return errorf(kerr.TopicDeletionDisabled, "")
	}
	if _, ok := b.Metadata().Topics[name]; !ok {
		return errorf(kerr.UnknownTopicOrPartition, "")
	}
	if _, err := b.host.ProposeController(ctx, &raftgroup.Command{DeleteTopic: name}); err != nil {
		return err
	}
	b.reconcile()
	return nil
}

// CreatePartitions grows a topic to count partitions.
func (b *Broker) CreatePartitions(ctx context.Context, name string, count int32, validateOnly bool) error {
	t, ok := b.Metadata().Topics[name]
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "")
	}
	if count <= int32(len(t.Partitions)) {
		return errorf(kerr.InvalidPartitions, "topic currently has %d partitions, which is higher than or equal to the requested %d", len(t.Partitions), count)
	}
	if validateOnly {
		return nil
	}
	if _, err := b.host.ProposeController(ctx, &raftgroup.Command{CreatePartitions: &raftgroup.CreatePartitions{
		Topic: name, Count: count, StartIndex: randomStart(), Brokers: b.liveBrokerIDs()}}); err != nil {
		return err
	}
	b.waitServing(ctx, b.Metadata().Topics[name])
	go b.rebalanceGroupsOn(name)
	return nil
}

// AlterTopicConfigs changes topic configs (see raftgroup.AlterConfigs).
func (b *Broker) AlterTopicConfigs(ctx context.Context, name string, replace bool, set map[string]string, del []string, validateOnly bool) error {
	if _, ok := b.Metadata().Topics[name]; !ok {
		return errorf(kerr.UnknownTopicOrPartition, "")
	}
	for k, v := range set {
		if err := config.ValidateTopicConfig(k, v); err != nil {
			return errorf(kerr.InvalidConfig, "%v", err)
		}
	}
	for _, k := range del {
		if _, ok := config.LookupTopicConfig(k); !ok {
			return errorf(kerr.InvalidConfig, "unknown topic config %q", k)
		}
	}
	if validateOnly {
		return nil
	}
	_, err := b.host.ProposeController(ctx, &raftgroup.Command{AlterConfigs: &raftgroup.AlterConfigs{
		Topic: name, Replace: replace, Set: set, Delete: del}})
	if err == nil {
		b.reconcile()
	}
	return err
}

// InitProducerID hands out a new idempotent producer ID (epoch 0). IDs come
// from blocks reserved through the controller, so they are unique across
// brokers and restarts.
func (b *Broker) InitProducerID(ctx context.Context) (int64, int16, error) {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	if b.nextPID >= b.pidHigh {
		const block = 1000
		start, err := b.host.AllocateProducerIDs(ctx, block)
		if err != nil {
			return -1, -1, err
		}
		b.nextPID, b.pidHigh = start, start+block
	}
	id := b.nextPID
	b.nextPID++
	return id, 0, nil
}

// supervisorActor parents the partition actors; its props carry the
// supervision strategy.
type supervisorActor struct{}

type spawnChild struct{ props *actor.Props }

func (s *supervisorActor) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*spawnChild); ok {
		ctx.Respond(ctx.Spawn(m.props))
	}
}

// nextRequestID returns a proposal request ID unique across the cluster
// (the node ID in the top bits), so a follower's log never announces an
// entry as another broker's request.
func (b *Broker) nextRequestID() uint64 {
	return uint64(b.opts.NodeID)<<48 | b.reqID.Add(1)&(1<<48-1)
}

// ControllerLeader returns the broker leading the controller shard.
func (b *Broker) ControllerLeader() (int32, int32, bool) {
	return b.PartitionLeader(raftgroup.ControllerShardID)
}
