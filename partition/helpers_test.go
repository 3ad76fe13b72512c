package partition

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
)

// rec is a record to put in a test batch.
type rec struct {
	key, value []byte // nil = null
	ts         int64
}

func kv(key, value string, ts int64) rec {
	r := rec{key: []byte(key), value: []byte(value), ts: ts}
	if value == "" {
		r.value = nil // tombstone
	}
	return r
}

// mkBatch builds an uncompressed v2 batch at base with one record per rec,
// offsets base, base+1, ...
func mkBatch(t testing.TB, base int64, recs ...rec) []byte {
	t.Helper()
	h := batch.Header{
		BaseOffset:      base,
		LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp:  recs[0].ts,
		MaxTimestamp:    recs[0].ts,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		BaseSequence:    -1,
	}
	rs := make([]batch.Record, len(recs))
	for i, r := range recs {
		h.MaxTimestamp = max(h.MaxTimestamp, r.ts)
		rs[i] = batch.Record{TimestampDelta: r.ts - recs[0].ts, OffsetDelta: int32(i), Key: r.key, Value: r.value}
	}
	b, err := batch.Build(h, rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// valueBatch builds a batch of n records with distinct keys and values of
// size valueSize, all at timestamp ts.
func valueBatch(t testing.TB, base int64, n, valueSize int, ts int64) []byte {
	recs := make([]rec, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + (base+int64(i))%26)}, valueSize)
		recs[i] = rec{key: fmt.Appendf(nil, "k%d", base+int64(i)), value: v, ts: ts}
	}
	return mkBatch(t, base, recs...)
}

// smallConfig has tiny segments and a dense index so tests cross segment and
// index boundaries.
func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 2048
	c.IndexIntervalBytes = 256
	return c
}

func mustOpen(t testing.TB, dir string, cfg Config, nowMs int64) *Log {
	t.Helper()
	l, err := Open(dir, cfg, nowMs)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte, nowMs int64) {
	t.Helper()
	if err := l.Append(b, nowMs); err != nil {
		t.Fatalf("Append at %d: %v", l.NextOffset(), err)
	}
}

// crash closes the files without syncing or writing the clean shutdown
// marker: what the next Open sees after the process died (all writes reached
// the page cache, as after a process crash).
func crash(l *Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segments {
		s.close()
	}
}

// logged is a batch as the test appended it.
type logged struct {
	base, last int64
	raw        []byte
}

// fill appends n batches of 1..4 records with ~valueSize-byte values and
// timestamps ts0, ts0+1, ...
func fill(t testing.TB, l *Log, n, valueSize int, ts0 int64) []logged {
	t.Helper()
	var out []logged
	for i := range n {
		base := l.NextOffset()
		b := valueBatch(t, base, 1+i%4, valueSize, ts0+int64(i))
		mustAppend(t, l, b, ts0+int64(i))
		h, _ := batch.ParseHeader(b)
		out = append(out, logged{base: base, last: h.LastOffset(), raw: b})
	}
	return out
}

// splitBatches splits Read output into CRC-checked batches.
func splitBatches(t testing.TB, b []byte) []batch.Header {
	t.Helper()
	var hs []batch.Header
	for len(b) > 0 {
		raw, rest, h, err := batch.Next(b)
		if err != nil {
			t.Fatalf("read output: %v", err)
		}
		if _, err := batch.CheckCRC(raw); err != nil {
			t.Fatalf("read output batch %d: %v", h.BaseOffset, err)
		}
		hs = append(hs, h)
		b = rest
	}
	return hs
}

// record is a decoded record with its absolute offset and timestamp.
type record struct {
	offset, ts int64
	key, value []byte
}

// readAll reads every batch from the log start and decodes its records,
// checking that offsets increase.
func readAll(t testing.TB, l *Log) []record {
	t.Helper()
	var out []record
	off := l.StartOffset()
	prev := int64(-1)
	for off < l.NextOffset() {
		b, err := l.Read(off, 1<<20, -1, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("Read(%d) returned nothing below log end %d", off, l.NextOffset())
		}
		for len(b) > 0 {
			raw, rest, h, err := batch.Next(b)
			if err != nil {
				t.Fatal(err)
			}
			_, recs, err := batch.Records(raw)
			if err != nil {
				t.Fatalf("batch %d: %v", h.BaseOffset, err)
			}
			for _, r := range recs {
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o <= prev {
					t.Fatalf("offset %d after %d", o, prev)
				}
				prev = o
				if o >= l.StartOffset() {
					ts := h.FirstTimestamp + r.TimestampDelta
					if h.LogAppendTime() {
						ts = h.MaxTimestamp
					}
					out = append(out, record{offset: o, ts: ts, key: r.Key, value: r.Value})
				}
			}
			off = h.LastOffset() + 1
			b = rest
		}
	}
	return out
}

func segPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, segmentName(base)+suffix)
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
