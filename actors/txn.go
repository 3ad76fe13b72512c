package actors

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// TransactionStateTopic is the internal topic that persists transactions.
const TransactionStateTopic = "__transaction_state"

// txnActor runs the transaction coordinator of one __transaction_state
// partition replica while this broker leads it, as groupActor does for
// groups: state is loaded from the partition's records and written back
// through the partition actor.
type txnActor struct {
	coordHost
	// txnCtx is the trace context of each open transaction's last state
	// change (tracing on): its later writes join that trace.
	txnCtx map[string]context.Context
}

// coord is the loaded coordinator, or nil.
func (a *txnActor) coord() *coordinator.TxnCoordinator {
	c, _ := a.hosted.(*coordinator.TxnCoordinator)
	return c
}

type (
	txnCallMsg struct {
		ctx  context.Context // the request's, for tracing; may be nil
		fn   func(c *coordinator.TxnCoordinator, now time.Time)
		fail func(code int16)
	}
	// txnDoneMsg runs a callback of the coordinator on the actor.
	txnDoneMsg struct{ fn func() }
)

func (a *txnActor) Receive(ctx actor.Context) {
	now := a.p.b.opts.Clock()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.checkLeadership(ctx)
	case *actor.Stopping, *actor.Restarting:
		a.unload()
		return
	case groupLeadershipMsg:
		a.checkLeadership(ctx)
	case *groupLoadedMsg:
		a.loaded(ctx, m, now)
	case *txnCallMsg:
		switch {
		case a.coord() != nil:
			a.callCtx = m.ctx
			m.fn(a.coord(), now)
			a.callCtx = nil
		case a.loading:
			m.fail(kerr.CoordinatorLoadInProgress.Code)
		default:
			m.fail(kerr.NotCoordinator.Code)
		}
	case groupTickMsg:
		a.ticked()
		if c := a.coord(); c != nil {
			c.Tick(now)
		}
		a.checkLeadership(ctx)
	case *groupCommitDoneMsg:
		m.done(m.err)
	case *txnDoneMsg:
		m.fn()
	}
	a.schedule(ctx)
}

func (a *txnActor) loaded(ctx actor.Context, m *groupLoadedMsg, now time.Time) {
	if !a.accept(m) {
		return
	}
	b := a.p.b
	self, sys := ctx.Self(), ctx.ActorSystem()
	onActor := func(fn func()) { sys.Root.Send(self, &txnDoneMsg{fn: fn}) }
	cfg := coordinator.TxnConfig{
		Partition:  a.p.Index,
		MaxTimeout: time.Duration(b.settings.Int64("transaction.max.timeout.ms")) * time.Millisecond,
		Commit:     commitFunc(&a.coordHost, self, sys),
		WriteMarkers: func(mk coordinator.Markers, done func(error)) {
			mctx, traced := a.markersContext(mk)
			go func() {
				err := b.writeMarkers(mctx, mk, m.epoch)
				traced(err)
				onActor(func() { done(err) })
			}()
		},
		AllocateProducerID: func(done func(int64, error)) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				id, _, err := b.InitProducerID(ctx)
				onActor(func() { done(id, err) })
			}()
		},
		OffsetsPartition: b.OffsetsPartition,
	}
	if b.tracing.On {
		a.txnCtx = map[string]context.Context{}
		cfg.OnStateWrite = a.onStateWrite
	}
	var records []coordinator.Record
	for _, r := range m.records {
		if r.Marker < 0 && !r.Txn {
			records = append(records, r.Record)
		}
	}
	a.coordHost.loaded(coordinator.NewTxnCoordinator(cfg, records, now), m)
}

