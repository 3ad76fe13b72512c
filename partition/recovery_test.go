package partition

import (
	"bytes"
	"os"
	"testing"
)

// tamper opens a log, appends batches, stops it (cleanly or not), applies
// damage to the files and reopens it.
func tamper(t *testing.T, clean bool, n int, damage func(dir string, segs []SegmentInfo, want []logged)) (*Log, []logged, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := smallConfig()
	l := mustOpen(t, dir, cfg, 0)
	want := fill(t, l, n, 40, 100)
	segs := l.Segments()
	if clean {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		crash(l)
	}
	damage(dir, segs, want)
	return mustOpen(t, dir, cfg, 0), want, dir
}

// checkRecovered checks that the log holds exactly want and takes appends.
func checkRecovered(t *testing.T, l *Log, want []logged) {
	t.Helper()
	exp := want[len(want)-1].last + 1
	if l.NextOffset() != exp {
		t.Fatalf("NextOffset %d, want %d", l.NextOffset(), exp)
	}
	checkReads(t, l, want)
	more := fill(t, l, 5, 40, 10_000)
	checkReads(t, l, append(append([]logged{}, want...), more...))
	// And the result survives another crash.
	crash(l)
	l2 := mustOpen(t, l.dir, l.cfg, 0)
	defer l2.Close()
	checkReads(t, l2, append(append([]logged{}, want...), more...))
}

func activeLog(dir string, segs []SegmentInfo) string {
	return segPath(dir, segs[len(segs)-1].BaseOffset, ".log")
}

func TestRecoverTornTail(t *testing.T) {
	for _, cut := range []int{1, 12, 61, 70} {
		l, want, _ := tamper(t, false, 30, func(dir string, segs []SegmentInfo, want []logged) {
			p := activeLog(dir, segs)
			last := want[len(want)-1]
			if err := os.Truncate(p, fileSize(t, p)-int64(len(last.raw))+int64(cut)); err != nil {
				t.Fatal(err)
			}
		})
		checkRecovered(t, l, want[:len(want)-1])
	}
}

