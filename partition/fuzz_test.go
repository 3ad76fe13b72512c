package partition

import (
	"bytes"
	"os"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
)

// FuzzRecover writes arbitrary bytes as the active segment's .log of a log
// that crashed, and checks that Open neither panics nor fails and leaves a
// consistent log: the .log truncated to a prefix of the input made of whole,
// CRC-valid batches with increasing offsets, NextOffset after the last
// batch, reads of every offset working, appends continuing and a reopen
// agreeing.
func FuzzRecover(f *testing.F) {
	f.Add([]byte{})
	f.Add(mkBatch(f, 0, kv("a", "b", 1)))
	f.Add(append(mkBatch(f, 0, kv("a", "b", 1), kv("c", "d", 2)), mkBatch(f, 2, kv("e", "f", 3))...))
	f.Add(append(mkBatch(f, 3, kv("a", "b", 1)), 0, 0, 0, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(segPath(dir, 0, ".log"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.IndexIntervalBytes = 64
		l, err := Open(dir, cfg, 0)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		size, next := l.Size(), l.NextOffset()
		if size > int64(len(data)) || fileSize(t, segPath(dir, 0, ".log")) != size {
			t.Fatalf("size %d, file %d, input %d", size, fileSize(t, segPath(dir, 0, ".log")), len(data))
		}
		if l.StartOffset() != 0 || next < 0 {
			t.Fatalf("start %d next %d", l.StartOffset(), next)
		}
		var got []byte
		if next > 0 {
			if got, err = l.Read(0, 1<<30, -1, true); err != nil {
				t.Fatalf("Read(0): %v", err)
			}
		}
		if !bytes.Equal(got, data[:size]) {
			t.Fatalf("log is not a prefix of the input: read %d bytes of %d", len(got), size)
		}
		prev := int64(-1)
		for rest := got; len(rest) > 0; {
			raw, r, h, err := batch.Next(rest)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := batch.CheckCRC(raw); err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset <= prev || h.LastOffset() < h.BaseOffset {
				t.Fatalf("batch %d..%d after %d", h.BaseOffset, h.LastOffset(), prev)
			}
			prev = h.LastOffset()
			rest = r
		}
		if next != prev+1 {
			t.Fatalf("NextOffset %d, last offset %d", next, prev)
		}
		for off := max(0, next-100); off <= next; off++ {
			if _, err := l.Read(off, 1<<20, -1, true); err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
		}
		l.OffsetForTimestamp(0)
		l.MaxTimestamp()
		mustAppend(t, l, mkBatch(t, next, kv("x", "y", 5)), 0)
		crash(l)
		l, err = Open(dir, cfg, 0)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l.Close()
		if l.NextOffset() != next+1 || l.Size() <= size {
			t.Fatalf("reopen: next %d size %d, want %d and more than %d", l.NextOffset(), l.Size(), next+1, size)
		}
	})
}
