package partition

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/batch"
)

// idemBatch is a client batch (offsets from 0) of n records from producer pid.
func idemBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	h := batch.Header{LastOffsetDelta: int32(n - 1), FirstTimestamp: 1000, MaxTimestamp: 1000,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
	rs := make([]batch.Record, n)
	for i := range rs {
		rs[i] = batch.Record{OffsetDelta: int32(i), Key: []byte{byte(i)}, Value: []byte("v")}
	}
	b, err := batch.Build(h, rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendEntry(index uint64, flags byte, batches ...[]byte) sm.Entry {
	c := AppendCommand{LeaderEpoch: 3, TimestampMs: 5000, Flags: flags, Batches: batches}
	return sm.Entry{Index: index, Cmd: c.Encode()}
}

func apply(t *testing.T, s *StateMachine, entries ...sm.Entry) [][]BatchResult {
	t.Helper()
	out, err := s.Update(entries)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]BatchResult
	for _, e := range out {
		rs, err := DecodeResults(e.Result.Data)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rs)
	}
	return all
}

func openSM(t *testing.T, dir string) (*StateMachine, uint64) {
	t.Helper()
	s := NewStateMachine(dir, DefaultConfig(), nil)
	idx, err := s.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, idx
}

// TestStateMachineIdempotence: offsets are assigned at apply, a retried batch
// is answered with its original offset and written once, gaps and old epochs
// are refused.
func TestStateMachineIdempotence(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	defer s.Close()
	r := apply(t, s,
		appendEntry(1, 0, idemBatch(t, 7, 0, 0, 3)),    // offsets 0-2
		appendEntry(2, 0, idemBatch(t, 7, 0, 3, 2)),    // 3-4
		appendEntry(3, 0, idemBatch(t, 7, 0, 0, 3)),    // retry of the first: duplicate
		appendEntry(4, 0, idemBatch(t, 7, 0, 9, 1)),    // gap
		appendEntry(5, 0, idemBatch(t, 8, 0, 0, 1)),    // another producer: 5
		appendEntry(6, 0, idemBatch(t, 7, 1, 0, 1)),    // epoch bump: 6
		appendEntry(7, 0, idemBatch(t, 7, 0, 5, 1)),    // old epoch
		appendEntry(8, 0, idemBatch(t, -1, -1, -1, 2)), // not idempotent: 7-8
	)
	want := []BatchResult{
		{0, 0, -1}, {0, 3, -1}, {0, 0, -1},
		{kerr.OutOfOrderSequenceNumber.Code, 0, -1},
		{0, 5, -1}, {0, 6, -1},
		{kerr.InvalidProducerEpoch.Code, 0, -1},
		{0, 7, -1},
	}
	for i, w := range want {
		got := r[i][0]
		if got.ErrorCode != w.ErrorCode || (w.ErrorCode == 0 && got.BaseOffset != w.BaseOffset) {
			t.Errorf("entry %d: got %+v, want %+v", i+1, got, w)
		}
	}
	if n := s.Log().NextOffset(); n != 9 {
		t.Fatalf("log end %d, want 9", n)
	}
	// Stored batches carry the assigned offset and leader epoch.
	data, err := s.Log().Read(3, 1<<20, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := batch.ParseHeader(data)
	if h.BaseOffset != 3 || h.PartitionLeaderEpoch != 3 {
		t.Fatalf("stored header %+v", h)
	}
}

// TestStateMachineLogAppendTime stamps batches with the proposal's time.
func TestStateMachineLogAppendTime(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	defer s.Close()
	r := apply(t, s, appendEntry(1, AppendFlagLogAppendTime, idemBatch(t, -1, -1, -1, 2)))
	if r[0][0].LogAppendTime != 5000 {
		t.Fatalf("log append time %d", r[0][0].LogAppendTime)
	}
	data, _ := s.Log().Read(0, 1<<20, -1, true)
	h, err := batch.CheckCRC(data)
	if err != nil || !h.LogAppendTime() || h.MaxTimestamp != 5000 {
		t.Fatalf("stored batch %+v, %v", h, err)
	}
}

// TestStateMachineCrashRecovery: after a crash, Open returns the index of the
// last Sync and truncates what was applied after it, so re-applying the
// Raft entries from there yields the same offsets and no duplicates, and the
// producer state matches.
func TestStateMachineCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	s, idx := openSM(t, dir)
	if idx != 0 {
		t.Fatalf("new state machine at index %d", idx)
	}
	e1 := appendEntry(1, 0, idemBatch(t, 7, 0, 0, 3))
	e2 := appendEntry(2, 0, idemBatch(t, 7, 0, 3, 3))
	e3 := appendEntry(3, 0, idemBatch(t, 7, 0, 6, 3))
	apply(t, s, e1, e2)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	apply(t, s, e3)
	crash(s.Log()) // no Sync, no Close

	s2, idx := openSM(t, dir)
	defer s2.Close()
	if idx != 2 {
		t.Fatalf("reopened at index %d, want 2", idx)
	}
	if n := s2.Log().NextOffset(); n != 6 {
		t.Fatalf("log end after reopen %d, want 6", n)
	}
	// dragonboat re-applies entry 3, and a client retry of entry 2 is a duplicate.
	r := apply(t, s2, e3, appendEntry(4, 0, idemBatch(t, 7, 0, 3, 3)))
	if r[0][0].BaseOffset != 6 || r[1][0].BaseOffset != 3 || r[1][0].ErrorCode != 0 {
		t.Fatalf("after recovery: %+v", r)
	}
	if n := s2.Log().NextOffset(); n != 9 {
		t.Fatalf("log end %d, want 9", n)
	}
}

