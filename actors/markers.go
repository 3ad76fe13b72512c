package actors

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/coordinator"
	"github.com/samsa-io/samsa/internal/batch"
)

// WriteMarker appends a transaction marker (commit or abort) for producer
// pid to a partition this broker leads, replicated like any acks=all write,
// and waits for it. It is how a transaction ends in a partition: the marker
// closes the producer's open transaction there (and, for an abort, lists it
// for read_committed fetches).
func (b *Broker) WriteMarker(ctx context.Context, topic string, index int32, pid int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	p := b.Partition(topic, index)
	if p == nil {
		return kerr.NotLeaderForPartition
	}
	if leader, _ := p.Leader(); !leader {
		return kerr.NotLeaderForPartition
	}
	m := batch.BuildMarker(pid, epoch, commit, coordinatorEpoch, b.opts.Clock().UnixMilli())
	h, err := batch.CheckCRC(m)
	if err != nil {
		return err
	}
	ch := make(chan ProduceResult, 1)
	p.Produce(ctx, m, h, -1, func(r ProduceResult) { ch <- r })
	select {
	case r := <-ch:
		if r.ErrorCode != 0 {
			return kerr.ErrorForCode(r.ErrorCode)
		}
	case <-ctx.Done():
		return kerr.RequestTimedOut
	}
	if topic == OffsetsTopic && p.groupPID != nil {
		b.settleTxnOffsets(ctx, p, pid, commit)
	}
	return nil
}

// settleTxnOffsets tells the group coordinator of a __consumer_offsets
// partition that producer pid's transaction ended there, so its
// transactional offset commits take effect or are dropped. While the
// coordinator loads, the marker is in the log it replays; the call is
// retried until it is loaded so none is missed.
func (b *Broker) settleTxnOffsets(ctx context.Context, p *Partition, pid int64, commit bool) {
	for {
		done := make(chan int16, 1)
		b.system.Root.Send(p.groupPID, &groupCallMsg{
			fn: func(c *coordinator.Coordinator, now time.Time) {
				c.CompleteTxn(now, pid, commit)
				done <- 0
			},
			fail: func(code int16) { done <- code },
		})
		select {
		case code := <-done:
			if code != kerr.CoordinatorLoadInProgress.Code {
				return // settled, or not the coordinator (a new one replays the marker)
			}
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
}
