package partition

import (
	"math/rand/v2"
	"testing"

	"github.com/samsa-io/samsa/internal/batch"
)

// timestampLog appends batches whose record timestamps jump around (within
// a batch and between batches), some with LogAppendTime, and returns every
// record.
func timestampLog(t *testing.T, l *Log) []record {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var all []record
	for i := range 200 {
		base := l.NextOffset()
		n := 1 + rng.IntN(4)
		recs := make([]rec, n)
		for j := range recs {
			recs[j] = kv("k", "value-value-value-value", int64(i*10+rng.IntN(60)))
		}
		b := mkBatch(t, base, recs...)
		if i%9 == 0 {
			batch.SetLogAppendTime(b, int64(i*10+5))
			for j := range recs {
				recs[j].ts = int64(i*10 + 5)
			}
		}
		mustAppend(t, l, b, 0)
		for j, r := range recs {
			all = append(all, record{offset: base + int64(j), ts: r.ts})
		}
	}
	return all
}

func checkTimestamps(t *testing.T, l *Log, all []record) {
	t.Helper()
	start := l.StartOffset()
	for q := int64(-30); q <= 2100; q++ {
		wo, wts, wfound := int64(-1), int64(-1), false
		for _, r := range all {
			if r.offset >= start && r.ts >= q {
				wo, wts, wfound = r.offset, r.ts, true
				break
			}
		}
		o, ts, found := l.OffsetForTimestamp(q)
		if o != wo || ts != wts || found != wfound {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d, %v", q, o, ts, found, wo, wts, wfound)
		}
	}
	wts, wo := int64(-1), int64(-1)
	for _, r := range all {
		if r.ts > wts {
			wts, wo = r.ts, r.offset
		}
	}
	if ts, o := l.MaxTimestamp(); ts != wts || o != wo {
		t.Fatalf("MaxTimestamp = %d at %d, want %d at %d", ts, o, wts, wo)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 150
	l := mustOpen(t, dir, cfg, 0)
	all := timestampLog(t, l)
	if len(l.Segments()) < 5 {
		t.Fatal("want several segments")
	}
	checkTimestamps(t, l, all)

	l.Close()
	l = mustOpen(t, dir, cfg, 0)
	checkTimestamps(t, l, all)
	crash(l)
	l = mustOpen(t, dir, cfg, 0)
	defer l.Close()
	checkTimestamps(t, l, all)

	// Records below the log start do not count.
	if err := l.DeleteRecordsBefore(all[len(all)/2].offset); err != nil {
		t.Fatal(err)
	}
	o, _, found := l.OffsetForTimestamp(-100)
	if !found || o != l.StartOffset() {
		t.Fatalf("OffsetForTimestamp(-100) = %d, %v; want the log start %d", o, found, l.StartOffset())
	}
}

func TestTimestampsEmptyLog(t *testing.T) {
	l := mustOpen(t, t.TempDir(), DefaultConfig(), 0)
	defer l.Close()
	if _, _, found := l.OffsetForTimestamp(0); found {
		t.Fatal("found a timestamp in an empty log")
	}
	if ts, o := l.MaxTimestamp(); ts != -1 || o != -1 {
		t.Fatalf("MaxTimestamp = %d, %d", ts, o)
	}
}
