package batch

import (
	"fmt"
	"sync"
)

// Validate is the check the broker runs on every produced batch before
// appending it. b must be exactly one complete batch with magic 2, a length
// matching len(b), a valid CRC-32C and a known codec; it must decompress
// within MaxDecompressedSize; it must hold NumRecords > 0 well-formed records
// with offset deltas exactly 0..n-1 and LastOffsetDelta n-1. Errors wrap
// ErrCorrupt or ErrUnsupportedMagic.
//
// Validate walks the bytes without building records: an uncompressed batch
// costs no allocation, a compressed one a single decompression into a pooled
// buffer.
func Validate(b []byte) (Header, error) {
	h, data, err := openBatch(b)
	if err != nil {
		return h, err
	}
	if h.NumRecords <= 0 {
		return h, corruptf("record count %d", h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, corruptf("last offset delta %d with %d records", h.LastOffsetDelta, h.NumRecords)
	}
	c := h.Codec()
	if c == None {
		return h, walkRecords(data, h.NumRecords)
	}
	bp := getBuf()
	raw, err := appendDecompressed((*bp)[:0], c, data, MaxDecompressedSize)
	if err == nil {
		err = walkRecords(raw, h.NumRecords)
		*bp = raw // keep the grown buffer for the next batch
	}
	putBuf(bp)
	return h, err
}

// walkRecords checks that data holds exactly n well-formed records with
// offset deltas 0..n-1.
func walkRecords(data []byte, n int32) error {
	var i int32
	for ; len(data) > 0; i++ {
		if i == n {
			return corruptf("more records than the record count %d", n)
		}
		size, delta, err := parseRecord(data, nil)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if delta != i {
			return corruptf("record %d has offset delta %d", i, delta)
		}
		data = data[size:]
	}
	if i != n {
		return corruptf("%d records, record count says %d", i, n)
	}
	return nil
}

// Scratch buffers for decompressing in Validate and compressing in Build.
// Buffers above maxPooledBuf are dropped so one huge batch does not pin its
// memory for good.
const maxPooledBuf = 4 << 20

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(p *[]byte) {
	if cap(*p) > maxPooledBuf {
		*p = nil
	}
	*p = (*p)[:0]
	bufPool.Put(p)
}
