// Package batch is the Kafka record batch (magic v2) codec shared by the wire
// layer, the partition log and the tools: header parsing, CRC-32C, record
// decoding, compression. It lives below `partition` (not in `wire`) because the
// log needs it for recovery and compaction and dependencies point one way.
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the fixed size of a v2 batch header, up to and including the
// record count.
const HeaderSize = 61

// LogOverhead is the size of the baseOffset and batchLength fields, which are
// not counted in batchLength.
const LogOverhead = 12

// Byte positions of the header fields.
const (
	posBaseOffset      = 0
	posLength          = 8
	posLeaderEpoch     = 12
	posMagic           = 16
	posCRC             = 17
	posAttributes      = 21
	posLastOffsetDelta = 23
	posFirstTimestamp  = 27
	posMaxTimestamp    = 35
	posProducerID      = 43
	posProducerEpoch   = 51
	posBaseSequence    = 53
	posNumRecords      = 57
)

// Attribute bits.
const (
	AttrCompressionMask = 0x07
	AttrTimestampType   = 0x08 // set: LogAppendTime
	AttrTransactional   = 0x10
	AttrControl         = 0x20
)

// Codec is the compression codec of a batch (attributes bits 0-2).
type Codec int8

const (
	None Codec = iota
	Gzip
	Snappy
	LZ4
	Zstd
)

func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Errors. ErrCorrupt maps to CORRUPT_MESSAGE; callers test with errors.Is.
var (
	ErrCorrupt          = errors.New("corrupt record batch")
	ErrUnsupportedMagic = errors.New("unsupported record batch magic (only v2)")
	ErrTruncated        = fmt.Errorf("%w: truncated", ErrCorrupt)
	ErrCRC              = fmt.Errorf("%w: CRC-32C mismatch", ErrCorrupt)
)

// Header is the decoded fixed header of a v2 record batch.
type Header struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after this field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the total size of the batch in bytes.
func (h *Header) Size() int { return LogOverhead + int(h.Length) }

// LastOffset is the offset of the last record in the batch.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & AttrCompressionMask) }

// IsTransactional reports the transactional attribute.
func (h *Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// IsControl reports the control attribute (transaction markers).
func (h *Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// LogAppendTime reports whether timestamps are LogAppendTime.
func (h *Header) LogAppendTime() bool { return h.Attributes&AttrTimestampType != 0 }

// LastSequence is the sequence number of the last record, wrapping as Kafka does.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 0x7fffffff {
		s -= 0x80000000
	}
	return int32(s)
}

// ParseHeader decodes the fixed header at the start of b. It checks only that
// enough bytes exist for the header and that the magic and length are sane; it
// does not check the CRC or that the whole batch is present.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		if len(b) > posMagic && int8(b[posMagic]) != 2 {
			return h, ErrUnsupportedMagic
		}
		return h, ErrTruncated
	}
	be := binary.BigEndian
	h.BaseOffset = int64(be.Uint64(b[posBaseOffset:]))
	h.Length = int32(be.Uint32(b[posLength:]))
	h.PartitionLeaderEpoch = int32(be.Uint32(b[posLeaderEpoch:]))
	h.Magic = int8(b[posMagic])
	h.CRC = be.Uint32(b[posCRC:])
	h.Attributes = int16(be.Uint16(b[posAttributes:]))
	h.LastOffsetDelta = int32(be.Uint32(b[posLastOffsetDelta:]))
	h.FirstTimestamp = int64(be.Uint64(b[posFirstTimestamp:]))
	h.MaxTimestamp = int64(be.Uint64(b[posMaxTimestamp:]))
	h.ProducerID = int64(be.Uint64(b[posProducerID:]))
	h.ProducerEpoch = int16(be.Uint16(b[posProducerEpoch:]))
	h.BaseSequence = int32(be.Uint32(b[posBaseSequence:]))
	h.NumRecords = int32(be.Uint32(b[posNumRecords:]))
	if h.Magic != 2 {
		return h, ErrUnsupportedMagic
	}
	if h.Length < HeaderSize-LogOverhead {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.Length)
	}
	return h, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ComputeCRC computes the CRC-32C of a complete batch (attributes to the end).
func ComputeCRC(b []byte) uint32 { return crc32.Checksum(b[posAttributes:], castagnoli) }

// CheckCRC parses the header of one complete batch b (exactly one batch, no
// trailing bytes) and verifies its length and CRC.
func CheckCRC(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("%w: batch length %d, have %d bytes", ErrCorrupt, h.Size(), len(b))
	}
	if ComputeCRC(b) != h.CRC {
		return h, ErrCRC
	}
	return h, nil
}

// SetBaseOffset rewrites the base offset in place; it is outside the CRC.
func SetBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[posBaseOffset:], uint64(off)) }

// SetPartitionLeaderEpoch rewrites the leader epoch in place; outside the CRC.
func SetPartitionLeaderEpoch(b []byte, e int32) {
	binary.BigEndian.PutUint32(b[posLeaderEpoch:], uint32(e))
}

// SetLogAppendTime stamps the batch with LogAppendTime ts (attribute bit and
// max timestamp, as Kafka does) and recomputes the CRC.
func SetLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[posAttributes:]) | AttrTimestampType
	be.PutUint16(b[posAttributes:], attrs)
	be.PutUint64(b[posMaxTimestamp:], uint64(ts))
	be.PutUint32(b[posCRC:], ComputeCRC(b))
}

// Next splits the first batch off a sequence of concatenated batches. It
// returns the batch, the rest, and an error if the first batch is incomplete
// or its header is invalid. It does not check the CRC.
func Next(b []byte) (batch, rest []byte, h Header, err error) {
	h, err = ParseHeader(b)
	if err != nil {
		return nil, b, h, err
	}
	n := h.Size()
	if n > len(b) {
		return nil, b, h, ErrTruncated
	}
	return b[:n], b[n:], h, nil
}
