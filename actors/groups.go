package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/coordinator"
	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/partition"
)

// OffsetsTopic is the internal topic that persists consumer groups.
const OffsetsTopic = "__consumer_offsets"

// groupActor runs the group coordinator of one __consumer_offsets partition
// replica: while this broker leads the partition it holds a
// coordinator.Coordinator loaded from the partition's records, and writes
// group state back to it through the partition actor.
type groupActor struct {
	coordHost
	// rebalances are the open rebalance spans, by group (tracing on).
	rebalances map[string]trace.Span
}

// coord is the loaded coordinator, or nil.
func (a *groupActor) coord() *coordinator.Coordinator {
	c, _ := a.hosted.(*coordinator.Coordinator)
	return c
}

// Messages of the group actor.
type (
	groupCallMsg struct {
		ctx  context.Context // the request's, for tracing; may be nil
		fn   func(c *coordinator.Coordinator, now time.Time)
		fail func(code int16)
	}
	groupLeadershipMsg struct{}
	groupLoadedMsg     struct {
		gen     int
		epoch   int32
		records []logRecord
		err     error
	}
	groupTickMsg       struct{}
	groupCommitDoneMsg struct {
		done func(error)
		err  error
	}
)

func (a *groupActor) Receive(ctx actor.Context) {
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
	case *groupCallMsg:
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
	}
	if a.hosted == nil && len(a.rebalances) > 0 {
		a.endRebalances()
	}
	a.schedule(ctx)
}

func (a *groupActor) loaded(ctx actor.Context, m *groupLoadedMsg, now time.Time) {
	if !a.accept(m) {
		return
	}
	b := a.p.b
	self, sys := ctx.Self(), ctx.ActorSystem()
	t := b.Metadata().Topics[OffsetsTopic]
	cfg := coordinator.Config{
		Commit:                commitFunc(&a.coordHost, self, sys),
		TxnCommit:             txnCommitFunc(&a.coordHost, self, sys),
		MemberIDSuffix:        uuid.NewString,
		Partition:             a.p.Index,
		MinSessionTimeout:     time.Duration(b.settings.Int64("group.min.session.timeout.ms")) * time.Millisecond,
		MaxSessionTimeout:     time.Duration(b.settings.Int64("group.max.session.timeout.ms")) * time.Millisecond,
		InitialRebalanceDelay: time.Duration(b.settings.Int64("group.initial.rebalance.delay.ms")) * time.Millisecond,
		MaxGroupSize:          int(b.settings.Int64("group.max.size")),
		OffsetsRetention:      time.Duration(b.settings.Int64("offsets.retention.minutes")) * time.Minute,
	}
	if cfg.InitialRebalanceDelay == 0 {
		cfg.InitialRebalanceDelay = -1 // Kafka's 0 means no delay
	}
	if t != nil {
		cfg.NumPartitions = int32(len(t.Partitions))
	}
	if b.tracing.On {
		a.rebalances = map[string]trace.Span{}
		cfg.OnGroupState = a.onGroupState
	}
	c := coordinator.NewCoordinator(cfg)
	for _, r := range m.records {
		var err error
		switch {
		case r.Marker >= 0:
			c.ReplayMarker(r.PID, r.Marker == batch.ControlCommit)
		case r.Txn:
			err = c.ReplayTxn(r.PID, r.Key, r.Value)
		default:
			err = c.Replay(r.Key, r.Value)
		}
		if err != nil {
			b.log.Warn("skipping unreadable __consumer_offsets record", "partition", a.p.Index, "err", err)
		}
	}
	c.CompleteLoad(now)
	a.coordHost.loaded(c, m)
}

// txnCommitFunc writes offset records in a producer's transaction: a
// transactional batch under its producer ID and epoch, which the
// transaction's marker later commits or aborts.
func txnCommitFunc(h *coordHost, self *actor.PID, sys *actor.ActorSystem) func(pid int64, epoch int16, records []coordinator.Record, done func(error)) {
	return func(pid int64, epoch int16, records []coordinator.Record, done func(error)) {
		writeRecords(h.callContext(), h.p, self, sys, batch.Header{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1,
			Attributes: batch.AttrTransactional}, records, done)
	}
}

