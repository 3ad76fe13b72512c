package partition

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// Reset deletes every segment and restarts the log empty at offset, which
// may lie anywhere (Kafka's truncateFullyAndStartAt): afterwards
// StartOffset() == NextOffset() == offset, and the recovery point and
// cleaner checkpoints are reset with it. Reset is crash-safe: it first
// records the offset in a marker file, and Open finishes an interrupted
// reset by deleting whatever segments are left, so after a crash the log is
// either the old one or the new empty one, never a mix. Reset waits for a
// running Compact.
func (l *Log) Reset(offset int64) error {
	r, err := l.beginRestore(offset)
	if err != nil {
		return err
	}
	return r.finish(offset, offset)
}

// restorer rebuilds the log as a copy of another one (a Raft snapshot):
// beginRestore resets it, segment and append lay the copy's segments and
// batches down with their original boundaries and offsets, gaps included,
// and finish sets the log start, checks the log end and makes it all
// durable. The reset marker stays until finish, so a crash half-way leaves
// an empty log rather than a partial copy. cmu is held from begin to
// finish, so retention, DeleteRecords and compaction never act on a
// half-built log; readers see it grow.
type restorer struct {
	l *Log
}

// beginRestore resets the log to start empty at base, the base offset of
// the copy's first segment.
func (l *Log) beginRestore(base int64) (*restorer, error) {
	if base < 0 {
		return nil, fmt.Errorf("%w: reset to negative offset %d", ErrOffsetOutOfRange, base)
	}
	l.cmu.Lock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	err := l.writable()
	if err == nil {
		// Commit point: from here on Open discards the old contents.
		err = writeCheckpoint(l.dir, resetCheckpoint, base)
	}
	if err != nil {
		l.cmu.Unlock()
		return nil, err
	}
	l.mu.Lock()
	l.rewrites.Add(1)
	err = l.truncateFullyLocked(base)
	l.mu.Unlock()
	if err != nil {
		l.failed = err
		l.cmu.Unlock()
		return nil, fmt.Errorf("partition: resetting to %d: %w", base, err)
	}
	// It described the old contents; Open starts from the same value.
	l.tombstoneDeadlineMs = math.MaxInt64
	return &restorer{l: l}, nil
}

// segment starts a new segment at base, keeping the copy's segment
// boundaries: a compacted segment may end below the next one's base, and
// it may even be empty.
func (r *restorer) segment(base int64) error {
	l := r.l
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	a := l.active()
	if base == a.baseOffset && a.size == 0 {
		return nil
	}
	if base < a.nextOffset || base <= a.baseOffset {
		return fmt.Errorf("%w: segment at %d, log end offset is %d", ErrInvalidAppend, base, a.nextOffset)
	}
	if err := l.roll(base); err != nil {
		return err
	}
	// Make the finished segment durable now, which also closes its index
	// files: a copy of many segments must not hold three descriptors per
	// segment until finish.
	return l.syncLocked()
}

// append appends batches of the copy, which may skip offsets.
func (r *restorer) append(b []byte) error { return r.l.append(b, 0, true) }

// finish checks that the copy ends at end, moves the log start to start
// and makes the copy durable, which completes the reset.
func (r *restorer) finish(start, end int64) error {
	l := r.l
	defer l.cmu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	err := func() error {
		if next := l.active().nextOffset; next != end || start < l.segments[0].baseOffset || start > end {
			return fmt.Errorf("%w: restored log has first segment %d and end %d, want start %d and end %d",
				ErrInvalidAppend, l.segments[0].baseOffset, next, start, end)
		}
		if start != l.startOffset {
			if err := writeCheckpoint(l.dir, logStartOffsetCheckpoint, start); err != nil {
				return err
			}
			l.mu.Lock()
			l.startOffset = start
			l.mu.Unlock()
		}
		if err := l.syncLocked(); err != nil {
			return err
		}
		if err := removeIfExists(filepath.Join(l.dir, resetCheckpoint)); err != nil {
			return err
		}
		return syncDir(l.dir)
	}()
	if err != nil {
		// Half restored: refuse writes until Open has finished the reset.
		l.failed = err
	}
	return err
}

// abort gives up a restore: the log is left failed, and Open finishes the
// reset (an empty log) so the copy can be started again.
func (r *restorer) abort(cause error) {
	l := r.l
	l.wmu.Lock()
	if l.failed == nil {
		l.failed = fmt.Errorf("partition: restore abandoned: %w", cause)
	}
	l.wmu.Unlock()
	l.cmu.Unlock()
}

// finishReset completes a Reset or restore that a crash interrupted: the
// marker condemns every segment, so they all go (with their leftovers and
// the clean shutdown marker, which may describe them) and the checkpoints
// restart at the marker's offset; load then creates the empty segment.
func (l *Log) finishReset() error {
	off, ok, err := readCheckpoint(l.dir, resetCheckpoint)
	if err != nil || !ok {
		return err
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if _, _, isSegment := parseSegmentName(name); isSegment || name == cleanShutdownFile {
			if err := removeIfExists(filepath.Join(l.dir, name)); err != nil {
				return err
			}
		}
	}
	for _, name := range []string{logStartOffsetCheckpoint, recoveryPointCheckpoint, cleanerCheckpoint} {
		if err := writeCheckpoint(l.dir, name, off); err != nil {
			return err
		}
	}
	if err := removeIfExists(filepath.Join(l.dir, resetCheckpoint)); err != nil {
		return err
	}
	return syncDir(l.dir)
}
