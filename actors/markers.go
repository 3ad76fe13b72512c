package actors

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"

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
	p.Produce(m, h, -1, func(r ProduceResult) { ch <- r })
	select {
	case r := <-ch:
		if r.ErrorCode != 0 {
			return kerr.ErrorForCode(r.ErrorCode)
		}
		return nil
	case <-ctx.Done():
		return kerr.RequestTimedOut
	}
}
