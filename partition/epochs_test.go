package partition

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestEndOffsetFor is Kafka's LeaderEpochFileCache.endOffsetFor, including
// its view of the cache after truncateFromStart.
func TestEndOffsetFor(t *testing.T) {
	es := []epochEntry{{1, 0}, {3, 10}, {4, 20}, {7, 35}}
	const end = 50
	for _, tc := range []struct {
		name      string
		es        []epochEntry
		requested int32
		start     int64
		epoch     int32
		offset    int64
	}{
		{"empty cache", nil, 3, 0, -1, -1},
		{"undefined epoch", es, -1, 0, -1, -1},
		{"below the first epoch", es, 0, 0, 0, 0},
		{"first epoch", es, 1, 0, 1, 10},
		{"between epochs", es, 2, 0, 1, 10},
		{"middle epoch", es, 3, 0, 3, 20},
		{"between later epochs", es, 5, 0, 4, 35},
		{"just below the latest", es, 6, 0, 4, 35},
		{"latest epoch", es, 7, 0, 7, end},
		{"above the latest", es, 8, 0, -1, -1},
		{"far below", es, -5, 0, -5, 0},
		{"single entry, latest", []epochEntry{{2, 5}}, 2, 0, 2, end},
		{"single entry, below", []epochEntry{{2, 5}}, 1, 0, 1, 5},
		{"single entry, above", []epochEntry{{2, 5}}, 3, 0, -1, -1},
		// Log start 25: the cache reads (4, 25), (7, 35).
		{"trimmed: below the first left", es, 1, 25, 1, 25},
		{"trimmed: epoch 3", es, 3, 25, 3, 25},
		{"trimmed: first left", es, 4, 25, 4, 35},
		{"trimmed: between", es, 5, 25, 4, 35},
		{"trimmed: latest", es, 7, 25, 7, end},
		// Log start 20, exactly epoch 4's start: (4, 20), (7, 35).
		{"trimmed at a start: epoch 3", es, 3, 20, 3, 20},
		{"trimmed at a start: epoch 4", es, 4, 20, 4, 35},
		// Log start 40, in the latest epoch: (7, 40).
		{"trimmed to the latest: epoch 4", es, 4, 40, 4, 40},
		{"trimmed to the latest: epoch 7", es, 7, 40, 7, end},
		// Log start 5, inside the first epoch: (1, 5), (3, 10), ...
		{"trimmed inside the first: epoch 1", es, 1, 5, 1, 10},
		{"trimmed inside the first: epoch 0", es, 0, 5, 0, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epoch, offset := endOffsetFor(tc.es, tc.requested, tc.start, end)
			if epoch != tc.epoch || offset != tc.offset {
				t.Fatalf("endOffsetFor(%d) with log start %d = (%d, %d), want (%d, %d)",
					tc.requested, tc.start, epoch, offset, tc.epoch, tc.offset)
			}
		})
	}
}

