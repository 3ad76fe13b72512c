package coordinator

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnHarness runs a TxnCoordinator with synchronous, recorded callbacks.
type txnHarness struct {
	c         *TxnCoordinator
	log       []Record
	markers   []Markers
	markerErr error
	nextPID   int64
	now       time.Time
}

func newTxnHarness(t *testing.T, records []Record) *txnHarness {
	h := &txnHarness{nextPID: 100, now: time.UnixMilli(1_000_000)}
	cfg := TxnConfig{
		MaxTimeout: 15 * time.Minute,
		Commit: func(rs []Record, done func(error)) {
			h.log = append(h.log, rs...)
			done(nil)
		},
		WriteMarkers: func(m Markers, done func(error)) {
			h.markers = append(h.markers, m)
			done(h.markerErr)
		},
		AllocateProducerID: func(done func(int64, error)) {
			h.nextPID++
			done(h.nextPID, nil)
		},
		OffsetsPartition: func(g string) TopicPartition { return TopicPartition{"__consumer_offsets", PartitionFor(g, 50)} },
		RetryBackoff:     time.Second,
	}
	h.c = NewTxnCoordinator(cfg, records, h.now)
	return h
}

func (h *txnHarness) init(t *testing.T, id string, reqPID int64, reqEpoch int16) (int64, int16, int16) {
	t.Helper()
	var pid int64
	var epoch, code int16 = -1, -1
	h.c.InitProducerID(id, 60000, reqPID, reqEpoch, h.now, func(p int64, e, c int16) { pid, epoch, code = p, e, c })
	if code == -1 {
		t.Fatal("InitProducerID did not respond")
	}
	return pid, epoch, code
}

func (h *txnHarness) call(t *testing.T, f func(respond func(int16))) int16 {
	t.Helper()
	code := int16(-1)
	f(func(c int16) { code = c })
	if code == -1 {
		t.Fatal("no response")
	}
	return code
}

