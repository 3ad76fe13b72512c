package partition

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/samsa-io/samsa/internal/batch"
)

// Raft snapshots of a partition. Dragonboat streams one to a replica that
// fell behind the compacted Raft log; it carries the whole state machine:
//
//	header   magic "SAMSASNP", version (uint16), meta length (uint32), meta (JSON:
//	         applied index, log start and end offsets, producer state, epoch cache)
//	records  'S' base offset (int64): a segment starts
//	         'B' one record batch, exactly as stored
//	trailer  'E' CRC-32C (uint32) of every byte before it
//
// Integers are big-endian. The records cover the log from the segment
// holding the start offset up to the end offset, keeping segment boundaries
// and the offset gaps compaction left, so the copy has the same batches at
// the same offsets in the same segments.
const (
	snapshotMagic   = "SAMSASNP"
	snapshotVersion = 1

	snapSegment byte = 'S'
	snapBatch   byte = 'B'
	snapEnd     byte = 'E'

	snapshotHeaderSize = len(snapshotMagic) + 2 + 4
	// maxSnapshotMeta bounds the meta length so a corrupt length cannot
	// make us allocate gigabytes.
	maxSnapshotMeta = 256 << 20
	// snapshotChunkBytes is how much of the log is read, or appended, at
	// a time.
	snapshotChunkBytes = 1 << 20
)

// Files of a snapshot being recovered. The stream is first written to the
// staging file and verified; renaming it to the pending file commits it, and
// the pending file is removed once the log and the Raft checkpoint reflect
// it. Open deletes a staging file and finishes installing a pending one.
const (
	snapshotStagingFile = "raft-snapshot" + tmpSuffix
	snapshotPendingFile = "raft-snapshot.pending"
)

// ErrCorruptSnapshot is returned by RecoverFromSnapshot for a snapshot
// stream that is truncated, fails its checksum or is malformed.
var ErrCorruptSnapshot = errors.New("partition: corrupt snapshot")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// snapshotMeta is the snapshot header's JSON. encoding/json writes struct
// fields in order and map keys sorted, so equal states encode identically.
type snapshotMeta struct {
	Applied     uint64                   `json:"applied"`
	StartOffset int64                    `json:"start_offset"`
	EndOffset   int64                    `json:"end_offset"`
	Producers   map[int64]*producerEntry `json:"producers"`
	Epochs      []epochEntry             `json:"epochs"`
	Aborted     []AbortedTxn             `json:"aborted,omitempty"`
}

// snapshotState is the state identifier PrepareSnapshot captures.
type snapshotState struct {
	meta     snapshotMeta
	bases    []int64 // base offsets of the segments from the one holding the start offset
	rewrites uint64  // Log.rewrites when captured
}

// snapshotView returns, atomically, what a snapshot of the log covers.
func (l *Log) snapshotView() (start, end int64, bases []int64, rewrites uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	start, end = l.startOffset, l.active().nextOffset
	for i := l.segmentIndex(start); i < len(l.segments); i++ {
		bases = append(bases, l.segments[i].baseOffset)
	}
	return start, end, bases, l.rewrites.Load()
}

// snapshotWriter writes the stream and checksums it.
type snapshotWriter struct {
	w   *bufio.Writer
	crc uint32
	err error
}

func (sw *snapshotWriter) write(p []byte) {
	if sw.err != nil {
		return
	}
	sw.crc = crc32.Update(sw.crc, crcTable, p)
	_, sw.err = sw.w.Write(p)
}

func (sw *snapshotWriter) record(tag byte, p []byte) {
	sw.write([]byte{tag})
	sw.write(p)
}

func (sw *snapshotWriter) segment(base int64) {
	sw.record(snapSegment, binary.BigEndian.AppendUint64(nil, uint64(base)))
}

