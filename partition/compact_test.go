package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
)

func compactConfig() Config {
	c := smallConfig()
	c.CleanupPolicy = PolicyCompact
	c.DeleteRetentionMs = 1000
	return c
}

// keyedLog appends rounds of updates to keys k0..k9 (every 5th batch gzip
// compressed, every 7th a pair of records), then a tombstone for k3 at
// timestamp 400 and more updates to other keys so that the tombstone ends
// up in a closed segment. It returns every record appended.
func keyedLog(t *testing.T, l *Log) []record {
	t.Helper()
	var all []record
	add := func(recs []rec, gzip bool) {
		base := l.NextOffset()
		b := mkBatch(t, base, recs...)
		if gzip {
			h, r, err := batch.Records(b)
			if err != nil {
				t.Fatal(err)
			}
			h.Attributes |= int16(batch.Gzip)
			if b, err = batch.Build(h, r); err != nil {
				t.Fatal(err)
			}
		}
		mustAppend(t, l, b, recs[0].ts)
		for i, r := range recs {
			all = append(all, record{offset: base + int64(i), ts: r.ts, key: r.key, value: r.value})
		}
	}
	for i := range 300 {
		r := kv(fmt.Sprintf("k%d", i%10), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", 30)), int64(i))
		if i%7 == 0 {
			add([]rec{r, kv(fmt.Sprintf("k%d", (i+1)%10), fmt.Sprintf("w%d", i), int64(i))}, false)
			continue
		}
		add([]rec{r}, i%5 == 0)
	}
	add([]rec{kv("k3", "", 400)}, false)
	for i := range 100 {
		add([]rec{kv(fmt.Sprintf("k%d", []int{0, 1, 2, 4}[i%4]), fmt.Sprintf("z%d-%s", i, strings.Repeat("y", 30)), int64(401+i))}, false)
	}
	return all
}

// expectCompacted is the model of one cleaning pass: below uncleanable, a
// record survives iff it is its key's last record below uncleanable, and
// tombstones survive iff keepTombstones; everything else is untouched.
func expectCompacted(all []record, uncleanable int64, keepTombstones bool) []record {
	last := map[string]int64{}
	for _, r := range all {
		if r.offset < uncleanable {
			last[string(r.key)] = r.offset
		}
	}
	var out []record
	for _, r := range all {
		if r.offset < uncleanable && (last[string(r.key)] != r.offset || (r.value == nil && !keepTombstones)) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func sameRecords(t *testing.T, got, want []record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.offset != w.offset || g.ts != w.ts || string(g.key) != string(w.key) || string(g.value) != string(w.value) || (g.value == nil) != (w.value == nil) {
			t.Fatalf("record %d: got %d %s=%q@%d, want %d %s=%q@%d", i, g.offset, g.key, g.value, g.ts, w.offset, w.key, w.value, w.ts)
		}
	}
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig()
	l := mustOpen(t, dir, cfg, 0)
	all := keyedLog(t, l)
	before := l.Segments()
	uncleanable := before[len(before)-1].BaseOffset
	tombstone := all[len(all)-101]
	if tombstone.value != nil || tombstone.offset >= uncleanable {
		t.Fatalf("tombstone %+v must be in a closed segment below %d", tombstone, uncleanable)
	}

	st, err := l.Compact(600)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Cleaned || st.FirstUncleanableOffset != uncleanable || st.RecordsRemoved == 0 || st.TombstonesRemoved != 0 {
		t.Fatalf("stats %+v", st)
	}
	want := expectCompacted(all, uncleanable, true)
	sameRecords(t, readAll(t, l), want)
	if n := len(l.Segments()); n >= len(before) {
		t.Fatalf("%d segments after compaction, %d before: not merged", n, len(before))
	}
	for _, s := range l.Segments() {
		if !s.Active && s.Size > cfg.SegmentBytes {
			t.Fatalf("cleaned segment %+v exceeds segment.bytes", s)
		}
	}
	checkOffsetReads(t, l, want)

	// Nothing new is dirty: no pass.
	if st, err := l.Compact(700); err != nil || st.Cleaned {
		t.Fatalf("second pass ran: %+v %v", st, err)
	}

	// Once delete.retention.ms has passed the tombstone goes, with no
	// new dirty data needed.
	st, err = l.Compact(10_000)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Cleaned || st.TombstonesRemoved != 1 {
		t.Fatalf("tombstone pass: %+v", st)
	}
	want = expectCompacted(all, uncleanable, false)
	sameRecords(t, readAll(t, l), want)
	for _, r := range want {
		if string(r.key) == "k3" && r.offset < uncleanable {
			t.Fatalf("k3 still present at %d", r.offset)
		}
	}

	// Reopen, cleanly and after a crash.
	l.Close()
	l = mustOpen(t, dir, cfg, 0)
	sameRecords(t, readAll(t, l), want)
	checkOffsetReads(t, l, want)
	crash(l)
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	sameRecords(t, readAll(t, l), want)

	// Appends continue and a later pass compacts the new data too.
	for i := range 100 {
		mustAppend(t, l, mkBatch(t, l.NextOffset(), kv("k0", fmt.Sprintf("late%d-%s", i, strings.Repeat("q", 40)), int64(20_000+i))), 20_000)
	}
	if st, err = l.Compact(20_100); err != nil || !st.Cleaned {
		t.Fatalf("pass over new data: %+v %v", st, err)
	}
	seen := map[string]int64{}
	segs := l.Segments()
	for _, r := range readAll(t, l) {
		if r.offset >= segs[len(segs)-1].BaseOffset {
			break
		}
		if prev, dup := seen[string(r.key)]; dup {
			t.Fatalf("key %s at %d and %d after compaction", r.key, prev, r.offset)
		}
		seen[string(r.key)] = r.offset
	}
}

// checkOffsetReads reads every kept record at its own offset.
func checkOffsetReads(t *testing.T, l *Log, want []record) {
	t.Helper()
	for _, w := range want {
		b, err := l.Read(w.offset, 1, -1, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", w.offset, err)
		}
		hs := splitBatches(t, b)
		if len(hs) != 1 || hs[0].BaseOffset > w.offset || hs[0].LastOffset() < w.offset {
			t.Fatalf("Read(%d) returned %+v", w.offset, hs)
		}
	}
}

func TestCompactMinLagAndPolicy(t *testing.T) {
	cfg := compactConfig()
	cfg.CleanupPolicy = PolicyDelete
	l := mustOpen(t, t.TempDir(), cfg, 0)
	defer l.Close()
	keyedLog(t, l)
	if st, err := l.Compact(600); err != nil || st.Cleaned {
		t.Fatalf("delete-only topic compacted: %+v %v", st, err)
	}
	cfg.CleanupPolicy = "compact,delete"
	cfg.MinCompactionLagMs = 300
	l.SetConfig(cfg)
	st, err := l.Compact(600) // segments with timestamps above 300 are too young
	if err != nil || !st.Cleaned {
		t.Fatalf("%+v %v", st, err)
	}
	for _, s := range l.Segments() {
		if s.BaseOffset == st.FirstUncleanableOffset {
			if s.MaxTimestamp <= 300 {
				t.Fatalf("first uncleanable segment %+v is old enough", s)
			}
			return
		}
		if s.MaxTimestamp > 300 {
			t.Fatalf("young segment %+v was cleaned (uncleanable from %d)", s, st.FirstUncleanableOffset)
		}
	}
	t.Fatalf("no segment starts at %d", st.FirstUncleanableOffset)
}

// TestCompactCrash stops a compaction at each crash-relevant point, crashes,
// and checks that Open leaves a consistent log that a new pass brings to
// the same state as an uninterrupted compaction.
func TestCompactCrash(t *testing.T) {
	cfg := compactConfig()
	ref := mustOpen(t, t.TempDir(), cfg, 0)
	all := keyedLog(t, ref)
	if _, err := ref.Compact(600); err != nil {
		t.Fatal(err)
	}
	want := readAll(t, ref)
	ref.Close()

	errCrash := errors.New("crash")
	for _, point := range []string{"cleaned", "swap", "deleted"} {
		dir := t.TempDir()
		l := mustOpen(t, dir, cfg, 0)
		keyedLog(t, l)
		l.testHook = func(p string) error {
			if p == point {
				return errCrash
			}
			return nil
		}
		if _, err := l.Compact(600); !errors.Is(err, errCrash) {
			t.Fatalf("%s: Compact: %v", point, err)
		}
		if point == "cleaned" {
			// Nothing was committed: the log is still usable as is.
			sameRecords(t, readAll(t, l), all)
		}
		crash(l)
		l = mustOpen(t, dir, cfg, 0)
		leftovers, _ := filepath.Glob(filepath.Join(dir, "*.*.*"))
		if len(leftovers) > 0 {
			t.Fatalf("%s: leftovers %v", point, leftovers)
		}
		got := readAll(t, l)
		// Whatever was swapped in must be a valid intermediate state:
		// every record is an original one, and each key's latest
		// value is unchanged.
		orig := map[int64]record{}
		lastVal := map[string]string{}
		for _, r := range all {
			orig[r.offset] = r
			lastVal[string(r.key)] = string(r.value)
		}
		gotLast := map[string]string{}
		for _, r := range got {
			o := orig[r.offset]
			if string(o.key) != string(r.key) || string(o.value) != string(r.value) {
				t.Fatalf("%s: record at %d changed", point, r.offset)
			}
			gotLast[string(r.key)] = string(r.value)
		}
		for k, v := range lastVal {
			if gotLast[k] != v {
				t.Fatalf("%s: key %s latest %q, want %q", point, k, gotLast[k], v)
			}
		}
		if _, err := l.Compact(600); err != nil {
			t.Fatal(err)
		}
		sameRecords(t, readAll(t, l), want)
		l.Close()
	}
}

func TestCompactSkipsUnchanged(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 300 // one batch per segment: nothing to merge
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg, 0)
	defer l.Close()
	for i := range 10 {
		mustAppend(t, l, mkBatch(t, l.NextOffset(), kv(fmt.Sprintf("u%d", i), strings.Repeat("v", 200), int64(i))), int64(i))
	}
	st, err := l.Compact(100)
	if err != nil || !st.Cleaned || st.SegmentsWritten != 0 || st.SegmentsCleaned != 9 {
		t.Fatalf("%+v %v", st, err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".cleaned") || strings.Contains(e.Name(), ".swap") {
			t.Fatalf("leftover %s", e.Name())
		}
	}
}

// TestCompactConcurrent compacts on one goroutine while another appends and
// others read; run with -race.
func TestCompactConcurrent(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0
	l := mustOpen(t, t.TempDir(), cfg, 0)
	defer l.Close()
	keyedLog(t, l)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.Compact(int64(600 + i)); err != nil {
				t.Errorf("Compact: %v", err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			readAll(t, l)
		}
	}()
	for i := range 300 {
		mustAppend(t, l, mkBatch(t, l.NextOffset(), kv(fmt.Sprintf("k%d", i%13), strings.Repeat("c", 50), int64(600+i))), int64(600+i))
		if i%40 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	if _, err := l.Compact(2000); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	seen := map[string]bool{}
	for _, r := range readAll(t, l) {
		if r.offset >= segs[len(segs)-1].BaseOffset {
			break
		}
		if seen[string(r.key)] {
			t.Fatalf("key %s twice below the active segment", r.key)
		}
		seen[string(r.key)] = true
	}
}

func TestTruncateBelowCleanerCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig()
	l := mustOpen(t, dir, cfg, 0)
	defer l.Close()
	keyedLog(t, l)
	st, err := l.Compact(600)
	if err != nil || !st.Cleaned {
		t.Fatalf("%+v %v", st, err)
	}
	if cp, ok, _ := readCheckpoint(dir, cleanerCheckpoint); !ok || cp != st.FirstUncleanableOffset {
		t.Fatalf("cleaner checkpoint %d %v, want %d", cp, ok, st.FirstUncleanableOffset)
	}
	recs := readAll(t, l)
	target := recs[len(recs)/3].offset
	if err := l.TruncateTo(target); err != nil {
		t.Fatal(err)
	}
	if l.NextOffset() != target {
		t.Fatalf("NextOffset %d, want %d", l.NextOffset(), target)
	}
	if cp, _, _ := readCheckpoint(dir, cleanerCheckpoint); cp != target {
		t.Fatalf("cleaner checkpoint %d after truncation to %d", cp, target)
	}
	if rp, _, _ := readCheckpoint(dir, recoveryPointCheckpoint); rp > target {
		t.Fatalf("recovery point %d after truncation to %d", rp, target)
	}
	sameRecords(t, readAll(t, l), recs[:len(recs)/3])
}

// txnKV is a transactional batch of producer pid with one record.
func txnKV(t *testing.T, pid int64, seq int32, key, value string) []byte {
	t.Helper()
	h := batch.Header{FirstTimestamp: 1000, MaxTimestamp: 1000, ProducerID: pid, BaseSequence: seq, Attributes: batch.AttrTransactional}
	b, err := batch.Build(h, []batch.Record{{Key: []byte(key), Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logContents reads the log's data records (key=value) and its markers
// (producer ID and whether a commit) in offset order.
func logContents(t *testing.T, l *Log) (data []string, markers []string) {
	t.Helper()
	for off := l.StartOffset(); off < l.NextOffset(); {
		b, err := l.Read(off, 1<<20, -1, true)
		if err != nil || len(b) == 0 {
			t.Fatalf("Read(%d): %v", off, err)
		}
		for len(b) > 0 {
			raw, rest, h, err := batch.Next(b)
			if err != nil {
				t.Fatal(err)
			}
			if typ, ok := batch.ControlType(raw); ok {
				markers = append(markers, fmt.Sprintf("%d:%v", h.ProducerID, typ == batch.ControlCommit))
			} else {
				_, recs, err := batch.Records(raw)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					data = append(data, string(r.Key)+"="+string(r.Value))
				}
			}
			off, b = h.LastOffset()+1, rest
		}
	}
	return data, markers
}

// TestCompactTransactions: compaction of a compacted topic with
// transactions, through the state machine. Records of an aborted
// transaction are removed and do not shadow the committed value of their
// key; a marker goes once its transaction has no records left and
// delete.retention.ms has passed, and stays while they remain; nothing from
// the first open transaction on is touched.
func TestCompactTransactions(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 600
	s := NewStateMachine(t.TempDir(), cfg, nil)
	if _, err := s.Open(nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	idx := uint64(0)
	put := func(batches ...[]byte) {
		idx++
		for _, r := range apply(t, s, appendEntry(idx, 0, batches...))[0] {
			if r.ErrorCode != 0 {
				t.Fatalf("entry %d: %+v", idx, r)
			}
		}
	}
	plain := func(key, value string) []byte { return mkBatch(t, 0, kv(key, value, 1000)) }
	put(plain("k", "committed"))
	put(txnKV(t, 7, 0, "k", "aborted"))           // pid 7's transaction, aborted below
	put(txnKV(t, 8, 0, "j", "txn-committed"))     // pid 8's, committed below
	put(txnKV(t, 8, 1, "gone", "superseded"))     // pid 8's too
	put(batch.BuildMarker(7, 0, false, 0, 1000))  // abort 7
	put(batch.BuildMarker(8, 0, true, 0, 1000))   // commit 8
	put(txnKV(t, 10, 0, "gone", "txn-committed")) // pid 10: a transaction whose only record is superseded
	put(batch.BuildMarker(10, 0, true, 0, 1000))
	put(plain("gone", "latest"))
	for i := range 20 {
		put(plain(fmt.Sprintf("f%d", i%4), strings.Repeat("x", 40)))
	}
	put(txnKV(t, 9, 0, "k", "open")) // pid 9's transaction stays open
	for i := range 20 {
		put(plain(fmt.Sprintf("g%d", i%4), strings.Repeat("y", 40)))
	}
	if len(s.Log().Segments()) < 4 {
		t.Fatalf("want several segments, have %d", len(s.Log().Segments()))
	}
	openAt := s.LastStableOffset()
	before, _ := logContents(t, s.Log())

	st, err := s.Compact(1_000_000) // long after delete.retention.ms
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstUncleanableOffset > openAt {
		t.Fatalf("cleaned up to %d, past the open transaction at %d", st.FirstUncleanableOffset, openAt)
	}
	data, markers := logContents(t, s.Log())
	has := func(want string) bool { return slices.Contains(data, want) }
	switch {
	case has("k=aborted"):
		t.Fatalf("the aborted record survived: %v", data)
	case !has("k=committed"):
		t.Fatalf("the aborted record shadowed the committed value of k: %v", data)
	case !has("j=txn-committed"):
		t.Fatalf("the committed transactional record was removed: %v", data)
	case has("gone=superseded") || has("gone=txn-committed") || !has("gone=latest"):
		t.Fatalf("superseded records: %v", data)
	case !has("k=open"):
		t.Fatalf("the open transaction's record was removed: %v", data)
	}
	if !slices.Equal(markers, []string{"8:true"}) {
		t.Fatalf("markers %v, want only pid 8's commit (its record is kept; 7's and 10's have none left)", markers)
	}
	if st.AbortedRemoved != 1 || st.MarkersRemoved != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Untouched from the open transaction's segment on.
	if !slices.Equal(data[len(data)-21:], before[len(before)-21:]) {
		t.Fatalf("the tail changed:\n%v\n%v", data[len(data)-21:], before[len(before)-21:])
	}

	// Within delete.retention.ms, markers without records stay.
	s2 := NewStateMachine(t.TempDir(), cfg, nil)
	if _, err := s2.Open(nil); err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s, idx = s2, 0
	put(txnKV(t, 7, 0, "k", "aborted"))
	put(batch.BuildMarker(7, 0, false, 0, 1000))
	for i := range 30 {
		put(plain(fmt.Sprintf("f%d", i%4), strings.Repeat("x", 40)))
	}
	if _, err := s.Compact(1500); err != nil {
		t.Fatal(err)
	}
	data, markers = logContents(t, s.Log())
	if slices.Contains(data, "k=aborted") || !slices.Equal(markers, []string{"7:false"}) {
		t.Fatalf("within delete.retention.ms: data %v markers %v, want the aborted record gone and its marker kept", data, markers)
	}
}