// TestTxnCoordinatorLifecycle: InitProducerId, a committed and an aborted
// transaction with their markers, fencing by a new instance, timeouts and
// a reload from the written records.
func TestTxnCoordinatorLifecycle(t *testing.T) {
	h := newTxnHarness(t, nil)
	pid, epoch, code := h.init(t, "t", -1, -1)
	if code != 0 || pid != 101 || epoch != 0 {
		t.Fatalf("init: %d %d %d", pid, epoch, code)
	}
	parts := []TopicPartition{{"a", 1}, {"a", 0}}
	if c := h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch, parts, h.now, r) }); c != 0 {
		t.Fatalf("add partitions: %d", c)
	}
	if c := h.call(t, func(r func(int16)) { h.c.AddOffsets("t", pid, epoch, "g", h.now, r) }); c != 0 {
		t.Fatalf("add offsets: %d", c)
	}
	if c := h.c.VerifyPartition("t", pid, epoch, TopicPartition{"a", 1}); c != 0 {
		t.Fatalf("verify an added partition: %d", c)
	}
	if c := h.c.VerifyPartition("t", pid, epoch, TopicPartition{"b", 0}); c != kerr.InvalidTxnState.Code {
		t.Fatalf("verify a partition not added: %d", c)
	}
	if c := h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch-1+2, parts, h.now, r) }); c != kerr.ProducerFenced.Code {
		t.Fatalf("wrong epoch: %d", c)
	}
	if c := h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid+1, epoch, parts, h.now, r) }); c != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("wrong producer ID: %d", c)
	}
	if c := h.call(t, func(r func(int16)) { h.c.EndTxn("t", pid, epoch, true, h.now, r) }); c != 0 {
		t.Fatalf("commit: %d", c)
	}
	if len(h.markers) != 1 || !h.markers[0].Commit || len(h.markers[0].Partitions) != 3 || h.markers[0].Partitions[0] != (TopicPartition{"__consumer_offsets", PartitionFor("g", 50)}) {
		t.Fatalf("commit markers: %+v", h.markers)
	}
	if m, _ := h.c.Describe("t"); m.State != kmsg.TransactionStateCompleteCommit || len(m.Partitions) != 0 {
		t.Fatalf("after commit: %+v", m)
	}
	if c := h.call(t, func(r func(int16)) { h.c.EndTxn("t", pid, epoch, true, h.now, r) }); c != 0 {
		t.Fatalf("a retried commit: %d", c)
	}
	if c := h.call(t, func(r func(int16)) { h.c.EndTxn("t", pid, epoch, false, h.now, r) }); c != kerr.InvalidTxnState.Code {
		t.Fatalf("abort after commit: %d", c)
	}

	// A failed marker write keeps the transaction in PrepareAbort, busy,
	// until a Tick retries it.
	h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch, parts[:1], h.now, r) })
	h.markerErr = errors.New("leader moved")
	if c := h.call(t, func(r func(int16)) { h.c.EndTxn("t", pid, epoch, false, h.now, r) }); c != 0 {
		t.Fatalf("abort: %d", c)
	}
	if m, _ := h.c.Describe("t"); m.State != kmsg.TransactionStatePrepareAbort {
		t.Fatalf("after a failed marker write: %v", m.State)
	}
	if c := h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch, parts, h.now, r) }); c != kerr.ConcurrentTransactions.Code {
		t.Fatalf("add during the marker phase: %d", c)
	}
	h.markerErr = nil
	h.now = h.now.Add(2 * time.Second)
	if d := h.c.NextDeadline(); d.IsZero() || d.After(h.now) {
		t.Fatalf("retry deadline %v", d)
	}
	h.c.Tick(h.now)
	if m, _ := h.c.Describe("t"); m.State != kmsg.TransactionStateCompleteAbort {
		t.Fatalf("after the retry: %v", m.State)
	}

	// A new instance: an open transaction is aborted under a bumped epoch,
	// and the retry gets the next epoch.
	h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch, parts, h.now, r) })
	if _, _, code := h.init(t, "t", -1, -1); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init with an open transaction: %d", code)
	}
	last := h.markers[len(h.markers)-1]
	if last.Commit || last.Epoch != epoch+1 {
		t.Fatalf("fencing abort marker: %+v", last)
	}
	pid2, epoch2, code := h.init(t, "t", -1, -1)
	if code != 0 || pid2 != pid || epoch2 != epoch+2 {
		t.Fatalf("re-init: %d %d %d", pid2, epoch2, code)
	}
	if c := h.call(t, func(r func(int16)) { h.c.EndTxn("t", pid, epoch, true, h.now, r) }); c != kerr.ProducerFenced.Code {
		t.Fatalf("the zombie's EndTxn: %d", c)
	}

	// Timeout: an open transaction older than its timeout is aborted.
	h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid2, epoch2, parts, h.now, r) })
	h.now = h.now.Add(61 * time.Second)
	h.c.Tick(h.now)
	if m, _ := h.c.Describe("t"); m.State != kmsg.TransactionStateCompleteAbort || m.Epoch != epoch2+1 {
		t.Fatalf("after the timeout: %+v", m)
	}

	// A reload from the records has the same state.
	r := newTxnHarness(t, h.log)
	m1, _ := h.c.Describe("t")
	m2, ok := r.c.Describe("t")
	if !ok || m2.ProducerID != m1.ProducerID || m2.Epoch != m1.Epoch || m2.State != m1.State {
		t.Fatalf("reloaded %+v, want %+v", m2, m1)
	}
}

// TestTxnCoordinatorResumesPrepared: a transaction found in PrepareCommit
// after a coordinator move writes its markers again and completes.
func TestTxnCoordinatorResumesPrepared(t *testing.T) {
	h := newTxnHarness(t, nil)
	pid, epoch, _ := h.init(t, "t", -1, -1)
	h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}}, h.now, r) })
	h.markerErr = errors.New("unreachable")
	h.call(t, func(r func(int16)) { h.c.EndTxn("t", pid, epoch, true, h.now, r) })
	h.c.Unload()

	r := newTxnHarness(t, h.log)
	if m, _ := r.c.Describe("t"); m.State != kmsg.TransactionStatePrepareCommit {
		t.Fatalf("reloaded state %v", m.State)
	}
	r.c.Tick(r.now)
	if len(r.markers) != 1 || !r.markers[0].Commit {
		t.Fatalf("markers after reload: %+v", r.markers)
	}
	if m, _ := r.c.Describe("t"); m.State != kmsg.TransactionStateCompleteCommit {
		t.Fatalf("after resuming: %v", m.State)
	}
	if _, _, code := r.init(t, "t", -1, -1); code != 0 {
		t.Fatalf("init after completion: %d", code)
	}
	if _, _, code := r.init(t, "t", pid, 99); code != kerr.ProducerFenced.Code {
		t.Fatalf("KIP-360 init naming an unknown epoch: %d", code)
	}
}

