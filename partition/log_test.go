package partition

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
)

// checkReads reads from every offset and checks Kafka's fetch semantics
// against the batches that were appended.
func checkReads(t *testing.T, l *Log, want []logged) {
	t.Helper()
	segs := l.Segments()
	segEnd := func(off int64) int64 { // base offset of the segment after the one holding off
		for i := len(segs) - 1; i >= 0; i-- {
			if segs[i].BaseOffset <= off {
				if i+1 < len(segs) {
					return segs[i+1].BaseOffset
				}
				return math.MaxInt64
			}
		}
		t.Fatalf("no segment for %d", off)
		return 0
	}
	for i, w := range want {
		for off := w.base; off <= w.last; off++ {
			got, err := l.Read(off, 1<<20, -1, false)
			if err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			// The batch holding off, then the rest of its segment.
			var exp []byte
			for _, x := range want[i:] {
				if x.base >= segEnd(w.base) {
					break
				}
				exp = append(exp, x.raw...)
			}
			if !bytes.Equal(got, exp) {
				t.Fatalf("Read(%d): got %d bytes, want %d", off, len(got), len(exp))
			}
		}
	}
}

func TestAppendReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := mustOpen(t, dir, cfg, 0)
	want := fill(t, l, 200, 40, 1000)
	if n := len(l.Segments()); n < 10 {
		t.Fatalf("%d segments, want many", n)
	}
	for _, s := range l.Segments() {
		if !s.Active && s.Size > cfg.SegmentBytes {
			t.Errorf("segment %d has %d bytes > segment.bytes", s.BaseOffset, s.Size)
		}
		if s.Size > 2*cfg.IndexIntervalBytes && s.IndexEntries == 0 {
			t.Errorf("segment %d has no index entries", s.BaseOffset)
		}
		if !exists(segPath(dir, s.BaseOffset, ".log")) || !exists(segPath(dir, s.BaseOffset, ".index")) || !exists(segPath(dir, s.BaseOffset, ".timeindex")) {
			t.Errorf("segment %d files missing", s.BaseOffset)
		}
	}
	if got, exp := l.NextOffset(), want[len(want)-1].last+1; got != exp {
		t.Fatalf("NextOffset %d, want %d", got, exp)
	}
	checkReads(t, l, want)

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	checkReads(t, l, want)
	more := fill(t, l, 20, 40, 5000)
	checkReads(t, l, append(want, more...))
}

func TestReadLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 100
	l := mustOpen(t, t.TempDir(), cfg, 0)
	defer l.Close()
	want := fill(t, l, 10, 50, 0)
	b0, b1 := want[0].raw, want[1].raw

	got, err := l.Read(0, len(b0)+len(b1)-1, -1, false)
	if err != nil || !bytes.Equal(got, b0) {
		t.Fatalf("maxBytes just under two batches: %d bytes, %v", len(got), err)
	}
	if got, _ := l.Read(0, len(b0)+len(b1), -1, false); !bytes.Equal(got, append(append([]byte{}, b0...), b1...)) {
		t.Fatalf("maxBytes exactly two batches: %d bytes", len(got))
	}
	if got, err := l.Read(0, 10, -1, false); err != nil || len(got) != 0 {
		t.Fatalf("first batch too big, minOne=false: %d bytes, %v", len(got), err)
	}
	if got, _ := l.Read(0, 10, -1, true); !bytes.Equal(got, b0) {
		t.Fatalf("minOne: %d bytes", len(got))
	}
	if got, _ := l.Read(0, 0, -1, true); !bytes.Equal(got, b0) {
		t.Fatalf("minOne with maxBytes 0: %d bytes", len(got))
	}
	// maxOffset: batches starting at or above it are withheld.
	hw := want[3].base
	got, _ = l.Read(want[1].last, 1<<20, hw, false)
	if hs := splitBatches(t, got); len(hs) != 2 || hs[0].BaseOffset != want[1].base || hs[1].BaseOffset != want[2].base {
		t.Fatalf("maxOffset: got %+v", hs)
	}
	if got, _ := l.Read(hw, 1<<20, hw, true); len(got) != 0 {
		t.Fatalf("read at the high watermark returned %d bytes", len(got))
	}
	// A batch straddling the high watermark is returned (its base is below).
	if got, _ := l.Read(want[3].base, 1<<20, want[3].base+1, false); !bytes.Equal(got, want[3].raw) {
		t.Fatalf("straddling batch: %d bytes", len(got))
	}

	next := l.NextOffset()
	if got, err := l.Read(next, 1<<20, -1, true); err != nil || got != nil {
		t.Fatalf("Read(NextOffset) = %d bytes, %v", len(got), err)
	}
	for _, off := range []int64{-1, next + 1} {
		if _, err := l.Read(off, 1<<20, -1, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d): %v, want ErrOffsetOutOfRange", off, err)
		}
	}
}

