package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// latestOffset is ListOffsets latest of partition 0: the last stable
// offset with committed, the high watermark without.
func latestOffset(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, committed bool) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	if committed {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v %+v", err, resp)
	}
	return resp.Topics[0].Partitions[0].Offset
}

func endTxn(t *testing.T, ctx context.Context, cl *kgo.Client, id string, pid int64, epoch int16, commit bool) *kmsg.EndTxnResponse {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.ConcurrentTransactions.Code {
			return resp
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTransactionVerificationKIP890: the partition leader takes a
// transaction's batches only for partitions in that transaction at its
// coordinator, so a late batch cannot open a transaction no marker closes
// (part 1), and Produce v12 / EndTxn v5 (part 2) add partitions implicitly
// and end each transaction under a new epoch that fences its late batches.
func TestTransactionVerificationKIP890(t *testing.T) {
	b := startBroker(t, "", map[string]string{"transaction.state.log.num.partitions": "3"})
	addr := b.Addr()
	ctx := testContext(t, time.Minute)
	const topic = "kip890"
	if _, err := newAdmin(t, addr).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	t.Run("part1", func(t *testing.T) {
		v := kversion.Stable()
		v.SetMaxKeyVersion(int16(kmsg.Produce), 11)
		v.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
		cl := newClient(t, addr, kgo.MaxVersions(v))
		const id = "v1-producer"
		pid, epoch := initTxnProducer(t, ctx, cl, id)
		start := latestOffset(t, ctx, cl, topic, false)

		// Not added to the transaction: refused, nothing written.
		if _, code := produceTxn(t, ctx, cl, topic, id, txnBatch(pid, epoch, 0, true, "not-added")); code != kerr.InvalidTxnState.Code {
			t.Fatalf("batch for a partition not in the transaction: code %d, want INVALID_TXN_STATE", code)
		}
		if end := latestOffset(t, ctx, cl, topic, false); end != start {
			t.Fatalf("a refused batch was written: end offset %d, want %d", end, start)
		}

		add := kmsg.NewPtrAddPartitionsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
		at := kmsg.NewAddPartitionsToTxnRequestTopic()
		at.Topic, at.Partitions = topic, []int32{0}
		add.Topics = append(add.Topics, at)
		if resp, err := add.RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("AddPartitionsToTxn: %v %+v", err, resp)
		}
		if _, code := produceTxn(t, ctx, cl, topic, id, txnBatch(pid, epoch, 0, true, "in-txn")); code != 0 {
			t.Fatalf("batch after AddPartitionsToTxn: code %d", code)
		}
		if resp := endTxn(t, ctx, cl, id, pid, epoch, false); resp.ErrorCode != 0 {
			t.Fatalf("EndTxn abort: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		// Wait for the abort marker: the last stable offset reaches the end.
		waitFor(t, ctx, "the abort marker", func() bool {
			return latestOffset(t, ctx, cl, topic, true) == latestOffset(t, ctx, cl, topic, false)
		})
		// A late batch of the ended transaction (same epoch, next sequence)
		// is refused rather than opening a hanging transaction.
		end := latestOffset(t, ctx, cl, topic, false)
		if _, code := produceTxn(t, ctx, cl, topic, id, txnBatch(pid, epoch, 1, true, "late")); code != kerr.InvalidTxnState.Code {
			t.Fatalf("late batch after the transaction ended: code %d, want INVALID_TXN_STATE", code)
		}
		if lso, hw := latestOffset(t, ctx, cl, topic, true), latestOffset(t, ctx, cl, topic, false); lso != end || hw != end {
			t.Fatalf("after the late batch: last stable offset %d, high watermark %d, want both %d", lso, hw, end)
		}
	})

	t.Run("part2", func(t *testing.T) {
		cl := newClient(t, addr)
		const id = "v2-producer"
		pid, epoch := initTxnProducer(t, ctx, cl, id)
		// Produce v12: no AddPartitionsToTxn, the leader adds the partition.
		if _, code := produceTxn(t, ctx, cl, topic, id, txnBatch(pid, epoch, 0, true, "committed")); code != 0 {
			t.Fatalf("v12 batch without AddPartitionsToTxn: code %d", code)
		}
		dt, err := newAdmin(t, addr).DescribeTransactions(ctx, id)
		if err != nil || dt[id].State != "Ongoing" || len(dt[id].Topics[topic]) != 1 {
			t.Fatalf("DescribeTransactions after the implicit add: %+v %v", dt, err)
		}
		resp := endTxn(t, ctx, cl, id, pid, epoch, true)
		if resp.ErrorCode != 0 || resp.ProducerID != pid || resp.ProducerEpoch != epoch+1 {
			t.Fatalf("EndTxn v5 commit: %v, producer %d epoch %d, want %d/%d", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch, pid, epoch+1)
		}
		// The markers carry the new epoch: a late batch of the committed
		// transaction is fenced.
		waitFor(t, ctx, "the commit marker", func() bool {
			return latestOffset(t, ctx, cl, topic, true) == latestOffset(t, ctx, cl, topic, false)
		})
		if _, code := produceTxn(t, ctx, cl, topic, id, txnBatch(pid, epoch, 1, true, "late")); code != kerr.InvalidProducerEpoch.Code {
			t.Fatalf("late batch under the old epoch: code %d, want INVALID_PRODUCER_EPOCH", code)
		}
		// The next transaction, under the new epoch from sequence 0, aborted.
		if _, code := produceTxn(t, ctx, cl, topic, id, txnBatch(pid, epoch+1, 0, true, "aborted")); code != 0 {
			t.Fatalf("next transaction's batch: code %d", code)
		}
		if resp := endTxn(t, ctx, cl, id, pid, epoch+1, false); resp.ErrorCode != 0 || resp.ProducerEpoch != epoch+2 {
			t.Fatalf("EndTxn v5 abort: %v epoch %d", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerEpoch)
		}
		// A retry of that EndTxn (its answer lost) gets the same answer.
		if resp := endTxn(t, ctx, cl, id, pid, epoch+1, false); resp.ErrorCode != 0 || resp.ProducerEpoch != epoch+2 {
			t.Fatalf("retried EndTxn v5 abort: %v epoch %d", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerEpoch)
		}
		// Aborting with nothing open only bumps the epoch.
		if resp := endTxn(t, ctx, cl, id, pid, epoch+2, false); resp.ErrorCode != 0 || resp.ProducerEpoch != epoch+3 {
			t.Fatalf("empty EndTxn v5 abort: %v epoch %d", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerEpoch)
		}
		// Committing with nothing open is an error.
		if resp := endTxn(t, ctx, cl, id, pid, epoch+3, true); resp.ErrorCode != kerr.InvalidTxnState.Code {
			t.Fatalf("empty EndTxn v5 commit: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(resp.ErrorCode))
		}
	})

	got := consumeValues(t, ctx, addr, topic, kgo.ReadCommitted())
	if len(got) != 1 || got[0] != "committed" {
		t.Fatalf("read_committed: %v, want [committed]", got)
	}
}
