package actors

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/partition"
	"github.com/samsa-io/samsa/telemetry"
)

// Partition is a partition replica on this broker: its state machine (read
// directly by fetches) and its actor (which produces go through).
type Partition struct {
	Topic   string
	Index   int32
	ShardID uint64
	TopicID [16]byte

	b         *Broker
	dir       string
	replicaID uint64 // this broker's Raft replica ID in the shard
	sm        *partition.StateMachine
	pid       *actor.PID
	// groupPID is the group coordinator actor of a __consumer_offsets replica.
	groupPID *actor.PID
	// txnPID is the transaction coordinator actor of a __transaction_state replica.
	txnPID *actor.PID

	startedAt time.Time
	inflight  atomic.Int64 // proposals awaiting their Raft result
	hw        atomic.Int64
	stopped   atomic.Bool
	cfg       atomic.Pointer[map[string]string]

	wmu     sync.Mutex
	waiters map[chan struct{}]struct{}
}

func (p *Partition) setConfigs(c map[string]string) {
	old := p.cfg.Load()
	if old != nil && mapsEqual(*old, c) {
		return
	}
	cp := make(map[string]string, len(c))
	for k, v := range c {
		cp[k] = v
	}
	p.cfg.Store(&cp)
	if p.sm != nil {
		p.sm.SetConfig(p.b.settings.LogConfig(cp))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (p *Partition) configs() map[string]string {
	if c := p.cfg.Load(); c != nil {
		return *c
	}
	return nil
}

// applied runs on dragonboat's apply goroutine after entries apply.
func (p *Partition) applied(next int64) {
	p.hw.Store(next)
	p.wake()
}

func (p *Partition) wake() {
	p.wmu.Lock()
	for ch := range p.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.wmu.Unlock()
}

// Watch registers ch (buffered, capacity >= 1) to be signalled when new
// data is applied or leadership changes; Unwatch removes it.
func (p *Partition) Watch(ch chan struct{}) {
	p.wmu.Lock()
	p.waiters[ch] = struct{}{}
	p.wmu.Unlock()
}

// Unwatch stops signalling ch.
func (p *Partition) Unwatch(ch chan struct{}) {
	p.wmu.Lock()
	delete(p.waiters, ch)
	p.wmu.Unlock()
}

// HighWatermark is the offset after the last committed record. Only
// committed entries are applied, so it is the applied log end.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// LastStableOffset is the offset below which every transaction is decided
// (at most the high watermark): the end of what read_committed reads.
func (p *Partition) LastStableOffset() int64 {
	return min(p.sm.LastStableOffset(), p.HighWatermark())
}

// AbortedTxns lists the aborted transactions overlapping [from, to).
func (p *Partition) AbortedTxns(from, to int64) []partition.AbortedTxn {
	return p.sm.AbortedTxns(from, to)
}

// Log returns the partition log, or nil while it opens.
func (p *Partition) Log() *partition.Log {
	if p.stopped.Load() {
		return nil
	}
	return p.sm.Log()
}

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 {
	if l := p.Log(); l != nil {
		return l.StartOffset()
	}
	return 0
}

// Leader reports whether this broker leads the partition, and the leader
// epoch (the Raft term).
func (p *Partition) Leader() (bool, int32) {
	ok, term := p.b.host.IsLeader(p.ShardID)
	return ok, int32(term)
}

// Stranded reports that this replica's Raft group has no leader while the
// last leader was this broker or is gone: no quorum is reachable (the other
// replicas are down or cut off). A Kafka leader whose followers all left the
// ISR keeps serving reads; so does a stranded replica, read-only, from its
// log, which only ever holds committed records. Writes get
// NOT_ENOUGH_REPLICAS (retriable) until a quorum is back. The epoch is the
// last leader's; a new leader elsewhere has a higher one.
func (p *Partition) Stranded() (bool, int32) {
	// A leader this broker's Raft transport cannot reach counts as none:
	// a dead leader may stay this replica's last word for a while.
	if li, ok := p.b.host.Leader(p.ShardID); ok && p.b.host.Reachable(int32(li.LeaderID)) {
		return false, 0
	}
	last, ok := p.b.host.LastLeader(p.ShardID)
	if !ok {
		return false, 0 // no leader yet since start-up: an election is due
	}
	if int32(last.LeaderID) == p.b.opts.NodeID || !p.b.brokerAlive(int32(last.LeaderID)) {
		return true, int32(last.Term)
	}
	return false, 0
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the epoch cache.
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return p.sm.EndOffsetForEpoch(epoch)
}

// Producers lists the partition's idempotent producers.
func (p *Partition) Producers() []partition.ProducerInfo { return p.sm.Producers() }

// ProduceResult is the outcome of producing one batch.
type ProduceResult struct {
	ErrorCode      int16
	ErrorMessage   string
	BaseOffset     int64
	LogAppendTime  int64
	LogStartOffset int64
}

// Produce hands a validated batch to the partition actor; cb is called once
// with the outcome (from another goroutine). It does not block. A
// recording span in ctx gets a child span for the Raft proposal.
func (p *Partition) Produce(ctx context.Context, b []byte, h batch.Header, acks int16, cb func(ProduceResult)) {
	if p.stopped.Load() {
		cb(ProduceResult{ErrorCode: kerr.NotLeaderForPartition.Code, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
		return
	}
	p.b.system.Root.Send(p.pid, &produceMsg{ctx: ctx, batch: b, header: h, acks: acks, cb: cb})
}

// ProduceTxn is Produce for a client's transactional batch of transactional
// ID txnID, which the partition takes only once the transaction coordinator
// confirms the partition is in the transaction, or (add, Produce v12+) has
// added it.
func (p *Partition) ProduceTxn(ctx context.Context, b []byte, h batch.Header, acks int16, txnID string, add bool, cb func(ProduceResult)) {
	if p.stopped.Load() {
		cb(ProduceResult{ErrorCode: kerr.NotLeaderForPartition.Code, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
		return
	}
	p.b.system.Root.Send(p.pid, &produceMsg{ctx: ctx, batch: b, header: h, acks: acks, cb: cb, txnID: txnID, addToTxn: add})
}

// InjectPanic makes the partition actor panic while handling a message; the
// supervisor restarts it. For tests of supervision.
func (p *Partition) InjectPanic() { p.b.system.Root.Send(p.pid, panicMsg{}) }

type produceMsg struct {
	ctx    context.Context // for tracing only
	batch  []byte
	header batch.Header
	acks   int16
	cb     func(ProduceResult)
	done   atomic.Bool

	// A client's transactional batch: its transactional ID, and whether the
	// partition is added to the transaction (Produce v12+) rather than
	// verified to be in it (see txnverify.go).
	txnID    string
	addToTxn bool
	checked  bool   // the coordinator confirmed it
	markers  uint64 // its producer's txnWatch.markers when confirmed
}

// reply answers the producer once; later answers (a result after an acks=1
// answer, a failure after success) are dropped.
func (m *produceMsg) reply(r ProduceResult) {
	if m.done.CompareAndSwap(false, true) {
		m.cb(r)
	}
}

func (m *produceMsg) fail(code int16, msg string) {
	m.reply(ProduceResult{ErrorCode: code, ErrorMessage: msg, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
}

type flushMsg struct{}
type panicMsg struct{}

// leaderMsg tells the actor its partition's leadership changed, so a new
// leader seeds its Decider before the first produce arrives.
type leaderMsg struct{}

// deciderReady carries a leader's Decider, seeded once everything from
// earlier terms has applied.
type deciderReady struct {
	term uint64
	d    *partition.Decider
	err  error
}

// proposalDone reports a finished proposal; diverged means the state
// machine's decisions differed from the Decider's (or the entry was lost),
// so the Decider must be rebuilt.
type proposalDone struct{ diverged bool }

// maxProposalBytes caps how many batches one Raft entry carries.
const maxProposalBytes = 8 << 20

// proposalTimeout bounds a Raft proposal; the client's own timeout is usually
// shorter and answers REQUEST_TIMED_OUT first.
const proposalTimeout = 30 * time.Second

// partitionActor turns produce messages into Raft proposals. Messages that
// queue up while the actor works are coalesced into one proposal: the first
// one schedules a flush message behind the ones already in the mailbox.
//
// As leader it decides each batch before proposing it (partition.Decider):
// the offset it will get, or that it is a duplicate or out of sequence. The
// state machine makes the same decisions when the entry applies; acks=1 is
// answered with the decided offset as soon as this broker's Raft log has
// the entry durably, before followers have it.
type partitionActor struct {
	p         *Partition
	pending   []*produceMsg
	scheduled bool

	decider     *partition.Decider
	deciderTerm uint64
	preparing   bool

	watches map[int64]*txnWatch // by producer ID
}

func (a *partitionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *produceMsg:
		if err := a.check(m); err != nil {
			m.fail(err.Code, err.Message)
			return
		}
		a.pending = append(a.pending, m)
		a.scheduleFlush(ctx)
	case flushMsg:
		a.scheduled = false
		a.flush(ctx)
	case *deciderReady:
		a.preparing = false
		if m.err == nil {
			if _, term := a.p.Leader(); uint64(term) == m.term {
				a.decider, a.deciderTerm = m.d, m.term
			}
		}
		a.scheduleFlush(ctx)
	case proposalDone:
		if m.diverged {
			a.decider = nil
		}
		if len(a.pending) > 0 {
			a.scheduleFlush(ctx)
		}
	case leaderMsg:
		if leader, epoch := a.p.Leader(); leader && (a.decider == nil || a.deciderTerm != uint64(epoch)) && !a.preparing && a.p.inflight.Load() == 0 {
			a.prepareDecider(ctx, uint64(epoch))
		}
	case *txnChecked:
		a.txnCheckDone(ctx, m)
	case panicMsg:
		panic("injected partition actor panic")
	case *actor.Restarting, *actor.Stopping:
		// Fail what we hold rather than leave producers waiting.
		for _, m := range a.pending {
			m.fail(kerr.NotLeaderForPartition.Code, "")
		}
		a.pending = nil
		a.dropWatches(kerr.NotLeaderForPartition.Code)
	}
}

func (a *partitionActor) scheduleFlush(ctx actor.Context) {
	if !a.scheduled && len(a.pending) > 0 {
		a.scheduled = true
		ctx.Send(ctx.Self(), flushMsg{})
	}
}

// check applies the topic's limits before a batch reaches Raft.
func (a *partitionActor) check(m *produceMsg) *Error {
	cfg := a.p.configs()
	max := a.p.b.settings.TopicInt(cfg, "max.message.bytes")
	if int64(len(m.batch)) > max {
		return errorf(kerr.MessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", len(m.batch), max)
	}
	if m.acks == -1 {
		if min := a.p.b.settings.TopicInt(cfg, "min.insync.replicas"); min > 1 {
			if t := a.p.b.Metadata().Topics[a.p.Topic]; t != nil && int(a.p.Index) < len(t.Partitions) {
				if isr := a.p.b.InSyncReplicas(t.Partitions[a.p.Index]); int64(len(isr)) < min {
					return errorf(kerr.NotEnoughReplicas, "%d in-sync replicas, min.insync.replicas is %d", len(isr), min)
				}
			}
		}
	}
	if strings.Contains(a.p.b.settings.TopicValue(cfg, "cleanup.policy"), "compact") && !m.header.IsControl() {
		// Kafka rejects keyless records on compacted topics.
		if hasNullKey(m.batch) {
			return errorf(kerr.InvalidRecord, "compacted topic cannot accept message without key")
		}
	}
	return nil
}

func hasNullKey(b []byte) bool {
	_, recs, err := batch.Records(b)
	if err != nil {
		return false
	}
	for _, r := range recs {
		if r.Key == nil {
			return true
		}
	}
	return false
}

// prepareDecider seeds a Decider for this term once the state machine has
// applied everything committed before it (a Raft read barrier).
func (a *partitionActor) prepareDecider(ctx actor.Context, term uint64) {
	a.preparing = true
	self, sys, p := ctx.Self(), ctx.ActorSystem(), a.p
	go func() {
		bctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		msg := &deciderReady{term: term}
		if msg.err = p.b.host.Barrier(bctx, p.ShardID); msg.err == nil {
			msg.d = p.sm.LeaderView()
		}
		sys.Root.Send(self, msg)
	}()
}

func (a *partitionActor) flush(ctx actor.Context) {
	if len(a.pending) == 0 {
		return
	}
	leader, epoch := a.p.Leader()
	term := uint64(epoch)
	if !leader {
		for _, m := range a.pending {
			m.fail(kerr.NotLeaderForPartition.Code, "")
		}
		a.pending, a.decider = nil, nil
		a.dropWatches(kerr.NotLeaderForPartition.Code)
		return
	}
	if a.decider == nil || a.deciderTerm != term {
		// Seed (or re-seed) the Decider only when none of our proposals is
		// in flight, so the state machine's state is complete.
		if !a.preparing && a.p.inflight.Load() == 0 {
			a.prepareDecider(ctx, term)
		}
		return
	}
	pending := a.pending
	a.pending = nil
	var flags byte
	logAppendTime := a.p.b.settings.TopicValue(a.p.configs(), "message.timestamp.type") == "LogAppendTime"
	if logAppendTime {
		flags |= partition.AppendFlagLogAppendTime
	}
	now := a.p.b.opts.Clock().UnixMilli()
	for len(pending) > 0 {
		var group []*produceMsg
		var predicted []int64
		size := 0
		for len(pending) > 0 && (len(group) == 0 || size+len(pending[0].batch) <= maxProposalBytes) {
			m := pending[0]
			pending = pending[1:]
			if a.holdForTxnCheck(ctx, m) {
				continue
			}
			off, appended, code := a.decider.Decide(&m.header, now)
			if appended && m.header.IsControl() {
				a.markerDecided(m.header.ProducerID)
			}
			switch {
			case code != 0:
				m.fail(code, "")
			case !appended:
				// A retry of a batch already decided: its original offset.
				m.reply(ProduceResult{BaseOffset: off, LogAppendTime: -1, LogStartOffset: a.p.LogStartOffset()})
			default:
				group = append(group, m)
				predicted = append(predicted, off)
				size += len(m.batch)
			}
		}
		a.decider.EndEntry(now)
		if len(group) == 0 {
			continue
		}
		a.propose(ctx, term, now, flags, logAppendTime, group, predicted)
	}
}

func (a *partitionActor) propose(ctx actor.Context, term uint64, now int64, flags byte, logAppendTime bool, group []*produceMsg, predicted []int64) {
	p := a.p
	reqID := p.b.nextRequestID()
	cmd := partition.AppendCommand{RequestID: reqID, LeaderEpoch: int32(term), TimestampMs: now, Flags: flags}
	acks1 := false
	for _, m := range group {
		cmd.Batches = append(cmd.Batches, m.batch)
		acks1 = acks1 || m.acks == 1
	}
	if acks1 {
		lat := int64(-1)
		if logAppendTime {
			lat = now
		}
		p.b.host.OnPersisted(p.ShardID, reqID, func() {
			lso := p.LogStartOffset()
			for i, m := range group {
				if m.acks == 1 {
					m.reply(ProduceResult{BaseOffset: predicted[i], LogAppendTime: lat, LogStartOffset: lso})
				}
			}
		})
	}
	spans := proposeSpans(group, p.ShardID, len(cmd.Batches))
	start := time.Now()
	rs, err := p.b.host.Propose(p.ShardID, cmd.Encode(), proposalTimeout)
	if err != nil {
		endSpans(spans, err)
		p.b.host.CancelPersisted(p.ShardID, reqID)
		code := kerr.NotLeaderForPartition.Code
		if err == dragonboat.ErrSystemBusy {
			code = kerr.RequestTimedOut.Code
		}
		for _, m := range group {
			m.fail(code, err.Error())
		}
		// The Decider counted these batches: rebuild it.
		a.decider = nil
		return
	}
	p.inflight.Add(1)
	self, sys := ctx.Self(), ctx.ActorSystem()
	go func() {
		diverged := p.await(rs, group, predicted, spans)
		p.b.metrics.ObservePropose("partition", time.Since(start))
		p.b.host.CancelPersisted(p.ShardID, reqID)
		// Counted on the partition, not the actor, so an actor restarted
		// meanwhile still waits for these before seeding a Decider.
		p.inflight.Add(-1)
		sys.Root.Send(self, proposalDone{diverged: diverged})
	}()
}

// await waits for a proposal outside the actor and answers its producers
// (acks=1 ones already have their answer, unless the entry never reached
// this broker's log). It reports whether the outcome differed from the
// Decider's prediction.
func (p *Partition) await(rs *dragonboat.RequestState, group []*produceMsg, predicted []int64, spans []trace.Span) bool {
	r := <-rs.ResultC()
	rs.Release()
	// Ended before the producers hear back, so a traced produce's answer
	// never overtakes its spans.
	endSpans(spans, resultError(r))
	fail := func(code int16, msg string) {
		for _, m := range group {
			m.fail(code, msg)
		}
	}
	switch {
	case r.Completed():
		results, err := partition.DecodeResults(r.GetResult().Data)
		if err != nil || len(results) != len(group) {
			fail(kerr.CorruptMessage.Code, "partition rejected the proposal")
			return true
		}
		lso := p.LogStartOffset()
		diverged := false
		for i, m := range group {
			res := results[i]
			if res.ErrorCode != 0 {
				m.fail(res.ErrorCode, "")
				diverged = true
				continue
			}
			if res.BaseOffset != predicted[i] {
				diverged = true
				p.b.log.Warn("partition leader mispredicted an offset", "topic", p.Topic, "partition", p.Index,
					"predicted", predicted[i], "applied", res.BaseOffset)
			}
			m.reply(ProduceResult{BaseOffset: res.BaseOffset, LogAppendTime: res.LogAppendTime, LogStartOffset: lso})
		}
		return diverged
	case r.Timeout():
		fail(kerr.RequestTimedOut.Code, "replication timed out")
	default:
		// Dropped, terminated, aborted: leadership moved or the shard stopped.
		fail(kerr.NotLeaderForPartition.Code, "")
	}
	return true
}

// proposeSpans starts a "raft.propose" span, propose to commit and apply,
// under each traced batch of a proposal: a proposal carries many producers'
// batches, and each trace gets its own view of it.
func proposeSpans(group []*produceMsg, shard uint64, batches int) []trace.Span {
	var spans []trace.Span
	for _, m := range group {
		if m.ctx == nil {
			continue
		}
		if tr, ok := telemetry.Recording(m.ctx); ok {
			_, sp := tr.Start(m.ctx, "raft.propose", trace.WithAttributes(
				telemetry.AttrShard.Int64(int64(shard)), attribute.Int("samsa.raft.batches", batches)))
			spans = append(spans, sp)
		}
	}
	return spans
}

// endSpans ends proposal spans, with err as their error if not nil.
func endSpans(spans []trace.Span, err error) {
	for _, sp := range spans {
		if err != nil {
			sp.SetStatus(codes.Error, err.Error())
		}
		sp.End()
	}
}

// errProposalFailed: the proposal did not complete (timeout, dropped,
// aborted: leadership moved or the shard stopped).
var errProposalFailed = errors.New("raft proposal did not complete")

func resultError(r dragonboat.RequestResult) error {
	if r.Completed() {
		return nil
	}
	if r.Timeout() {
		return dragonboat.ErrTimeout
	}
	return errProposalFailed
}
