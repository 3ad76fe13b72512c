package partition

import (
	"bytes"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
)

// benchBatches is 1 MB of 100-byte records: 100 uncompressed batches of 100
// records each.
func benchBatches(b *testing.B) [][]byte {
	out := make([][]byte, 100)
	for i := range out {
		recs := make([]rec, 100)
		for j := range recs {
			recs[j] = rec{value: bytes.Repeat([]byte{byte(j)}, 100), ts: int64(i)}
		}
		out[i] = mkBatch(b, 0, recs...)
	}
	return out
}

const benchBytes = 100 * 100 * 100

func BenchmarkAppend(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	cfg.RetentionBytes = 256 << 20
	l := mustOpen(b, b.TempDir(), cfg, 0)
	defer l.Close()
	batches := benchBatches(b)
	b.SetBytes(benchBytes)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, raw := range batches {
			// The state machine assigns offsets the same way: the base
			// offset is outside the CRC.
			batch.SetBaseOffset(raw, l.NextOffset())
			if err := l.Append(raw, 0); err != nil {
				b.Fatal(err)
			}
		}
		// Keep the disk footprint bounded.
		if n++; n%64 == 0 {
			if _, err := l.EnforceRetention(0); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkRead(b *testing.B) {
	l := mustOpen(b, b.TempDir(), DefaultConfig(), 0)
	defer l.Close()
	for _, raw := range benchBatches(b) {
		batch.SetBaseOffset(raw, l.NextOffset())
		if err := l.Append(raw, 0); err != nil {
			b.Fatal(err)
		}
	}
	next := l.NextOffset()
	b.SetBytes(benchBytes)
	b.ReportAllocs()
	for b.Loop() {
		// Consumer-style: 64 KiB fetches from the start to the end.
		for off := int64(0); off < next; {
			got, err := l.Read(off, 64<<10, next, true)
			if err != nil {
				b.Fatal(err)
			}
			for len(got) > 0 {
				_, rest, h, err := batch.Next(got)
				if err != nil {
					b.Fatal(err)
				}
				off = h.LastOffset() + 1
				got = rest
			}
		}
	}
}
