package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Connection kinds: each broker gets up to one connection per kind so a
// long-polling fetch never delays a produce or a heartbeat queued behind it.
type connKind int

const (
	kindProduce connKind = iota
	kindFetch
	kindGroup // group and transaction coordinator requests, admin
	// JoinGroup and SyncGroup, which the coordinator holds until the
	// rebalance completes: on a connection of their own they delay no
	// commit or LeaveGroup queued behind them.
	kindJoin
	numKinds
)

// node is a broker as seen by the client. Seeds have negative IDs until
// metadata names them.
type node struct {
	id   int32
	addr string
	rack *string

	mu    sync.Mutex
	conns [numKinds]*conn
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

type partitionMeta struct {
	leader      int32
	leaderEpoch int32
	replicas    []int32
	isr         []int32
	offline     []int32
	err         error
}

type topicMeta struct {
	id         [16]byte
	err        error
	internal   bool
	partitions []partitionMeta
}

// metadata is an immutable snapshot; refreshes replace it whole.
type metadata struct {
	fetched    time.Time
	clusterID  *string
	controller int32
	brokers    map[int32]BrokerInfo
	topics     map[string]*topicMeta
	all        bool // fetched for every topic
}

func (m *metadata) leader(tp TopicPartition) (int32, int32, bool) {
	t := m.topics[tp.Topic]
	if t == nil || t.err != nil || tp.Partition < 0 || int(tp.Partition) >= len(t.partitions) {
		return -1, -1, false
	}
	p := t.partitions[tp.Partition]
	if p.leader < 0 || p.err != nil && !errors.Is(p.err, ErrReplicaNotAvailable) {
		return -1, -1, false
	}
	return p.leader, p.leaderEpoch, true
}

// cluster owns connections and the metadata cache shared by one producer,
// consumer or admin.
type cluster struct {
	cfg *config

	mu     sync.Mutex
	nodes  map[int32]*node
	seeds  []*node
	closed bool

	meta    atomic.Pointer[metadata]
	metaMu  sync.Mutex // one refresh at a time; later callers reuse its result
	topics  map[string]struct{}
	topicMu sync.Mutex
	wantAll atomic.Bool

	trigger chan struct{}
	quit    chan struct{}
	wg      sync.WaitGroup
	onMeta  func(*metadata) // called after every refresh, may be nil
}

func newCluster(cfg *config) (*cluster, error) {
	if len(cfg.brokers) == 0 {
		return nil, errors.New("client: no bootstrap brokers")
	}
	cl := &cluster{
		cfg:     cfg,
		nodes:   make(map[int32]*node),
		topics:  make(map[string]struct{}),
		trigger: make(chan struct{}, 1),
		quit:    make(chan struct{}),
	}
	for i, a := range cfg.brokers {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("client: broker address %q: %w", a, err)
		}
		cl.seeds = append(cl.seeds, &node{id: int32(-1 - i), addr: a})
	}
	cl.meta.Store(&metadata{controller: -1, topics: map[string]*topicMeta{}, brokers: map[int32]BrokerInfo{}})
	return cl, nil
}

// start starts the background metadata refresher; after onMeta is set.
func (cl *cluster) start() {
	cl.wg.Add(1)
	go cl.metadataLoop()
}

func (cl *cluster) close() {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return
	}
	cl.closed = true
	nodes := make([]*node, 0, len(cl.nodes)+len(cl.seeds))
	for _, n := range cl.nodes {
		nodes = append(nodes, n)
	}
	nodes = append(nodes, cl.seeds...)
	cl.mu.Unlock()
	close(cl.quit)
	cl.wg.Wait()
	for _, n := range nodes {
		n.mu.Lock()
		for i, c := range n.conns {
			if c != nil {
				c.close(&connError{addr: n.addr, err: ErrClosed})
				<-c.closed
				n.conns[i] = nil
			}
		}
		n.mu.Unlock()
	}
}

