package partition

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/samsa-io/samsa/internal/batch"
)

// CompactStats reports what one Compact call did.
type CompactStats struct {
	FirstDirtyOffset       int64   // start of the dirty section: cleaner checkpoint or log start
	FirstUncleanableOffset int64   // cleaning stops here: the active segment, or min.compaction.lag.ms
	DirtyRatio             float64 // dirty bytes / cleanable bytes, before cleaning
	Cleaned                bool    // false when nothing was eligible or the dirty ratio was too low
	SegmentsCleaned        int     // segments read and filtered
	SegmentsWritten        int     // cleaned segments swapped in
	BytesRead              int64
	BytesWritten           int64
	RecordsRead            int64
	RecordsRemoved         int64 // superseded records and expired tombstones
	TombstonesRemoved      int64
}

// Compact runs one pass of Kafka's log cleaner over the closed segments when
// cleanup.policy contains "compact":
//
//   - the cleanable range runs from the first segment up to the active
//     segment, or to the first segment whose largest timestamp is within
//     min.compaction.lag.ms of nowMs;
//   - the pass runs only if the dirty part (from the cleaner checkpoint on)
//     is at least min.cleanable.dirty.ratio of the cleanable bytes, or a
//     tombstone kept by an earlier pass has since expired;
//   - a map of the latest offset of every key is built from the dirty part,
//     then every cleanable segment is rewritten keeping a record unless a
//     later record has the same key; records with a null key are kept (they
//     cannot be compacted; Kafka rejects them on compacted topics).
//   - tombstones (null value) are kept until their segment's largest
//     timestamp is more than delete.retention.ms before nowMs, then dropped,
//     so consumers have that long to see them (a simplification of Kafka's
//     delete horizon that needs no batch header changes);
//   - control batches are kept as they are; transactional records are
//     treated like any others (aborted transactions are not purged).
//
// Kept records keep their offsets: a batch that loses records is re-encoded
// with its original base offset, last offset delta, producer fields and
// codec, and a batch that loses all its records disappears. Consecutive
// segments are merged into one cleaned segment while its cleaned size stays
// within segment.bytes and its indexes within segment.index.bytes. A segment
// that would come out unchanged is not rewritten.
//
// Crash safety: a cleaned segment is written as <base>.log.cleaned (with
// .index.cleaned and .timeindex.cleaned) and fsynced; renaming it to
// <base>.log.swap commits it; then the segments it replaces are deleted and
// the files renamed into place. Open deletes uncommitted .cleaned files and
// completes a committed .swap.
//
// Compact may run on its own goroutine: Append, Sync and readers proceed
// while it works and are held only while each cleaned segment is swapped in.
func (l *Log) Compact(nowMs int64) (CompactStats, error) {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	l.wmu.Lock()
	if err := l.writable(); err != nil {
		l.wmu.Unlock()
		return CompactStats{}, err
	}
	cfg := l.cfg
	all := slices.Clone(l.segments)
	start := l.startOffset
	l.wmu.Unlock()
	// From here until the swaps, the closed segments in all[:len(all)-1]
	// do not change: appends only touch the active segment and cmu keeps
	// truncation and retention out.

	var st CompactStats
	if !cfg.Compacts() {
		return st, nil
	}
	end := len(all) - 1
	if cfg.MinCompactionLagMs > 0 {
		for i := range end {
			if all[i].maxTimestamp > nowMs-cfg.MinCompactionLagMs {
				end = i
				break
			}
		}
	}
	firstDirty := max(l.cleanerCheckpoint, start)
	st.FirstDirtyOffset = firstDirty
	st.FirstUncleanableOffset = all[end].baseOffset
	segs := all[:end]
	dirtyFrom := len(segs)
	var cleanBytes, dirtyBytes int64
	for i, s := range segs {
		if all[i+1].baseOffset <= firstDirty {
			cleanBytes += s.size
		} else {
			dirtyBytes += s.size
			dirtyFrom = min(dirtyFrom, i)
		}
	}
	if cleanBytes+dirtyBytes > 0 {
		st.DirtyRatio = float64(dirtyBytes) / float64(cleanBytes+dirtyBytes)
	}
	tombstonesDue := nowMs >= l.tombstoneDeadlineMs
	if len(segs) == 0 || ((dirtyBytes == 0 || st.DirtyRatio < cfg.MinCleanableDirtyRatio) && !tombstonesDue) {
		return st, nil
	}

	latest, err := buildOffsetMap(segs[dirtyFrom:])
	if err != nil {
		return st, err
	}
	deadline := int64(math.MaxInt64)
	if err := l.cleanSegments(segs, latest, cfg, nowMs, &st, &deadline); err != nil {
		return st, err
	}
	l.tombstoneDeadlineMs = deadline
	st.Cleaned = true
	if st.FirstUncleanableOffset != l.cleanerCheckpoint {
		if err := writeCheckpoint(l.dir, cleanerCheckpoint, st.FirstUncleanableOffset); err != nil {
			return st, err
		}
		l.cleanerCheckpoint = st.FirstUncleanableOffset
	}
	return st, nil
}

