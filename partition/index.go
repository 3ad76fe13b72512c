package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"

	"github.com/samsa-io/samsa/internal/batch"
)

// Index files, in Kafka's on-disk format (big-endian):
//
//	.index      entries of 4-byte offset relative to the segment's base offset
//	            + 4-byte byte position of a batch in the .log; the offset is
//	            the batch's last offset (as Kafka writes it), one entry per
//	            index.interval.bytes of log.
//	.timeindex  entries of 8-byte timestamp + 4-byte relative offset: the
//	            largest timestamp so far in the segment and the (last) offset
//	            of the batch that holds it, appended at the same cadence as
//	            the offset index but only when the timestamp grows, plus a
//	            final entry when the segment is rolled or closed so that the
//	            segment's largest timestamp is known without a scan.
//
// Unlike Kafka, the files are not preallocated to segment.index.bytes and
// memory-mapped: entries are appended with plain writes and the whole index
// is kept in memory (it is sparse: 8 bytes per 4 KiB of log by default), so
// there is nothing to trim on roll or close. segment.index.bytes still bounds
// the number of entries: a segment whose index is full is rolled.
const (
	offsetIndexEntrySize = 8
	timeIndexEntrySize   = 12
)

// offsetEntry is one .index entry.
type offsetEntry struct {
	relOffset int32 // batch last offset - segment base offset
	position  int32 // byte position of the batch in the .log
}

// timeEntry is one .timeindex entry.
type timeEntry struct {
	timestamp int64
	relOffset int32
}

var errCorruptIndex = errors.New("corrupt index")

func encodeOffsetIndex(es []offsetEntry) []byte {
	b := make([]byte, len(es)*offsetIndexEntrySize)
	for i, e := range es {
		binary.BigEndian.PutUint32(b[i*offsetIndexEntrySize:], uint32(e.relOffset))
		binary.BigEndian.PutUint32(b[i*offsetIndexEntrySize+4:], uint32(e.position))
	}
	return b
}

func encodeTimeIndex(es []timeEntry) []byte {
	b := make([]byte, len(es)*timeIndexEntrySize)
	for i, e := range es {
		binary.BigEndian.PutUint64(b[i*timeIndexEntrySize:], uint64(e.timestamp))
		binary.BigEndian.PutUint32(b[i*timeIndexEntrySize+8:], uint32(e.relOffset))
	}
	return b
}

// decodeOffsetIndex parses and sanity-checks a .index file: whole entries,
// offsets and positions strictly increasing (each entry is a different
// batch), offsets within [0, maxRel] and every position leaving room for a
// batch header inside a .log of logSize bytes. Kafka checks less (size and
// last entry); checking every entry is cheap since the index is read anyway.
func decodeOffsetIndex(b []byte, logSize, maxRel int64) ([]offsetEntry, error) {
	if len(b)%offsetIndexEntrySize != 0 {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d", errCorruptIndex, len(b), offsetIndexEntrySize)
	}
	es := make([]offsetEntry, len(b)/offsetIndexEntrySize)
	for i := range es {
		e := offsetEntry{
			relOffset: int32(binary.BigEndian.Uint32(b[i*offsetIndexEntrySize:])),
			position:  int32(binary.BigEndian.Uint32(b[i*offsetIndexEntrySize+4:])),
		}
		if e.relOffset < 0 || int64(e.relOffset) > maxRel || e.position < 0 ||
			int64(e.position)+batch.HeaderSize > logSize {
			return nil, fmt.Errorf("%w: entry %d (%d, %d) out of range", errCorruptIndex, i, e.relOffset, e.position)
		}
		if i > 0 && (e.relOffset <= es[i-1].relOffset || e.position <= es[i-1].position) {
			return nil, fmt.Errorf("%w: entry %d not increasing", errCorruptIndex, i)
		}
		es[i] = e
	}
	return es, nil
}

