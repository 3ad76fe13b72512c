package partition

import (
	"errors"
	"testing"
)

func TestRetentionMs(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.RetentionMs = 1000
	l := mustOpen(t, dir, cfg, 0)
	// Timestamps 0..99 then 5000..5099.
	old := fill(t, l, 100, 40, 0)
	fill(t, l, 100, 40, 5000)
	before := l.Segments()

	n, err := l.EnforceRetention(1050) // everything with max timestamp < 50 is expired
	if err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if n == 0 || len(segs) != len(before)-n {
		t.Fatalf("deleted %d of %d segments, %d left", n, len(before), len(segs))
	}
	for _, s := range before[:n] {
		if s.MaxTimestamp >= 50 {
			t.Errorf("deleted segment %+v is not expired", s)
		}
		if exists(segPath(dir, s.BaseOffset, ".log")) {
			t.Errorf("segment %d files remain", s.BaseOffset)
		}
	}
	if s := segs[0]; s.MaxTimestamp < 50 {
		t.Errorf("expired segment %+v kept", s)
	}
	if l.StartOffset() != segs[0].BaseOffset {
		t.Fatalf("StartOffset %d, want %d", l.StartOffset(), segs[0].BaseOffset)
	}
	if _, err := l.Read(old[0].base, 100, -1, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read of deleted offset: %v", err)
	}

	// Far in the future every closed segment expires, the active one stays.
	if _, err := l.EnforceRetention(1 << 40); err != nil {
		t.Fatal(err)
	}
	segs = l.Segments()
	if len(segs) != 1 || !segs[0].Active || segs[0].Size == 0 {
		t.Fatalf("after full expiry: %+v", segs)
	}
	start, next := l.StartOffset(), l.NextOffset()
	if start != segs[0].BaseOffset {
		t.Fatalf("StartOffset %d", start)
	}
	l.Close()
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	if l.StartOffset() != start || l.NextOffset() != next {
		t.Fatalf("reopened: start %d next %d, want %d %d", l.StartOffset(), l.NextOffset(), start, next)
	}
}

func TestRetentionBytes(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.RetentionMs = -1
	cfg.RetentionBytes = 5000
	l := mustOpen(t, dir, cfg, 0)
	fill(t, l, 200, 40, 0)
	// Kafka deletes the longest prefix of closed segments whose size is
	// at most the excess.
	excess := l.Size() - cfg.RetentionBytes
	expN := 0
	for _, s := range l.Segments() {
		if s.Active || s.Size > excess {
			break
		}
		excess -= s.Size
		expN++
	}
	n, err := l.EnforceRetention(0)
	if err != nil || n != expN || expN == 0 {
		t.Fatalf("deleted %d, want %d: %v", n, expN, err)
	}
	if l.Size() > cfg.RetentionBytes+l.Segments()[0].Size {
		t.Fatalf("size %d above retention.bytes", l.Size())
	}
	start := l.StartOffset()
	crash(l)
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	if l.StartOffset() != start {
		t.Fatalf("StartOffset %d after reopen, want %d", l.StartOffset(), start)
	}
	// Policy "compact" alone ignores retention.
	cfg.CleanupPolicy = PolicyCompact
	cfg.RetentionBytes = 0
	l.SetConfig(cfg)
	if n, _ := l.EnforceRetention(0); n != 0 {
		t.Fatalf("compact-only topic lost %d segments to retention", n)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := mustOpen(t, dir, cfg, 0)
	want := fill(t, l, 100, 40, 0)
	segs := l.Segments()
	target := segs[2].BaseOffset + 3 // inside the third segment
	if err := l.DeleteRecordsBefore(target); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != target {
		t.Fatalf("StartOffset %d, want %d", l.StartOffset(), target)
	}
	if got := l.Segments(); got[0].BaseOffset != segs[2].BaseOffset {
		t.Fatalf("first segment %d, want %d", got[0].BaseOffset, segs[2].BaseOffset)
	}
	if _, err := l.Read(target-1, 100, -1, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	if b, err := l.Read(target, 1<<20, -1, true); err != nil || len(b) == 0 {
		t.Fatalf("read at start: %d bytes, %v", len(b), err)
	}
	if err := l.DeleteRecordsBefore(l.NextOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond log end: %v", err)
	}
	if err := l.DeleteRecordsBefore(5); err != nil || l.StartOffset() != target {
		t.Fatalf("moving back: %v, start %d", err, l.StartOffset())
	}
	crash(l)
	l = mustOpen(t, dir, cfg, 0)
	if l.StartOffset() != target {
		t.Fatalf("StartOffset %d after reopen", l.StartOffset())
	}
	recs := readAll(t, l)
	if recs[0].offset != target || recs[len(recs)-1].offset != want[len(want)-1].last {
		t.Fatalf("records %d..%d", recs[0].offset, recs[len(recs)-1].offset)
	}
	// Up to the log end: the active segment stays, empty of readable data.
	next := l.NextOffset()
	if err := l.DeleteRecordsBefore(next); err != nil {
		t.Fatal(err)
	}
	if len(l.Segments()) != 1 || l.StartOffset() != next {
		t.Fatalf("segments %+v start %d", l.Segments(), l.StartOffset())
	}
	l.Close()
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	if l.StartOffset() != next || l.NextOffset() != next {
		t.Fatalf("start %d next %d, want %d", l.StartOffset(), l.NextOffset(), next)
	}
	mustAppend(t, l, valueBatch(t, next, 1, 10, 0), 0)
}