// commitFunc writes coordinator records as one batch through the partition
// actor (acks=all) and hands the outcome back to actor self (a group or
// transaction coordinator, hosted by h) as a *groupCommitDoneMsg.
func commitFunc(h *coordHost, self *actor.PID, sys *actor.ActorSystem) coordinator.CommitFunc {
	return func(records []coordinator.Record, done func(error)) {
		writeRecords(h.callContext(), h.p, self, sys, batch.Header{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records, done)
	}
}

// writeRecords produces records as one batch with header h's producer
// fields and attributes (acks=all) and sends the outcome to self as a
// *groupCommitDoneMsg.
func writeRecords(ctx context.Context, p *Partition, self *actor.PID, sys *actor.ActorSystem, h batch.Header, records []coordinator.Record, done func(error)) {
	now := p.b.opts.Clock().UnixMilli()
	h.LastOffsetDelta, h.FirstTimestamp, h.MaxTimestamp = int32(len(records)-1), now, now
	recs := make([]batch.Record, len(records))
	for i, r := range records {
		recs[i] = batch.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
	}
	b, err := batch.Build(h, recs)
	if err != nil {
		done(kerr.UnknownServerError)
		return
	}
	bh, _ := batch.ParseHeader(b)
	p.Produce(ctx, b, bh, -1, func(res ProduceResult) {
		var err error
		if res.ErrorCode != 0 {
			if ke := kerr.ErrorForCode(res.ErrorCode); ke != nil {
				err = ke
			} else {
				err = kerr.UnknownServerError
			}
		}
		sys.Root.Send(self, &groupCommitDoneMsg{done: done, err: err})
	})
}

// logRecord is one record of an internal topic as a coordinator replays it:
// plain, written in producer PID's transaction (Txn), or that transaction's
// marker (Marker: batch.ControlAbort or ControlCommit).
type logRecord struct {
	coordinator.Record
	PID    int64
	Txn    bool
	Marker int16 // -1: not a marker
}

// readRecords reads every record of an internal topic partition below end.
func readRecords(l *partition.Log, end int64) ([]logRecord, error) {
	if l == nil {
		return nil, errors.New("partition log not open")
	}
	var out []logRecord
	for off := l.StartOffset(); off < end; {
		data, err := l.Read(off, 1<<20, end, true)
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			break
		}
		for len(data) > 0 {
			b, rest, h, err := batch.Next(data)
			if err != nil {
				return nil, err
			}
			data = rest
			if h.IsControl() {
				if typ, ok := batch.ControlType(b); ok && h.BaseOffset >= off {
					out = append(out, logRecord{PID: h.ProducerID, Marker: typ})
				}
			} else {
				_, recs, err := batch.Records(b)
				if err != nil {
					return nil, err
				}
				for _, r := range recs {
					if h.BaseOffset+int64(r.OffsetDelta) >= off {
						out = append(out, logRecord{Record: coordinator.Record{Key: r.Key, Value: r.Value},
							PID: h.ProducerID, Txn: h.IsTransactional(), Marker: -1})
					}
				}
			}
			off = h.LastOffset() + 1
		}
	}
	return out, nil
}

// WithGroupCoordinator runs fn on the actor of the coordinator that owns
// groupID if this broker is that coordinator, else calls fail with
// NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS while it loads).
// ctx is the request's, for tracing.
func (b *Broker) WithGroupCoordinator(ctx context.Context, groupID string, fn func(c *coordinator.Coordinator, now time.Time), fail func(code int16)) {
	pid, code := b.coordinatorActor(offsetsTopic, groupID)
	if pid == nil {
		fail(code)
		return
	}
	b.system.Root.Send(pid, &groupCallMsg{ctx: ctx, fn: fn, fail: fail})
}

// EachGroupCoordinator runs fn on every coordinator this broker has loaded
// and returns when all have run (ListGroups).
func (b *Broker) EachGroupCoordinator(ctx context.Context, fn func(c *coordinator.Coordinator, now time.Time)) {
	b.eachCoordinatorActor(ctx, offsetsTopic, func(done func()) any {
		return &groupCallMsg{fn: func(c *coordinator.Coordinator, now time.Time) { fn(c, now); done() }, fail: func(int16) { done() }}
	})
}

// GroupCoordinatorFor returns the broker that coordinates groupID, creating
// __consumer_offsets on first use as Kafka does.
func (b *Broker) GroupCoordinatorFor(ctx context.Context, groupID string) (int32, error) {
	return b.coordinatorFor(ctx, offsetsTopic, groupID)
}

// notifyGroupLeadership tells a __consumer_offsets replica's group actor to
// re-check leadership.
func (b *Broker) notifyGroupLeadership(p *Partition) {
	if p.groupPID != nil {
		b.system.Root.Send(p.groupPID, groupLeadershipMsg{})
	}
	if p.txnPID != nil {
		b.system.Root.Send(p.txnPID, groupLeadershipMsg{})
	}
}

// rebalanceGroupsOn triggers a rebalance of every local group subscribed to
// topic (its partition count grew).
func (b *Broker) rebalanceGroupsOn(topic string) {
	b.EachGroupCoordinator(context.Background(), func(c *coordinator.Coordinator, now time.Time) {
		for _, g := range c.GroupsSubscribedTo(topic) {
			c.TriggerRebalance(now, g)
		}
	})
}