// buildOffsetMap maps every key in segs to the offset of its last record
// (Kafka's OffsetMap, with exact keys instead of MD5 hashes).
func buildOffsetMap(segs []*segment) (map[string]int64, error) {
	m := make(map[string]int64)
	for _, s := range segs {
		err := s.forEachBatch(func(raw []byte, h *batch.Header) error {
			if h.IsControl() {
				return nil
			}
			_, recs, err := batch.Records(raw)
			if err != nil {
				return fmt.Errorf("partition: compacting %s: batch at offset %d: %w", s.path(logSuffix), h.BaseOffset, err)
			}
			for i := range recs {
				if recs[i].Key != nil {
					m[string(recs[i].Key)] = h.BaseOffset + int64(recs[i].OffsetDelta)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// cleaner writes one cleaned segment, <base>.log.cleaned and its
// .index.cleaned and .timeindex.cleaned, from a run of consecutive
// segments (the group), then swaps it in for them.
type cleaner struct {
	l       *Log
	cfg     Config
	base    int64
	prefix  string // <dir>/<base>
	out     *segment
	fw      *posWriter
	w       *bufio.Writer
	ib      *indexBuilder
	group   []*segment
	changed bool  // the output differs from the group's segments
	last    int64 // last offset written
	done    bool
}

// posWriter writes at an explicit position, so a rollback can rewind it.
type posWriter struct {
	f   *os.File
	pos int64
}

func (w *posWriter) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(p, w.pos)
	w.pos += int64(n)
	return n, err
}

func (l *Log) newCleaner(base int64, cfg Config) (*cleaner, error) {
	c := &cleaner{
		l:      l,
		cfg:    cfg,
		base:   base,
		prefix: filepath.Join(l.dir, segmentName(base)),
		out:    newSegment(l.dir, base),
		ib:     newIndexBuilder(base, cfg.IndexIntervalBytes),
		last:   base - 1,
	}
	var err error
	create := func(suffix string) *os.File {
		if err != nil {
			return nil
		}
		var f *os.File
		f, err = os.OpenFile(c.prefix+suffix+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		return f
	}
	c.out.log, c.out.idxFile, c.out.timeFile = create(logSuffix), create(indexSuffix), create(timeIndexSuffix)
	if err != nil {
		c.discard()
		return nil, fmt.Errorf("partition: compacting: %w", err)
	}
	c.fw = &posWriter{f: c.out.log}
	c.w = bufio.NewWriterSize(c.fw, 256<<10)
	return c, nil
}

// discard drops an uncommitted output.
func (c *cleaner) discard() {
	if c.done {
		return
	}
	c.done = true
	c.out.close()
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		removeIfExists(c.prefix + suffix + cleanedSuffix)
	}
}

// cleanerMark is the output state before a segment was added.
type cleanerMark struct {
	ib   indexBuilder
	last int64
	st   CompactStats
}

func (c *cleaner) mark(st CompactStats) cleanerMark {
	return cleanerMark{ib: *c.ib, last: c.last, st: st}
}

// rollback removes what was written since m.
func (c *cleaner) rollback(m cleanerMark) error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	*c.ib = m.ib
	c.last = m.last
	c.fw.pos = m.ib.pos
	return c.out.log.Truncate(m.ib.pos)
}

// full reports whether the output outgrew a segment: segment.bytes, or
// index entries beyond segment.index.bytes (counting the final time index
// entry).
func (c *cleaner) full() bool {
	maxIdx := c.cfg.SegmentIndexBytes
	return c.ib.pos > c.cfg.SegmentBytes ||
		int64(len(c.ib.index)) > maxIdx/offsetIndexEntrySize ||
		int64(len(c.ib.times))+1 > maxIdx/timeIndexEntrySize
}

// cleanSegments cleans segs, packing consecutive segments into one cleaned
// segment while its cleaned size stays within segment.bytes (Kafka groups by
// the sizes before cleaning, which on a first pass merges nothing); a
// segment whose output overflows the current one is rolled back and starts
// the next.
func (l *Log) cleanSegments(segs []*segment, latest map[string]int64, cfg Config, nowMs int64, st *CompactStats, deadline *int64) (err error) {
	var c *cleaner
	defer func() {
		if c != nil {
			c.discard()
		}
	}()
	for _, s := range segs {
		if c != nil && s.nextOffset-1-c.base > math.MaxInt32 {
			// The relative offsets would not fit 4 bytes.
			if err := c.commit(st); err != nil {
				return err
			}
			c = nil
		}
		if c == nil {
			if c, err = l.newCleaner(s.baseOffset, cfg); err != nil {
				return err
			}
		}
		m := c.mark(*st)
		dropped, err := c.clean(s, latest, nowMs, st, deadline)
		if err != nil {
			return err
		}
		if len(c.group) > 0 && c.full() {
			if err := c.rollback(m); err != nil {
				return err
			}
			*st = m.st
			if err := c.commit(st); err != nil {
				return err
			}
			if c, err = l.newCleaner(s.baseOffset, cfg); err != nil {
				return err
			}
			if dropped, err = c.clean(s, latest, nowMs, st, deadline); err != nil {
				return err
			}
		}
		c.group = append(c.group, s)
		c.changed = c.changed || dropped || len(c.group) > 1
	}
	if c != nil {
		err = c.commit(st)
		c = nil
	}
	return err
}

// clean appends the cleaned batches of s to the output and reports whether
// any record was dropped.
func (c *cleaner) clean(s *segment, latest map[string]int64, nowMs int64, st *CompactStats, deadline *int64) (dropped bool, err error) {
	cfg := &c.cfg
	st.SegmentsCleaned++
	dropTombstones := s.maxTimestamp >= 0 && nowMs-s.maxTimestamp > cfg.DeleteRetentionMs
	err = s.forEachBatch(func(raw []byte, h *batch.Header) error {
		st.BytesRead += int64(len(raw))
		keep := raw
		if !h.IsControl() {
			_, recs, err := batch.Records(raw)
			if err != nil {
				return fmt.Errorf("partition: compacting %s: batch at offset %d: %w", s.path(logSuffix), h.BaseOffset, err)
			}
			st.RecordsRead += int64(len(recs))
			kept := recs[:0]
			for _, r := range recs {
				if r.Key != nil {
					off := h.BaseOffset + int64(r.OffsetDelta)
					if o, ok := latest[string(r.Key)]; ok && off < o {
						st.RecordsRemoved++
						continue
					}
					if r.Value == nil {
						if dropTombstones {
							st.RecordsRemoved++
							st.TombstonesRemoved++
							continue
						}
						if s.maxTimestamp >= 0 {
							*deadline = min(*deadline, addSat(addSat(s.maxTimestamp, cfg.DeleteRetentionMs), 1))
						}
					}
				}
				kept = append(kept, r)
			}
			switch {
			case len(kept) == 0:
				dropped = true
				return nil
			case len(kept) < len(recs):
				if keep, err = batch.Build(*h, kept); err != nil {
					return fmt.Errorf("partition: compacting %s: batch at offset %d: %w", s.path(logSuffix), h.BaseOffset, err)
				}
				dropped = true
			}
		}
		nh, err := batch.ParseHeader(keep)
		if err != nil {
			return err
		}
		c.ib.add(&nh)
		c.last = nh.LastOffset()
		_, err = c.w.Write(keep)
		return err
	})
	return dropped, err
}

// commit makes the output durable and swaps it in for the group, or drops
// it if it would be identical to the group's single segment.
func (c *cleaner) commit(st *CompactStats) error {
	if !c.changed {
		c.discard()
		return nil
	}
	l, out, ib, g := c.l, c.out, c.ib, c.group
	ib.appendTime() // the largest timestamp, as at roll
	if err := c.w.Flush(); err != nil {
		return err
	}
	if _, err := out.idxFile.WriteAt(encodeOffsetIndex(ib.index), 0); err != nil {
		return err
	}
	if _, err := out.timeFile.WriteAt(encodeTimeIndex(ib.times), 0); err != nil {
		return err
	}
	if err := out.sync(); err != nil {
		return err
	}
	if err := l.hook("cleaned"); err != nil {
		return err
	}

	// Commit point: once <base>.log.swap exists, Open completes the swap.
	logPath := c.prefix + logSuffix
	if err := os.Rename(logPath+cleanedSuffix, logPath+swapSuffix); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	if err := l.swapIn(g, c.prefix); err != nil {
		l.wmu.Lock()
		l.failed = err
		l.wmu.Unlock()
		return fmt.Errorf("partition: compaction swap of %s: %w", logPath, err)
	}
	c.done = true

	out.size = ib.pos
	out.nextOffset = max(c.last+1, c.base)
	out.index, out.timeIndex = ib.index, ib.times
	out.maxTimestamp, out.offsetOfMaxTimestamp = ib.maxTs, ib.offMax
	out.bytesSinceLastIndexEntry = ib.bytesSince
	out.dirty = false
	if err := out.closeIndexFiles(); err != nil {
		return err
	}
	st.SegmentsWritten++
	st.BytesWritten += ib.pos

	l.wmu.Lock()
	defer l.wmu.Unlock()
	i := slices.Index(l.segments, g[0])
	if i < 0 || i+len(g) >= len(l.segments) || !slices.Equal(l.segments[i:i+len(g)], g) {
		// Cannot happen while cmu is held; refuse to guess.
		l.failed = fmt.Errorf("partition: compaction lost track of segments at %d", c.base)
		return l.failed
	}
	l.mu.Lock()
	l.segments = slices.Concat(l.segments[:i], []*segment{out}, l.segments[i+len(g):])
	l.rewrites.Add(1)
	l.mu.Unlock()
	for _, s := range g {
		s.close()
	}
	return nil
}

// swapIn deletes the replaced segments' files and renames the committed
// output into place. Readers keep using the old segments' open files until
// the in-memory swap.
func (l *Log) swapIn(g []*segment, prefix string) error {
	logPath, idxPath, timePath := prefix+logSuffix, prefix+indexSuffix, prefix+timeIndexSuffix
	if err := l.hook("swap"); err != nil {
		return err
	}
	for _, s := range g {
		if err := removeSegmentFiles(l.dir, s.baseOffset); err != nil {
			return err
		}
	}
	if err := l.hook("deleted"); err != nil {
		return err
	}
	for _, r := range [][2]string{
		{idxPath + cleanedSuffix, idxPath},
		{timePath + cleanedSuffix, timePath},
		{logPath + swapSuffix, logPath},
	} {
		if err := os.Rename(r[0], r[1]); err != nil {
			return err
		}
	}
	return syncDir(l.dir)
}

func (l *Log) hook(point string) error {
	if l.testHook != nil {
		return l.testHook(point)
	}
	return nil
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