func TestAppendValidation(t *testing.T) {
	l := mustOpen(t, t.TempDir(), DefaultConfig(), 0)
	defer l.Close()
	mustAppend(t, l, mkBatch(t, 0, kv("a", "1", 0), kv("b", "2", 0)), 0)
	if err := l.Append(mkBatch(t, 5, kv("a", "1", 0)), 0); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("gap: %v", err)
	}
	if err := l.Append(mkBatch(t, 1, kv("a", "1", 0)), 0); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("overlap: %v", err)
	}
	b := mkBatch(t, 2, kv("a", "1", 0))
	b[len(b)-1] ^= 1
	if err := l.Append(b, 0); !errors.Is(err, batch.ErrCorrupt) {
		t.Fatalf("bad CRC: %v", err)
	}
	b = mkBatch(t, 2, kv("a", "1", 0))
	if err := l.Append(b[:len(b)-1], 0); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("partial batch: %v", err)
	}
	// Two batches in one append, the second continuing the first.
	two := append(mkBatch(t, 2, kv("a", "1", 0)), mkBatch(t, 3, kv("b", "1", 0), kv("c", "1", 0))...)
	mustAppend(t, l, two, 0)
	if l.NextOffset() != 5 {
		t.Fatalf("NextOffset %d, want 5", l.NextOffset())
	}
}

func TestRollBySegmentBytes(t *testing.T) {
	cfg := DefaultConfig()
	v := strings.Repeat("v", 100)
	pair := func(base int64) []byte { return mkBatch(t, base, kv("key", v, 0), kv("key", v, 0)) }
	cfg.SegmentBytes = int64(3 * len(pair(0))) // three batches per segment
	l := mustOpen(t, t.TempDir(), cfg, 0)
	defer l.Close()
	for range 10 {
		mustAppend(t, l, pair(l.NextOffset()), 0)
	}
	segs := l.Segments()
	if len(segs) != 4 {
		t.Fatalf("%d segments, want 4: %+v", len(segs), segs)
	}
	for i, s := range segs {
		if s.BaseOffset != int64(6*i) {
			t.Errorf("segment %d base %d, want %d", i, s.BaseOffset, 6*i)
		}
		if !s.Active && s.Size != cfg.SegmentBytes {
			t.Errorf("segment %d size %d, want %d", i, s.Size, cfg.SegmentBytes)
		}
	}
	// A batch larger than segment.bytes still goes in, alone.
	big := valueBatch(t, l.NextOffset(), 10, 200, 0)
	mustAppend(t, l, big, 0)
	segs = l.Segments()
	if last := segs[len(segs)-1]; last.Size != int64(len(big)) {
		t.Fatalf("big batch: active segment %+v", last)
	}
}

func TestRollBySegmentMs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentMs = 1000
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg, 0)
	// Rolling uses the append time, not record timestamps.
	mustAppend(t, l, valueBatch(t, 0, 1, 10, 1), 10_000)
	mustAppend(t, l, valueBatch(t, 1, 1, 10, 2), 10_500)
	mustAppend(t, l, valueBatch(t, 2, 1, 10, 3), 11_000) // exactly segment.ms: no roll
	if n := len(l.Segments()); n != 1 {
		t.Fatalf("%d segments before segment.ms elapsed", n)
	}
	mustAppend(t, l, valueBatch(t, 3, 1, 10, 4), 11_001)
	segs := l.Segments()
	if len(segs) != 2 || segs[1].BaseOffset != 3 {
		t.Fatalf("after segment.ms: %+v", segs)
	}
	// The new segment's clock starts at its first append.
	mustAppend(t, l, valueBatch(t, 4, 1, 10, 5), 12_000)
	if n := len(l.Segments()); n != 2 {
		t.Fatalf("%d segments, want 2", n)
	}
	mustAppend(t, l, valueBatch(t, 5, 1, 10, 6), 12_002)
	if n := len(l.Segments()); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	// The rolled segment's largest timestamp is in its time index.
	if s := l.Segments()[1]; s.TimeIndexEntries != 1 || s.MaxTimestamp != 5 {
		t.Fatalf("rolled segment %+v", s)
	}
	l.Close()
}

func TestRollWhenIndexFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 0 // an entry for every batch but the first
	cfg.SegmentIndexBytes = 3 * offsetIndexEntrySize
	l := mustOpen(t, t.TempDir(), cfg, 0)
	defer l.Close()
	fill(t, l, 9, 10, 0)
	for _, s := range l.Segments() {
		if s.IndexEntries > 3 {
			t.Fatalf("segment %d has %d index entries", s.BaseOffset, s.IndexEntries)
		}
	}
	if n := len(l.Segments()); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
}

