package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnBatch is a transactional (or plain idempotent) batch of values from
// producer pid/epoch starting at sequence seq, built with kmsg.
func txnBatch(pid int64, epoch int16, seq int32, transactional bool, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		rec := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		recs = append(recs, rec.AppendTo(nil)...)
	}
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: int32(len(values)), Records: recs}
	if transactional {
		rb.Attributes = 0x10
	}
	raw := rb.AppendTo(nil)
	rb.Length = int32(len(raw) - 12)
	raw = rb.AppendTo(nil)
	rb.CRC = int32(crc32c(raw[21:]))
	return rb.AppendTo(nil)
}

func produceTxn(t *testing.T, ctx context.Context, cl *kgo.Client, topic, txnID string, records []byte) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	if txnID != "" {
		req.TransactionID = &txnID
	}
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.BaseOffset, p.ErrorCode
}

func writeMarker(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, commit
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
}

// initTxnProducer is InitProducerId for transactional ID id.
func initTxnProducer(t *testing.T, ctx context.Context, cl *kgo.Client, id string) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, 60000
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		switch resp.ErrorCode {
		case 0:
			return resp.ProducerID, resp.ProducerEpoch
		case kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code, kerr.ConcurrentTransactions.Code:
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("InitProducerId(%s): %v", id, kerr.ErrorForCode(resp.ErrorCode))
	}
}

// consumeValues reads the topic from the start up to its end with the
// given isolation level and returns the record values.
func consumeValues(t *testing.T, ctx context.Context, addr, topic string, level kgo.IsolationLevel) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(200*time.Millisecond))
	var out []string
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

// TestTransactionMarkersReadCommitted: transactional batches and the
// markers a coordinator writes (WriteTxnMarkers), seen through franz-go
// consumers: read_committed stops at the last stable offset, never shows an
// aborted transaction and shows a committed one; read_uncommitted shows all;
// a marker with a newer epoch fences the producer's older epoch.
func TestTransactionMarkersReadCommitted(t *testing.T) {
	b := startBroker(t, "", nil)
	addr := b.Addr()
	ctx := testContext(t, time.Minute)
	const topic = "txn"
	if _, err := newAdmin(t, addr).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, addr)
	// A real transactional ID: the leader verifies transactional batches
	// with its coordinator (KIP-890), and Produce v12 adds the partition to
	// the transaction there. The markers, though, come from this test.
	pid, epoch := initTxnProducer(t, ctx, cl, "t1")

	if off, code := produceTxn(t, ctx, cl, topic, "t1", txnBatch(pid, epoch, 0, true, "aborted-1", "aborted-2")); code != 0 || off != 0 {
		t.Fatalf("transactional produce: offset %d code %d", off, code)
	}
	if _, code := produceTxn(t, ctx, cl, topic, "", txnBatch(-1, -1, -1, false, "plain")); code != 0 {
		t.Fatalf("plain produce: %d", code)
	}
	if _, code := produceTxn(t, ctx, cl, topic, "", txnBatch(pid, epoch, 2, true, "x")); code != kerr.InvalidRecord.Code {
		t.Fatalf("transactional batch without a transactional.id: code %d", code)
	}
	// The open transaction holds read_committed at offset 0.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.IsolationLevel = 1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	if r, err := lo.RequestWith(ctx, cl); err != nil || r.Topics[0].Partitions[0].Offset != 0 {
		t.Fatalf("read_committed latest offset with a transaction open: %+v %v", r, err)
	}
	if got := consumeValues(t, ctx, addr, topic, kgo.ReadCommitted()); len(got) != 0 {
		t.Fatalf("read_committed saw %v past an open transaction", got)
	}
	// DescribeProducers shows the open transaction (kadm, as kafka-transactions.sh would).
	dp, err := newAdmin(t, addr).DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	open := false
	dp.EachProducer(func(p kadm.DescribedProducer) {
		if p.ProducerID == pid && p.CurrentTxnStartOffset == 0 {
			open = true
		}
	})
	if !open {
		t.Fatalf("DescribeProducers does not show producer %d's open transaction at offset 0: %+v", pid, dp)
	}

	if code := writeMarker(t, ctx, cl, topic, pid, epoch, false); code != 0 {
		t.Fatalf("abort marker: %d", code)
	}
	if off, code := produceTxn(t, ctx, cl, topic, "t1", txnBatch(pid, epoch, 2, true, "committed")); code != 0 {
		t.Fatalf("second transaction: offset %d code %d", off, code)
	}
	if code := writeMarker(t, ctx, cl, topic, pid, epoch, true); code != 0 {
		t.Fatalf("commit marker: %d", code)
	}
	got := consumeValues(t, ctx, addr, topic, kgo.ReadCommitted())
	if len(got) != 2 || got[0] != "plain" || got[1] != "committed" {
		t.Fatalf("read_committed: %v, want [plain committed]", got)
	}
	if got := consumeValues(t, ctx, addr, topic, kgo.ReadUncommitted()); len(got) != 4 {
		t.Fatalf("read_uncommitted: %v, want all four records", got)
	}

	// A coordinator abort with a bumped epoch fences the old epoch.
	produceTxn(t, ctx, cl, topic, "t1", txnBatch(pid, epoch, 3, true, "zombie-before"))
	if code := writeMarker(t, ctx, cl, topic, pid, epoch+1, false); code != 0 {
		t.Fatalf("fencing abort marker: %d", code)
	}
	if _, code := produceTxn(t, ctx, cl, topic, "t1", txnBatch(pid, epoch, 4, true, "zombie")); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("zombie with the old epoch: code %d, want INVALID_PRODUCER_EPOCH", code)
	}
	if code := writeMarker(t, ctx, cl, topic, pid, epoch, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("marker with an older epoch: code %d", code)
	}
	got = consumeValues(t, ctx, addr, topic, kgo.ReadCommitted())
	for _, v := range got {
		if v == "zombie-before" || v == "zombie" || v == "aborted-1" {
			t.Fatalf("read_committed shows %q: %v", v, got)
		}
	}
}