// FuzzTxnRecords: __transaction_state records read back from disk never
// panic the loader, and whatever loads serves requests and ticks.
func FuzzTxnRecords(f *testing.F) {
	m := TxnMeta{TransactionalID: "t", ProducerID: 7, Epoch: 3, TimeoutMs: 60000, State: kmsg.TransactionStatePrepareCommit,
		Partitions: []TopicPartition{{"a", 0}, {"b", 2}}, StartMs: 5, UpdateMs: 6}
	f.Add(encodeTxnKey("t"), encodeTxnValue(&m))
	m.State = kmsg.TransactionStateOngoing
	f.Add(encodeTxnKey("t"), encodeTxnValue(&m))
	f.Add(encodeTxnKey("t"), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		h := newTxnHarness(t, []Record{{Key: key, Value: value}})
		h.c.Tick(h.now.Add(time.Hour))
		for _, m := range h.c.List() {
			h.c.AddPartitions(m.TransactionalID, m.ProducerID, m.Epoch, []TopicPartition{{"x", 0}}, h.now, func(int16) {})
			h.c.EndTxn(m.TransactionalID, m.ProducerID, m.Epoch, true, h.now, func(int16) {})
			h.c.InitProducerID(m.TransactionalID, 1000, -1, -1, h.now, func(int64, int16, int16) {})
		}
	})
}

