package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// RecordHeader is a record header. Kafka header keys are never null.
type RecordHeader struct {
	Key   string
	Value []byte // nil = null
}

// Record is one record of a v2 batch.
type Record struct {
	Attributes     int8 // unused by Kafka, kept as written
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte // nil = null key
	Value          []byte // nil = null value (tombstone)
	Headers        []RecordHeader
}

// minRecordSize is the smallest encoded record: a length byte and six
// one-byte fields (attributes, timestamp delta, offset delta, key length,
// value length, header count).
const minRecordSize = 7

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func varintErr(field string, n int) error {
	if n == 0 {
		return corruptf("truncated varint in record %s", field)
	}
	return corruptf("overlong varint in record %s", field)
}

// readBytes reads a varint length followed by that many bytes; length -1 is
// null (nil), and a non-null empty value is a non-nil empty slice. It returns
// n <= 0 if b is malformed; bytesErr then says how.
func readBytes(b []byte) ([]byte, int) {
	l, n := readVarint(b)
	if n <= 0 || l < -1 || int(l) > len(b)-n {
		return nil, -1
	}
	if l == -1 {
		return nil, n
	}
	end := n + int(l)
	return b[n:end:end], end
}

// bytesErr describes why readBytes rejected b; only on the error path.
func bytesErr(b []byte, field string) error {
	l, n := readVarint(b)
	if n <= 0 {
		return varintErr(field+" length", n)
	}
	return corruptf("record %s length %d, %d bytes left", field, l, len(b)-n)
}

// parseRecord parses the record at the start of b and returns its encoded
// size and offset delta. With r nil it only checks the record, allocating
// nothing (Validate's hot path); otherwise it fills r, whose byte slices
// alias b.
func parseRecord(b []byte, r *Record) (int, int32, error) {
	length, n := readVarint(b)
	if n <= 0 {
		return 0, 0, varintErr("length", n)
	}
	if length < minRecordSize-1 || int(length) > len(b)-n {
		return 0, 0, corruptf("record length %d, %d bytes left", length, len(b)-n)
	}
	size := n + int(length)
	body := b[n:size]

	attrs := int8(body[0])
	p := 1
	tsDelta, n := readVarlong(body[p:])
	if n <= 0 {
		return 0, 0, varintErr("timestamp delta", n)
	}
	p += n
	offDelta, n := readVarint(body[p:])
	if n <= 0 {
		return 0, 0, varintErr("offset delta", n)
	}
	p += n
	key, n := readBytes(body[p:])
	if n <= 0 {
		return 0, 0, bytesErr(body[p:], "key")
	}
	p += n
	value, n := readBytes(body[p:])
	if n <= 0 {
		return 0, 0, bytesErr(body[p:], "value")
	}
	p += n
	count, n := readVarint(body[p:])
	if n <= 0 {
		return 0, 0, varintErr("header count", n)
	}
	p += n
	// Each header takes at least two bytes; checking this first keeps a
	// forged count from sizing a huge allocation.
	if count < 0 || int(count) > (len(body)-p)/2 {
		return 0, 0, corruptf("record header count %d, %d bytes left", count, len(body)-p)
	}
	var headers []RecordHeader
	if r != nil && count > 0 {
		headers = make([]RecordHeader, count)
	}
	for i := range int(count) {
		k, n := readBytes(body[p:])
		if n <= 0 {
			return 0, 0, bytesErr(body[p:], "header key")
		}
		if k == nil {
			return 0, 0, corruptf("null record header key")
		}
		p += n
		v, n := readBytes(body[p:])
		if n <= 0 {
			return 0, 0, bytesErr(body[p:], "header value")
		}
		p += n
		if headers != nil {
			headers[i] = RecordHeader{Key: string(k), Value: v}
		}
	}
	if p != len(body) {
		return 0, 0, corruptf("record has %d trailing bytes", len(body)-p)
	}
	if r != nil {
		*r = Record{
			Attributes:     attrs,
			TimestampDelta: tsDelta,
			OffsetDelta:    offDelta,
			Key:            key,
			Value:          value,
			Headers:        headers,
		}
	}
	return size, offDelta, nil
}

// openBatch checks one complete batch (length, magic, CRC, codec) and returns
// its header and still-compressed records section.
func openBatch(b []byte) (Header, []byte, error) {
	h, err := CheckCRC(b)
	if err != nil {
		return h, nil, err
	}
	if h.Codec() > Zstd {
		return h, nil, errCodec(h.Codec())
	}
	if h.NumRecords < 0 {
		return h, nil, corruptf("negative record count %d", h.NumRecords)
	}
	return h, b[HeaderSize:], nil
}

// Records decodes all records of one complete batch b (exactly one batch),
// decompressing if needed. It checks the CRC, that every record is
// well-formed and that their number matches NumRecords. It does not require
// contiguous offset deltas: compaction leaves gaps. For an uncompressed batch
// the records' byte slices alias b.
func Records(b []byte) (Header, []Record, error) {
	h, data, err := openBatch(b)
	if err != nil {
		return h, nil, err
	}
	if c := h.Codec(); c != None {
		// A fresh buffer, not a pooled one: the records alias it.
		if data, err = appendDecompressed(nil, c, data, MaxDecompressedSize); err != nil {
			return h, nil, err
		}
	}
	// Size by the bytes present, not by the claimed count.
	recs := make([]Record, 0, min(int(h.NumRecords), len(data)/minRecordSize))
	for len(data) > 0 {
		if len(recs) == int(h.NumRecords) {
			return h, nil, corruptf("more records than the record count %d", h.NumRecords)
		}
		recs = append(recs, Record{})
		n, _, err := parseRecord(data, &recs[len(recs)-1])
		if err != nil {
			return h, nil, fmt.Errorf("record %d: %w", len(recs)-1, err)
		}
		data = data[n:]
	}
	if len(recs) != int(h.NumRecords) {
		return h, nil, corruptf("%d records, record count says %d", len(recs), h.NumRecords)
	}
	return h, recs, nil
}

