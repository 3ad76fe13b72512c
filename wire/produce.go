package wire

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/telemetry"
)

func handleProduce(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	b := rc.s.b
	md := b.Metadata()
	acks := req.Acks
	badAcks := acks != 0 && acks != 1 && acks != -1
	txn := req.TransactionID != nil

	type slot struct{ t, p int }
	var waits []chan actors.ProduceResult
	var slots []slot
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for ti, rt := range req.Topics {
		st := &resp.Topics[ti]
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		t := md.Topics[rt.Topic]
		for pi, rp := range rt.Partitions {
			sp := &st.Partitions[pi]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			fail := func(code int16, msg string) {
				sp.ErrorCode = code
				if msg != "" {
					m := msg
					sp.ErrorMessage = &m
				}
			}
			switch {
			case badAcks:
				fail(kerr.InvalidRequiredAcks.Code, "acks must be 0, 1 or -1")
				continue
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				fail(kerr.UnknownTopicOrPartition.Code, "")
				continue
			}
			p := b.Partition(rt.Topic, rp.Partition)
			if p == nil {
				fail(kerr.NotLeaderForPartition.Code, "")
				continue
			}
			if stranded, _ := p.Stranded(); stranded {
				fail(kerr.NotEnoughReplicas.Code, "no quorum of replicas reachable: the partition is read-only until one is back")
				continue
			}
			h, err := batch.Validate(rp.Records)
			if err != nil {
				code := kerr.CorruptMessage.Code
				if errors.Is(err, batch.ErrUnsupportedMagic) {
					code = kerr.UnsupportedForMessageFormat.Code
				}
				fail(code, err.Error())
				continue
			}
			switch {
			case h.IsControl():
				// Markers come only from transaction coordinators.
				fail(kerr.InvalidRecord.Code, "clients may not write control batches")
				continue
			case h.IsTransactional() != txn || (txn && h.ProducerID < 0):
				fail(kerr.InvalidRecord.Code, "a transactional batch needs a transactional.id and a producer ID, and only transactional batches may carry one")
				continue
			}
			ch := make(chan actors.ProduceResult, 1)
			tm, size := rc.s.metrics.Topic(rt.Topic), float64(len(rp.Records))
			pctx, span := startAppendSpan(rc, rt.Topic, rp.Partition, len(rp.Records), h.NumRecords)
			cb := func(res actors.ProduceResult) {
				if acks == 0 && res.ErrorCode != 0 {
					rc.closeConn(kerr.ErrorForCode(res.ErrorCode).Error())
				}
				if res.ErrorCode == 0 {
					tm.BytesIn.Add(size)
					tm.RecordsIn.Add(float64(h.NumRecords))
				}
				if span != nil {
					span.SetAttributes(telemetry.AttrOffset.Int64(res.BaseOffset))
					telemetry.SetErrorCode(span, res.ErrorCode)
					span.End()
				}
				ch <- res
			}
			if txn {
				// v12+ producers (KIP-890 part 2) leave adding the
				// partition to the transaction to us.
				p.ProduceTxn(pctx, rp.Records, h, acks, *req.TransactionID, req.GetVersion() >= 12, cb)
			} else {
				p.Produce(pctx, rp.Records, h, acks, cb)
			}
			waits = append(waits, ch)
			slots = append(slots, slot{ti, pi})
		}
	}
	if acks == 0 && !badAcks {
		rc.p.noResponse = true
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				if sp.ErrorCode != 0 {
					rc.closeConn(kerr.ErrorForCode(sp.ErrorCode).Error())
					return nil
				}
			}
		}
		return nil
	}
	if len(waits) == 0 {
		addProduceLeaderHints(b, resp)
		return resp
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	rc.later(func() kmsg.Response {
		ctx, cancel := context.WithTimeout(rc, timeout)
		defer cancel()
		for i, ch := range waits {
			sp := &resp.Topics[slots[i].t].Partitions[slots[i].p]
			select {
			case res := <-ch:
				sp.ErrorCode, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.ErrorCode, res.BaseOffset, res.LogAppendTime, res.LogStartOffset
				if res.ErrorMessage != "" {
					m := res.ErrorMessage
					sp.ErrorMessage = &m
				}
			case <-ctx.Done():
				sp.ErrorCode = kerr.RequestTimedOut.Code
			}
		}
		addProduceLeaderHints(b, resp)
		return resp
	})
	return nil
}

// startAppendSpan starts a "partition.append" span, from handing a batch to
// its partition to its answer, when the request is traced; else it returns
// the request's context and no span.
func startAppendSpan(ctx context.Context, topic string, partition int32, size int, records int32) (context.Context, trace.Span) {
	tr, ok := telemetry.Recording(ctx)
	if !ok {
		return ctx, nil
	}
	return tr.Start(ctx, "partition.append", trace.WithAttributes(telemetry.AttrTopic.String(topic),
		telemetry.Partition(partition), telemetry.AttrBytes.Int(size), telemetry.AttrRecords.Int(int(records))))
}
