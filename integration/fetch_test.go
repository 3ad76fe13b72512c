package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func fetchRequest(topic string, id [16]byte, offset int64, minBytes, maxWaitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MinBytes, req.MaxWaitMillis, req.MaxBytes = minBytes, maxWaitMs, 1<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestFetchSemantics: OFFSET_OUT_OF_RANGE outside the log, UNKNOWN_TOPIC_ID
// for a wrong topic ID, and a long poll (MinBytes, MaxWaitMs) that parks
// until data is produced instead of answering empty.
func TestFetchSemantics(t *testing.T) {
	b := startBroker(t, "", nil)
	ctx := testContext(t, time.Minute)
	cr, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 1, 1, nil, "f")
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("f"))
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := fetchRequest("f", cr.ID, 10, 1, 0).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != -1 && p.HighWatermark != 3 {
		t.Fatalf("beyond the end: %+v", p)
	}
	resp, err = fetchRequest("f", [16]byte{9}, 0, 1, 0).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic ID: error %d", code)
	}
	// At the end with MinBytes=1: parks until the produce below.
	type result struct {
		resp *kmsg.FetchResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		r, err := fetchRequest("f", cr.ID, 3, 1, 20_000).RequestWith(ctx, newClient(t, b.Addr()))
		done <- result{r, err}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("fetch returned before any data: %+v %v", r.resp, r.err)
	default:
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	p := r.resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 4 {
		t.Fatalf("long poll answer: error %d, %d bytes, hw %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
}

// TestIdempotentRetry: the same idempotent batch sent twice (a retry after a
// lost response) is written once and both answers carry the same offset; a
// sequence gap is refused.
func TestIdempotentRetry(t *testing.T) {
	b := startBroker(t, "", nil)
	ctx := testContext(t, time.Minute)
	cl := newClient(t, b.Addr())
	if _, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 1, 1, nil, "idem"); err != nil {
		t.Fatal(err)
	}
	pid, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err != nil || pid.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %+v", err, pid)
	}
	produce := func(seq int32) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "idem"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = idempotentBatch(pid.ProducerID, pid.ProducerEpoch, seq)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	first := produce(0)
	second := produce(1)
	retry := produce(0)
	gap := produce(5)
	if first.ErrorCode != 0 || second.ErrorCode != 0 || retry.ErrorCode != 0 {
		t.Fatalf("errors: %d %d %d", first.ErrorCode, second.ErrorCode, retry.ErrorCode)
	}
	if first.BaseOffset != 0 || second.BaseOffset != 1 || retry.BaseOffset != 0 {
		t.Fatalf("offsets: first %d, second %d, retry %d", first.BaseOffset, second.BaseOffset, retry.BaseOffset)
	}
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d", gap.ErrorCode)
	}
	ends, _ := newAdmin(t, b.Addr()).ListEndOffsets(ctx, "idem")
	if o, _ := ends.Lookup("idem", 0); o.Offset != 2 {
		t.Fatalf("end offset %d, want 2", o.Offset)
	}
}

// idempotentBatch is a one-record batch from producer (id, epoch) at seq.
func idempotentBatch(id int64, epoch int16, seq int32) []byte {
	b := validBatch()
	// Producer fields live inside the CRC-covered part; patch and re-CRC.
	put64 := func(at int, v uint64) {
		for i := 0; i < 8; i++ {
			b[at+i] = byte(v >> (56 - 8*i))
		}
	}
	put64(43, uint64(id))
	b[51], b[52] = byte(uint16(epoch)>>8), byte(epoch)
	b[53], b[54], b[55], b[56] = byte(uint32(seq)>>24), byte(uint32(seq)>>16), byte(uint32(seq)>>8), byte(seq)
	c := crc32c(b[21:])
	b[17], b[18], b[19], b[20] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	return b
}

// TestOffsetForLeaderEpoch: after a restart the leader epoch (Raft term)
// grows; OffsetForLeaderEpoch for the old epoch ends where the new one
// starts, and the current epoch ends at the log end.
func TestOffsetForLeaderEpoch(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir, nil)
	ctx := testContext(t, time.Minute)
	if _, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 1, 1, nil, "epochs"); err != nil {
		t.Fatal(err)
	}
	produce := func(addr string, n int) {
		cl := newClient(t, addr, kgo.DefaultProduceTopic("epochs"))
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}
	query := func(addr string, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "epochs"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, newClient(t, addr))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	produce(b.Addr(), 3)
	first := query(b.Addr(), 1<<30)
	if first.ErrorCode != 0 {
		t.Fatalf("error %d", first.ErrorCode)
	}
	td, _ := newAdmin(t, b.Addr()).ListTopics(ctx, "epochs")
	epoch1 := td["epochs"].Partitions[0].LeaderEpoch
	b.Close()

	b = startBroker(t, dir, nil)
	produce(b.Addr(), 2)
	td, _ = newAdmin(t, b.Addr()).ListTopics(ctx, "epochs")
	epoch2 := td["epochs"].Partitions[0].LeaderEpoch
	if epoch2 <= epoch1 {
		t.Fatalf("epoch did not grow across restart: %d then %d", epoch1, epoch2)
	}
	if r := query(b.Addr(), epoch1); r.ErrorCode != 0 || r.LeaderEpoch != epoch1 || r.EndOffset != 3 {
		t.Fatalf("old epoch %d: %+v", epoch1, r)
	}
	if r := query(b.Addr(), epoch2); r.ErrorCode != 0 || r.LeaderEpoch != epoch2 || r.EndOffset != 5 {
		t.Fatalf("current epoch %d: %+v", epoch2, r)
	}
}
