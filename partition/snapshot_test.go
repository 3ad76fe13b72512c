package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/samsa-io/samsa/internal/batch"
)

// snapConfig has small segments, and compaction and retention both on.
func snapConfig() Config {
	c := smallConfig()
	c.CleanupPolicy = "compact,delete"
	c.MinCleanableDirtyRatio = 0
	c.RetentionMs = -1
	return c
}

func openSMConfig(t *testing.T, dir string, cfg Config) (*StateMachine, uint64) {
	t.Helper()
	s := NewStateMachine(dir, cfg, nil)
	idx, err := s.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, idx
}

// entries numbers Raft entries.
type entries struct{ idx uint64 }

func (e *entries) next(epoch int32, flags byte, batches ...[]byte) sm.Entry {
	e.idx++
	c := AppendCommand{LeaderEpoch: epoch, TimestampMs: 10_000 + int64(e.idx), Flags: flags, Batches: batches}
	return sm.Entry{Index: e.idx, Cmd: c.Encode()}
}

// keyedBatch is a client batch of n records with keys from a small set, so
// compaction finds superseded records; valueSize pads the values.
func keyedBatch(t *testing.T, i, n, valueSize int) []byte {
	t.Helper()
	recs := make([]rec, n)
	for j := range recs {
		recs[j] = kv(fmt.Sprintf("k%d", (i+j)%40), fmt.Sprintf("%d-%s", i, strings.Repeat("v", valueSize)), 1000+int64(i))
	}
	return mkBatch(t, 0, recs...)
}

// rawBatches returns every batch from the log start (the first may begin
// below it), as stored.
func rawBatches(t *testing.T, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	for off := l.StartOffset(); off < l.NextOffset(); {
		data, err := l.Read(off, 1<<20, -1, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(data) == 0 {
			break
		}
		for len(data) > 0 {
			raw, rest, h, err := batch.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, slices.Clone(raw))
			off = h.LastOffset() + 1
			data = rest
		}
	}
	return out
}

// hasGap reports whether the batches skip offsets.
func hasGap(t *testing.T, bs [][]byte) bool {
	t.Helper()
	for i := 1; i < len(bs); i++ {
		prev, _ := batch.ParseHeader(bs[i-1])
		h, _ := batch.ParseHeader(bs[i])
		if h.BaseOffset > prev.LastOffset()+1 {
			return true
		}
	}
	return false
}

// sameLog checks that got holds the same batches at the same offsets in
// the same segments as want. The first segment's size and timestamps are
// only compared when the log starts at its base: below the start, want
// may still hold bytes no snapshot carries.
func sameLog(t *testing.T, got, want *Log) {
	t.Helper()
	if got.StartOffset() != want.StartOffset() || got.NextOffset() != want.NextOffset() {
		t.Fatalf("log [%d, %d), want [%d, %d)", got.StartOffset(), got.NextOffset(), want.StartOffset(), want.NextOffset())
	}
	gb, wb := rawBatches(t, got), rawBatches(t, want)
	if len(gb) != len(wb) {
		t.Fatalf("%d batches, want %d", len(gb), len(wb))
	}
	for i := range gb {
		if !bytes.Equal(gb[i], wb[i]) {
			h, _ := batch.ParseHeader(wb[i])
			t.Fatalf("batch %d (offset %d) differs", i, h.BaseOffset)
		}
	}
	gs, ws := got.Segments(), want.Segments()
	if len(gs) != len(ws) {
		t.Fatalf("segments %+v, want %+v", gs, ws)
	}
	for i := range gs {
		g, w := gs[i], ws[i]
		g.IndexEntries, g.TimeIndexEntries, w.IndexEntries, w.TimeIndexEntries = 0, 0, 0, 0
		if i == 0 && want.StartOffset() > w.BaseOffset {
			g.Size, g.MaxTimestamp, g.OffsetOfMaxTimestamp = w.Size, w.MaxTimestamp, w.OffsetOfMaxTimestamp
		}
		if g != w {
			t.Fatalf("segment %d is %+v, want %+v", i, g, w)
		}
	}
}