// metadataLoop refreshes on a trigger (after errors naming stale metadata)
// and every metadata.max.age.ms.
func (cl *cluster) metadataLoop() {
	defer cl.wg.Done()
	tick := time.NewTicker(cl.cfg.metadataMaxAge)
	defer tick.Stop()
	for {
		select {
		case <-cl.quit:
			return
		case <-tick.C:
		case <-cl.trigger:
			// Rate limit error-driven refreshes.
			t := time.NewTimer(cl.cfg.retryBackoff)
			select {
			case <-cl.quit:
				t.Stop()
				return
			case <-t.C:
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), cl.cfg.requestTimeout)
		go func() {
			select {
			case <-cl.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := cl.refresh(ctx, time.Now()); err != nil {
			cl.cfg.logger.Debug("metadata refresh failed", "err", err)
		}
		cancel()
	}
}

// triggerRefresh asks the background loop for a refresh soon.
func (cl *cluster) triggerRefresh() {
	select {
	case cl.trigger <- struct{}{}:
	default:
	}
}

// addTopics adds topics to those metadata is fetched for.
func (cl *cluster) addTopics(ts ...string) bool {
	cl.topicMu.Lock()
	defer cl.topicMu.Unlock()
	added := false
	for _, t := range ts {
		if _, ok := cl.topics[t]; !ok {
			cl.topics[t] = struct{}{}
			added = true
		}
	}
	return added
}

func (cl *cluster) setTopics(ts []string) {
	cl.topicMu.Lock()
	defer cl.topicMu.Unlock()
	cl.topics = make(map[string]struct{}, len(ts))
	for _, t := range ts {
		cl.topics[t] = struct{}{}
	}
}

// refresh fetches metadata unless a refresh started after since already
// completed (then its result is as fresh as the caller needs).
func (cl *cluster) refresh(ctx context.Context, since time.Time) error {
	cl.metaMu.Lock()
	defer cl.metaMu.Unlock()
	if cl.meta.Load().fetched.After(since) {
		return nil
	}
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = cl.cfg.allowAutoTopics
	all := cl.wantAll.Load()
	if !all {
		cl.topicMu.Lock()
		req.Topics = make([]kmsg.MetadataRequestTopic, 0, len(cl.topics))
		for t := range cl.topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
		cl.topicMu.Unlock()
	}
	start := time.Now()
	resp, err := cl.requestAny(ctx, req)
	if err != nil {
		return err
	}
	m := cl.apply(resp.(*kmsg.MetadataResponse), start, all)
	if cl.onMeta != nil {
		cl.onMeta(m)
	}
	return nil
}

// BrokerInfo describes a broker from metadata.
type BrokerInfo struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
}

func (cl *cluster) apply(r *kmsg.MetadataResponse, fetched time.Time, all bool) *metadata {
	m := &metadata{
		fetched:    fetched,
		clusterID:  r.ClusterID,
		controller: r.ControllerID,
		brokers:    make(map[int32]BrokerInfo, len(r.Brokers)),
		topics:     make(map[string]*topicMeta, len(r.Topics)),
		all:        all,
	}
	cl.mu.Lock()
	for _, b := range r.Brokers {
		m.brokers[b.NodeID] = BrokerInfo{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack}
		addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		if n := cl.nodes[b.NodeID]; n != nil && n.addr != addr {
			// The broker moved: drop its old connections.
			go n.closeConns()
			delete(cl.nodes, b.NodeID)
		}
		if cl.nodes[b.NodeID] == nil {
			cl.nodes[b.NodeID] = &node{id: b.NodeID, addr: addr, rack: b.Rack}
		}
	}
	cl.mu.Unlock()
	for _, t := range r.Topics {
		if t.Topic == nil {
			continue
		}
		tm := &topicMeta{id: t.TopicID, err: ErrorForCode(t.ErrorCode), internal: t.IsInternal}
		ps := slices.Clone(t.Partitions)
		slices.SortFunc(ps, func(a, b kmsg.MetadataResponseTopicPartition) int { return int(a.Partition - b.Partition) })
		for i, p := range ps {
			if int(p.Partition) != i {
				// A gap would misnumber partitions; treat the topic as
				// not ready rather than guess.
				tm.err = ErrLeaderNotAvailable
				break
			}
			tm.partitions = append(tm.partitions, partitionMeta{
				leader: p.Leader, leaderEpoch: p.LeaderEpoch, replicas: p.Replicas,
				isr: p.ISR, offline: p.OfflineReplicas, err: ErrorForCode(p.ErrorCode),
			})
		}
		m.topics[*t.Topic] = tm
	}
	cl.meta.Store(m)
	return m
}

func (n *node) closeConns() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, c := range n.conns {
		if c != nil {
			c.close(&connError{addr: n.addr, err: errors.New("broker address changed")})
			n.conns[i] = nil
		}
	}
}

// getConn returns a live connection of kind to n, dialing if needed.
func (cl *cluster) getConn(ctx context.Context, n *node, kind connKind) (*conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.conns[kind]; c != nil && !c.dead() {
		return c, nil
	}
	cl.mu.Lock()
	closed := cl.closed
	cl.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	c, err := dial(ctx, n.addr, cl.cfg)
	if err != nil {
		return nil, err
	}
	n.conns[kind] = c
	return c, nil
}

func (cl *cluster) node(id int32) (*node, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return nil, ErrClosed
	}
	if n := cl.nodes[id]; n != nil {
		return n, nil
	}
	for _, n := range cl.seeds {
		if n.id == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("client: unknown broker %d: %w", id, ErrBrokerNotAvailable)
}

// connTo returns a connection of kind to broker id.
func (cl *cluster) connTo(ctx context.Context, id int32, kind connKind) (*conn, error) {
	n, err := cl.node(id)
	if err != nil {
		return nil, err
	}
	return cl.getConn(ctx, n, kind)
}