// TestEpochCache: appends record (epoch, first offset) when the epoch goes
// up, never for a lower epoch or a duplicate; the cache is checkpointed by
// Sync, and after a crash Open drops what was applied after the checkpoint,
// with the epochs that began there.
func TestEpochCache(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	if s.LatestEpoch() != -1 {
		t.Fatalf("empty cache has latest epoch %d", s.LatestEpoch())
	}
	if e, off := s.EndOffsetForEpoch(0); e != -1 || off != -1 {
		t.Fatalf("empty cache: (%d, %d)", e, off)
	}
	var e entries
	apply(t, s,
		e.next(2, 0, idemBatch(t, 7, 0, 0, 3)),    // 0-2: epoch 2 starts at 0
		e.next(2, 0, idemBatch(t, 7, 0, 3, 2)),    // 3-4
		e.next(5, 0, idemBatch(t, 7, 0, 3, 2)),    // duplicate: no data, no epoch
		e.next(5, 0, idemBatch(t, 7, 0, 9, 1)),    // out of order: no epoch
		e.next(5, 0, idemBatch(t, -1, -1, -1, 2)), // 5-6: epoch 5 starts at 5
		e.next(3, 0, idemBatch(t, -1, -1, -1, 1)), // 7: a stale epoch is not recorded
	)
	want := []epochEntry{{2, 0}, {5, 5}}
	if !slices.Equal(s.epochs, want) || s.LatestEpoch() != 5 {
		t.Fatalf("epochs %v, want %v", s.epochs, want)
	}
	for _, c := range []struct {
		req    int32
		epoch  int32
		offset int64
	}{{1, 1, 0}, {2, 2, 5}, {3, 2, 5}, {4, 2, 5}, {5, 5, 8}, {6, -1, -1}} {
		if epoch, off := s.EndOffsetForEpoch(c.req); epoch != c.epoch || off != c.offset {
			t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", c.req, epoch, off, c.epoch, c.offset)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	e8 := e.next(8, 0, idemBatch(t, -1, -1, -1, 2)) // 8-9: epoch 8
	e9 := e.next(9, 0, idemBatch(t, -1, -1, -1, 1)) // 10: epoch 9
	apply(t, s, e8, e9)
	if s.LatestEpoch() != 9 {
		t.Fatalf("latest epoch %d, want 9", s.LatestEpoch())
	}
	crash(s.Log())

	s, idx := openSM(t, dir)
	if idx != 6 || s.Log().NextOffset() != 8 {
		t.Fatalf("reopened at index %d, log end %d", idx, s.Log().NextOffset())
	}
	if !slices.Equal(s.epochs, want) {
		t.Fatalf("epochs after the crash %v, want %v", s.epochs, want)
	}
	if epoch, off := s.EndOffsetForEpoch(5); epoch != 5 || off != 8 {
		t.Fatalf("EndOffsetForEpoch(5) after the crash = (%d, %d)", epoch, off)
	}
	// Raft re-applies the lost entries: the same epochs come back.
	apply(t, s, e8, e9)
	want = append(want, epochEntry{8, 8}, epochEntry{9, 10})
	if !slices.Equal(s.epochs, want) {
		t.Fatalf("epochs after re-applying %v, want %v", s.epochs, want)
	}
	s.Close()

	// A clean restart keeps them all.
	s, _ = openSM(t, dir)
	if !slices.Equal(s.epochs, want) {
		t.Fatalf("epochs after a restart %v, want %v", s.epochs, want)
	}
	s.Close()
}

// TestEpochCacheRebuiltFromLog: a checkpoint written before the cache
// existed makes Open rebuild it from the batches' leader epochs, after
// truncating the log to the checkpoint.
func TestEpochCacheRebuiltFromLog(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSM(t, dir)
	var e entries
	apply(t, s,
		e.next(1, 0, idemBatch(t, -1, -1, -1, 2)),
		e.next(4, 0, idemBatch(t, -1, -1, -1, 2)),
		e.next(4, AppendFlagLogAppendTime, idemBatch(t, -1, -1, -1, 2)),
		e.next(6, 0, idemBatch(t, -1, -1, -1, 2)),
	)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(s.epochs)
	apply(t, s, e.next(7, 0, idemBatch(t, -1, -1, -1, 2)))
	crash(s.Log())

	// Rewrite the checkpoint in the old format: no version, no epochs.
	path := filepath.Join(dir, checkpointFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "version")
	delete(m, "epochs")
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	s, _ = openSM(t, dir)
	defer s.Close()
	if !slices.Equal(s.epochs, want) || len(want) != 3 {
		t.Fatalf("rebuilt epochs %v, want %v", s.epochs, want)
	}
}

func TestTruncateEpochsFromEnd(t *testing.T) {
	es := []epochEntry{{1, 0}, {3, 10}, {4, 20}}
	for _, c := range []struct {
		end  int64
		want int
	}{{25, 3}, {20, 2}, {11, 2}, {10, 1}, {0, 0}} {
		if got := truncateEpochsFromEnd(slices.Clone(es), c.end); !slices.Equal(got, es[:c.want]) {
			t.Errorf("truncate at %d: %v", c.end, got)
		}
	}
}
