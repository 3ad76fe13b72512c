package partition

import (
	"sort"

	"github.com/samsa-io/samsa/internal/batch"
)

// epochEntry is one entry of the leader epoch cache (Kafka's
// leader-epoch-checkpoint): the first offset appended in a leader epoch.
type epochEntry struct {
	Epoch       int32 `json:"e"`
	StartOffset int64 `json:"o"`
}

// undefinedEpoch is Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
const undefinedEpoch = -1

// latestEpoch returns the last entry's epoch, or -1.
func latestEpoch(es []epochEntry) int32 {
	if len(es) == 0 {
		return undefinedEpoch
	}
	return es[len(es)-1].Epoch
}

// truncateEpochsFromEnd drops the entries of epochs that start at or after
// end (Kafka's truncateFromEnd), when the log is truncated to end.
func truncateEpochsFromEnd(es []epochEntry, end int64) []epochEntry {
	n := len(es)
	for n > 0 && es[n-1].StartOffset >= end {
		n--
	}
	return es[:n]
}

// endOffsetFor is Kafka's LeaderEpochFileCache.endOffsetFor over es, as seen
// by a cache that truncateFromStart has trimmed to logStart: the largest
// epoch <= requested and the start offset of the next larger epoch, or
// logEnd for the latest epoch. A requested epoch below every known one
// answers (requested, start of the first known epoch), as Kafka does (its
// older doc comment says UNDEFINED_EPOCH_OFFSET; the code does not); an
// undefined or unknown larger epoch, or an empty cache, answers (-1, -1).
//
// Kafka rewrites its cache as the log start advances; here retention and
// DeleteRecords work on the log without the state machine, so the same
// trim is applied on each call instead: entries that start at or below
// logStart collapse into the last of them, starting at logStart.
func endOffsetFor(es []epochEntry, requested int32, logStart, logEnd int64) (int32, int64) {
	if requested == undefinedEpoch || len(es) == 0 {
		return undefinedEpoch, undefinedEpoch
	}
	if latestEpoch(es) == requested {
		return requested, logEnd
	}
	// higher is the first entry with a larger epoch.
	higher := sort.Search(len(es), func(i int) bool { return es[i].Epoch > requested })
	if higher == len(es) {
		return undefinedEpoch, undefinedEpoch
	}
	// first is the first entry left by the trim to logStart.
	first := sort.Search(len(es), func(i int) bool { return es[i].StartOffset > logStart })
	if first > 0 {
		first--
	}
	startOf := func(i int) int64 {
		if i == first {
			return max(es[i].StartOffset, logStart)
		}
		return es[i].StartOffset
	}
	if higher <= first {
		// The trim removed every entry <= requested (the first remaining
		// one is larger): Kafka's floorEntry == null case.
		if higher < first {
			higher = first
		}
		return requested, startOf(higher)
	}
	return es[higher-1].Epoch, startOf(higher)
}

// scanEpochs rebuilds the epoch cache from the leader epochs stamped in the
// log's batches, for checkpoints written before the cache existed.
func scanEpochs(l *Log) ([]epochEntry, error) {
	var es []epochEntry
	start, end := l.StartOffset(), l.NextOffset()
	for off := start; off < end; {
		data, err := l.Read(off, 1<<20, end, true)
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			break // the rest is a gap left by compaction
		}
		for len(data) > 0 {
			_, rest, h, err := batch.Next(data)
			if err != nil {
				return nil, err
			}
			if h.PartitionLeaderEpoch > latestEpoch(es) {
				es = append(es, epochEntry{Epoch: h.PartitionLeaderEpoch, StartOffset: max(h.BaseOffset, start)})
			}
			off = h.LastOffset() + 1
			data = rest
		}
	}
	return es, nil
}

// validEpochs reports whether es is a well-formed cache: epochs >= 0 and
// increasing, start offsets >= 0 and not decreasing.
func validEpochs(es []epochEntry) bool {
	for i, e := range es {
		if e.Epoch < 0 || e.StartOffset < 0 {
			return false
		}
		if i > 0 && (e.Epoch <= es[i-1].Epoch || e.StartOffset < es[i-1].StartOffset) {
			return false
		}
	}
	return true
}
