package partition

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Open opens the log in dir, creating the directory and an empty first
// segment if needed, and recovers it:
//
//   - a Reset that a crash interrupted is completed: every segment is
//     deleted and the log restarts empty at the reset offset.
//   - leftovers of interrupted operations are cleaned up: temporary
//     checkpoint files, compaction output (.cleaned) that was never
//     committed, Kafka's .deleted files and index files without a .log; a
//     committed compaction (.log.swap) is completed by deleting the segments
//     it replaces and renaming it into place.
//   - after a clean shutdown (the marker written by Close is present) every
//     segment is trusted: its index files are only sanity-checked and the
//     tail of each segment after its last index entries is read to find its
//     end offset and largest timestamp.
//   - after an unclean shutdown, segments at or above the recovery point
//     (normally only the active segment) are scanned batch by batch with CRC
//     checks and truncated at the first torn or corrupt batch, and their
//     indexes are rebuilt; if a segment other than the last had to be
//     truncated, the segments after it are deleted, since they were written
//     after the lost bytes. Older segments are trusted as above.
//   - a segment whose index files are missing or fail the sanity checks is
//     rebuilt from its .log.
//
// nowMs stands in for the first append time of a non-empty active segment
// when its first batch has no usable timestamp (segment.ms).
func Open(dir string, cfg Config, nowMs int64) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("partition: %w", err)
	}
	l := &Log{dir: dir, cfg: cfg, tombstoneDeadlineMs: math.MaxInt64}
	if err := l.load(nowMs); err != nil {
		for _, s := range l.segments {
			s.close()
		}
		return nil, fmt.Errorf("partition: opening %s: %w", dir, err)
	}
	return l, nil
}

func (l *Log) load(nowMs int64) error {
	dir := l.dir
	if err := l.finishReset(); err != nil {
		return err
	}
	_, err := os.Stat(filepath.Join(dir, cleanShutdownFile))
	clean := err == nil

	bases, err := l.cleanDirectory()
	if err != nil {
		return err
	}

	logStart, hasLogStart, err := readCheckpoint(dir, logStartOffsetCheckpoint)
	if err != nil {
		return err
	}
	if l.recoveryPoint, _, err = readCheckpoint(dir, recoveryPointCheckpoint); err != nil {
		return err
	}
	if l.cleanerCheckpoint, _, err = readCheckpoint(dir, cleanerCheckpoint); err != nil {
		return err
	}

	for _, base := range bases {
		s, size, err := openSegment(dir, base.offset)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
		s.size = size
	}
	if err := l.recoverSegments(clean, bases); err != nil {
		return err
	}

	if len(l.segments) == 0 {
		s, err := createSegment(dir, logStart)
		if err != nil {
			return err
		}
		l.segments = []*segment{s}
		l.dirDirty = true
	}
	l.startOffset = l.segments[0].baseOffset
	if hasLogStart && logStart > l.startOffset {
		l.startOffset = logStart
	}
	// A crash between writing a new log start and deleting the segments
	// below it leaves them behind: finish the job.
	for len(l.segments) > 1 && l.segments[1].baseOffset <= l.startOffset {
		if err := l.segments[0].remove(); err != nil {
			return err
		}
		l.segments = l.segments[1:]
		l.dirDirty = true
	}
	if l.startOffset > l.active().nextOffset {
		// Recovery lost data the log start had already passed: nothing
		// readable is left, so restart empty at the log start.
		for _, s := range l.segments {
			if err := s.remove(); err != nil {
				return err
			}
		}
		s, err := createSegment(dir, l.startOffset)
		if err != nil {
			return err
		}
		l.segments = []*segment{s}
		l.dirDirty = true
	}

	a := l.active()
	if a.size > 0 {
		// segment.ms counts from the first append, which is not on
		// disk; like Kafka, fall back to the first batch's timestamp.
		a.firstAppendMs = nowMs
		if h, err := a.readHeader(0, a.size); err == nil && h.MaxTimestamp >= 0 && h.MaxTimestamp < nowMs {
			a.firstAppendMs = h.MaxTimestamp
		}
	}
	if err := a.openIndexFiles(0); err != nil {
		return err
	}
	for _, s := range l.segments[:len(l.segments)-1] {
		if !s.dirty {
			if err := s.closeIndexFiles(); err != nil {
				return err
			}
		}
	}

	if clean {
		if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
			return err
		}
		l.dirDirty = true
	}
	// Make the recovered state durable and the marker's removal with it:
	// if the removal were lost in a crash, the next Open would trust
	// whatever was appended after this one.
	return l.syncLocked()
}

type segmentFile struct {
	offset  int64
	rebuild bool // the segment came from a .swap file: its indexes are stale
}

