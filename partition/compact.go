package partition

import (
	"bufio"
	"cmp"
	"fmt"
	"maps"
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
	RecordsRemoved         int64 // superseded records, expired tombstones and aborted records
	TombstonesRemoved      int64
	AbortedRemoved         int64 // records of aborted transactions
	MarkersRemoved         int64 // transaction markers whose records are all gone
}

// Txns is what compaction must know of a partition's transactions.
type Txns struct {
	// FirstUnstable is the first offset of the earliest open transaction,
	// -1 if none: nothing from its segment on is cleaned, since whether
	// those records count is not decided yet.
	FirstUnstable int64
	// Aborted lists aborted transactions; their records are removed and
	// never supersede committed ones.
	Aborted []AbortedTxn
}

// abortedIndex answers whether a transactional batch was aborted.
type abortedIndex map[int64][]AbortedTxn // by producer ID, by first offset

func newAbortedIndex(txns []AbortedTxn) abortedIndex {
	ix := abortedIndex{}
	for _, a := range txns {
		ix[a.ProducerID] = append(ix[a.ProducerID], a)
	}
	for _, l := range ix {
		slices.SortFunc(l, func(a, b AbortedTxn) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	}
	return ix
}

func (ix abortedIndex) aborted(h *batch.Header) bool {
	if !h.IsTransactional() || h.IsControl() {
		return false
	}
	l := ix[h.ProducerID]
	// The last transaction beginning at or before the batch.
	i, _ := slices.BinarySearchFunc(l, h.BaseOffset+1, func(a AbortedTxn, off int64) int { return cmp.Compare(a.FirstOffset, off) })
	return i > 0 && l[i-1].LastOffset >= h.BaseOffset
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
//   - transactions, as Kafka's cleaner: nothing from the segment holding
//     the first offset of an open transaction on is cleaned; records of
//     aborted transactions are removed and never count as a key's latest
//     record; a transaction marker is removed once no record of its
//     transaction is left and it is older than delete.retention.ms (as a
//     tombstone), else kept as it is.
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
	return l.CompactTxns(nowMs, Txns{FirstUnstable: -1})
}

// CompactTxns is Compact for a log with transactions.
func (l *Log) CompactTxns(nowMs int64, txns Txns) (CompactStats, error) {
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
	for i := range end {
		if cfg.MinCompactionLagMs > 0 && all[i].maxTimestamp > nowMs-cfg.MinCompactionLagMs ||
			txns.FirstUnstable >= 0 && all[i].nextOffset > txns.FirstUnstable {
			end = i
			break
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

	aborted := newAbortedIndex(txns.Aborted)
	latest, err := buildOffsetMap(segs[dirtyFrom:], aborted)
	if err != nil {
		return st, err
	}
	pass := &cleanPass{latest: latest, aborted: aborted, nowMs: nowMs, st: &st, deadline: math.MaxInt64, txnKept: map[int64]bool{}}
	if err := l.cleanSegments(segs, cfg, pass); err != nil {
		return st, err
	}
	l.tombstoneDeadlineMs = pass.deadline
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
// outside aborted transactions (Kafka's OffsetMap, with exact keys instead
// of MD5 hashes).
func buildOffsetMap(segs []*segment, aborted abortedIndex) (map[string]int64, error) {
	m := make(map[string]int64)
	for _, s := range segs {
		err := s.forEachBatch(func(raw []byte, h *batch.Header) error {
			if h.IsControl() || aborted.aborted(h) {
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

// cleanPass is the state of one compaction pass across its segments.
type cleanPass struct {
	latest   map[string]int64
	aborted  abortedIndex
	nowMs    int64
	st       *CompactStats
	deadline int64 // when a kept tombstone or marker expires
	// txnKept: the producer's transaction, whose marker is still ahead,
	// has records left after cleaning.
	txnKept map[int64]bool
}

// cleanerMark is the output state before a segment was added.
type cleanerMark struct {
	ib      indexBuilder
	last    int64
	st      CompactStats
	txnKept map[int64]bool
}

func (c *cleaner) mark(p *cleanPass) cleanerMark {
	return cleanerMark{ib: *c.ib, last: c.last, st: *p.st, txnKept: maps.Clone(p.txnKept)}
}

// rollback removes what was written since m.
func (c *cleaner) rollback(m cleanerMark, p *cleanPass) error {
	*p.st, p.txnKept = m.st, m.txnKept
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
func (l *Log) cleanSegments(segs []*segment, cfg Config, p *cleanPass) (err error) {
	var c *cleaner
	defer func() {
		if c != nil {
			c.discard()
		}
	}()
	for _, s := range segs {
		if c != nil && s.nextOffset-1-c.base > math.MaxInt32 {
			// The relative offsets would not fit 4 bytes.
			if err := c.commit(p.st); err != nil {
				return err
			}
			c = nil
		}
		if c == nil {
			if c, err = l.newCleaner(s.baseOffset, cfg); err != nil {
				return err
			}
		}
		m := c.mark(p)
		dropped, err := c.clean(s, p)
		if err != nil {
			return err
		}
		if len(c.group) > 0 && c.full() {
			if err := c.rollback(m, p); err != nil {
				return err
			}
			if err := c.commit(p.st); err != nil {
				return err
			}
			if c, err = l.newCleaner(s.baseOffset, cfg); err != nil {
				return err
			}
			if dropped, err = c.clean(s, p); err != nil {
				return err
			}
		}
		c.group = append(c.group, s)
		c.changed = c.changed || dropped || len(c.group) > 1
	}
	if c != nil {
		err = c.commit(p.st)
		c = nil
	}
	return err
}

// clean appends the cleaned batches of s to the output and reports whether
// anything was dropped.
func (c *cleaner) clean(s *segment, p *cleanPass) (dropped bool, err error) {
	cfg, st := &c.cfg, p.st
	st.SegmentsCleaned++
	expired := s.maxTimestamp >= 0 && p.nowMs-s.maxTimestamp > cfg.DeleteRetentionMs
	keepUntilExpired := func() {
		if s.maxTimestamp >= 0 {
			p.deadline = min(p.deadline, addSat(addSat(s.maxTimestamp, cfg.DeleteRetentionMs), 1))
		}
	}
	err = s.forEachBatch(func(raw []byte, h *batch.Header) error {
		st.BytesRead += int64(len(raw))
		keep := raw
		switch {
		case h.IsControl():
			kept := p.txnKept[h.ProducerID]
			delete(p.txnKept, h.ProducerID)
			if !kept {
				if expired {
					st.MarkersRemoved++
					dropped = true
					return nil
				}
				keepUntilExpired()
			}
		case p.aborted.aborted(h):
			st.RecordsRead += int64(h.NumRecords)
			st.RecordsRemoved += int64(h.NumRecords)
			st.AbortedRemoved += int64(h.NumRecords)
			dropped = true
			return nil
		default:
			_, recs, err := batch.Records(raw)
			if err != nil {
				return fmt.Errorf("partition: compacting %s: batch at offset %d: %w", s.path(logSuffix), h.BaseOffset, err)
			}
			st.RecordsRead += int64(len(recs))
			kept := recs[:0]
			for _, r := range recs {
				if r.Key != nil {
					off := h.BaseOffset + int64(r.OffsetDelta)
					if o, ok := p.latest[string(r.Key)]; ok && off < o {
						st.RecordsRemoved++
						continue
					}
					if r.Value == nil {
						if expired {
							st.RecordsRemoved++
							st.TombstonesRemoved++
							continue
						}
						keepUntilExpired()
					}
				}
				kept = append(kept, r)
			}
			if h.IsTransactional() && len(kept) > 0 {
				p.txnKept[h.ProducerID] = true
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
