// Package partition is one partition's Kafka-style segment log: the .log
// segments with their sparse .index and .timeindex files in Kafka's on-disk
// format, recovery after a crash, retention, DeleteRecords and compaction.
//
// The package is pure and deterministic: no goroutines, no sockets, no clock
// (callers pass nowMs), no global state. The caller (the partition state
// machine) assigns offsets; the Log only checks that they continue its end.
//
// # Concurrency
//
// One goroutine writes: Append, Sync, TruncateTo, Reset, SetConfig,
// EnforceRetention, DeleteRecordsBefore and Close are serialized internally,
// but are meant to be called by the state machine. Read, OffsetForTimestamp, MaxTimestamp,
// NextOffset, StartOffset, Size and Segments may be called from any number of
// other goroutines at the same time: they take the read side of an RWMutex
// for their whole duration, and the writer publishes a new log end only after
// the bytes are written, so readers never see a partial batch. Compact may
// run on another goroutine too: it holds its own lock while it reads and
// rewrites closed segments, so Append and Sync are blocked only for the final
// swap, while TruncateTo, retention, DeleteRecordsBefore and Close wait for
// it to finish.
//
// # Durability
//
// Append does not fsync. Sync makes everything appended so far durable: the
// active segment's .log and indexes, segments rolled since the last Sync, the
// directory entries of created and deleted files, and the recovery point
// checkpoint (the base offset of the active segment). After a crash, Open
// scans only the segments at or above the recovery point (normally just the
// active one), truncating at the first torn or corrupt batch; so a crash
// loses at most what was appended after the last Sync, and never leaves a
// torn batch visible. Close syncs and writes a clean shutdown marker, which
// lets the next Open trust every segment without scanning.
//
// # Files
//
// The partition directory holds <20-digit base offset>.log, .index and
// .timeindex files (see index.go for the index formats) and three
// checkpoints: log-start-offset-checkpoint, recovery-point-offset-checkpoint
// and cleaner-offset-checkpoint, each written atomically (temporary file,
// fsync, rename, directory fsync); reset-offset-checkpoint exists only while
// a Reset is in progress.
package partition

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/samsa-io/samsa/internal/batch"
)

// Errors.
var (
	// ErrOffsetOutOfRange is returned by Read for an offset below the log
	// start offset or above the log end offset, and by
	// DeleteRecordsBefore for an offset above the log end offset.
	ErrOffsetOutOfRange = errors.New("partition: offset out of range")
	// ErrInvalidAppend is returned by Append for bytes that are not
	// complete v2 batches continuing the log's offsets. Corrupt batches
	// also match batch.ErrCorrupt.
	ErrInvalidAppend = errors.New("partition: invalid append")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("partition: log closed")
)

// Log is one partition's segment log.
type Log struct {
	dir string

	// Lock order: cmu, then wmu, then mu.
	//
	// cmu is held by Compact for its whole run, and by the operations that
	// delete or cut closed segments (TruncateTo, EnforceRetention,
	// DeleteRecordsBefore, Close), so those never pull segments from under
	// a compaction.
	cmu sync.Mutex
	// wmu serializes writers; everything that changes files or the fields
	// below holds it.
	wmu sync.Mutex
	// mu guards what readers see: segments, startOffset, closed and each
	// segment's published fields. Writers take it only to publish.
	mu sync.RWMutex

	segments    []*segment // ascending base offsets; the last one is active
	startOffset int64
	closed      bool

	// rewrites counts the changes that replace bytes or segment
	// boundaries below the log end (compaction swaps, truncation, Reset),
	// as opposed to appends and deletions from the front. It is bumped
	// under mu, so a reader that sees the same count after a Read as
	// before it knows the Read saw the older layout (snapshot streaming).
	rewrites atomic.Uint64

	cfg           Config // wmu
	recoveryPoint int64  // wmu: persisted recovery point
	dirDirty      bool   // wmu: directory entries changed since the last fsync
	failed        error  // wmu: a write failed half-way; the log must be reopened

	cleanerCheckpoint   int64 // cmu: persisted first dirty offset
	tombstoneDeadlineMs int64 // cmu: earliest nowMs at which a kept tombstone expires

	// testHook, when set by tests, is called at the crash-relevant points
	// of a compaction; an error stops the compaction there, as a crash
	// would.
	testHook func(point string) error
}

func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// writable reports why writes are refused. Called with wmu held.
func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("partition: log failed, reopen it: %w", l.failed)
	}
	return nil
}

