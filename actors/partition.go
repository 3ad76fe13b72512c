package actors

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/partition"
)

// Partition is a partition replica on this broker: its state machine (read
// directly by fetches) and its actor (which produces go through).
type Partition struct {
	Topic   string
	Index   int32
	ShardID uint64
	TopicID [16]byte

	b   *Broker
	dir string
	sm  *partition.StateMachine
	pid *actor.PID
	// groupPID is the group coordinator actor of a __consumer_offsets replica.
	groupPID *actor.PID

	startedAt time.Time
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
// with the outcome (from another goroutine). It does not block.
func (p *Partition) Produce(b []byte, h batch.Header, acks int16, cb func(ProduceResult)) {
	if p.stopped.Load() {
		cb(ProduceResult{ErrorCode: kerr.NotLeaderForPartition.Code, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
		return
	}
	p.b.system.Root.Send(p.pid, &produceMsg{batch: b, header: h, acks: acks, cb: cb})
}

// InjectPanic makes the partition actor panic while handling a message; the
// supervisor restarts it. For tests of supervision.
func (p *Partition) InjectPanic() { p.b.system.Root.Send(p.pid, panicMsg{}) }

type produceMsg struct {
	batch  []byte
	header batch.Header
	acks   int16
	cb     func(ProduceResult)
}

type flushMsg struct{}
type panicMsg struct{}

// maxProposalBytes caps how many batches one Raft entry carries.
const maxProposalBytes = 8 << 20

// proposalTimeout bounds a Raft proposal; the client's own timeout is usually
// shorter and answers REQUEST_TIMED_OUT first.
const proposalTimeout = 30 * time.Second

// partitionActor turns produce messages into Raft proposals. Messages that
// queue up while the actor works are coalesced into one proposal: the first
// one schedules a flush message behind the ones already in the mailbox.
type partitionActor struct {
	p         *Partition
	pending   []*produceMsg
	scheduled bool
}

func (a *partitionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *produceMsg:
		if err := a.check(m); err != nil {
			m.cb(ProduceResult{ErrorCode: err.Code, ErrorMessage: err.Message, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
			return
		}
		a.pending = append(a.pending, m)
		if !a.scheduled {
			a.scheduled = true
			ctx.Send(ctx.Self(), flushMsg{})
		}
	case flushMsg:
		a.scheduled = false
		a.flush()
	case panicMsg:
		panic("injected partition actor panic")
	case *actor.Restarting, *actor.Stopping:
		// Fail what we hold rather than leave producers waiting.
		for _, m := range a.pending {
			m.cb(ProduceResult{ErrorCode: kerr.NotLeaderForPartition.Code, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
		}
		a.pending = nil
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

func (a *partitionActor) flush() {
	pending := a.pending
	a.pending = nil
	if len(pending) == 0 {
		return
	}
	leader, term := a.p.Leader()
	if !leader {
		for _, m := range pending {
			m.cb(ProduceResult{ErrorCode: kerr.NotLeaderForPartition.Code, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
		}
		return
	}
	var flags byte
	if a.p.b.settings.TopicValue(a.p.configs(), "message.timestamp.type") == "LogAppendTime" {
		flags |= partition.AppendFlagLogAppendTime
	}
	now := a.p.b.opts.Clock().UnixMilli()
	for len(pending) > 0 {
		n, size := 0, 0
		for n < len(pending) && (n == 0 || size+len(pending[n].batch) <= maxProposalBytes) {
			size += len(pending[n].batch)
			n++
		}
		group := pending[:n]
		pending = pending[n:]
		cmd := partition.AppendCommand{RequestID: a.p.b.reqID.Add(1), LeaderEpoch: int32(term), TimestampMs: now, Flags: flags}
		for _, m := range group {
			cmd.Batches = append(cmd.Batches, m.batch)
		}
		rs, err := a.p.b.host.Propose(a.p.ShardID, cmd.Encode(), proposalTimeout)
		if err != nil {
			code := kerr.NotLeaderForPartition.Code
			if err == dragonboat.ErrSystemBusy {
				code = kerr.RequestTimedOut.Code
			}
			for _, m := range group {
				m.cb(ProduceResult{ErrorCode: code, ErrorMessage: err.Error(), BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
			}
			continue
		}
		go a.p.await(rs, group)
	}
}

// await waits for a proposal outside the actor and answers its producers.
func (p *Partition) await(rs *dragonboat.RequestState, group []*produceMsg) {
	r := <-rs.ResultC()
	rs.Release()
	fail := func(code int16, msg string) {
		for _, m := range group {
			m.cb(ProduceResult{ErrorCode: code, ErrorMessage: msg, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
		}
	}
	switch {
	case r.Completed():
		results, err := partition.DecodeResults(r.GetResult().Data)
		if err != nil || len(results) != len(group) {
			fail(kerr.CorruptMessage.Code, "partition rejected the proposal")
			return
		}
		lso := p.LogStartOffset()
		for i, m := range group {
			res := results[i]
			out := ProduceResult{ErrorCode: res.ErrorCode, BaseOffset: res.BaseOffset, LogAppendTime: res.LogAppendTime, LogStartOffset: lso}
			if res.ErrorCode != 0 {
				out.BaseOffset, out.LogAppendTime, out.LogStartOffset = -1, -1, -1
			}
			m.cb(out)
		}
	case r.Timeout():
		fail(kerr.RequestTimedOut.Code, "replication timed out")
	default:
		// Dropped, terminated, aborted: leadership moved or the shard stopped.
		fail(kerr.NotLeaderForPartition.Code, "")
	}
}
