package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// txnCall runs call on the transaction coordinator of transactional ID id,
// answering with what it responds, or with fail(code) when this broker is
// not that coordinator.
func txnCall[T kmsg.Response](rc *reqCtx, id string, fail func(code int16) T,
	call func(c *coordinator.TxnCoordinator, now time.Time, respond func(T))) kmsg.Response {
	ch := make(chan T, 1)
	rc.s.b.WithTxnCoordinator(rc, id,
		func(c *coordinator.TxnCoordinator, now time.Time) { call(c, now, func(r T) { ch <- r }) },
		func(code int16) { ch <- fail(code) })
	rc.later(func() kmsg.Response {
		select {
		case r := <-ch:
			return r
		case <-rc.Done():
			return fail(notCoordinator)
		}
	})
	return nil
}

// initTransactionalProducerID is InitProducerId with a transactional.id.
func initTransactionalProducerID(rc *reqCtx, req *kmsg.InitProducerIDRequest) kmsg.Response {
	mk := func(pid int64, epoch int16, code int16) *kmsg.InitProducerIDResponse {
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = pid, epoch, code
		if code == kerr.ProducerFenced.Code && req.GetVersion() < 4 {
			resp.ErrorCode = kerr.InvalidProducerEpoch.Code // PRODUCER_FENCED is v4+ (KIP-588)
		}
		return resp
	}
	return txnCall(rc, *req.TransactionalID, func(code int16) *kmsg.InitProducerIDResponse { return mk(-1, -1, code) },
		func(c *coordinator.TxnCoordinator, now time.Time, respond func(*kmsg.InitProducerIDResponse)) {
			c.InitProducerID(*req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch, now,
				func(pid int64, epoch, code int16) { respond(mk(pid, epoch, code)) })
		})
}

// fencedCode maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for request
// versions from before KIP-588.
func fencedCode(code int16, newEnough bool) int16 {
	if code == kerr.ProducerFenced.Code && !newEnough {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// handleAddPartitionsToTxn adds partitions to a transaction (v0-v3, the
// client form). Unknown partitions fail the request; the others are then
// OPERATION_NOT_ATTEMPTED, as Kafka answers. v4+ is the broker form.
func handleAddPartitionsToTxn(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.AddPartitionsToTxnRequest)
	if req.GetVersion() >= 4 {
		return addPartitionsToTxnBrokers(rc, req)
	}
	md := rc.s.b.Metadata()
	build := func(codeFor func(topic string, p int32) int16) *kmsg.AddPartitionsToTxnResponse {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, codeFor(rt.Topic, p)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	var parts []coordinator.TopicPartition
	unknown := false
	for _, rt := range req.Topics {
		t := md.Topics[rt.Topic]
		for _, p := range rt.Partitions {
			if t == nil || p < 0 || int(p) >= len(t.Partitions) {
				unknown = true
			}
			parts = append(parts, coordinator.TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	if unknown {
		return build(func(topic string, p int32) int16 {
			if t := md.Topics[topic]; t == nil || p < 0 || int(p) >= len(t.Partitions) {
				return kerr.UnknownTopicOrPartition.Code
			}
			return kerr.OperationNotAttempted.Code
		})
	}
	all := func(code int16) *kmsg.AddPartitionsToTxnResponse {
		code = fencedCode(code, req.GetVersion() >= 2)
		return build(func(string, int32) int16 { return code })
	}
	return txnCall(rc, req.TransactionalID, all,
		func(c *coordinator.TxnCoordinator, now time.Time, respond func(*kmsg.AddPartitionsToTxnResponse)) {
			c.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts, now, func(code int16) { respond(all(code)) })
		})
}

// handleAddOffsetsToTxn adds the group's __consumer_offsets partition to the
// transaction, so its TxnOffsetCommits get the transaction's marker.
func handleAddOffsetsToTxn(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.AddOffsetsToTxnRequest)
	mk := func(code int16) *kmsg.AddOffsetsToTxnResponse {
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = fencedCode(code, req.GetVersion() >= 2)
		return resp
	}
	return txnCall(rc, req.TransactionalID, mk,
		func(c *coordinator.TxnCoordinator, now time.Time, respond func(*kmsg.AddOffsetsToTxnResponse)) {
			c.AddOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, now, func(code int16) { respond(mk(code)) })
		})
}

// addPartitionsToTxnBrokers is AddPartitionsToTxn v4+, which partition
// leaders send to verify (or, for Produce v12+, add) a transaction's
// partitions before they take its batches (KIP-890), several transactions
// per request.
func addPartitionsToTxnBrokers(rc *reqCtx, req *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	chans := make([]chan int16, len(req.Transactions))
	for i, t := range req.Transactions {
		var parts []coordinator.TopicPartition
		for _, rt := range t.Topics {
			for _, p := range rt.Partitions {
				parts = append(parts, coordinator.TopicPartition{Topic: rt.Topic, Partition: p})
			}
		}
		ch := make(chan int16, 1)
		chans[i] = ch
		rc.s.b.WithTxnCoordinator(rc, t.TransactionalID, func(c *coordinator.TxnCoordinator, now time.Time) {
			if !t.VerifyOnly {
				c.AddPartitionsWhenFree(t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts, now, func(code int16) { ch <- code })
				return
			}
			code := int16(0)
			for _, tp := range parts {
				if code = c.VerifyPartition(t.TransactionalID, t.ProducerID, t.ProducerEpoch, tp); code != 0 {
					break
				}
			}
			ch <- code
		}, func(code int16) { ch <- code })
	}
	rc.later(func() kmsg.Response {
		for i, t := range req.Transactions {
			code := notCoordinator
			select {
			case code = <-chans[i]:
			case <-rc.Done():
			}
			rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
			rt.TransactionalID = t.TransactionalID
			for _, reqTopic := range t.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				st.Topic = reqTopic.Topic
				for _, p := range reqTopic.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					sp.Partition, sp.ErrorCode = p, code
					st.Partitions = append(st.Partitions, sp)
				}
				rt.Topics = append(rt.Topics, st)
			}
			resp.Transactions = append(resp.Transactions, rt)
		}
		return resp
	})
	return nil
}

// handleEndTxn commits or aborts a transaction. From v5 (KIP-890 part 2)
// the transaction ends under a bumped epoch, returned to the producer.
func handleEndTxn(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.EndTxnRequest)
	mk := func(pid int64, epoch int16, code int16) *kmsg.EndTxnResponse {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = fencedCode(code, req.GetVersion() >= 2)
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp
	}
	return txnCall(rc, req.TransactionalID, func(code int16) *kmsg.EndTxnResponse { return mk(-1, -1, code) },
		func(c *coordinator.TxnCoordinator, now time.Time, respond func(*kmsg.EndTxnResponse)) {
			done := func(pid int64, epoch int16, code int16) { respond(mk(pid, epoch, code)) }
			if req.GetVersion() >= 5 {
				c.EndTxnV2(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, now, done)
				return
			}
			c.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, now,
				func(code int16) { done(req.ProducerID, req.ProducerEpoch, code) })
		})
}