// NextOffset returns the log end offset: the offset the next appended batch
// must start at.
func (l *Log) NextOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.active().nextOffset
}

// StartOffset returns the log start offset.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.startOffset
}

// Size returns the total size of the segments' .log files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size
	}
	return n
}

// Segments describes the segments, oldest first; the last one is active.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segments))
	for i, s := range l.segments {
		out[i] = s.info(i == len(l.segments)-1)
	}
	return out
}

// SetConfig replaces the configuration (AlterConfigs). It takes effect at
// the next Append, EnforceRetention or Compact. cfg should have passed
// Validate.
func (l *Log) SetConfig(cfg Config) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.cfg = cfg
}

// Config returns the current configuration.
func (l *Log) Config() Config {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.cfg
}

// Append writes b, one or more complete v2 batches whose offsets are already
// assigned, the first starting exactly at NextOffset(). Each batch's CRC is
// checked, because a corrupt batch in the log would make recovery truncate
// it and everything after it. Batches after the first must start after the
// previous one's last offset. Before writing, the active segment is rolled
// if b would take it past segment.bytes, if segment.ms has elapsed since its
// first append, if its indexes are full or if b's offsets would not fit its
// 4-byte relative offsets; b is never split across segments. nowMs is the
// append time used for segment.ms.
func (l *Log) Append(b []byte, nowMs int64) error {
	return l.append(b, nowMs, false)
}

// append is Append; copied relaxes it for batches copied from another log
// (a snapshot): the first batch may start above NextOffset(), since
// compaction leaves offset gaps between batches, and segment.ms neither
// rolls nor starts counting, since the copy's time says nothing about when
// the batches were appended.
func (l *Log) append(b []byte, nowMs int64, copied bool) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	last, err := validateAppend(b, l.active().nextOffset, copied)
	if err != nil {
		return err
	}
	s := l.active()
	if l.shouldRoll(s, int64(len(b)), last, nowMs, !copied) {
		if err := l.roll(s.nextOffset); err != nil {
			return err
		}
		s = l.active()
	}
	if s.size+int64(len(b)) > math.MaxInt32 || last-s.baseOffset > math.MaxInt32 {
		// Positions and relative offsets are 4 bytes in the indexes.
		return fmt.Errorf("%w: %d bytes up to offset %d do not fit in one segment", ErrInvalidAppend, len(b), last)
	}
	ib := s.builder(l.cfg.IndexIntervalBytes)
	for rest := b; len(rest) > 0; {
		var h batch.Header
		_, rest, h, _ = batch.Next(rest) // validated above
		ib.add(&h)
	}
	if _, err := s.log.WriteAt(b, s.size); err != nil {
		// Cut whatever part was written so the file matches the
		// published size; if even that fails, stop writing.
		if terr := s.log.Truncate(s.size); terr != nil {
			l.failed = errors.Join(err, terr)
		}
		return fmt.Errorf("partition: appending to %s: %w", s.path(logSuffix), err)
	}
	if err := s.writeIndexEntries(ib.index, ib.times); err != nil {
		l.failed = err
		return fmt.Errorf("partition: writing index of %s: %w", s.path(logSuffix), err)
	}
	l.mu.Lock()
	s.size = ib.pos
	s.nextOffset = last + 1
	s.index = append(s.index, ib.index...)
	s.timeIndex = append(s.timeIndex, ib.times...)
	s.maxTimestamp, s.offsetOfMaxTimestamp = ib.maxTs, ib.offMax
	l.mu.Unlock()
	s.bytesSinceLastIndexEntry = ib.bytesSince
	if s.firstAppendMs < 0 && !copied {
		s.firstAppendMs = nowMs
	}
	s.dirty = true
	return nil
}

// validateAppend checks that b is a sequence of complete, CRC-valid v2
// batches starting at next (at or after next if gapOK) with increasing
// offsets, and returns the last offset.
func validateAppend(b []byte, next int64, gapOK bool) (last int64, err error) {
	prevLast := next - 1
	for i := 0; len(b) > 0; i++ {
		raw, rest, h, err := batch.Next(b)
		if err != nil {
			return 0, fmt.Errorf("%w: batch %d: %w", ErrInvalidAppend, i, err)
		}
		if _, err := batch.CheckCRC(raw); err != nil {
			return 0, fmt.Errorf("%w: batch %d: %w", ErrInvalidAppend, i, err)
		}
		switch {
		case i == 0 && (h.BaseOffset < next || (!gapOK && h.BaseOffset != next)):
			return 0, fmt.Errorf("%w: base offset %d, log end offset is %d", ErrInvalidAppend, h.BaseOffset, next)
		case h.BaseOffset <= prevLast:
			return 0, fmt.Errorf("%w: batch %d base offset %d not after %d", ErrInvalidAppend, i, h.BaseOffset, prevLast)
		case h.LastOffsetDelta < 0 || h.BaseOffset > math.MaxInt64-int64(h.LastOffsetDelta)-1:
			return 0, fmt.Errorf("%w: batch %d last offset delta %d", ErrInvalidAppend, i, h.LastOffsetDelta)
		}
		prevLast = h.LastOffset()
		b = rest
	}
	return prevLast, nil
}