// request sends req to broker id and waits for the response.
func (cl *cluster) request(ctx context.Context, id int32, kind connKind, req kmsg.Request) (kmsg.Response, error) {
	c, err := cl.connTo(ctx, id, kind)
	if err != nil {
		return nil, err
	}
	return c.roundTrip(ctx, req, -1, cl.cfg.requestTimeout)
}

// requestTimeout is request with a longer response timeout, for requests the
// broker holds (JoinGroup waits up to the rebalance timeout).
func (cl *cluster) requestTimeout(ctx context.Context, id int32, kind connKind, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	c, err := cl.connTo(ctx, id, kind)
	if err != nil {
		return nil, err
	}
	return c.roundTrip(ctx, req, -1, timeout)
}

// requestAny sends req to any broker that answers: known brokers first, in
// random order, then the seeds, so one dead bootstrap broker is no outage.
func (cl *cluster) requestAny(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return nil, ErrClosed
	}
	cands := make([]*node, 0, len(cl.nodes)+len(cl.seeds))
	for _, n := range cl.nodes {
		cands = append(cands, n)
	}
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	seeds := slices.Clone(cl.seeds)
	rand.Shuffle(len(seeds), func(i, j int) { seeds[i], seeds[j] = seeds[j], seeds[i] })
	cands = append(cands, seeds...)
	cl.mu.Unlock()
	var errs []error
	for _, n := range cands {
		c, err := cl.getConn(ctx, n, kindGroup)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		resp, err := c.roundTrip(ctx, req, -1, cl.cfg.requestTimeout)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
		var ce *connError
		if !errors.As(err, &ce) || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("client: no broker answered: %w", errors.Join(errs...))
}

// metadataFor returns metadata including topics, refreshing (and retrying
// while the topics are still being created) until ctx ends.
func (cl *cluster) metadataFor(ctx context.Context, topics ...string) (*metadata, error) {
	added := cl.addTopics(topics...)
	m := cl.meta.Load()
	if !added && haveTopics(m, topics) {
		return m, nil
	}
	for {
		if err := cl.refresh(ctx, time.Now()); err != nil && ctx.Err() != nil {
			return nil, err
		}
		m = cl.meta.Load()
		if haveTopics(m, topics) {
			return m, nil
		}
		for _, t := range topics {
			if tm := m.topics[t]; tm != nil && tm.err != nil && !IsRetriable(tm.err) {
				return nil, fmt.Errorf("topic %s: %w", t, tm.err)
			}
		}
		if err := sleepCtx(ctx, cl.cfg.retryBackoff); err != nil {
			var last error
			for _, t := range topics {
				if tm := m.topics[t]; tm == nil {
					last = fmt.Errorf("topic %s: %w", t, ErrUnknownTopicOrPartition)
				} else if tm.err != nil {
					last = fmt.Errorf("topic %s: %w", t, tm.err)
				}
			}
			return nil, errors.Join(err, last)
		}
	}
}

func haveTopics(m *metadata, topics []string) bool {
	for _, t := range topics {
		tm := m.topics[t]
		if tm == nil || tm.err != nil || len(tm.partitions) == 0 {
			return false
		}
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// coordinator finds the group (keyType 0) or transaction (1) coordinator.
func (cl *cluster) coordinator(ctx context.Context, key string, keyType int8) (int32, error) {
	var last error // the broker's reason, kept for the final error
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = key
		req.CoordinatorType = keyType
		req.CoordinatorKeys = []string{key} // v4+ reads only this
		resp, err := cl.requestAny(ctx, req)
		if err != nil {
			return -1, fmt.Errorf("find coordinator: %w", errors.Join(err, last))
		}
		r := resp.(*kmsg.FindCoordinatorResponse)
		code, id, host, port, msg := r.ErrorCode, r.NodeID, r.Host, r.Port, r.ErrorMessage
		if r.GetVersion() >= 4 {
			if len(r.Coordinators) != 1 {
				return -1, errors.New("client: FindCoordinator: no coordinator in response")
			}
			c := r.Coordinators[0]
			code, id, host, port, msg = c.ErrorCode, c.NodeID, c.Host, c.Port, c.ErrorMessage
		}
		if err := codeErr(code, msg); err != nil {
			if !IsRetriable(err) {
				return -1, err
			}
			last = err
			if err := sleepCtx(ctx, cl.cfg.retryBackoff); err != nil {
				return -1, fmt.Errorf("find coordinator: %w", errors.Join(err, last))
			}
			continue
		}
		cl.mu.Lock()
		addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
		if n := cl.nodes[id]; n == nil || n.addr != addr {
			if n != nil {
				go n.closeConns()
			}
			cl.nodes[id] = &node{id: id, addr: addr}
		}
		cl.mu.Unlock()
		return id, nil
	}
}
