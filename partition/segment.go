package partition

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/samsa-io/samsa/internal/batch"
)

// File name suffixes, as Kafka names them.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	cleanedSuffix   = ".cleaned" // compaction output being written
	swapSuffix      = ".swap"    // compaction output committed, replacing segments
	deletedSuffix   = ".deleted" // Kafka's pending deletions; only cleaned up here
)

// segmentName is the 20-digit zero-padded base offset Kafka uses for file
// names, so that lexical order is offset order.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseSegmentName splits "<20 digits><suffix>".
func parseSegmentName(name string) (base int64, suffix string, ok bool) {
	if len(name) < 20 {
		return 0, "", false
	}
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, "", false
		}
	}
	base, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return base, name[20:], true
}

// segment is one .log file with its .index and .timeindex.
//
// Concurrency: the fields marked "published" change only while the Log's
// write lock (Log.mu) is held, and readers look at them under the read lock,
// so a reader never sees bytes past size, which only grows after the bytes
// are written. The other fields belong to the single writer (Log.wmu).
type segment struct {
	dir        string
	baseOffset int64
	log        *os.File
	// idxFile and timeFile are open while the segment is active or has index
	// writes not yet fsynced; closed segments serve lookups from memory.
	idxFile  *os.File
	timeFile *os.File

	// Published.
	size                 int64 // bytes of complete batches in the .log
	nextOffset           int64 // last offset + 1, baseOffset when empty
	index                []offsetEntry
	timeIndex            []timeEntry
	maxTimestamp         int64 // largest batch MaxTimestamp, -1 if none
	offsetOfMaxTimestamp int64 // last offset of the batch holding it, -1 if none

	// Writer state.
	bytesSinceLastIndexEntry int64
	firstAppendMs            int64 // nowMs of the first append (segment.ms), -1 when empty
	dirty                    bool  // written since the last fsync
}

func newSegment(dir string, base int64) *segment {
	return &segment{dir: dir, baseOffset: base, nextOffset: base, maxTimestamp: -1, offsetOfMaxTimestamp: -1, firstAppendMs: -1}
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.baseOffset)+suffix)
}