// shouldRoll is Kafka's LogSegment.shouldRoll with segment.ms measured from
// the segment's first append (only if byTime). An empty segment is never
// rolled.
func (l *Log) shouldRoll(s *segment, n, lastOffset, nowMs int64, byTime bool) bool {
	if s.size == 0 {
		return false
	}
	c := &l.cfg
	return s.size > c.SegmentBytes-n ||
		s.size > math.MaxInt32-n ||
		(byTime && s.firstAppendMs >= 0 && nowMs-s.firstAppendMs > c.SegmentMs) ||
		int64(len(s.index)) >= c.SegmentIndexBytes/offsetIndexEntrySize ||
		int64(len(s.timeIndex)) >= c.SegmentIndexBytes/timeIndexEntrySize ||
		lastOffset-s.baseOffset > math.MaxInt32
}

// roll closes the active segment, recording its largest timestamp in its
// time index as Kafka does, and starts a new one at base, normally the log
// end offset (a restored copy of a compacted log may start it higher). The
// old segment is fsynced by the next Sync, not here, to keep appends fast.
func (l *Log) roll(base int64) error {
	old := l.active()
	if err := l.writeFinalTimeEntry(old); err != nil {
		return err
	}
	s, err := createSegment(l.dir, base)
	if err != nil {
		return fmt.Errorf("partition: rolling segment: %w", err)
	}
	l.dirDirty = true
	l.mu.Lock()
	l.segments = append(l.segments, s)
	l.mu.Unlock()
	return nil
}

func (l *Log) writeFinalTimeEntry(s *segment) error {
	e, ok := s.finalTimeEntry()
	if !ok {
		return nil
	}
	if err := s.writeIndexEntries(nil, []timeEntry{e}); err != nil {
		l.failed = err
		return fmt.Errorf("partition: writing time index of %s: %w", s.path(logSuffix), err)
	}
	l.mu.Lock()
	s.timeIndex = append(s.timeIndex, e)
	l.mu.Unlock()
	s.dirty = true
	return nil
}

// Read returns whole batches starting with the one that contains offset
// (Kafka semantics: the first batch may start before offset and the consumer
// skips the records it did not ask for), from a single segment, at most
// maxBytes in total, except that with minOne the first batch is returned
// even if it is larger. Batches whose base offset is >= maxOffset (the high
// watermark; negative means no limit) are not returned. offset ==
// NextOffset() returns no bytes; offset below StartOffset() or above
// NextOffset() returns ErrOffsetOutOfRange. The returned slice is the
// caller's.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64, minOne bool) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	next := l.active().nextOffset
	if offset < l.startOffset || offset > next {
		return nil, fmt.Errorf("%w: offset %d, log is [%d, %d)", ErrOffsetOutOfRange, offset, l.startOffset, next)
	}
	if maxOffset < 0 {
		maxOffset = math.MaxInt64
	}
	for i := l.segmentIndex(offset); i < len(l.segments); i++ {
		s := l.segments[i]
		pos, h, ok, err := s.findBatch(offset)
		if err != nil {
			return nil, err
		}
		if !ok {
			// offset falls after the segment's last batch (a gap
			// left by compaction): continue in the next segment.
			continue
		}
		return s.readBatches(pos, h, maxBytes, maxOffset, minOne)
	}
	return nil, nil
}