func TestRecoverGarbageTail(t *testing.T) {
	for _, clean := range []bool{false, true} {
		for _, garbage := range [][]byte{
			{0},
			bytes.Repeat([]byte{0}, 200),
			bytes.Repeat([]byte{0xff}, 100),
			// A plausible header whose length runs past the end.
			mkBatch(t, 1_000_000, kv("x", "y", 0))[:40],
		} {
			l, want, _ := tamper(t, clean, 30, func(dir string, segs []SegmentInfo, want []logged) {
				f, err := os.OpenFile(activeLog(dir, segs), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.Write(garbage)
				f.Close()
			})
			checkRecovered(t, l, want)
		}
	}
}

func TestRecoverFlippedByte(t *testing.T) {
	for _, at := range []int{-1, -20, 30 /* inside the CRC-covered header */} {
		l, want, _ := tamper(t, false, 30, func(dir string, segs []SegmentInfo, want []logged) {
			p := activeLog(dir, segs)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			i := at
			if i < 0 {
				i += len(b)
			} else {
				i += len(b) - len(want[len(want)-1].raw)
			}
			b[i] ^= 0x40
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		})
		checkRecovered(t, l, want[:len(want)-1])
	}
}

func TestRecoverMissingIndexes(t *testing.T) {
	for _, clean := range []bool{true, false} {
		for _, suffix := range []string{".index", ".timeindex"} {
			var before []SegmentInfo
			l, want, _ := tamper(t, clean, 120, func(dir string, segs []SegmentInfo, want []logged) {
				before = segs
				for _, s := range segs {
					if err := os.Remove(segPath(dir, s.BaseOffset, suffix)); err != nil {
						t.Fatal(err)
					}
				}
			})
			after := l.Segments()
			for i := range before[:len(before)-1] {
				b, a := before[i], after[i]
				if a.IndexEntries != b.IndexEntries || a.TimeIndexEntries != b.TimeIndexEntries || a.MaxTimestamp != b.MaxTimestamp || a.NextOffset != b.NextOffset {
					t.Fatalf("rebuilt segment %+v, was %+v", a, b)
				}
			}
			checkRecovered(t, l, want)
		}
	}
}

func TestRecoverCorruptIndex(t *testing.T) {
	corruptions := map[string]func(b []byte) []byte{
		"odd size":       func(b []byte) []byte { return append(b, 1, 2, 3) },
		"zeros":          func(b []byte) []byte { return make([]byte, len(b)+16) },
		"past log end":   func(b []byte) []byte { return append(b, 0x00, 0x00, 0x7f, 0xff, 0x00, 0xff, 0xff, 0xff) },
		"not monotonic":  func(b []byte) []byte { return append(b, b[:8]...) },
		"wrong position": func(b []byte) []byte { b[len(b)-1]++; return b },
	}
	for name, corrupt := range corruptions {
		for _, clean := range []bool{true, false} {
			l, want, dir := tamper(t, clean, 120, func(dir string, segs []SegmentInfo, want []logged) {
				for _, s := range segs {
					p := segPath(dir, s.BaseOffset, ".index")
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					if len(b) == 0 {
						continue
					}
					if err := os.WriteFile(p, corrupt(b), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			})
			t.Logf("%s clean=%v", name, clean)
			for _, s := range l.Segments() {
				b, _ := os.ReadFile(segPath(dir, s.BaseOffset, ".index"))
				if _, err := decodeOffsetIndex(b, s.Size, 1<<31-1); err != nil {
					t.Fatalf("%s: index of %d not rebuilt: %v", name, s.BaseOffset, err)
				}
			}
			checkRecovered(t, l, want)
		}
	}
}

// TestRecoverUnflushedSegments: segments rolled after the last Sync are
// scanned too, and a torn one takes the later ones with it.
func TestRecoverUnflushedSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := mustOpen(t, dir, cfg, 0)
	want := fill(t, l, 60, 40, 0)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := l.Segments()
	more := fill(t, l, 60, 40, 100)
	segs := l.Segments()
	crash(l)
	if len(segs) < len(synced)+3 {
		t.Fatalf("not enough unflushed segments: %d then %d", len(synced), len(segs))
	}
	// Tear the second unflushed segment in its middle.
	victim := segs[len(synced)]
	p := segPath(dir, victim.BaseOffset, ".log")
	if err := os.Truncate(p, victim.Size/2); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, cfg, 0)
	all := append(want, more...)
	var kept []logged
	pos := int64(0)
	for _, b := range all {
		if b.base >= victim.BaseOffset {
			if pos+int64(len(b.raw)) > victim.Size/2 {
				break
			}
			pos += int64(len(b.raw))
		}
		kept = append(kept, b)
	}
	if got := l.Segments(); got[len(got)-1].BaseOffset != victim.BaseOffset {
		t.Fatalf("segments after the torn one survive: %+v", got)
	}
	checkRecovered(t, l, kept)
}

// TestRecoverRespectsRecoveryPoint: after a Sync, a damaged old segment is
// trusted (not scanned), like Kafka; the damage shows only as its index
// being sane.
func TestRecoverOnlyScansTail(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := mustOpen(t, dir, cfg, 0)
	want := fill(t, l, 100, 40, 0)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	crash(l)
	// Flip a byte in the middle of the first segment's records: a scan
	// would truncate there; a trusted segment keeps it.
	p := segPath(dir, 0, ".log")
	b, _ := os.ReadFile(p)
	b[len(b)-5] ^= 1
	os.WriteFile(p, b, 0o644)
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	if got := l.Segments(); len(got) != len(segs) || got[0].Size != segs[0].Size {
		t.Fatalf("trusted segment was recovered: %+v", got[0])
	}
	if l.NextOffset() != want[len(want)-1].last+1 {
		t.Fatalf("NextOffset %d", l.NextOffset())
	}
}

func TestOpenRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := mustOpen(t, dir, cfg, 0)
	want := fill(t, l, 40, 40, 0)
	l.Close()
	junk := []string{
		segPath(dir, 0, ".log.cleaned"),
		segPath(dir, 0, ".index.cleaned"),
		segPath(dir, 7, ".log.deleted"),
		segPath(dir, 99999, ".index"), // orphan index
		segPath(dir, 99999, ".timeindex"),
		dir + "/" + logStartOffsetCheckpoint + ".tmp",
	}
	for _, p := range junk {
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	for _, p := range junk {
		if exists(p) {
			t.Errorf("%s survives Open", p)
		}
	}
	checkReads(t, l, want)
}
