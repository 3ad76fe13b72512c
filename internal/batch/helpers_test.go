package batch

import (
	"bytes"
	gzipstd "compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []Codec{None, Gzip, Snappy, LZ4, Zstd}

// sampleRecords covers the encodings that matter: null and empty keys and
// values, headers with null values, negative and large timestamp deltas,
// multi-byte varints.
func sampleRecords(n int, valueSize int) []Record {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		r.OffsetDelta = int32(i)
		r.TimestampDelta = int64(i) * 37
		switch i % 5 {
		case 0:
			r.Key = []byte(fmt.Sprintf("key-%d", i))
		case 1:
			r.Key = []byte{} // empty, not null
		case 2:
			r.TimestampDelta = -int64(i) << 40
		case 3:
			r.Headers = []RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "", Value: nil}, {Key: "h3", Value: []byte{}}}
		}
		if i%7 != 6 { // every seventh is a tombstone
			r.Value = make([]byte, valueSize)
			for j := range r.Value {
				r.Value[j] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
			}
		}
	}
	return recs
}

func sampleHeader(c Codec, n int) Header {
	return Header{
		BaseOffset:           1234567,
		PartitionLeaderEpoch: 7,
		Attributes:           int16(c),
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       1700000000000,
		MaxTimestamp:         1700000000000 + int64(n)*37,
		ProducerID:           42,
		ProducerEpoch:        3,
		BaseSequence:         100,
	}
}

func mustBuild(t testing.TB, h Header, recs []Record) []byte {
	t.Helper()
	b, err := Build(h, recs)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return b
}

// toKmsg converts to franz-go's record, computing its Length the way a
// producer does.
func toKmsg(r Record) kmsg.Record {
	kr := kmsg.Record{
		Attributes:       r.Attributes,
		TimestampDelta64: r.TimestampDelta,
		OffsetDelta:      r.OffsetDelta,
		Key:              r.Key,
		Value:            r.Value,
	}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	enc := kr.AppendTo(nil) // with Length 0: one length byte
	kr.Length = int32(len(enc) - 1)
	return kr
}

func fromKmsg(kr kmsg.Record) Record {
	r := Record{
		Attributes:     kr.Attributes,
		TimestampDelta: kr.TimestampDelta64,
		OffsetDelta:    kr.OffsetDelta,
		Key:            kr.Key,
		Value:          kr.Value,
	}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

func kmsgRecords(recs []Record) []byte {
	var raw []byte
	for _, r := range recs {
		kr := toKmsg(r)
		raw = kr.AppendTo(raw)
	}
	return raw
}

// compressOther compresses with implementations other than ours: franz-go's
// producer compressor, the standard library's gzip, pierrec's lz4 with its
// default frame options, and a hand-rolled xerial framing.
func compressOther(t testing.TB, c Codec, variant string, raw []byte) []byte {
	t.Helper()
	switch {
	case c == None:
		return raw
	case variant == "kgo":
		codecs := map[Codec]kgo.CompressionCodec{
			Gzip: kgo.GzipCompression(), Snappy: kgo.SnappyCompression(),
			LZ4: kgo.Lz4Compression(), Zstd: kgo.ZstdCompression(),
		}
		comp, err := kgo.DefaultCompressor(codecs[c])
		if err != nil {
			t.Fatal(err)
		}
		out, used := comp.Compress(new(bytes.Buffer), raw)
		if int(used) != int(c) {
			t.Fatalf("kgo used codec %d, want %d", used, c)
		}
		return bytes.Clone(out)
	case c == Gzip:
		var buf bytes.Buffer
		w := gzipstd.NewWriter(&buf)
		w.Write(raw)
		w.Close()
		return buf.Bytes()
	case c == LZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		w.Write(raw)
		w.Close()
		return buf.Bytes()
	case c == Snappy:
		// xerial with small blocks, to exercise several of them.
		out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
		for len(raw) > 0 {
			n := min(len(raw), 1000)
			blk := snappy.Encode(nil, raw[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
			out = append(out, blk...)
			raw = raw[n:]
		}
		return out
	}
	return compressOther(t, c, "kgo", raw)
}

// kmsgBatch assembles a batch with kmsg.RecordBatch, with the CRC computed
// here rather than by the package under test.
func kmsgBatch(h Header, n int, payload []byte) []byte {
	rb := kmsg.RecordBatch{
		FirstOffset:          h.BaseOffset,
		Length:               int32(HeaderSize - LogOverhead + len(payload)),
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Magic:                2,
		Attributes:           h.Attributes,
		LastOffsetDelta:      h.LastOffsetDelta,
		FirstTimestamp:       h.FirstTimestamp,
		MaxTimestamp:         h.MaxTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		FirstSequence:        h.BaseSequence,
		NumRecords:           int32(n),
		Records:              payload,
	}
	b := rb.AppendTo(nil)
	rb.CRC = int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return rb.AppendTo(nil)
}

// rawBatch wraps a hand-made records section in a valid uncompressed header.
func rawBatch(records []byte, n int32) []byte {
	h := sampleHeader(None, int(n))
	return kmsgBatch(h, int(n), records)
}

// fixCRC recomputes the CRC after a test edited a batch.
func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[posCRC:], ComputeCRC(b))
	return b
}

// normalize maps empty header slices to nil so records from different
// decoders compare equal.
func normalize(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		if len(r.Headers) == 0 {
			r.Headers = nil
		}
		out[i] = r
	}
	return out
}

func equalRecords(t testing.TB, got, want []Record) {
	t.Helper()
	got, want = normalize(got), normalize(want)
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