// segmentIndex returns the index of the last segment whose base offset is
// <= offset, or 0.
func (l *Log) segmentIndex(offset int64) int {
	lo, hi := 0, len(l.segments)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.segments[m].baseOffset <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// readBatches reads the batches from pos (first has header h) up to the
// limits, with a single ReadAt.
func (s *segment) readBatches(pos int64, h batch.Header, maxBytes int, maxOffset int64, minOne bool) ([]byte, error) {
	if h.BaseOffset >= maxOffset {
		return nil, nil
	}
	n := min(int64(max(maxBytes, 0)), s.size-pos)
	if int64(h.Size()) > n {
		if !minOne {
			return nil, nil
		}
		return s.readAt(pos, int64(h.Size()))
	}
	buf, err := s.readAt(pos, n)
	if err != nil {
		return nil, err
	}
	// Keep the whole batches that fit and are below maxOffset; the read
	// may end inside a batch.
	end := 0
	for end < len(buf) {
		_, _, bh, err := batch.Next(buf[end:])
		if err != nil || bh.BaseOffset >= maxOffset {
			break
		}
		end += bh.Size()
	}
	return buf[:end], nil
}

// OffsetForTimestamp returns the offset and timestamp of the first record
// (at or above the log start offset) whose timestamp is >= ts, as ListOffsets
// needs: the first segment whose largest timestamp is >= ts is searched
// through its time index, then its batches are read from there and the
// first batch with a large enough timestamp is decoded to find the exact
// record. found=false if no record qualifies. If that batch cannot be
// decoded, the batch's base offset and max timestamp are returned.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return -1, -1, false
	}
	start := l.startOffset
	for _, s := range l.segments {
		if s.maxTimestamp < ts || s.nextOffset <= start {
			continue
		}
		from := max(s.baseOffset, start)
		if e, ok := lookupTime(s.timeIndex, ts); ok {
			from = max(from, s.baseOffset+int64(e.relOffset))
		}
		var pos int64
		if e, ok := lookupOffset(s.index, from-s.baseOffset); ok {
			pos = int64(e.position)
		}
		for pos < s.size {
			h, err := s.readHeader(pos, s.size)
			if err != nil {
				break
			}
			if h.LastOffset() >= start && h.MaxTimestamp >= ts {
				if off, rts, ok := s.firstRecordAtOrAfter(pos, &h, start, func(rts int64) bool { return rts >= ts }); ok {
					return off, rts, true
				}
			}
			pos += int64(h.Size())
		}
	}
	return -1, -1, false
}

// firstRecordAtOrAfter decodes the batch at pos and returns the first record
// at or above minOffset whose timestamp satisfies match. If the batch cannot
// be decoded it falls back to the batch's base offset and max timestamp.
func (s *segment) firstRecordAtOrAfter(pos int64, h *batch.Header, minOffset int64, match func(int64) bool) (int64, int64, bool) {
	raw, err := s.readAt(pos, int64(h.Size()))
	var recs []batch.Record
	if err == nil {
		_, recs, err = batch.Records(raw)
	}
	if err != nil {
		return max(h.BaseOffset, minOffset), h.MaxTimestamp, true
	}
	for i := range recs {
		off := h.BaseOffset + int64(recs[i].OffsetDelta)
		rts := h.FirstTimestamp + recs[i].TimestampDelta
		if h.LogAppendTime() {
			rts = h.MaxTimestamp
		}
		if off >= minOffset && match(rts) {
			return off, rts, true
		}
	}
	return 0, 0, false
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record carrying it (ListOffsets MAX_TIMESTAMP, -3), or (-1, -1)
// for a log without timestamps. Segments track the batch holding their
// largest timestamp; that batch is decoded to find the exact record.
func (l *Log) MaxTimestamp() (ts int64, offset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return -1, -1
	}
	var best *segment
	for _, s := range l.segments {
		if s.maxTimestamp >= 0 && (best == nil || s.maxTimestamp > best.maxTimestamp) {
			best = s
		}
	}
	if best == nil {
		return -1, -1
	}
	ts, offset = best.maxTimestamp, best.offsetOfMaxTimestamp
	pos, h, ok, err := best.findBatch(offset)
	if err != nil || !ok {
		return ts, offset
	}
	if off, _, ok := best.firstRecordAtOrAfter(pos, &h, h.BaseOffset, func(rts int64) bool { return rts == ts }); ok {
		offset = off
	}
	return ts, offset
}

// Sync fsyncs everything written so far: the active segment's .log, .index
// and .timeindex, every segment rolled (or recovered) since the last Sync,
// and the directory; then it advances the recovery point checkpoint to the
// active segment's base offset, so that a later crash only makes Open scan
// the segments from there on.
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.syncLocked()
}

