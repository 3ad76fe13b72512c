package partition

import (
	"errors"
	"fmt"
	"slices"
)

// EnforceRetention deletes closed segments from the front of the log, as
// Kafka's deleteOldSegments does, and returns how many it deleted:
//
//   - with cleanup.policy containing "delete": segments whose largest
//     timestamp is more than retention.ms before nowMs (a segment with data
//     but no timestamps is never old; an empty one always is), then as many
//     as needed to bring the log within retention.bytes;
//   - always: segments wholly below the log start offset.
//
// Deletion stops at the first segment that must stay, and the active
// segment is never deleted. The log start offset advances to the first
// remaining segment; it is persisted before any file is deleted.
func (l *Log) EnforceRetention(nowMs int64) (deletedSegments int, err error) {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	cfg := l.cfg
	closed := len(l.segments) - 1
	n := 0
	if cfg.Deletes() {
		if cfg.RetentionMs >= 0 {
			for n < closed && expired(l.segments[n], nowMs, cfg.RetentionMs) {
				n++
			}
		}
		if cfg.RetentionBytes >= 0 {
			var size int64
			for _, s := range l.segments {
				size += s.size
			}
			diff := size - cfg.RetentionBytes
			m := 0
			for m < closed && diff-l.segments[m].size >= 0 {
				diff -= l.segments[m].size
				m++
			}
			n = max(n, m)
		}
	}
	for n < closed && l.segments[n+1].baseOffset <= l.startOffset {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, l.deleteSegmentsLocked(n)
}

func expired(s *segment, nowMs, retentionMs int64) bool {
	if s.size == 0 {
		return true
	}
	return s.maxTimestamp >= 0 && nowMs-s.maxTimestamp > retentionMs
}

// DeleteRecordsBefore advances the log start offset to offset (the
// DeleteRecords API; the caller checks it against the high watermark) and
// deletes the segments now wholly below it. Records below the new start
// that share a segment with records above it stay on disk but are no longer
// readable. An offset at or below the current start does nothing; one above
// the log end offset is ErrOffsetOutOfRange.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if next := l.active().nextOffset; offset > next {
		return fmt.Errorf("%w: delete records before %d, log end offset is %d", ErrOffsetOutOfRange, offset, next)
	}
	if offset <= l.startOffset {
		return nil
	}
	// Persist first: a crash after this point finishes the deletion at
	// the next Open.
	if err := writeCheckpoint(l.dir, logStartOffsetCheckpoint, offset); err != nil {
		return err
	}
	l.mu.Lock()
	l.startOffset = offset
	l.mu.Unlock()
	n := 0
	for n < len(l.segments)-1 && l.segments[n+1].baseOffset <= offset {
		n++
	}
	if n == 0 {
		return nil
	}
	return l.deleteSegmentsLocked(n)
}

// deleteSegmentsLocked deletes the first n segments (never the active one)
// and moves the log start offset up to the first remaining segment if it
// was below it.
func (l *Log) deleteSegmentsLocked(n int) error {
	victims := slices.Clone(l.segments[:n])
	newStart := max(l.startOffset, l.segments[n].baseOffset)
	if newStart != l.startOffset {
		if err := writeCheckpoint(l.dir, logStartOffsetCheckpoint, newStart); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.segments = slices.Clone(l.segments[n:])
	l.startOffset = newStart
	l.mu.Unlock()
	// No reader can hold these segments any more (readers keep the read
	// lock for their whole read), so the files go at once.
	var errs []error
	for _, s := range victims {
		errs = append(errs, s.remove())
	}
	l.dirDirty = true
	return errors.Join(errs...)
}