func TestTruncateTo(t *testing.T) {
	for _, clean := range []bool{true, false} {
		dir := t.TempDir()
		cfg := smallConfig()
		l := mustOpen(t, dir, cfg, 0)
		want := fill(t, l, 100, 40, 0)
		mid := want[60]
		if err := l.TruncateTo(mid.base); err != nil {
			t.Fatal(err)
		}
		if l.NextOffset() != mid.base {
			t.Fatalf("NextOffset %d, want %d", l.NextOffset(), mid.base)
		}
		for _, s := range l.Segments() {
			if s.NextOffset > mid.base {
				t.Fatalf("segment %+v survives truncation to %d", s, mid.base)
			}
		}
		more := fill(t, l, 10, 40, 500)
		exp := append(append([]logged{}, want[:60]...), more...)
		checkReads(t, l, exp)

		if clean {
			l.Close()
		} else {
			crash(l)
		}
		l = mustOpen(t, dir, cfg, 0)
		checkReads(t, l, exp)

		// Inside a batch: the whole batch goes.
		b := exp[30]
		if b.last == b.base {
			b = exp[31]
		}
		if err := l.TruncateTo(b.base + 1); err != nil {
			t.Fatal(err)
		}
		if l.NextOffset() != b.base {
			t.Fatalf("NextOffset %d, want %d", l.NextOffset(), b.base)
		}
		// Below the first segment: restart empty there.
		if err := l.DeleteRecordsBefore(exp[20].base); err != nil {
			t.Fatal(err)
		}
		if _, err := l.EnforceRetention(0); err != nil {
			t.Fatal(err)
		}
		first := l.Segments()[0].BaseOffset
		if first == 0 {
			t.Fatal("no segment was deleted")
		}
		if err := l.TruncateTo(first - 1); err != nil {
			t.Fatal(err)
		}
		if l.StartOffset() != first-1 || l.NextOffset() != first-1 || l.Size() != 0 {
			t.Fatalf("after full truncation: start %d next %d size %d", l.StartOffset(), l.NextOffset(), l.Size())
		}
		mustAppend(t, l, valueBatch(t, first-1, 2, 10, 0), 0)
		crash(l)
		l = mustOpen(t, dir, cfg, 0)
		if l.StartOffset() != first-1 || l.NextOffset() != first+1 {
			t.Fatalf("after reopen: start %d next %d", l.StartOffset(), l.NextOffset())
		}
		l.Close()
	}
}

// TestConcurrentReadAppend runs readers against the appender; run with
// -race. Readers must only ever see whole, valid batches.
func TestConcurrentReadAppend(t *testing.T) {
	cfg := smallConfig()
	l := mustOpen(t, t.TempDir(), cfg, 0)
	defer l.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(0)
			for {
				select {
				case <-done:
					return
				default:
				}
				b, err := l.Read(off, 700, l.NextOffset(), r == 0)
				if err != nil {
					t.Errorf("Read(%d): %v", off, err)
					return
				}
				for _, h := range splitBatches(t, b) {
					off = h.LastOffset() + 1
				}
				l.OffsetForTimestamp(50)
				l.MaxTimestamp()
				l.Segments()
			}
		}()
	}
	for i := range 300 {
		mustAppend(t, l, valueBatch(t, l.NextOffset(), 1+i%3, 50, int64(i)), int64(i))
		if i%50 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
}

func TestCloseRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, DefaultConfig(), 0)
	fill(t, l, 3, 10, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !exists(dir + "/" + cleanShutdownFile) {
		t.Fatal("no clean shutdown marker")
	}
	if err := l.Append(valueBatch(t, l.NextOffset(), 1, 1, 0), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := l.Read(0, 100, -1, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	l = mustOpen(t, dir, DefaultConfig(), 0)
	defer l.Close()
	if exists(dir + "/" + cleanShutdownFile) {
		t.Fatal("clean shutdown marker survives Open")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.SegmentBytes = 1 << 31 },
		func(c *Config) { c.SegmentMs = 0 },
		func(c *Config) { c.RetentionMs = -2 },
		func(c *Config) { c.CleanupPolicy = "compact,forever" },
		func(c *Config) { c.CleanupPolicy = "" },
		func(c *Config) { c.MinCleanableDirtyRatio = 1.5 },
	} {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
		if _, err := Open(t.TempDir(), c, 0); err == nil {
			t.Errorf("Open accepted %+v", c)
		}
	}
	c := DefaultConfig()
	c.CleanupPolicy = "compact, delete"
	if !c.Compacts() || !c.Deletes() || c.Validate() != nil {
		t.Fatal("compact,delete")
	}
}

func TestEmptyDirCreatesSegment(t *testing.T) {
	dir := t.TempDir() + "/topic-0"
	l := mustOpen(t, dir, DefaultConfig(), 0)
	defer l.Close()
	if l.NextOffset() != 0 || l.StartOffset() != 0 {
		t.Fatalf("start %d next %d", l.StartOffset(), l.NextOffset())
	}
	if _, err := os.Stat(segPath(dir, 0, ".log")); err != nil {
		t.Fatal(err)
	}
}