// cleanDirectory deletes leftovers, completes committed compactions and
// returns the base offsets of the .log files, ascending.
func (l *Log) cleanDirectory() ([]segmentFile, error) {
	dir := l.dir
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	logs := map[int64]bool{}
	indexes := map[int64][]string{}
	var swaps []int64
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case strings.HasSuffix(name, tmpSuffix), strings.HasSuffix(name, cleanedSuffix), strings.HasSuffix(name, deletedSuffix):
			if err := removeIfExists(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			l.dirDirty = true
		case strings.HasSuffix(name, swapSuffix):
			base, suffix, ok := parseSegmentName(strings.TrimSuffix(name, swapSuffix))
			if ok && suffix == logSuffix {
				swaps = append(swaps, base)
				continue
			}
			// Index .swap files are not used here (swapped segments
			// get fresh indexes); drop any.
			if err := removeIfExists(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		default:
			base, suffix, ok := parseSegmentName(name)
			if !ok {
				continue
			}
			switch suffix {
			case logSuffix:
				logs[base] = true
			case indexSuffix, timeIndexSuffix:
				indexes[base] = append(indexes[base], name)
			}
		}
	}

	rebuild := map[int64]bool{}
	slices.Sort(swaps)
	for _, x := range swaps {
		if err := completeSwap(dir, x, logs); err != nil {
			return nil, err
		}
		logs[x] = true
		rebuild[x] = true
		l.dirDirty = true
	}

	for base, names := range indexes {
		if logs[base] {
			continue
		}
		for _, name := range names {
			if err := removeIfExists(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		}
		l.dirDirty = true
	}

	out := make([]segmentFile, 0, len(logs))
	for base := range logs {
		out = append(out, segmentFile{offset: base, rebuild: rebuild[base]})
	}
	slices.SortFunc(out, func(a, b segmentFile) int { return cmp.Compare(a.offset, b.offset) })
	return out, nil
}

// completeSwap finishes a compaction that crashed after committing its
// output as <x>.log.swap: the segments it replaced are those with base
// offsets from x up to the swap's end offset; they are deleted (with x's
// own index files, which describe the old segment) and the swap file takes
// the name <x>.log. Its indexes are rebuilt by recovery.
func completeSwap(dir string, x int64, logs map[int64]bool) error {
	swap := filepath.Join(dir, segmentName(x)+logSuffix+swapSuffix)
	s := newSegment(dir, x)
	f, err := os.OpenFile(swap, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.log = f
	// The swap was fsynced before it was renamed to .swap, so a full scan
	// finds its real end; the scan only needs its offsets.
	end := x
	sc := newBatchScanner(f, st.Size(), true)
	for {
		_, h, ok := sc.next()
		if !ok {
			break
		}
		end = h.LastOffset() + 1
	}
	f.Close()
	if sc.err != nil {
		return sc.err
	}
	for base := range logs {
		if base == x || (base > x && base < end) {
			if err := removeSegmentFiles(dir, base); err != nil {
				return err
			}
			delete(logs, base)
		}
	}
	if err := removeSegmentFiles(dir, x); err != nil {
		return err
	}
	if err := os.Rename(swap, filepath.Join(dir, segmentName(x)+logSuffix)); err != nil {
		return err
	}
	return syncDir(dir)
}

// recoverSegments loads every opened segment, trusting or scanning each as
// described at Open.
func (l *Log) recoverSegments(clean bool, files []segmentFile) error {
	interval := l.cfg.IndexIntervalBytes
	for i := 0; i < len(l.segments); i++ {
		s := l.segments[i]
		last := i == len(l.segments)-1
		limit := int64(math.MaxInt64)
		if !last {
			limit = l.segments[i+1].baseOffset
		}
		// A segment is unflushed if it may hold data written after the
		// recovery point: it is the last one or the next one starts
		// above the recovery point.
		unflushed := !clean && (last || l.segments[i+1].baseOffset > l.recoveryPoint)
		fileSize := s.size
		if !unflushed && !files[i].rebuild {
			ok, err := s.loadIndexes(fileSize, limit)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		truncated, err := s.recover(fileSize, limit, interval)
		if err != nil {
			return err
		}
		if unflushed {
			// Whatever the OS had cached is now known valid; it is
			// fsynced at the end of Open before the recovery point
			// moves past it.
			s.dirty = true
		}
		if truncated && unflushed && !last {
			for _, t := range l.segments[i+1:] {
				if err := t.remove(); err != nil {
					return err
				}
			}
			l.segments = l.segments[:i+1]
			l.dirDirty = true
			break
		}
	}
	return nil
}