func (l *Log) syncLocked() error {
	active := l.active()
	for _, s := range l.segments {
		if !s.dirty {
			continue
		}
		if err := s.sync(); err != nil {
			return fmt.Errorf("partition: syncing %s: %w", s.path(logSuffix), err)
		}
		s.dirty = false
		if s != active {
			// Closed segments answer lookups from memory.
			if err := s.closeIndexFiles(); err != nil {
				return err
			}
		}
	}
	if l.dirDirty {
		if err := syncDir(l.dir); err != nil {
			return fmt.Errorf("partition: syncing %s: %w", l.dir, err)
		}
		l.dirDirty = false
	}
	if active.baseOffset != l.recoveryPoint {
		if err := writeCheckpoint(l.dir, recoveryPointCheckpoint, active.baseOffset); err != nil {
			return err
		}
		l.recoveryPoint = active.baseOffset
	}
	return nil
}

// TruncateTo removes every batch containing an offset >= offset (replica
// divergence, recovery). Batches are atomic, so when offset falls inside a
// batch the whole batch goes and NextOffset() becomes that batch's base
// offset, below offset; when offset is a batch boundary (the state machine
// truncates to offsets it assigned as batch starts) NextOffset() == offset.
// An offset below the first segment empties the log and restarts it at
// offset (Kafka's truncateFullyAndStartAt). An offset >= NextOffset() does
// nothing. The truncation is fsynced before TruncateTo returns, so truncated
// data cannot reappear after a crash.
func (l *Log) TruncateTo(offset int64) error {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset >= l.active().nextOffset {
		return nil
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncate to negative offset %d", ErrOffsetOutOfRange, offset)
	}
	// Readers are excluded for the whole truncation: bytes they may be
	// reading are going away.
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rewrites.Add(1)
	var err error
	if offset < l.segments[0].baseOffset {
		err = l.truncateFullyLocked(offset)
	} else {
		err = l.truncateLocked(offset)
	}
	if err != nil {
		l.failed = err
		return fmt.Errorf("partition: truncating to %d: %w", offset, err)
	}
	return nil
}

func (l *Log) truncateLocked(offset int64) error {
	i := l.segmentIndex(offset)
	s := l.segments[i]
	pos, h, ok, err := s.findBatch(offset)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range l.segments[i+1:] {
		errs = append(errs, v.remove())
	}
	l.segments = l.segments[:i+1]
	l.dirDirty = true
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if ok {
		if err := s.truncateTo(pos, h.BaseOffset, l.cfg.IndexIntervalBytes); err != nil {
			return err
		}
	}
	if err := s.openIndexFiles(0); err != nil {
		return err
	}
	if s.nextOffset < l.startOffset {
		// Nothing remains at or above the old log start; moving it
		// down to the log end exposes no data.
		l.startOffset = s.nextOffset
		if err := writeCheckpoint(l.dir, logStartOffsetCheckpoint, l.startOffset); err != nil {
			return err
		}
	}
	return l.afterTruncate()
}

// truncateFullyLocked deletes every segment and restarts the log empty at
// offset.
func (l *Log) truncateFullyLocked(offset int64) error {
	var errs []error
	for _, s := range l.segments {
		errs = append(errs, s.remove())
	}
	s, err := createSegment(l.dir, offset)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	l.segments = []*segment{s}
	l.dirDirty = true
	if err := errors.Join(errs...); err != nil {
		return err
	}
	l.startOffset = offset
	if err := writeCheckpoint(l.dir, logStartOffsetCheckpoint, offset); err != nil {
		return err
	}
	return l.afterTruncate()
}

// afterTruncate makes a truncation durable at once and pulls the recovery
// point and the cleaner checkpoint back under the new log end: segments
// rolled after this point must be scanned after a crash even if the old
// recovery point was higher.
func (l *Log) afterTruncate() error {
	if err := l.syncLocked(); err != nil {
		return err
	}
	if next := l.active().nextOffset; l.cleanerCheckpoint > next {
		if err := writeCheckpoint(l.dir, cleanerCheckpoint, next); err != nil {
			return err
		}
		l.cleanerCheckpoint = next
	}
	return nil
}

// Close syncs the log, records a clean shutdown and closes the files. Later
// calls other than NextOffset, StartOffset, Size and Segments return
// ErrClosed. Close waits for a running Compact.
func (l *Log) Close() error {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if l.failed == nil {
		// Like Kafka, leave the active segment's largest timestamp in its
		// time index so a clean Open needs no scan.
		err = l.writeFinalTimeEntry(l.active())
		if err == nil {
			err = l.syncLocked()
		}
		if err == nil {
			// The marker is only written when everything before it is
			// durable: its presence lets Open skip recovery.
			err = WriteFileAtomic(l.dir, cleanShutdownFile, nil)
		}
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	for _, s := range l.segments {
		err = errors.Join(err, s.close())
	}
	return err
}
