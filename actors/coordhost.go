package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/coordinator"
)

// hostedCoordinator is what coordHost needs of a coordinator.
type hostedCoordinator interface {
	NextDeadline() time.Time
	Unload()
}

// coordHost is what the coordinator actors (groups, transactions) share:
// following the leadership of their internal-topic partition, loading the
// coordinator from the partition's records when this broker becomes its
// leader, dropping it when it stops being, and ticking it.
type coordHost struct {
	p       *Partition
	what    string            // for logs: "group coordinator", ...
	hosted  hostedCoordinator // nil unless loaded
	loading bool
	loadGen int
	epoch   int32
	timer   *time.Timer
	timerAt time.Time
	// callCtx is the context of the call being handled, nil between calls:
	// the parent of the coordinator's spans and writes.
	callCtx context.Context
}

// schedule arranges the next tick (groupTickMsg): at the coordinator's next
// deadline, and at least every second so lost leadership is noticed.
func (h *coordHost) schedule(ctx actor.Context) {
	next := time.Now().Add(time.Second)
	if h.hosted != nil {
		if d := h.hosted.NextDeadline(); !d.IsZero() && d.Before(next) {
			next = d
		}
	}
	if !h.timerAt.IsZero() && !next.Before(h.timerAt) {
		return
	}
	if h.timer != nil {
		h.timer.Stop()
	}
	h.timerAt = next
	self, sys := ctx.Self(), ctx.ActorSystem()
	h.timer = time.AfterFunc(time.Until(next), func() { sys.Root.Send(self, groupTickMsg{}) })
}

// ticked forgets the timer that just fired.
func (h *coordHost) ticked() { h.timerAt = time.Time{} }

func (h *coordHost) unload() {
	// Forget the stopped timer too: schedule only arms a timer earlier than
	// timerAt, so a stale timerAt would stop the ticks for good — and with
	// them the retry of a failed load.
	if h.timer != nil {
		h.timer.Stop()
	}
	h.timerAt = time.Time{}
	if h.hosted != nil {
		h.hosted.Unload()
		h.hosted = nil
	}
	h.loading = false
}

// checkLeadership starts loading the coordinator when this broker becomes
// the partition's leader (the result arrives as *groupLoadedMsg) and
// unloads it when it stops being.
func (h *coordHost) checkLeadership(ctx actor.Context) {
	leader, epoch := h.p.Leader()
	if !leader || h.p.stopped.Load() {
		if h.hosted != nil || h.loading {
			h.unload()
			h.loadGen++
		}
		return
	}
	if (h.hosted != nil && h.epoch == epoch) || h.loading {
		return
	}
	h.unload()
	h.loading = true
	h.loadGen++
	gen, self, sys := h.loadGen, ctx.Self(), ctx.ActorSystem()
	p := h.p
	go func() {
		// Everything committed before we became leader must be applied
		// before we read the log.
		bctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		msg := &groupLoadedMsg{gen: gen, epoch: epoch}
		if msg.err = p.b.host.Barrier(bctx, p.ShardID); msg.err == nil {
			msg.records, msg.err = readRecords(p.Log(), p.HighWatermark())
		}
		sys.Root.Send(self, msg)
	}()
}

// accept reports whether a load result is the current one and this broker
// still leads at its epoch; a failed load is retried at the next tick.
func (h *coordHost) accept(m *groupLoadedMsg) bool {
	if m.gen != h.loadGen {
		return false
	}
	h.loading = false
	if m.err != nil {
		h.p.b.log.Warn("loading "+h.what, "topic", h.p.Topic, "partition", h.p.Index, "err", m.err)
		return false
	}
	leader, epoch := h.p.Leader()
	return leader && epoch == m.epoch
}

// loaded installs the coordinator built from m.
func (h *coordHost) loaded(c hostedCoordinator, m *groupLoadedMsg) { h.hosted, h.epoch = c, m.epoch }

// internalTopic names an internal topic that hosts coordinators and the
// broker settings that shape it.
type internalTopic struct {
	name                                  string
	partitionsKey, replicationKey, segKey string
	pidOf                                 func(*Partition) *actor.PID // its coordinator actor
}

var (
	offsetsTopic = internalTopic{OffsetsTopic, "offsets.topic.num.partitions", "offsets.topic.replication.factor",
		"offsets.topic.segment.bytes", func(p *Partition) *actor.PID { return p.groupPID }}
	txnStateTopic = internalTopic{TransactionStateTopic, "transaction.state.log.num.partitions", "transaction.state.log.replication.factor",
		"transaction.state.log.segment.bytes", func(p *Partition) *actor.PID { return p.txnPID }}
)

// coordinatorFor returns the broker leading key's partition of the internal
// topic (abs(key.hashCode()) % partitions), creating the topic on first use
// as Kafka does: compacted, replication capped by the live brokers.
func (b *Broker) coordinatorFor(ctx context.Context, it internalTopic, key string) (int32, error) {
	t := b.Metadata().Topics[it.name]
	if t == nil {
		rf := int16(b.settings.Int64(it.replicationKey))
		if live := int16(len(b.liveBrokerIDs())); rf > live {
			rf = live
		}
		var err error
		t, err = b.CreateTopic(ctx, it.name, int32(b.settings.Int64(it.partitionsKey)), rf,
			map[string]string{"cleanup.policy": "compact", "segment.bytes": b.settings.String(it.segKey)}, false)
		if ErrorCode(err) == kerr.TopicAlreadyExists.Code {
			t, err = b.Metadata().Topics[it.name], nil
		}
		if err != nil || t == nil {
			return -1, errorf(kerr.CoordinatorNotAvailable, "creating %s: %v", it.name, err)
		}
	}
	a := t.Partitions[coordinator.PartitionFor(key, int32(len(t.Partitions)))]
	leader, _, ok := b.PartitionLeader(a.ShardID)
	if !ok {
		return -1, errorf(kerr.CoordinatorNotAvailable, "")
	}
	return leader, nil
}

// coordinatorActor is the actor of key's coordinator on this broker, or the
// error code to answer with when there is none here.
func (b *Broker) coordinatorActor(it internalTopic, key string) (*actor.PID, int16) {
	t := b.Metadata().Topics[it.name]
	if t == nil {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	p := b.Partition(it.name, coordinator.PartitionFor(key, int32(len(t.Partitions))))
	if p == nil || it.pidOf(p) == nil {
		return nil, kerr.NotCoordinator.Code
	}
	return it.pidOf(p), 0
}

// eachCoordinatorActor sends msg(done) to every coordinator actor of the
// internal topic on this broker and returns when each has called done (or
// ctx ends).
func (b *Broker) eachCoordinatorActor(ctx context.Context, it internalTopic, msg func(done func()) any) {
	b.mu.RLock()
	var pids []*actor.PID
	for _, p := range b.parts {
		if pid := it.pidOf(p); pid != nil {
			pids = append(pids, pid)
		}
	}
	b.mu.RUnlock()
	done := make(chan struct{}, len(pids))
	for _, pid := range pids {
		b.system.Root.Send(pid, msg(func() { done <- struct{}{} }))
	}
	for range pids {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}