func bytesSize(b []byte) int {
	if b == nil {
		return 1
	}
	return varintSize(int32(len(b))) + len(b)
}

// recordBodySize is the encoded size of r after its length varint.
func recordBodySize(r *Record) int {
	n := 1 + varlongSize(r.TimestampDelta) + varintSize(r.OffsetDelta) +
		bytesSize(r.Key) + bytesSize(r.Value) + varintSize(int32(len(r.Headers)))
	for i := range r.Headers {
		hd := &r.Headers[i]
		n += varintSize(int32(len(hd.Key))) + len(hd.Key) + bytesSize(hd.Value)
	}
	return n
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return appendVarint(dst, -1)
	}
	return append(appendVarint(dst, int32(len(b))), b...)
}

func appendRecord(dst []byte, r *Record, bodySize int) []byte {
	dst = appendVarint(dst, int32(bodySize))
	dst = append(dst, byte(r.Attributes))
	dst = appendVarlong(dst, r.TimestampDelta)
	dst = appendVarint(dst, r.OffsetDelta)
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = appendVarint(dst, int32(len(r.Headers)))
	for i := range r.Headers {
		hd := &r.Headers[i]
		dst = appendVarint(dst, int32(len(hd.Key)))
		dst = append(dst, hd.Key...)
		dst = appendBytes(dst, hd.Value)
	}
	return dst
}

var errTooBig = errors.New("batch: record batch larger than 2 GiB")

// Build encodes recs as one complete v2 batch, compressed with h.Codec().
// BaseOffset, PartitionLeaderEpoch, Attributes, LastOffsetDelta,
// FirstTimestamp, MaxTimestamp, ProducerID, ProducerEpoch and BaseSequence
// come from h; Length, Magic, CRC and NumRecords are computed. Records keep
// their own offset and timestamp deltas, so a compacted batch can have gaps
// and keep its original LastOffsetDelta.
func Build(h Header, recs []Record) ([]byte, error) {
	c := h.Codec()
	if c > Zstd {
		return nil, errCodec(c)
	}
	if len(recs) > math.MaxInt32 {
		return nil, errTooBig
	}
	total := 0
	for i := range recs {
		n := recordBodySize(&recs[i])
		if n > math.MaxInt32 {
			return nil, errTooBig
		}
		total += varintSize(int32(n)) + n
	}
	if total > math.MaxInt32-HeaderSize {
		return nil, errTooBig
	}

	var out []byte
	if c == None {
		out = make([]byte, HeaderSize, HeaderSize+total)
		for i := range recs {
			out = appendRecord(out, &recs[i], recordBodySize(&recs[i]))
		}
	} else {
		bp := getBuf()
		raw := (*bp)[:0]
		for i := range recs {
			raw = appendRecord(raw, &recs[i], recordBodySize(&recs[i]))
		}
		out = make([]byte, HeaderSize, HeaderSize+total/2+64)
		var err error
		out, err = appendCompressed(out, c, raw)
		*bp = raw
		putBuf(bp)
		if err != nil {
			return nil, fmt.Errorf("batch: compressing with %s: %w", c, err)
		}
	}
	if len(out)-LogOverhead > math.MaxInt32 {
		return nil, errTooBig
	}

	h.Length = int32(len(out) - LogOverhead)
	h.Magic = 2
	h.NumRecords = int32(len(recs))
	putHeader(out, &h)
	binary.BigEndian.PutUint32(out[posCRC:], ComputeCRC(out))
	return out, nil
}

// putHeader writes every field of h into the first HeaderSize bytes of b.
func putHeader(b []byte, h *Header) {
	be := binary.BigEndian
	be.PutUint64(b[posBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[posLength:], uint32(h.Length))
	be.PutUint32(b[posLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[posMagic] = byte(h.Magic)
	be.PutUint32(b[posCRC:], h.CRC)
	be.PutUint16(b[posAttributes:], uint16(h.Attributes))
	be.PutUint32(b[posLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[posFirstTimestamp:], uint64(h.FirstTimestamp))
	be.PutUint64(b[posMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[posProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[posProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[posBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[posNumRecords:], uint32(h.NumRecords))
}

// FirstRecordHeader returns the value of the first record's header named
// key in one complete batch (decompressing it if needed; the value is the
// caller's), or false if the batch is malformed or that record has no such
// header. The broker reads a W3C traceparent this way.
func FirstRecordHeader(b []byte, key string) ([]byte, bool) {
	// No CRC check: the broker validates the batch right after.
	h, err := ParseHeader(b)
	if err != nil || h.Size() != len(b) || h.NumRecords <= 0 || h.Codec() > Zstd {
		return nil, false
	}
	data := b[HeaderSize:]
	if c := h.Codec(); c != None {
		bp := getBuf()
		defer putBuf(bp)
		if data, err = appendDecompressed((*bp)[:0], c, data, MaxDecompressedSize); err != nil {
			return nil, false
		}
		*bp = data
	}
	var r Record
	if _, _, err := parseRecord(data, &r); err != nil {
		return nil, false
	}
	for _, rh := range r.Headers {
		if rh.Key == key && rh.Value != nil {
			return append([]byte(nil), rh.Value...), true
		}
	}
	return nil, false
}