func txnCommitReq(group string, pid int64, offset int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = 3, group, pid, 0, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "in"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = 0, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func committedOffset(c *Coordinator, group string, stable bool) (int64, int16) {
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = "in", []int32{0}
	g := c.FetchOffsets(group, []kmsg.OffsetFetchRequestGroupTopic{rt}, stable)
	p := g.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// TestTxnOffsetCommit: offsets committed in a transaction count only once
// its commit marker arrives, are dropped by an abort, are unstable
// meanwhile (KIP-447), and replay the same way from the log.
func TestTxnOffsetCommit(t *testing.T) {
	var log []Record
	var txnLog []int64 // producer of each record in log, -1 if none
	c := NewCoordinator(Config{
		Commit: func(rs []Record, done func(error)) {
			for range rs {
				txnLog = append(txnLog, -1)
			}
			log = append(log, rs...)
			done(nil)
		},
		TxnCommit: func(pid int64, _ int16, rs []Record, done func(error)) {
			for range rs {
				txnLog = append(txnLog, pid)
			}
			log = append(log, rs...)
			done(nil)
		},
	})
	c.CompleteLoad(t0)
	var resp *kmsg.TxnOffsetCommitResponse
	c.TxnOffsetCommit(t0, txnCommitReq("g", 5, 42), func(r *kmsg.TxnOffsetCommitResponse) { resp = r })
	if resp == nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("TxnOffsetCommit: %+v", resp)
	}
	if off, code := committedOffset(c, "g", false); off != -1 || code != 0 {
		t.Fatalf("before the marker: offset %d code %d", off, code)
	}
	if _, code := committedOffset(c, "g", true); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require_stable before the marker: code %d", code)
	}
	c.CompleteTxn(t0, 5, true)
	if off, _ := committedOffset(c, "g", true); off != 42 {
		t.Fatalf("after commit: offset %d", off)
	}
	c.TxnOffsetCommit(t0, txnCommitReq("g", 6, 99), func(*kmsg.TxnOffsetCommitResponse) {})
	c.CompleteTxn(t0, 6, false)
	if off, _ := committedOffset(c, "g", true); off != 42 {
		t.Fatalf("after an aborted commit: offset %d, want 42", off)
	}

	// Replay: the same log with markers in place gives the same offsets.
	r := NewCoordinator(Config{})
	for i, rec := range log {
		if txnLog[i] >= 0 {
			if err := r.ReplayTxn(txnLog[i], rec.Key, rec.Value); err != nil {
				t.Fatal(err)
			}
			r.ReplayMarker(txnLog[i], txnLog[i] == 5)
			continue
		}
		if err := r.Replay(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	r.CompleteLoad(t0)
	if off, _ := committedOffset(r, "g", true); off != 42 {
		t.Fatalf("replayed: offset %d, want 42", off)
	}
}

func (h *txnHarness) endV2(t *testing.T, id string, pid int64, epoch int16, commit bool) (int64, int16, int16) {
	t.Helper()
	var rp int64
	var re, rc int16 = -1, -1
	h.c.EndTxnV2(id, pid, epoch, commit, h.now, func(p int64, e, c int16) { rp, re, rc = p, e, c })
	if rc == -1 {
		t.Fatal("EndTxnV2 did not respond")
	}
	return rp, re, rc
}

// TestTxnCoordinatorEndTxnV2: KIP-890 part 2. Every EndTxn v5 ends the
// transaction under the next epoch, which the markers carry; a retry of it
// gets the same answer, even after a reload; aborting with nothing open
// bumps the epoch; when the epochs run out the next transaction gets a new
// producer ID; a fenced producer's abort is not taken for a retry.
func TestTxnCoordinatorEndTxnV2(t *testing.T) {
	h := newTxnHarness(t, nil)
	pid, epoch, _ := h.init(t, "t", -1, -1)
	tp := []TopicPartition{{"a", 0}}
	add := func(pid int64, epoch int16) int16 {
		return h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch, tp, h.now, r) })
	}
	// The first transaction times out before any EndTxn: the producer's
	// abort still ends cleanly, with the epoch the timeout gave it.
	if c := add(pid, epoch); c != 0 {
		t.Fatal(c)
	}
	h.now = h.now.Add(2 * time.Minute)
	h.c.Tick(h.now)
	if p, e, c := h.endV2(t, "t", pid, epoch, false); c != 0 || p != pid || e != epoch+1 {
		t.Fatalf("abort after the first transaction timed out: %d/%d %d", p, e, c)
	}
	epoch++
	if c := add(pid, epoch); c != 0 {
		t.Fatal(c)
	}
	// Markers fail at first: the retry comes while they are pending.
	h.markerErr = errors.New("leader unavailable")
	if p, e, c := h.endV2(t, "t", pid, epoch, true); c != 0 || p != pid || e != epoch+1 {
		t.Fatalf("commit: %d/%d %d", p, e, c)
	}
	if m := h.markers[len(h.markers)-1]; m.Epoch != epoch+1 || !m.Commit {
		t.Fatalf("markers %+v, want the bumped epoch %d", m, epoch+1)
	}
	if p, e, c := h.endV2(t, "t", pid, epoch, true); c != 0 || p != pid || e != epoch+1 {
		t.Fatalf("retried commit while the markers are pending: %d/%d %d", p, e, c)
	}
	if _, _, c := h.endV2(t, "t", pid, epoch, false); c != kerr.ProducerFenced.Code {
		t.Fatalf("abort under the old epoch after a commit: %d", c)
	}
	h.markerErr = nil
	h.now = h.now.Add(2 * time.Second)
	h.c.Tick(h.now)
	if m, _ := h.c.Describe("t"); m.State != kmsg.TransactionStateCompleteCommit || !m.TV2 {
		t.Fatalf("after the markers: %+v", m)
	}
	epoch++

	// A reload keeps what a retry needs.
	h2 := newTxnHarness(t, h.log)
	if p, e, c := h2.endV2(t, "t", pid, epoch-1, true); c != 0 || p != pid || e != epoch {
		t.Fatalf("retried commit after a reload: %d/%d %d", p, e, c)
	}

	// Nothing open: an abort bumps the epoch, a commit is refused.
	if p, e, c := h.endV2(t, "t", pid, epoch, false); c != 0 || p != pid || e != epoch+1 {
		t.Fatalf("empty abort: %d/%d %d", p, e, c)
	}
	epoch++
	if _, _, c := h.endV2(t, "t", pid, epoch, true); c != kerr.InvalidTxnState.Code {
		t.Fatalf("empty commit: %d", c)
	}

	// A timeout aborts under a bumped epoch; the producer's own abort
	// then ends cleanly with that epoch.
	if c := add(pid, epoch); c != 0 {
		t.Fatal(c)
	}
	h.now = h.now.Add(2 * time.Minute)
	h.c.Tick(h.now)
	if p, e, c := h.endV2(t, "t", pid, epoch, false); c != 0 || p != pid || e != epoch+1 {
		t.Fatalf("abort after a timeout: %d/%d %d", p, e, c)
	}
	epoch++

	// Epoch exhaustion: the transaction ends under MaxInt16 and the next
	// one gets a new producer ID at epoch 0.
	e := h.c.txns["t"]
	e.meta.Epoch = 32766
	if c := add(pid, 32766); c != 0 {
		t.Fatal(c)
	}
	np, ne, c := h.endV2(t, "t", pid, 32766, true)
	if c != 0 || np == pid || ne != 0 {
		t.Fatalf("commit at the last epoch: %d/%d %d", np, ne, c)
	}
	if m := h.markers[len(h.markers)-1]; m.ProducerID != pid || m.Epoch != 32767 {
		t.Fatalf("markers at exhaustion: %+v", m)
	}
	if m, _ := h.c.Describe("t"); m.ProducerID != np || m.Epoch != 0 || m.LastProducerID != pid {
		t.Fatalf("after exhaustion: %+v", m)
	}
	if p, e, c := h.endV2(t, "t", pid, 32766, true); c != 0 || p != np || e != 0 {
		t.Fatalf("retried commit after exhaustion: %d/%d %d", p, e, c)
	}
	pid, epoch = np, 0

	// A new instance fences the open transaction; the old instance's
	// abort is not a retry.
	if c := add(pid, epoch); c != 0 {
		t.Fatal(c)
	}
	if _, _, c := h.init(t, "t", -1, -1); c != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init over an open transaction: %d", c)
	}
	if _, _, c := h.endV2(t, "t", pid, epoch, false); c != kerr.ProducerFenced.Code {
		t.Fatalf("fenced producer's abort: %d", c)
	}
}

