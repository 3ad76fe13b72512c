package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/coordinator"
)

// Transactional produce verification (KIP-890). A partition leader takes a
// transaction's batch only if the partition is in that transaction at its
// coordinator: a batch that arrives late, after its transaction ended,
// would otherwise open a transaction in the partition that no marker ever
// closes, and hold the last stable offset back for good. Once the
// partition has the producer's transaction open, later batches of it need
// no check. Produce v12+ clients (part 2) skip AddPartitionsToTxn, and the
// check adds the partition instead.

// txnWatch follows one producer's transactional batches while they are
// checked with the coordinator, or checked and not yet decided.
type txnWatch struct {
	inFlight bool
	queued   []*produceMsg // held behind the check in flight, in order
	// markers counts markers decided for the producer; a check that a
	// marker overtook is stale and is done again.
	markers uint64
	start   uint64 // markers when the check in flight began
	refs    int    // checked batches not yet decided
}

// txnChecked reports a finished check to the partition actor.
type txnChecked struct {
	w     *txnWatch
	pid   int64
	id    string
	epoch int16
	code  int16
}

// holdForTxnCheck reports whether m must wait for a check (and holds it):
// m is a transaction's batch for which the partition has no open
// transaction of its producer and epoch, or a checked batch that a marker
// of its producer has since overtaken, or one queued behind a check of
// the same producer.
func (a *partitionActor) holdForTxnCheck(ctx actor.Context, m *produceMsg) bool {
	if m.txnID == "" || m.header.IsControl() {
		return false
	}
	pid := m.header.ProducerID
	w := a.watches[pid]
	if w != nil && w.inFlight {
		w.queued = append(w.queued, m)
		return true
	}
	if m.checked {
		m.checked = false
		if w != nil {
			w.refs--
			if w.markers == m.markers {
				a.releaseWatch(pid, w)
				return false
			}
		}
		// A marker of the producer overtook the check: check again.
	} else if a.decider.InTxn(pid, m.header.ProducerEpoch) {
		return false
	}
	if w == nil {
		w = &txnWatch{}
		if a.watches == nil {
			a.watches = map[int64]*txnWatch{}
		}
		a.watches[pid] = w
	}
	w.inFlight, w.start = true, w.markers
	w.queued = append(w.queued, m)
	a.startTxnCheck(ctx, w, m)
	return true
}

func (a *partitionActor) startTxnCheck(ctx actor.Context, w *txnWatch, m *produceMsg) {
	self, sys, p := ctx.Self(), ctx.ActorSystem(), a.p
	id, pid, epoch, add := m.txnID, m.header.ProducerID, m.header.ProducerEpoch, m.addToTxn
	tp := coordinator.TopicPartition{Topic: p.Topic, Partition: p.Index}
	go func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		code := p.b.CheckTxnPartition(cctx, id, pid, epoch, tp, add)
		sys.Root.Send(self, &txnChecked{w: w, pid: pid, id: id, epoch: epoch, code: code})
	}()
}

// txnCheckDone releases the batches held behind a finished check: those of
// the checked transaction go on (marked checked) or fail; any others are
// looked at again by the next flush.
func (a *partitionActor) txnCheckDone(ctx actor.Context, m *txnChecked) {
	w := m.w
	if a.watches[m.pid] != w {
		return // dropped with its batches (leadership lost)
	}
	w.inFlight = false
	queued := w.queued
	w.queued = nil
	stale := w.markers != w.start
	code := produceCodeForTxnCheck(m.code)
	for _, q := range queued {
		switch {
		case stale || q.txnID != m.id || q.header.ProducerEpoch != m.epoch:
			a.pending = append(a.pending, q)
		case m.code != 0:
			q.fail(code, "partition verification with the transaction coordinator failed: "+kerr.ErrorForCode(m.code).Error())
		default:
			q.checked, q.markers = true, w.markers
			w.refs++
			a.pending = append(a.pending, q)
		}
	}
	a.releaseWatch(m.pid, w)
	a.scheduleFlush(ctx)
}

// markerDecided notes a marker of producer pid, which makes the checks of
// its batches not yet decided stale.
func (a *partitionActor) markerDecided(pid int64) {
	if w := a.watches[pid]; w != nil {
		w.markers++
	}
}

func (a *partitionActor) releaseWatch(pid int64, w *txnWatch) {
	if !w.inFlight && w.refs <= 0 && len(w.queued) == 0 {
		delete(a.watches, pid)
	}
}

// dropWatches fails every batch held for a check (leadership lost, actor
// stopping). Checked batches still pending are failed by the caller.
func (a *partitionActor) dropWatches(code int16) {
	for _, w := range a.watches {
		for _, q := range w.queued {
			q.fail(code, "")
		}
	}
	a.watches = nil
}

// produceCodeForTxnCheck maps a coordinator's answer to the produce error
// Kafka gives for it: the coordinator being busy or moving is retriable
// for the producer (NOT_ENOUGH_REPLICAS, which every client retries).
func produceCodeForTxnCheck(code int16) int16 {
	switch code {
	case 0:
		return 0
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.ConcurrentTransactions.Code, kerr.RequestTimedOut.Code:
		return kerr.NotEnoughReplicas.Code
	case kerr.InvalidProducerIDMapping.Code, kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code:
		return kerr.InvalidProducerEpoch.Code
	case kerr.InvalidTxnState.Code:
		return kerr.InvalidTxnState.Code
	}
	return code
}
