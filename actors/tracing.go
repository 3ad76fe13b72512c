package actors

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/coordinator"
	"github.com/samsa-io/samsa/telemetry"
)

// Coordinator spans. The coordinators are state machines driven by their
// actors; they report state changes through hooks (installed only when
// tracing is on), and the actor parents the spans on the request being
// handled when the change happens (coordHost.callCtx), else on the trace
// the group or transaction is already in, else a new trace (timers).

// callContext is the context of the request the coordinator actor is
// handling, else Background.
func (h *coordHost) callContext() context.Context {
	if h.callCtx != nil {
		return h.callCtx
	}
	return context.Background()
}

// onGroupState follows rebalances: a "group.rebalance" span from
// PreparingRebalance until the group is Stable (or Empty, or Dead), with
// an event when the join phase completes.
func (a *groupActor) onGroupState(group string, from, to coordinator.GroupState, generation int32) {
	sp := a.rebalances[group]
	switch to {
	case coordinator.StatePreparingRebalance:
		if sp != nil {
			sp.AddEvent("rebalance restarted", trace.WithAttributes(attribute.String("from", from.String())))
			return
		}
		_, sp = a.p.b.tracing.Tracer.Start(a.callContext(), "group.rebalance", trace.WithAttributes(
			telemetry.AttrGroup.String(group), attribute.String("samsa.group.from_state", from.String()),
			attribute.Int("samsa.group.previous_generation", int(generation))))
		a.rebalances[group] = sp
	case coordinator.StateCompletingRebalance:
		if sp != nil {
			sp.AddEvent("members joined", trace.WithAttributes(attribute.Int("samsa.group.generation", int(generation))))
		}
	default: // Stable, Empty, Dead
		if sp != nil {
			sp.SetAttributes(attribute.Int("samsa.group.generation", int(generation)), attribute.String("samsa.group.state", to.String()))
			sp.End()
			delete(a.rebalances, group)
		}
	}
}

// endRebalances ends the rebalance spans of an unloaded coordinator.
func (a *groupActor) endRebalances() {
	for g, sp := range a.rebalances {
		sp.SetStatus(codes.Error, "coordinator unloaded")
		sp.End()
		delete(a.rebalances, g)
	}
}

// onStateWrite spans one transaction state write ("txn.state_change", until
// it is committed). A transaction's later writes (markers, Complete*),
// which no request drives, stay in the trace of the request that ended it.
func (a *txnActor) onStateWrite(next coordinator.TxnMeta, from coordinator.TxnState) func(error) {
	id := next.TransactionalID
	parent := a.callCtx
	if parent == nil {
		parent = a.txnCtx[id]
	}
	if parent == nil {
		parent = context.Background()
	}
	ctx, sp := a.p.b.tracing.Tracer.Start(parent, "txn.state_change", trace.WithAttributes(
		telemetry.AttrTxnID.String(id), attribute.Int64("kafka.producer_id", next.ProducerID),
		attribute.Int("kafka.producer_epoch", int(next.Epoch)),
		attribute.String("samsa.txn.from_state", from.String()), attribute.String("samsa.txn.state", next.State.String())))
	if a.txnCtx == nil {
		a.txnCtx = map[string]context.Context{}
	}
	switch next.State {
	case kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort, kmsg.TransactionStateEmpty, kmsg.TransactionStateDead:
		delete(a.txnCtx, id)
	default:
		a.txnCtx[id] = ctx
	}
	return func(err error) {
		if err != nil {
			sp.SetStatus(codes.Error, err.Error())
		}
		sp.End()
	}
}

// markersContext is the context to write a transaction's markers under: a
// "txn.markers" span in the transaction's trace when tracing is on.
func (a *txnActor) markersContext(mk coordinator.Markers) (context.Context, func(error)) {
	if !a.p.b.tracing.On {
		return context.Background(), func(error) {}
	}
	parent := a.txnCtx[mk.TransactionalID]
	if parent == nil {
		parent = context.Background()
	}
	ctx, sp := a.p.b.tracing.Tracer.Start(parent, "txn.markers", trace.WithAttributes(
		telemetry.AttrTxnID.String(mk.TransactionalID), attribute.Bool("samsa.txn.commit", mk.Commit),
		attribute.Int("samsa.txn.partitions", len(mk.Partitions))))
	return ctx, func(err error) {
		if err != nil {
			sp.SetStatus(codes.Error, err.Error())
		}
		sp.End()
	}
}