func stopped(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// writeSnapshot streams the state st describes. It only reads the log, so
// appends may go on meanwhile: they land at or above st's end offset, which
// no read passes. Anything that rewrites bytes below it (a compaction swap)
// or deletes some still to be read (retention, DeleteRecords) aborts the
// snapshot instead, so the output depends on st alone.
func writeSnapshot(l *Log, st *snapshotState, w io.Writer, done <-chan struct{}) error {
	meta, err := json.Marshal(&st.meta)
	if err != nil {
		return err
	}
	sw := &snapshotWriter{w: bufio.NewWriterSize(w, 256<<10)}
	hdr := append([]byte(snapshotMagic), 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(hdr[len(snapshotMagic):], snapshotVersion)
	binary.BigEndian.PutUint32(hdr[len(snapshotMagic)+2:], uint32(len(meta)))
	sw.write(hdr)
	sw.write(meta)
	bases := st.bases
	sw.segment(bases[0])
	bases = bases[1:]
	for off, end := st.meta.StartOffset, st.meta.EndOffset; off < end && sw.err == nil; {
		if stopped(done) {
			return sm.ErrSnapshotStopped
		}
		data, err := l.Read(off, snapshotChunkBytes, end, true)
		if errors.Is(err, ErrOffsetOutOfRange) || errors.Is(err, ErrClosed) {
			return fmt.Errorf("%w: partition %s: %w", sm.ErrSnapshotAborted, l.dir, err)
		}
		if err != nil {
			return err
		}
		if l.rewrites.Load() != st.rewrites {
			return fmt.Errorf("%w: partition %s was compacted or truncated during the snapshot", sm.ErrSnapshotAborted, l.dir)
		}
		if len(data) == 0 {
			break // the rest of the range is a gap left by compaction
		}
		for len(data) > 0 {
			raw, rest, h, err := batch.Next(data)
			if err != nil {
				return err
			}
			for len(bases) > 0 && bases[0] <= h.BaseOffset {
				sw.segment(bases[0])
				bases = bases[1:]
			}
			sw.record(snapBatch, raw)
			off = h.LastOffset() + 1
			data = rest
		}
	}
	for _, b := range bases {
		sw.segment(b)
	}
	sw.write([]byte{snapEnd})
	sw.write(binary.BigEndian.AppendUint32(nil, sw.crc))
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.err
}

// snapshotReader reads the stream, checksumming it and optionally copying
// it to a file.
type snapshotReader struct {
	r    *bufio.Reader
	crc  uint32
	copy io.Writer
	buf  []byte
}

// read returns the next n bytes, valid until the next call; sum adds them
// to the checksum.
func (sr *snapshotReader) read(n int, sum bool) ([]byte, error) {
	sr.buf = sr.buf[:0]
	return sr.readMore(n, sum)
}

// readMore appends the next n bytes to those of the last read and returns
// the new ones. The buffer grows as bytes arrive, so a corrupt length in a
// short stream fails without a huge allocation.
func (sr *snapshotReader) readMore(n int, sum bool) ([]byte, error) {
	from := len(sr.buf)
	for len(sr.buf)-from < n {
		k := min(from+n-len(sr.buf), snapshotChunkBytes)
		sr.buf = append(sr.buf, make([]byte, k)...)
		if _, err := io.ReadFull(sr.r, sr.buf[len(sr.buf)-k:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: truncated", ErrCorruptSnapshot)
			}
			return nil, err
		}
	}
	p := sr.buf[from:]
	if sum {
		sr.crc = crc32.Update(sr.crc, crcTable, p)
	}
	if sr.copy != nil {
		if _, err := sr.copy.Write(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// snapshotHandler receives the records of a snapshot being read; nil
// functions skip them.
type snapshotHandler struct {
	segment func(base int64) error
	batch   func(raw []byte) error // raw is valid until the call returns
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
}

// readSnapshot reads and verifies a snapshot stream: the header, every
// batch's CRC, that segments and batches fit the offsets the header gives
// (in order, the first segment holding the start offset, ending exactly at
// the end offset) and the trailing checksum, which is only known at the
// end: a handler that must not act on a bad stream needs a first pass
// without it. Reading stops after the trailer.
func readSnapshot(r io.Reader, copyTo io.Writer, done <-chan struct{}, h snapshotHandler) (*snapshotMeta, error) {
	sr := &snapshotReader{r: bufio.NewReaderSize(r, 256<<10), copy: copyTo}
	hdr, err := sr.read(snapshotHeaderSize, true)
	if err != nil {
		return nil, err
	}
	if string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return nil, corruptf("bad magic %q", hdr[:len(snapshotMagic)])
	}
	if v := binary.BigEndian.Uint16(hdr[len(snapshotMagic):]); v != snapshotVersion {
		return nil, fmt.Errorf("partition: snapshot version %d is not supported (want %d)", v, snapshotVersion)
	}
	n := binary.BigEndian.Uint32(hdr[len(snapshotMagic)+2:])
	if n > maxSnapshotMeta {
		return nil, corruptf("header length %d", n)
	}
	b, err := sr.read(int(n), true)
	if err != nil {
		return nil, err
	}
	meta := new(snapshotMeta)
	if err := json.Unmarshal(b, meta); err != nil {
		return nil, corruptf("header: %v", err)
	}
	if meta.StartOffset < 0 || meta.EndOffset < meta.StartOffset || !validEpochs(meta.Epochs) {
		return nil, corruptf("header: log [%d, %d), epochs %v", meta.StartOffset, meta.EndOffset, meta.Epochs)
	}
	if meta.Producers == nil {
		meta.Producers = make(map[int64]*producerEntry)
	}
	for id, e := range meta.Producers {
		if e == nil {
			return nil, corruptf("header: producer %d has no state", id)
		}
	}

	segBase, prevLast := int64(-1), int64(-1)
	for {
		if stopped(done) {
			return nil, sm.ErrSnapshotStopped
		}
		tag, err := sr.read(1, true)
		if err != nil {
			return nil, err
		}
		switch tag[0] {
		case snapSegment:
			b, err := sr.read(8, true)
			if err != nil {
				return nil, err
			}
			base := int64(binary.BigEndian.Uint64(b))
			if segBase < 0 {
				if base < 0 || base > meta.StartOffset {
					return nil, corruptf("first segment at %d, log start offset %d", base, meta.StartOffset)
				}
			} else if base <= segBase || base <= prevLast || base <= meta.StartOffset || base > meta.EndOffset {
				return nil, corruptf("segment at %d after segment %d, offset %d", base, segBase, prevLast)
			}
			segBase = base
			if h.segment != nil {
				if err := h.segment(base); err != nil {
					return nil, err
				}
			}
		case snapBatch:
			if segBase < 0 {
				return nil, corruptf("batch before any segment")
			}
			lo, err := sr.read(batch.LogOverhead, true)
			if err != nil {
				return nil, err
			}
			length := int32(binary.BigEndian.Uint32(lo[8:]))
			if length < batch.HeaderSize-batch.LogOverhead || length > math.MaxInt32-batch.LogOverhead {
				return nil, corruptf("batch length %d", length)
			}
			if _, err := sr.readMore(int(length), true); err != nil {
				return nil, err
			}
			raw := sr.buf
			bh, err := batch.CheckCRC(raw)
			if err != nil {
				return nil, corruptf("batch at offset %d: %v", bh.BaseOffset, err)
			}
			if !validBatchOffsets(&bh, segBase, prevLast, meta.EndOffset) || bh.LastOffset() < meta.StartOffset {
				return nil, corruptf("batch at offsets %d-%d in segment %d after offset %d, log [%d, %d)",
					bh.BaseOffset, bh.LastOffset(), segBase, prevLast, meta.StartOffset, meta.EndOffset)
			}
			prevLast = bh.LastOffset()
			if h.batch != nil {
				if err := h.batch(raw); err != nil {
					return nil, err
				}
			}
		case snapEnd:
			sum := sr.crc
			b, err := sr.read(4, false)
			if err != nil {
				return nil, err
			}
			if got := binary.BigEndian.Uint32(b); got != sum {
				return nil, corruptf("checksum %08x, computed %08x", got, sum)
			}
			if segBase < 0 || max(prevLast+1, segBase) != meta.EndOffset {
				return nil, corruptf("log ends at %d, header says %d", max(prevLast+1, segBase), meta.EndOffset)
			}
			return meta, nil
		default:
			return nil, corruptf("record type %#x", tag[0])
		}
	}
}

// stageSnapshot copies the stream r to the staging file while verifying
// it, and commits it as the pending snapshot only if it is whole and valid.
// Nothing else is touched, so a bad stream leaves the partition as it was.
func stageSnapshot(dir string, r io.Reader, done <-chan struct{}) (err error) {
	staging := filepath.Join(dir, snapshotStagingFile)
	f, err := os.OpenFile(staging, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			_ = os.Remove(staging)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if _, err := readSnapshot(r, bw, done, snapshotHandler{}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	// Commit point: from here on Open installs the snapshot.
	if err := os.Rename(staging, filepath.Join(dir, snapshotPendingFile)); err != nil {
		return err
	}
	return syncDir(dir)
}

// installSnapshot rebuilds the log from the pending snapshot and returns
// its header. Segments and batches go to the log as they are read, in
// chunks; the file was verified when it was staged, so a failure here is a
// local disk problem, and leaves the log failed (Open retries the install).
func installSnapshot(dir string, l *Log) (*snapshotMeta, error) {
	f, err := os.Open(filepath.Join(dir, snapshotPendingFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs *restorer
	var buf []byte
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := rs.append(buf)
		buf = buf[:0]
		return err
	}
	meta, err := readSnapshot(f, nil, nil, snapshotHandler{
		segment: func(base int64) error {
			if rs == nil {
				var err error
				rs, err = l.beginRestore(base)
				return err
			}
			if err := flush(); err != nil {
				return err
			}
			return rs.segment(base)
		},
		batch: func(raw []byte) error {
			if len(buf) > 0 && len(buf)+len(raw) > snapshotChunkBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			buf = append(buf, raw...)
			return nil
		},
	})
	if err == nil {
		err = flush()
	}
	if rs == nil {
		if err == nil {
			err = corruptf("no segment")
		}
		return nil, fmt.Errorf("partition %s: installing snapshot: %w", dir, err)
	}
	if err != nil {
		rs.abort(err)
		return nil, fmt.Errorf("partition %s: installing snapshot: %w", dir, err)
	}
	if err := rs.finish(meta.StartOffset, meta.EndOffset); err != nil {
		return nil, fmt.Errorf("partition %s: installing snapshot: %w", dir, err)
	}
	return meta, nil
}