// TestStateMachineMalformedEntry: a malformed command does not stop the
// partition.
func TestStateMachineMalformedEntry(t *testing.T) {
	s, _ := openSM(t, t.TempDir())
	defer s.Close()
	out, err := s.Update([]sm.Entry{{Index: 1, Cmd: []byte{9, 9, 9}}, appendEntry(2, 0, idemBatch(t, -1, -1, -1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if len(out[0].Result.Data) != 0 {
		t.Fatal("malformed entry produced results")
	}
	rs, _ := DecodeResults(out[1].Result.Data)
	if rs[0].BaseOffset != 0 || rs[0].ErrorCode != 0 {
		t.Fatalf("good entry after a malformed one: %+v", rs)
	}
}

// TestVerifyReplica: a log that still holds everything checkpointed passes,
// even with an unsynced tail torn off (Raft re-applies it); one truncated
// below the checkpoint is ErrDamaged, which the broker repairs from the
// other replicas instead of opening.
func TestVerifyReplica(t *testing.T) {
	dir := t.TempDir()
	if err := VerifyReplica(dir, DefaultConfig()); err != nil {
		t.Fatalf("empty directory: %v", err)
	}
	s, _ := openSM(t, dir)
	apply(t, s, appendEntry(1, 0, idemBatch(t, 7, 0, 0, 3)), appendEntry(2, 0, idemBatch(t, 7, 0, 3, 3)))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	apply(t, s, appendEntry(3, 0, idemBatch(t, 7, 0, 6, 3)))
	crash(s.Log())
	if err := VerifyReplica(dir, DefaultConfig()); err != nil {
		t.Fatalf("intact log: %v", err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	st, _ := os.Stat(segs[0])
	if err := os.Truncate(segs[0], st.Size()/4); err != nil {
		t.Fatal(err)
	}
	if err := VerifyReplica(dir, DefaultConfig()); !errors.Is(err, ErrDamaged) {
		t.Fatalf("log truncated below the checkpoint: %v, want ErrDamaged", err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpointFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := VerifyReplica(dir, DefaultConfig()); !errors.Is(err, ErrDamaged) {
		t.Fatalf("unreadable checkpoint: %v, want ErrDamaged", err)
	}
}

// txnBatch is a transactional batch of n records from pid.
func txnBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	h := batch.Header{LastOffsetDelta: int32(n - 1), FirstTimestamp: 1000, MaxTimestamp: 1000,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Attributes: batch.AttrTransactional}
	rs := make([]batch.Record, n)
	for i := range rs {
		rs[i] = batch.Record{OffsetDelta: int32(i), Key: []byte{byte(i)}, Value: []byte("t")}
	}
	b, err := batch.Build(h, rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStateMachineTransactions: the last stable offset stops at the first
// open transaction; markers close transactions, aborts are listed for
// read_committed fetches, and all of it survives a crash and reopen; a
// marker with an older epoch is refused, one with a newer epoch fences.
func TestStateMachineTransactions(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	apply(t, s, appendEntry(1, 0, idemBatch(t, 5, 0, 0, 2))) // offsets 0-1, not transactional
	apply(t, s, appendEntry(2, 0, txnBatch(t, 7, 0, 0, 3)))  // 2-4, txn of 7
	apply(t, s, appendEntry(3, 0, txnBatch(t, 8, 0, 0, 2)))  // 5-6, txn of 8
	apply(t, s, appendEntry(4, 0, txnBatch(t, 7, 0, 3, 1)))  // 7
	if lso := s.LastStableOffset(); lso != 2 {
		t.Fatalf("LSO with two open transactions: %d, want 2", lso)
	}
	r := apply(t, s, appendEntry(5, 0, batch.BuildMarker(7, 0, false, 0, 1000))) // 8: abort 7
	if r[0][0].ErrorCode != 0 || r[0][0].BaseOffset != 8 {
		t.Fatalf("abort marker: %+v", r)
	}
	if lso := s.LastStableOffset(); lso != 5 {
		t.Fatalf("LSO after aborting 7: %d, want 5", lso)
	}
	if got := s.AbortedTxns(0, 100); len(got) != 1 || got[0] != (AbortedTxn{ProducerID: 7, FirstOffset: 2, LastOffset: 8}) {
		t.Fatalf("aborted: %+v", got)
	}
	if got := s.AbortedTxns(9, 100); len(got) != 0 {
		t.Fatalf("aborted after the marker: %+v", got)
	}
	// A marker from an older epoch is refused; a newer one fences and closes.
	apply(t, s, appendEntry(6, 0, txnBatch(t, 8, 1, 0, 1))) // 9: 8 bumped its epoch (still in its txn)
	if r := apply(t, s, appendEntry(7, 0, batch.BuildMarker(8, 0, true, 0, 1000))); r[0][0].ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("marker with an old epoch: %+v", r)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	crash(s.Log())

	s2, _ := openSM(t, dir)
	defer s2.Close()
	if lso := s2.LastStableOffset(); lso != 5 {
		t.Fatalf("LSO after reopen: %d, want 5", lso)
	}
	if got := s2.AbortedTxns(0, 100); len(got) != 1 {
		t.Fatalf("aborted after reopen: %+v", got)
	}
	d := s2.LeaderView()
	if off, ok, code := d.Decide(mustHeader(t, batch.BuildMarker(8, 2, true, 0, 1000)), 1000); !ok || code != 0 || off != 10 {
		t.Fatalf("decider on a fencing commit marker: %d %v %d", off, ok, code)
	}
	r = apply(t, s2, appendEntry(8, 0, batch.BuildMarker(8, 2, true, 0, 1000))) // 10: commit 8
	if r[0][0].ErrorCode != 0 || r[0][0].BaseOffset != 10 {
		t.Fatalf("commit marker: %+v", r)
	}
	if lso, end := s2.LastStableOffset(), s2.Log().NextOffset(); lso != end || end != 11 {
		t.Fatalf("LSO %d with no open transaction, log end %d", lso, end)
	}
	if got := s2.AbortedTxns(0, 100); len(got) != 1 {
		t.Fatalf("a commit is not an abort: %+v", got)
	}
}

func mustHeader(t *testing.T, b []byte) *batch.Header {
	t.Helper()
	h, err := batch.CheckCRC(b)
	if err != nil {
		t.Fatal(err)
	}
	return &h
}