// createSegment creates an empty segment, replacing any stale files with
// the same base offset.
func createSegment(dir string, base int64) (*segment, error) {
	s := newSegment(dir, base)
	f, err := os.OpenFile(s.path(logSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s.log = f
	if err := s.openIndexFiles(os.O_TRUNC); err != nil {
		s.close()
		return nil, err
	}
	s.dirty = true
	return s, nil
}

// openSegment opens an existing .log for recovery and returns its size.
func openSegment(dir string, base int64) (*segment, int64, error) {
	s := newSegment(dir, base)
	f, err := os.OpenFile(s.path(logSuffix), os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	s.log = f
	return s, st.Size(), nil
}

func (s *segment) openIndexFiles(flag int) error {
	var err error
	if s.idxFile == nil {
		if s.idxFile, err = os.OpenFile(s.path(indexSuffix), os.O_RDWR|os.O_CREATE|flag, 0o644); err != nil {
			return err
		}
	}
	if s.timeFile == nil {
		if s.timeFile, err = os.OpenFile(s.path(timeIndexSuffix), os.O_RDWR|os.O_CREATE|flag, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (s *segment) closeIndexFiles() error {
	var errs []error
	if s.idxFile != nil {
		errs = append(errs, s.idxFile.Close())
		s.idxFile = nil
	}
	if s.timeFile != nil {
		errs = append(errs, s.timeFile.Close())
		s.timeFile = nil
	}
	return errors.Join(errs...)
}

func (s *segment) close() error {
	err := s.closeIndexFiles()
	if s.log != nil {
		err = errors.Join(err, s.log.Close())
		s.log = nil
	}
	return err
}

// removeSegmentFiles deletes a segment's files, the .log first so that an
// interruption leaves orphan index files (deleted at Open) rather than a log
// without its indexes.
func removeSegmentFiles(dir string, base int64) error {
	name := filepath.Join(dir, segmentName(base))
	return errors.Join(removeIfExists(name+logSuffix), removeIfExists(name+indexSuffix), removeIfExists(name+timeIndexSuffix))
}

// remove closes and deletes the segment.
func (s *segment) remove() error {
	return errors.Join(s.close(), removeSegmentFiles(s.dir, s.baseOffset))
}

// sync fsyncs the .log and any open index files.
func (s *segment) sync() error {
	if err := s.log.Sync(); err != nil {
		return err
	}
	if s.idxFile != nil {
		if err := s.idxFile.Sync(); err != nil {
			return err
		}
	}
	if s.timeFile != nil {
		if err := s.timeFile.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// builder returns an indexBuilder positioned at the end of the segment, for
// appends.
func (s *segment) builder(interval int64) *indexBuilder {
	b := newIndexBuilder(s.baseOffset, interval)
	b.pos = s.size
	b.bytesSince = s.bytesSinceLastIndexEntry
	b.maxTs, b.offMax = s.maxTimestamp, s.offsetOfMaxTimestamp
	if n := len(s.timeIndex); n > 0 {
		b.lastTimeTs = s.timeIndex[n-1].timestamp
	}
	return b
}

// writeIndexEntries appends new entries to the index files. It must be
// called before the entries are added to s.index/s.timeIndex, whose lengths
// give the file positions.
func (s *segment) writeIndexEntries(idx []offsetEntry, times []timeEntry) error {
	if len(idx) == 0 && len(times) == 0 {
		return nil
	}
	if err := s.openIndexFiles(0); err != nil {
		return err
	}
	if len(idx) > 0 {
		if _, err := s.idxFile.WriteAt(encodeOffsetIndex(idx), int64(len(s.index))*offsetIndexEntrySize); err != nil {
			return err
		}
	}
	if len(times) > 0 {
		if _, err := s.timeFile.WriteAt(encodeTimeIndex(times), int64(len(s.timeIndex))*timeIndexEntrySize); err != nil {
			return err
		}
	}
	return nil
}

// rewriteIndexFiles replaces the index files with the in-memory entries.
func (s *segment) rewriteIndexFiles() error {
	if err := s.openIndexFiles(0); err != nil {
		return err
	}
	for _, w := range []struct {
		f    *os.File
		data []byte
	}{{s.idxFile, encodeOffsetIndex(s.index)}, {s.timeFile, encodeTimeIndex(s.timeIndex)}} {
		if err := w.f.Truncate(0); err != nil {
			return err
		}
		if _, err := w.f.WriteAt(w.data, 0); err != nil {
			return err
		}
	}
	return nil
}

// corruptErr describes bad bytes found while reading the segment.
func (s *segment) corruptErr(pos int64, err error) error {
	if !errors.Is(err, batch.ErrCorrupt) {
		err = fmt.Errorf("%w: %w", batch.ErrCorrupt, err)
	}
	return fmt.Errorf("partition: segment %s at position %d: %w", segmentName(s.baseOffset), pos, err)
}

// readHeader reads the header of the batch at pos and checks that the whole
// batch lies before end. Errors wrap batch.ErrCorrupt unless they are I/O
// errors.
func (s *segment) readHeader(pos, end int64) (batch.Header, error) {
	var buf [batch.HeaderSize]byte
	if end-pos < batch.HeaderSize {
		return batch.Header{}, s.corruptErr(pos, batch.ErrTruncated)
	}
	if _, err := s.log.ReadAt(buf[:], pos); err != nil {
		return batch.Header{}, err
	}
	h, err := batch.ParseHeader(buf[:])
	if err != nil {
		return h, s.corruptErr(pos, err)
	}
	if int64(h.Size()) > end-pos {
		return h, s.corruptErr(pos, batch.ErrTruncated)
	}
	return h, nil
}

// readAt reads n bytes at pos.
func (s *segment) readAt(pos, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := s.log.ReadAt(buf, pos); err != nil {
		return nil, err
	}
	return buf, nil
}

// findBatch finds the first batch whose last offset is >= offset: the
// offset index gives the position of an earlier batch (binary search), then
// headers are read forward from there, at most about index.interval.bytes.
// ok=false means every batch of the segment ends before offset.
func (s *segment) findBatch(offset int64) (pos int64, h batch.Header, ok bool, err error) {
	if e, found := lookupOffset(s.index, offset-s.baseOffset); found {
		pos = int64(e.position)
	}
	end := s.size
	for pos < end {
		if h, err = s.readHeader(pos, end); err != nil {
			return 0, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return end, batch.Header{}, false, nil
}

// batchScanner reads the batches of a .log sequentially through a buffer,
// for full scans (recovery, compaction).
type batchScanner struct {
	r        *bufio.Reader
	pos, end int64
	buf      []byte
	checkCRC bool
	bad      error // why the scan stopped before end: torn or corrupt bytes at pos
	err      error // read error
}

func newBatchScanner(f *os.File, end int64, checkCRC bool) *batchScanner {
	return &batchScanner{
		r:        bufio.NewReaderSize(io.NewSectionReader(f, 0, end), 256<<10),
		end:      end,
		buf:      make([]byte, batch.HeaderSize, 64<<10),
		checkCRC: checkCRC,
	}
}

// next returns the batch at sc.pos and advances past it. ok=false ends the
// scan: at sc.end, at a torn or corrupt batch (sc.bad, sc.pos is its
// position) or on a read error (sc.err). raw is valid until the next call.
func (sc *batchScanner) next() (raw []byte, h batch.Header, ok bool) {
	if sc.pos >= sc.end || sc.bad != nil || sc.err != nil {
		return nil, h, false
	}
	if sc.end-sc.pos < batch.HeaderSize {
		sc.bad = batch.ErrTruncated
		return nil, h, false
	}
	buf := sc.buf[:batch.HeaderSize]
	if _, err := io.ReadFull(sc.r, buf); err != nil {
		sc.fail(err)
		return nil, h, false
	}
	h, err := batch.ParseHeader(buf)
	if err != nil {
		sc.bad = err
		return nil, h, false
	}
	size := int64(h.Size())
	if size > sc.end-sc.pos {
		sc.bad = batch.ErrTruncated
		return nil, h, false
	}
	if int64(cap(sc.buf)) < size {
		nb := make([]byte, size)
		copy(nb, buf)
		sc.buf = nb
	}
	buf = sc.buf[:size]
	if _, err := io.ReadFull(sc.r, buf[batch.HeaderSize:]); err != nil {
		sc.fail(err)
		return nil, h, false
	}
	if sc.checkCRC {
		if _, err := batch.CheckCRC(buf); err != nil {
			sc.bad = err
			return nil, h, false
		}
	}
	sc.pos += size
	return buf, h, true
}

func (sc *batchScanner) fail(err error) {
	// The file is shorter than the size it had when the scan started:
	// treat it like a torn tail rather than an I/O failure.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		sc.bad = batch.ErrTruncated
		return
	}
	sc.err = err
}

// forEachBatch calls fn for every batch of the segment, checking CRCs. Any
// torn or corrupt batch is an error: it is used on closed segments, which
// must be whole.
func (s *segment) forEachBatch(fn func(raw []byte, h *batch.Header) error) error {
	sc := newBatchScanner(s.log, s.size, true)
	for {
		raw, h, ok := sc.next()
		if !ok {
			break
		}
		if err := fn(raw, &h); err != nil {
			return err
		}
	}
	if sc.err != nil {
		return sc.err
	}
	if sc.bad != nil {
		return s.corruptErr(sc.pos, sc.bad)
	}
	return nil
}

// recover rebuilds the segment from a full scan of its .log, as Kafka's
// LogSegment.recover does: every batch's length, CRC and offsets (increasing,
// >= the base offset, below limit = the next segment's base offset) are
// checked, the .log is truncated at the first invalid batch and the index
// files are rewritten. It reports whether bytes were truncated.
func (s *segment) recover(fileSize, limit, interval int64) (truncated bool, err error) {
	// Positions are 4-byte: anything past 2 GiB cannot be indexed.
	sc := newBatchScanner(s.log, min(fileSize, math.MaxInt32), true)
	ib := newIndexBuilder(s.baseOffset, interval)
	prevLast := s.baseOffset - 1
	var valid int64
	for {
		_, h, ok := sc.next()
		if !ok || !validBatchOffsets(&h, s.baseOffset, prevLast, limit) {
			break
		}
		ib.add(&h)
		prevLast = h.LastOffset()
		valid = sc.pos
	}
	if sc.err != nil {
		return false, sc.err
	}
	// Like Kafka's recover, end with the segment's largest timestamp in the
	// time index.
	ib.appendTime()
	if valid < fileSize {
		if err := s.log.Truncate(valid); err != nil {
			return false, err
		}
		truncated = true
	}
	s.size = valid
	s.nextOffset = prevLast + 1
	s.index, s.timeIndex = ib.index, ib.times
	s.maxTimestamp, s.offsetOfMaxTimestamp = ib.maxTs, ib.offMax
	s.bytesSinceLastIndexEntry = ib.bytesSince
	s.dirty = true
	return truncated, s.rewriteIndexFiles()
}

// loadIndexes reads and sanity-checks the index files of a segment that is
// trusted (fsynced before the last shutdown), then derives its tail state
// from them. ok=false means an index is missing or does not match the .log,
// and the caller must recover the segment instead.
func (s *segment) loadIndexes(fileSize, limit int64) (ok bool, err error) {
	if fileSize > math.MaxInt32 {
		return false, nil
	}
	maxRel := min(limit-1-s.baseOffset, math.MaxInt32)
	b, found, err := readIndexFile(s.path(indexSuffix))
	if err != nil || !found {
		return false, err
	}
	idx, err := decodeOffsetIndex(b, fileSize, maxRel)
	if err != nil {
		return false, nil
	}
	if b, found, err = readIndexFile(s.path(timeIndexSuffix)); err != nil || !found {
		return false, err
	}
	times, err := decodeTimeIndex(b, maxRel)
	if err != nil {
		return false, nil
	}
	s.index, s.timeIndex, s.size = idx, times, fileSize
	return s.initTail(limit)
}

// initTail derives nextOffset, the largest timestamp and
// bytesSinceLastIndexEntry from the indexes and the batch headers after the
// last time index entry, as Kafka does for a segment it does not recover:
// the last .timeindex entry holds the largest timestamp up to its offset, so
// only the batches from there on need reading. It also checks that index
// entries in that range point at batch boundaries with the right offsets and
// that the batches end exactly at s.size; ok=false if not.
func (s *segment) initTail(limit int64) (ok bool, err error) {
	maxTs, offMax := int64(-1), int64(-1)
	var pos int64
	if n := len(s.timeIndex); n > 0 {
		t := s.timeIndex[n-1]
		maxTs, offMax = t.timestamp, s.baseOffset+int64(t.relOffset)
		if e, found := lookupOffset(s.index, int64(t.relOffset)); found {
			pos = int64(e.position)
		}
	}
	// j walks the offset index entries at or after pos, checked against
	// the batches read.
	j := sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].position) >= pos })
	prevLast := s.baseOffset - 1
	for pos < s.size {
		h, err := s.readHeader(pos, s.size)
		if err != nil {
			if errors.Is(err, batch.ErrCorrupt) || errors.Is(err, batch.ErrUnsupportedMagic) {
				return false, nil
			}
			return false, err
		}
		if j < len(s.index) && int64(s.index[j].position) < pos {
			return false, nil // entry points inside a batch
		}
		if j < len(s.index) && int64(s.index[j].position) == pos {
			if h.LastOffset() != s.baseOffset+int64(s.index[j].relOffset) {
				return false, nil
			}
			j++
		}
		if !validBatchOffsets(&h, s.baseOffset, prevLast, limit) {
			return false, nil
		}
		if h.MaxTimestamp > maxTs {
			maxTs, offMax = h.MaxTimestamp, h.LastOffset()
		}
		prevLast = h.LastOffset()
		pos += int64(h.Size())
	}
	if j != len(s.index) || offMax > prevLast || (s.size > 0 && prevLast < s.baseOffset) {
		return false, nil
	}
	s.nextOffset = prevLast + 1
	s.maxTimestamp, s.offsetOfMaxTimestamp = maxTs, offMax
	s.bytesSinceLastIndexEntry = s.size
	if n := len(s.index); n > 0 {
		// The entry was added just before its batch was appended, so
		// this is exactly the count the appender had.
		s.bytesSinceLastIndexEntry = s.size - int64(s.index[n-1].position)
	}
	return true, nil
}

// truncateTo cuts the .log at pos, the position of the first batch to drop
// (whose base offset is cut), and trims the indexes to match.
func (s *segment) truncateTo(pos, cut, interval int64) error {
	if err := s.log.Truncate(pos); err != nil {
		return err
	}
	s.size = pos
	s.index = s.index[:sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].position) >= pos })]
	s.timeIndex = s.timeIndex[:sort.Search(len(s.timeIndex), func(i int) bool {
		return s.baseOffset+int64(s.timeIndex[i].relOffset) >= cut
	})]
	s.dirty = true
	if s.size == 0 {
		s.firstAppendMs = -1
	}
	ok, err := s.initTail(math.MaxInt64)
	if err != nil {
		return err
	}
	if !ok {
		// The kept part does not match its indexes: rebuild them.
		_, err = s.recover(pos, math.MaxInt64, interval)
		return err
	}
	if err := s.openIndexFiles(0); err != nil {
		return err
	}
	if err := s.idxFile.Truncate(int64(len(s.index)) * offsetIndexEntrySize); err != nil {
		return err
	}
	return s.timeFile.Truncate(int64(len(s.timeIndex)) * timeIndexEntrySize)
}

// finalTimeEntry returns the .timeindex entry Kafka appends when a segment
// stops being active (roll, close), recording its largest timestamp, or
// ok=false if the index already has it.
func (s *segment) finalTimeEntry() (timeEntry, bool) {
	last := int64(-1)
	if n := len(s.timeIndex); n > 0 {
		last = s.timeIndex[n-1].timestamp
	}
	if s.maxTimestamp <= last {
		return timeEntry{}, false
	}
	return timeEntry{timestamp: s.maxTimestamp, relOffset: int32(s.offsetOfMaxTimestamp - s.baseOffset)}, true
}

// SegmentInfo describes one segment, for tests and tools.
type SegmentInfo struct {
	BaseOffset           int64
	NextOffset           int64 // last offset + 1; BaseOffset if empty
	Size                 int64 // bytes in the .log
	MaxTimestamp         int64 // largest batch timestamp, -1 if none
	OffsetOfMaxTimestamp int64 // last offset of the batch holding it, -1 if none
	IndexEntries         int
	TimeIndexEntries     int
	Active               bool
}

func (s *segment) info(active bool) SegmentInfo {
	return SegmentInfo{
		BaseOffset:           s.baseOffset,
		NextOffset:           s.nextOffset,
		Size:                 s.size,
		MaxTimestamp:         s.maxTimestamp,
		OffsetOfMaxTimestamp: s.offsetOfMaxTimestamp,
		IndexEntries:         len(s.index),
		TimeIndexEntries:     len(s.timeIndex),
		Active:               active,
	}
}