// TestTxnCoordinatorAddWhenFree: adds made on a producer's behalf while the
// previous transaction's markers are still being written wait for them
// (instead of CONCURRENT_TRANSACTIONS), and those that waited together are
// one record; Unload answers whatever still waits.
func TestTxnCoordinatorAddWhenFree(t *testing.T) {
	h := newTxnHarness(t, nil)
	pid, epoch, _ := h.init(t, "t", -1, -1)
	if c := h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}}, h.now, r) }); c != 0 {
		t.Fatal(c)
	}
	h.markerErr = errors.New("a leader is down")
	if _, e, c := h.endV2(t, "t", pid, epoch, true); c != 0 || e != epoch+1 {
		t.Fatal(c)
	}
	epoch++
	codes := make([]int16, 3)
	for i := range codes {
		codes[i] = -1
		h.c.AddPartitionsWhenFree("t", pid, epoch, []TopicPartition{{"b", int32(i)}}, h.now, func(c int16) { codes[i] = c })
	}
	if codes[0] != -1 {
		t.Fatalf("an add was answered (%d) while the markers are pending", codes[0])
	}
	if c := h.call(t, func(r func(int16)) { h.c.AddPartitions("t", pid, epoch, []TopicPartition{{"c", 0}}, h.now, r) }); c != kerr.ConcurrentTransactions.Code {
		t.Fatalf("a client's AddPartitionsToTxn meanwhile: %d", c)
	}
	records := len(h.log)
	h.markerErr = nil
	h.now = h.now.Add(2 * time.Second)
	h.c.Tick(h.now) // markers succeed, the transaction completes, the adds run
	for i, c := range codes {
		if c != 0 {
			t.Fatalf("add %d: %d", i, c)
		}
	}
	if n := len(h.log) - records; n != 2 {
		t.Fatalf("%d records written (completion + adds), want 2: the waiting adds are one", n)
	}
	if m, _ := h.c.Describe("t"); m.State != kmsg.TransactionStateOngoing || len(m.Partitions) != 3 {
		t.Fatalf("after the adds: %+v", m)
	}

	h.markerErr = errors.New("down again")
	if _, _, c := h.endV2(t, "t", pid, epoch, false); c != 0 {
		t.Fatal(c)
	}
	code := int16(-1)
	h.c.AddPartitionsWhenFree("t", pid, epoch+1, []TopicPartition{{"d", 0}}, h.now, func(c int16) { code = c })
	h.c.Unload()
	if code != kerr.NotCoordinator.Code {
		t.Fatalf("a waiting add at unload: %d", code)
	}
}