// decodeTimeIndex parses and sanity-checks a .timeindex file: whole entries,
// non-negative strictly increasing timestamps (entries are only appended when
// the largest timestamp grows), non-decreasing offsets within [0, maxRel].
func decodeTimeIndex(b []byte, maxRel int64) ([]timeEntry, error) {
	if len(b)%timeIndexEntrySize != 0 {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d", errCorruptIndex, len(b), timeIndexEntrySize)
	}
	es := make([]timeEntry, len(b)/timeIndexEntrySize)
	for i := range es {
		e := timeEntry{
			timestamp: int64(binary.BigEndian.Uint64(b[i*timeIndexEntrySize:])),
			relOffset: int32(binary.BigEndian.Uint32(b[i*timeIndexEntrySize+8:])),
		}
		if e.timestamp < 0 || e.relOffset < 0 || int64(e.relOffset) > maxRel {
			return nil, fmt.Errorf("%w: time entry %d (%d, %d) out of range", errCorruptIndex, i, e.timestamp, e.relOffset)
		}
		if i > 0 && (e.timestamp <= es[i-1].timestamp || e.relOffset < es[i-1].relOffset) {
			return nil, fmt.Errorf("%w: time entry %d not increasing", errCorruptIndex, i)
		}
		es[i] = e
	}
	return es, nil
}

// readIndexFile reads a whole index file; a missing file reports ok=false.
func readIndexFile(path string) (b []byte, ok bool, err error) {
	b, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// lookupOffset returns the entry with the largest offset <= rel (binary
// search), or ok=false when rel precedes every entry.
func lookupOffset(es []offsetEntry, rel int64) (offsetEntry, bool) {
	i := sort.Search(len(es), func(i int) bool { return int64(es[i].relOffset) > rel })
	if i == 0 {
		return offsetEntry{}, false
	}
	return es[i-1], true
}

// lookupTime returns the entry with the largest timestamp <= ts, or
// ok=false when ts precedes every entry.
func lookupTime(es []timeEntry, ts int64) (timeEntry, bool) {
	i := sort.Search(len(es), func(i int) bool { return es[i].timestamp > ts })
	if i == 0 {
		return timeEntry{}, false
	}
	return es[i-1], true
}

// indexBuilder computes the index entries for batches laid out one after
// another in a segment, with Kafka's LogSegment.append rules. Appends, index
// rebuilds and compaction all use it, so an index rebuilt from the .log is
// identical to the one written while appending.
type indexBuilder struct {
	base       int64 // segment base offset
	interval   int64 // index.interval.bytes
	pos        int64 // position of the next batch
	bytesSince int64 // bytes appended since the last offset index entry
	maxTs      int64 // largest batch MaxTimestamp so far, -1 if none
	offMax     int64 // last offset of the batch holding maxTs
	lastTimeTs int64 // timestamp of the last .timeindex entry, -1 if none
	index      []offsetEntry
	times      []timeEntry
}

func newIndexBuilder(base, interval int64) *indexBuilder {
	return &indexBuilder{base: base, interval: interval, maxTs: -1, offMax: -1, lastTimeTs: -1}
}

// add accounts for one batch written at b.pos.
func (b *indexBuilder) add(h *batch.Header) {
	last := h.LastOffset()
	if h.MaxTimestamp > b.maxTs {
		b.maxTs, b.offMax = h.MaxTimestamp, last
	}
	if b.bytesSince > b.interval {
		b.index = append(b.index, offsetEntry{relOffset: int32(last - b.base), position: int32(b.pos)})
		b.appendTime()
		b.bytesSince = 0
	}
	size := int64(h.Size())
	b.pos += size
	b.bytesSince += size
}

// appendTime appends a .timeindex entry for the largest timestamp so far if
// it grew since the last entry (Kafka's TimeIndex.maybeAppend).
func (b *indexBuilder) appendTime() {
	if b.maxTs > b.lastTimeTs {
		b.times = append(b.times, timeEntry{timestamp: b.maxTs, relOffset: int32(b.offMax - b.base)})
		b.lastTimeTs = b.maxTs
	}
}

// validBatchOffsets checks that a batch read from a segment with the given
// base offset fits after the previous batch (last offset prevLast) and below
// limit (the next segment's base offset): offsets strictly increasing (gaps
// are allowed, compaction leaves them) and relative offsets fitting the
// 4-byte index fields.
func validBatchOffsets(h *batch.Header, base, prevLast, limit int64) bool {
	if h.BaseOffset < base || h.BaseOffset <= prevLast || h.LastOffsetDelta < 0 {
		return false
	}
	rel := h.BaseOffset - base
	if rel > math.MaxInt32-int64(h.LastOffsetDelta) {
		return false
	}
	return h.LastOffset() < limit
}