// writeMarkers writes a transaction's markers into all its partitions: in
// place for partitions led here, with WriteTxnMarkers to the leaders of the
// others. Every partition must take its marker; the coordinator retries
// otherwise. Markers written to __consumer_offsets also settle the
// transaction's offset commits there.
func (b *Broker) writeMarkers(parent context.Context, mk coordinator.Markers, coordinatorEpoch int32) error {
	ctx, cancel := context.WithTimeout(parent, 30*time.Second)
	defer cancel()
	md := b.Metadata()
	remote := map[int32][]coordinator.TopicPartition{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, tp := range mk.Partitions {
		t := md.Topics[tp.Topic]
		if t == nil || int(tp.Partition) >= len(t.Partitions) {
			continue // deleted: nothing to mark
		}
		leader, _, ok := b.PartitionLeader(t.Partitions[tp.Partition].ShardID)
		if !ok {
			return kerr.LeaderNotAvailable
		}
		if leader != b.opts.NodeID {
			remote[leader] = append(remote[leader], tp)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.WriteMarker(ctx, tp.Topic, tp.Partition, mk.ProducerID, mk.Epoch, mk.Commit, coordinatorEpoch)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	for node, tps := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.sendMarkers(ctx, node, mk, coordinatorEpoch, tps)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sendMarkers sends WriteTxnMarkers for tps to broker node.
func (b *Broker) sendMarkers(ctx context.Context, node int32, mk coordinator.Markers, coordinatorEpoch int32, tps []coordinator.TopicPartition) error {
	cl, err := b.interBrokerClient()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = mk.ProducerID, mk.Epoch, mk.Commit, coordinatorEpoch
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(m.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			m.Topics = append(m.Topics, t)
		}
		m.Topics[i].Partitions = append(m.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
	if err != nil {
		return err
	}
	var errs []error
	for _, rm := range resp.Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// interBrokerClient is this broker's Kafka client for requests to other
// brokers (transaction markers), created on first use.
func (b *Broker) interBrokerClient() (*kgo.Client, error) {
	b.ibMu.Lock()
	defer b.ibMu.Unlock()
	if b.ibClient != nil {
		return b.ibClient, nil
	}
	var seeds []string
	for _, br := range b.LiveBrokers() {
		seeds = append(seeds, net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("samsa-broker"))
	if err != nil {
		return nil, err
	}
	// kgo learns broker addresses from metadata.
	if err := cl.Ping(context.Background()); err != nil {
		cl.Close()
		return nil, err
	}
	b.ibClient = cl
	return cl, nil
}

// TxnCoordinatorFor returns the broker that coordinates transactional ID
// id, creating __transaction_state on first use as Kafka does.
func (b *Broker) TxnCoordinatorFor(ctx context.Context, id string) (int32, error) {
	return b.coordinatorFor(ctx, txnStateTopic, id)
}

// WithTxnCoordinator runs fn on the actor of the coordinator that owns
// transactional ID id if this broker is it, else fail(NOT_COORDINATOR, or
// COORDINATOR_LOAD_IN_PROGRESS while it loads).
// ctx is the request's, for tracing.
func (b *Broker) WithTxnCoordinator(ctx context.Context, id string, fn func(c *coordinator.TxnCoordinator, now time.Time), fail func(code int16)) {
	pid, code := b.coordinatorActor(txnStateTopic, id)
	if pid == nil {
		fail(code)
		return
	}
	b.system.Root.Send(pid, &txnCallMsg{ctx: ctx, fn: fn, fail: fail})
}

// EachTxnCoordinator runs fn on every transaction coordinator loaded here
// and returns when all have run (ListTransactions).
func (b *Broker) EachTxnCoordinator(ctx context.Context, fn func(c *coordinator.TxnCoordinator, now time.Time)) {
	b.eachCoordinatorActor(ctx, txnStateTopic, func(done func()) any {
		return &txnCallMsg{fn: func(c *coordinator.TxnCoordinator, now time.Time) { fn(c, now); done() }, fail: func(int16) { done() }}
	})
}

// CheckTxnPartition asks transactional ID id's coordinator whether tp is in
// producer pid's open transaction (KIP-890 part 1: a leader verifies before
// it takes a transaction's first batch, so a late batch cannot open a
// transaction nobody will end), or, with add, adds it (part 2: Produce v12+
// clients no longer send AddPartitionsToTxn). It returns the coordinator's
// error code; the coordinator may be on another broker.
func (b *Broker) CheckTxnPartition(ctx context.Context, id string, pid int64, epoch int16, tp coordinator.TopicPartition, add bool) int16 {
	deadline := time.Now().Add(txnCheckBudget)
	code := b.checkTxnPartition(ctx, id, pid, epoch, tp, add)
	for code == kerr.ConcurrentTransactions.Code && time.Now().Before(deadline) {
		select {
		case <-time.After(txnCheckBackoff):
		case <-ctx.Done():
			return code
		}
		code = b.checkTxnPartition(ctx, id, pid, epoch, tp, add)
	}
	return code
}

// Retries of a check the coordinator answers CONCURRENT_TRANSACTIONS (the
// producer's previous transaction is still writing its markers) happen in
// the broker, so the producer does not wait out its own retry backoff, as
// Kafka does with add.partitions.to.txn.retry.backoff.ms.
const (
	txnCheckBackoff = 20 * time.Millisecond
	txnCheckBudget  = 500 * time.Millisecond
)

func (b *Broker) checkTxnPartition(ctx context.Context, id string, pid int64, epoch int16, tp coordinator.TopicPartition, add bool) int16 {
	node, err := b.TxnCoordinatorFor(ctx, id)
	if err != nil {
		return ErrorCode(err)
	}
	if node == b.opts.NodeID {
		ch := make(chan int16, 1)
		b.WithTxnCoordinator(ctx, id, func(c *coordinator.TxnCoordinator, now time.Time) {
			if add {
				c.AddPartitionsWhenFree(id, pid, epoch, []coordinator.TopicPartition{tp}, now, func(code int16) { ch <- code })
				return
			}
			ch <- c.VerifyPartition(id, pid, epoch, tp)
		}, func(code int16) { ch <- code })
		select {
		case code := <-ch:
			return code
		case <-ctx.Done():
			return kerr.RequestTimedOut.Code
		}
	}
	cl, err := b.interBrokerClient()
	if err != nil {
		return kerr.CoordinatorNotAvailable.Code
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	txn := kmsg.NewAddPartitionsToTxnRequestTransaction()
	txn.TransactionalID, txn.ProducerID, txn.ProducerEpoch, txn.VerifyOnly = id, pid, epoch, !add
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
	txn.Topics = append(txn.Topics, rt)
	req.Transactions = append(req.Transactions, txn)
	resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
	switch {
	case err != nil:
		return kerr.CoordinatorNotAvailable.Code
	case resp.Version < 4:
		return kerr.UnsupportedVersion.Code // the broker form is v4+
	case resp.ErrorCode != 0:
		return resp.ErrorCode
	}
	for _, t := range resp.Transactions {
		for _, rt := range t.Topics {
			for _, p := range rt.Partitions {
				if t.TransactionalID == id && rt.Topic == tp.Topic && p.Partition == tp.Partition {
					return p.ErrorCode
				}
			}
		}
	}
	return kerr.UnknownServerError.Code
}

// OffsetsPartition is the __consumer_offsets partition of group: where its
// offsets, and so its transactional offset commits, live.
func (b *Broker) OffsetsPartition(group string) coordinator.TopicPartition {
	n := int32(b.settings.Int64("offsets.topic.num.partitions"))
	if t := b.Metadata().Topics[OffsetsTopic]; t != nil {
		n = int32(len(t.Partitions))
	}
	return coordinator.TopicPartition{Topic: OffsetsTopic, Partition: coordinator.PartitionFor(group, n)}
}