// sameState checks the whole replicated state of two state machines.
func sameState(t *testing.T, got, want *StateMachine) {
	t.Helper()
	sameLog(t, got.Log(), want.Log())
	if !reflect.DeepEqual(got.producers.m, want.producers.m) {
		t.Fatalf("producer state %v, want %v", got.Producers(), want.Producers())
	}
	if !slices.Equal(got.epochs, want.epochs) {
		t.Fatalf("epochs %v, want %v", got.epochs, want.epochs)
	}
	if got.applied != want.applied {
		t.Fatalf("applied index %d, want %d", got.applied, want.applied)
	}
}

func saveSnapshot(t *testing.T, s *StateMachine) []byte {
	t.Helper()
	ctx, err := s.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// snapshotSource is a state machine with several segments, idempotent
// producers, LogAppendTime batches, leader epochs 1 to 7, a compacted
// part with offset gaps, a log start moved by retention and then by
// DeleteRecords into the middle of a batch, and an active segment written
// after all that.
type snapshotSource struct {
	s       *StateMachine
	e       entries
	seq     int32 // producer 7's next sequence
	lastIdm []byte
	lastOff int64 // offset of producer 7's last batch
}

func newSnapshotSource(t *testing.T, dir string) *snapshotSource {
	t.Helper()
	src := &snapshotSource{}
	src.s, _ = openSMConfig(t, dir, snapConfig())
	s := src.s
	var seq8 int32
	add := func(i int, epoch int32) {
		flags := byte(0)
		if i%5 == 0 {
			flags = AppendFlagLogAppendTime
		}
		var bs [][]byte
		idm := -1
		switch i % 4 {
		case 0:
			bs, idm = [][]byte{idemBatch(t, 7, 0, src.seq, 2)}, 0
			src.lastIdm = bs[0]
			src.seq += 2
		case 1:
			bs = [][]byte{keyedBatch(t, i, 3, 40)}
		case 2:
			bs = [][]byte{idemBatch(t, 8, 1, seq8, 1), keyedBatch(t, i, 2, 40)}
			seq8++
		case 3:
			// A batch whose only record the next one supersedes:
			// compaction removes it whole.
			bs = [][]byte{mkBatch(t, 0, kv("solo", strings.Repeat("s", 40), 1000+int64(i)))}
		}
		r := apply(t, s, src.e.next(epoch, flags, bs...))
		for j, br := range r[0] {
			if br.ErrorCode != 0 {
				t.Fatalf("entry %d batch %d: error %d", src.e.idx, j, br.ErrorCode)
			}
		}
		if idm == 0 {
			src.lastOff = r[0][0].BaseOffset
		}
	}
	for i := range 120 {
		add(i, int32(1+i/30)) // epochs 1 to 4
	}
	l := s.Log()
	// Retention deletes the first segment...
	cfg := snapConfig()
	cfg.RetentionBytes = l.Size() - l.Segments()[0].Size
	s.SetConfig(cfg)
	if n, err := l.EnforceRetention(20_000); err != nil || n != 1 {
		t.Fatalf("retention deleted %d segments: %v", n, err)
	}
	// ...DeleteRecords moves the start to the second offset of a
	// multi-record batch...
	for _, b := range rawBatches(t, l) {
		if h, _ := batch.ParseHeader(b); h.LastOffsetDelta > 0 && h.BaseOffset >= l.StartOffset() {
			if err := l.DeleteRecordsBefore(h.BaseOffset + 1); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	// ...and compaction leaves gaps in what is left.
	st, err := l.Compact(20_000)
	if err != nil || !st.Cleaned || st.RecordsRemoved == 0 || st.SegmentsWritten < 2 {
		t.Fatalf("compaction: %+v, %v", st, err)
	}
	if !hasGap(t, rawBatches(t, l)) {
		t.Fatal("compaction left no offset gap")
	}
	if l.StartOffset() == 0 || l.StartOffset() == l.Segments()[0].BaseOffset {
		t.Fatalf("log start %d, segments %+v", l.StartOffset(), l.Segments())
	}
	cfg.RetentionBytes = -1
	s.SetConfig(cfg)
	for i := 120; i < 160; i++ {
		epoch := int32(6)
		if i >= 140 {
			epoch = 7
		}
		add(i, epoch)
	}
	return src
}

// TestSnapshotRoundTrip streams a snapshot from one state machine into
// another that has state of its own, which it replaces entirely.
func TestSnapshotRoundTrip(t *testing.T) {
	src := newSnapshotSource(t, t.TempDir())
	defer src.s.Close()
	data := saveSnapshot(t, src.s)

	dstDir := t.TempDir()
	dst, _ := openSMConfig(t, dstDir, snapConfig())
	var de entries
	apply(t, dst, de.next(9, 0, idemBatch(t, 99, 0, 0, 3)), de.next(9, 0, keyedBatch(t, 1, 2, 10)))
	if err := dst.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := dst.RecoverFromSnapshot(bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	sameState(t, dst, src.s)
	for _, f := range []string{snapshotStagingFile, snapshotPendingFile, resetCheckpoint} {
		if exists(filepath.Join(dstDir, f)) {
			t.Fatalf("%s left behind", f)
		}
	}
	if e, off := dst.EndOffsetForEpoch(6); e != 6 || off != epochStart(t, src.s, 7) {
		t.Fatalf("EndOffsetForEpoch(6) = %d, %d", e, off)
	}

	// Both go on identically: a retry of producer 7's last batch is a
	// duplicate on the copy too, and new batches get the same offsets.
	more := []sm.Entry{
		src.e.next(7, 0, src.lastIdm),
		src.e.next(8, 0, idemBatch(t, 7, 0, src.seq, 1), keyedBatch(t, 500, 2, 10)),
	}
	want := apply(t, src.s, more...)
	got := apply(t, dst, more...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("results after recovery %+v, want %+v", got, want)
	}
	if want[0][0].ErrorCode != 0 || want[0][0].BaseOffset != src.lastOff {
		t.Fatalf("retry answered %+v, want the original offset %d", want[0][0], src.lastOff)
	}
	sameState(t, dst, src.s)

	// And after a restart.
	dst.Close()
	if err := dst.CloseErr(); err != nil {
		t.Fatal(err)
	}
	dst, idx := openSMConfig(t, dstDir, snapConfig())
	defer dst.Close()
	if idx != src.s.applied {
		t.Fatalf("reopened at index %d, want %d", idx, src.s.applied)
	}
	sameState(t, dst, src.s)
}

// epochStart returns where epoch starts according to s's epoch cache.
func epochStart(t *testing.T, s *StateMachine, epoch int32) int64 {
	t.Helper()
	for _, e := range s.epochs {
		if e.Epoch == epoch {
			return e.StartOffset
		}
	}
	t.Fatalf("no epoch %d in %v", epoch, s.epochs)
	return 0
}

// TestSnapshotCrashDuringRecovery: a crash at any point of
// RecoverFromSnapshot after the stream was verified leaves a directory
// that Open turns into the snapshot's state; a crash right after it
// returns keeps that state.
func TestSnapshotCrashDuringRecovery(t *testing.T) {
	src := newSnapshotSource(t, t.TempDir())
	defer src.s.Close()
	data := saveSnapshot(t, src.s)
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, dir string, dst *StateMachine)
	}{
		{"after recovery", func(t *testing.T, dir string, dst *StateMachine) {
			if err := dst.RecoverFromSnapshot(bytes.NewReader(data), nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"after commit", func(t *testing.T, dir string, dst *StateMachine) {
			if err := stageSnapshot(dir, bytes.NewReader(data), nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"during install", func(t *testing.T, dir string, dst *StateMachine) {
			if err := stageSnapshot(dir, bytes.NewReader(data), nil); err != nil {
				t.Fatal(err)
			}
			segs := src.s.Log().Segments()
			r, err := dst.Log().beginRestore(segs[0].BaseOffset)
			if err != nil {
				t.Fatal(err)
			}
			b := rawBatches(t, src.s.Log())[0]
			if err := r.append(b); err != nil {
				t.Fatal(err)
			}
		}},
		{"during staging", func(t *testing.T, dir string, dst *StateMachine) {
			// Only a partial staging file: Open discards it.
			if err := os.WriteFile(filepath.Join(dir, snapshotStagingFile), data[:len(data)/2], 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst, _ := openSMConfig(t, dir, snapConfig())
			var de entries
			apply(t, dst, de.next(2, 0, keyedBatch(t, 1, 2, 10)), de.next(3, 0, idemBatch(t, 5, 0, 0, 1)))
			if err := dst.Sync(); err != nil {
				t.Fatal(err)
			}
			before := rawBatches(t, dst.Log())
			tc.crash(t, dir, dst)
			crash(dst.Log())
			dst, idx := openSMConfig(t, dir, snapConfig())
			defer dst.Close()
			if tc.name == "during staging" {
				if idx != 2 || exists(filepath.Join(dir, snapshotStagingFile)) || !slices.EqualFunc(rawBatches(t, dst.Log()), before, bytes.Equal) {
					t.Fatalf("state after a crash while staging: index %d", idx)
				}
				return
			}
			if idx != src.s.applied {
				t.Fatalf("reopened at index %d, want %d", idx, src.s.applied)
			}
			sameState(t, dst, src.s)
		})
	}
}

// TestSnapshotPendingCorrupt: a committed snapshot file that is damaged on
// disk makes Open fail rather than install it.
func TestSnapshotPendingCorrupt(t *testing.T) {
	src := newSnapshotSource(t, t.TempDir())
	defer src.s.Close()
	data := saveSnapshot(t, src.s)
	dir := t.TempDir()
	dst, _ := openSMConfig(t, dir, snapConfig())
	if err := stageSnapshot(dir, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	crash(dst.Log())
	path := filepath.Join(dir, snapshotPendingFile)
	if err := os.Truncate(path, int64(len(data)-10)); err != nil {
		t.Fatal(err)
	}
	s := NewStateMachine(dir, snapConfig(), nil)
	if _, err := s.Open(nil); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("Open with a damaged pending snapshot: %v", err)
	}
}

// TestSnapshotCorruptRefused: a truncated or bit-flipped stream is refused
// and the destination keeps its state, files and ability to write.
func TestSnapshotCorruptRefused(t *testing.T) {
	src := newSnapshotSource(t, t.TempDir())
	defer src.s.Close()
	data := saveSnapshot(t, src.s)

	dir := t.TempDir()
	dst, _ := openSMConfig(t, dir, snapConfig())
	var de entries
	for i := range 30 {
		apply(t, dst, de.next(int32(1+i/10), 0, idemBatch(t, 5, 0, int32(i), 1), keyedBatch(t, i, 2, 30)))
	}
	if err := dst.Sync(); err != nil {
		t.Fatal(err)
	}
	wantBatches, wantSegs := rawBatches(t, dst.Log()), dst.Log().Segments()
	wantProducers, wantEpochs, wantApplied := dst.producers.clone(), slices.Clone(dst.epochs), dst.applied
	unchanged := func(what string) {
		t.Helper()
		l := dst.Log()
		if !slices.EqualFunc(rawBatches(t, l), wantBatches, bytes.Equal) || !slices.Equal(l.Segments(), wantSegs) {
			t.Fatalf("%s: log changed", what)
		}
		if !reflect.DeepEqual(dst.producers.m, wantProducers) || !slices.Equal(dst.epochs, wantEpochs) || dst.applied != wantApplied {
			t.Fatalf("%s: state changed", what)
		}
		for _, f := range []string{snapshotStagingFile, snapshotPendingFile, resetCheckpoint} {
			if exists(filepath.Join(dir, f)) {
				t.Fatalf("%s: %s left behind", what, f)
			}
		}
	}

	metaEnd := snapshotHeaderSize + int(binary.BigEndian.Uint32(data[snapshotHeaderSize-4:]))
	for _, n := range []int{0, 5, snapshotHeaderSize, metaEnd - 1, metaEnd, metaEnd + 9, metaEnd + 100, len(data) / 2, len(data) - 5, len(data) - 1} {
		err := dst.RecoverFromSnapshot(bytes.NewReader(data[:n]), nil)
		if !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(data), err)
		}
		unchanged(fmt.Sprintf("truncated to %d", n))
	}
	positions := []int{0, 8, 9, len(data) - 1, len(data) - 5, metaEnd + 1, metaEnd + 9 + 3}
	for i := 1; i < 60; i++ {
		positions = append(positions, i*len(data)/60)
	}
	for _, p := range positions {
		bad := slices.Clone(data)
		bad[p] ^= 0x10
		err := dst.RecoverFromSnapshot(bytes.NewReader(bad), nil)
		if err == nil {
			t.Fatalf("bit flipped at %d of %d: accepted", p, len(data))
		}
		unchanged(fmt.Sprintf("bit flipped at %d", p))
	}

	// A stop request while reading is honoured the same way.
	done := make(chan struct{})
	close(done)
	if err := dst.RecoverFromSnapshot(bytes.NewReader(data), done); !errors.Is(err, sm.ErrSnapshotStopped) {
		t.Fatalf("stopped recovery: %v", err)
	}
	unchanged("stopped")

	// Still writable, and it still restarts.
	apply(t, dst, de.next(5, 0, idemBatch(t, 5, 0, 30, 1)))
	dst.Close()
	dst, idx := openSMConfig(t, dir, snapConfig())
	defer dst.Close()
	if idx != de.idx {
		t.Fatalf("reopened at %d, want %d", idx, de.idx)
	}
}

// gateWriter blocks its first Write until released, so a test can act
// while SaveSnapshot is half-way through the log.
type gateWriter struct {
	bytes.Buffer
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func newGateWriter() *gateWriter {
	return &gateWriter{reached: make(chan struct{}), release: make(chan struct{})}
}

func (w *gateWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		close(w.reached)
		<-w.release
	})
	return w.Buffer.Write(p)
}

// bigSource is a state machine whose snapshot is well above
// SaveSnapshot's write buffer, so it writes before it has read everything.
func bigSource(t *testing.T, dir string) (*StateMachine, *entries) {
	t.Helper()
	cfg := snapConfig()
	cfg.SegmentBytes = 64 << 10
	s, _ := openSMConfig(t, dir, cfg)
	e := &entries{}
	for i := range 400 {
		apply(t, s, e.next(int32(1+i/100), 0, idemBatch(t, 7, 0, int32(i), 1), keyedBatch(t, i, 4, 400)))
	}
	return s, e
}

// TestSaveSnapshotDeterministic: the same state identifier gives the same
// bytes, also while Update appends concurrently (run with -race).
func TestSaveSnapshotDeterministic(t *testing.T) {
	s, e := bigSource(t, t.TempDir())
	defer s.Close()
	ctx, err := s.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var first, second bytes.Buffer
	if err := s.SaveSnapshot(ctx, &first, nil); err != nil {
		t.Fatal(err)
	}
	if first.Len() < 2*snapshotChunkBytes/4 {
		t.Fatalf("snapshot of %d bytes is too small for this test", first.Len())
	}
	if err := s.SaveSnapshot(ctx, &second, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatal("two snapshots of the same state differ")
	}

	// Updates land while the snapshot is half written...
	w := newGateWriter()
	errc := make(chan error, 1)
	go func() { errc <- s.SaveSnapshot(ctx, w, nil) }()
	<-w.reached
	for i := 400; i < 450; i++ {
		apply(t, s, e.next(9, AppendFlagLogAppendTime, idemBatch(t, 7, 0, int32(i), 1), keyedBatch(t, i, 4, 400)))
	}
	close(w.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), first.Bytes()) {
		t.Fatal("snapshot changed by updates applied while it was written")
	}

	// ...and all the time.
	var third bytes.Buffer
	go func() { errc <- s.SaveSnapshot(ctx, &third, nil) }()
	for i := 450; i < 500; i++ {
		apply(t, s, e.next(9, 0, idemBatch(t, 7, 0, int32(i), 1), keyedBatch(t, i, 4, 400)))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(third.Bytes(), first.Bytes()) {
		t.Fatal("snapshot changed by concurrent updates")
	}

	// The snapshot still recovers the state as it was prepared.
	dst, _ := openSMConfig(t, t.TempDir(), snapConfig())
	defer dst.Close()
	if err := dst.RecoverFromSnapshot(bytes.NewReader(first.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	st := ctx.(*snapshotState)
	if dst.Log().NextOffset() != st.meta.EndOffset || dst.applied != 400 || dst.LatestEpoch() != 4 {
		t.Fatalf("recovered end %d, index %d, epoch %d", dst.Log().NextOffset(), dst.applied, dst.LatestEpoch())
	}
}

// TestSaveSnapshotAborts: compaction, retention or DeleteRecords changing
// the part of the log a running snapshot has yet to read abort it (for
// dragonboat to retry), and a stop request stops it.
func TestSaveSnapshotAborts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, l *Log)
	}{
		{"compaction", func(t *testing.T, l *Log) {
			if st, err := l.Compact(20_000); err != nil || !st.Cleaned {
				t.Fatalf("compaction: %+v %v", st, err)
			}
		}},
		{"delete records", func(t *testing.T, l *Log) {
			if err := l.DeleteRecordsBefore(l.NextOffset() - 1); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := bigSource(t, t.TempDir())
			defer s.Close()
			ctx, err := s.PrepareSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			w := newGateWriter()
			errc := make(chan error, 1)
			go func() { errc <- s.SaveSnapshot(ctx, w, nil) }()
			<-w.reached
			tc.change(t, s.Log())
			close(w.release)
			if err := <-errc; !errors.Is(err, sm.ErrSnapshotAborted) {
				t.Fatalf("SaveSnapshot: %v, want ErrSnapshotAborted", err)
			}
			// A new snapshot of the new state works.
			saveSnapshot(t, s)
		})
	}
	s, _ := bigSource(t, t.TempDir())
	defer s.Close()
	ctx, _ := s.PrepareSnapshot()
	done := make(chan struct{})
	close(done)
	if err := s.SaveSnapshot(ctx, &bytes.Buffer{}, done); !errors.Is(err, sm.ErrSnapshotStopped) {
		t.Fatalf("stopped: %v", err)
	}
}

// logSnapshot streams l as a snapshot with no state machine state.
func logSnapshot(t *testing.T, l *Log) []byte {
	t.Helper()
	st := &snapshotState{}
	st.meta.StartOffset, st.meta.EndOffset, st.bases, st.rewrites = l.snapshotView()
	var buf bytes.Buffer
	if err := writeSnapshot(l, st, &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// restoreLog installs a snapshot into a log that already holds data.
func restoreLog(t *testing.T, data []byte, cfg Config) (*Log, string) {
	t.Helper()
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg, 0)
	fill(t, l, 30, 50, 0)
	if err := stageSnapshot(dir, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := installSnapshot(dir, l); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, snapshotPendingFile)); err != nil {
		t.Fatal(err)
	}
	return l, dir
}

// TestSnapshotCompactedLayouts copies logs whose compaction left offset
// gaps at segment ends, an empty closed segment, and a log end past the
// last batch (an empty active segment after a compacted one): the copy
// has the same segments, batches and offsets, and appends continue at the
// same offset.
func TestSnapshotCompactedLayouts(t *testing.T) {
	cfg := compactConfig()
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, l *Log)
	}{
		{"tail gap and end gap", func(t *testing.T, l *Log) {
			for i := range 5 {
				mustAppend(t, l, mkBatch(t, l.NextOffset(), kv(fmt.Sprintf("u%d", i), "keep", int64(i))), 0)
			}
			for i := range 80 {
				mustAppend(t, l, mkBatch(t, l.NextOffset(), kv(fmt.Sprintf("k%d", i%5), strings.Repeat("x", 60), int64(10+i))), 0)
			}
			for i := range 5 {
				mustAppend(t, l, mkBatch(t, l.NextOffset(), kv(fmt.Sprintf("k%d", i), "", 100)), 0)
			}
			// Close the tombstones' segment, then compact it all away.
			mustAppend(t, l, valueBatch(t, l.NextOffset(), 1, 2100, 200), 0)
			if st, err := l.Compact(1_000_000); err != nil || st.TombstonesRemoved != 5 {
				t.Fatalf("compaction: %+v %v", st, err)
			}
			segs := l.Segments()
			if err := l.TruncateTo(segs[len(segs)-1].BaseOffset); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty closed segment", func(t *testing.T, l *Log) {
			for i := range 80 {
				mustAppend(t, l, mkBatch(t, l.NextOffset(), kv(fmt.Sprintf("k%d", i%5), strings.Repeat("x", 60), int64(i))), 0)
			}
			for i := range 5 {
				mustAppend(t, l, mkBatch(t, l.NextOffset(), kv(fmt.Sprintf("k%d", i), "", 100)), 0)
			}
			mustAppend(t, l, valueBatch(t, l.NextOffset(), 1, 2100, 200), 0)
			mustAppend(t, l, valueBatch(t, l.NextOffset(), 3, 20, 200), 0)
			if _, err := l.Compact(1_000_000); err != nil {
				t.Fatal(err)
			}
			if s := l.Segments()[0]; s.Size != 0 || s.Active {
				t.Fatalf("first segment %+v, want empty and closed", s)
			}
		}},
		{"start inside a batch", func(t *testing.T, l *Log) {
			fill(t, l, 60, 100, 0)
			b := l.Segments()[2].BaseOffset
			for _, lb := range rawBatches(t, l) {
				if h, _ := batch.ParseHeader(lb); h.BaseOffset >= b && h.LastOffsetDelta > 0 {
					if err := l.DeleteRecordsBefore(h.BaseOffset + 1); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
		}},
		{"empty log above zero", func(t *testing.T, l *Log) {
			fill(t, l, 10, 100, 0)
			if err := l.Reset(12345); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := mustOpen(t, t.TempDir(), cfg, 0)
			defer src.Close()
			tc.build(t, src)
			data := logSnapshot(t, src)
			dst, dir := restoreLog(t, data, cfg)
			sameLog(t, dst, src)
			// Reopened, cleanly and after a crash.
			dst.Close()
			dst = mustOpen(t, dir, cfg, 0)
			sameLog(t, dst, src)
			crash(dst)
			dst = mustOpen(t, dir, cfg, 0)
			defer dst.Close()
			sameLog(t, dst, src)
			b := mkBatch(t, src.NextOffset(), kv("after", "x", 5))
			mustAppend(t, src, b, 0)
			mustAppend(t, dst, b, 0)
			sameLog(t, dst, src)
		})
	}
}

// TestReset empties the log at any offset, durably, and a crash during a
// Reset leaves the reset log.
func TestReset(t *testing.T) {
	cfg := compactConfig()
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg, 0)
	fill(t, l, 50, 100, 0)
	if _, err := l.Compact(1_000_000); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{5000, 10} {
		if err := l.Reset(off); err != nil {
			t.Fatal(err)
		}
		if l.StartOffset() != off || l.NextOffset() != off || len(l.Segments()) != 1 {
			t.Fatalf("after Reset(%d): [%d, %d) %+v", off, l.StartOffset(), l.NextOffset(), l.Segments())
		}
		if exists(filepath.Join(dir, resetCheckpoint)) {
			t.Fatal("reset marker left behind")
		}
		fill(t, l, 20, 100, 0)
	}
	if cp, _, _ := readCheckpoint(dir, cleanerCheckpoint); cp > 10 {
		t.Fatalf("cleaner checkpoint %d above the reset", cp)
	}
	want := rawBatches(t, l)
	l.Close()
	l = mustOpen(t, dir, cfg, 0)
	if l.StartOffset() != 10 || !slices.EqualFunc(rawBatches(t, l), want, bytes.Equal) {
		t.Fatal("reset log changed by reopening")
	}

	// A crash right after the marker was written: Open completes the
	// reset, even of a log that was cleanly closed before.
	if err := writeCheckpoint(dir, resetCheckpoint, 777); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	if l.StartOffset() != 777 || l.NextOffset() != 777 || len(l.Segments()) != 1 || exists(filepath.Join(dir, resetCheckpoint)) {
		t.Fatalf("after an interrupted reset: [%d, %d) %+v", l.StartOffset(), l.NextOffset(), l.Segments())
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if base, _, ok := parseSegmentName(e.Name()); ok && base != 777 {
			t.Fatalf("old segment file %s left", e.Name())
		}
	}
	fill(t, l, 3, 10, 0)
	if err := l.Reset(-1); err == nil {
		t.Fatal("Reset(-1) accepted")
	}
}
