package batch

import (
	"bytes"
	"encoding/base64"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Batches assembled with franz-go's kmsg types and compressed by other
// implementations must validate and decode to the records that went in.
func TestDecodeForeignBatches(t *testing.T) {
	recs := sampleRecords(50, 300) // > 32 KB raw: several xerial / lz4 blocks
	raw := kmsgRecords(recs)
	for _, c := range allCodecs {
		for _, variant := range []string{"kgo", "other"} {
			t.Run(c.String()+"/"+variant, func(t *testing.T) {
				h := sampleHeader(c, len(recs))
				b := kmsgBatch(h, len(recs), compressOther(t, c, variant, raw))

				vh, err := Validate(b)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				gh, got, err := Records(b)
				if err != nil {
					t.Fatalf("Records: %v", err)
				}
				if vh != gh {
					t.Fatalf("headers differ: Validate %+v, Records %+v", vh, gh)
				}
				want := h
				want.Length = int32(len(b) - LogOverhead)
				want.Magic = 2
				want.CRC = gh.CRC
				want.NumRecords = int32(len(recs))
				if gh != want {
					t.Fatalf("header\n got %+v\nwant %+v", gh, want)
				}
				equalRecords(t, got, recs)
			})
		}
	}
}

// Batches from Build must read back through kmsg and franz-go's own
// decompressor, byte for byte.
func TestBuildReadByKmsg(t *testing.T) {
	recs := sampleRecords(50, 300)
	dec := kgo.DefaultDecompressor()
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			h := sampleHeader(c, len(recs))
			h.Attributes |= AttrTransactional
			b := mustBuild(t, h, recs)

			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(b); err != nil {
				t.Fatalf("kmsg ReadFrom: %v", err)
			}
			if got := rb.AppendTo(nil); !bytes.Equal(got, b) {
				t.Fatal("kmsg re-encoding differs from Build output")
			}
			wantCRC := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
			if uint32(rb.CRC) != wantCRC {
				t.Fatalf("CRC %08x, want %08x", uint32(rb.CRC), wantCRC)
			}
			if rb.FirstOffset != h.BaseOffset || rb.PartitionLeaderEpoch != h.PartitionLeaderEpoch ||
				rb.Magic != 2 || rb.Attributes != h.Attributes || rb.LastOffsetDelta != h.LastOffsetDelta ||
				rb.FirstTimestamp != h.FirstTimestamp || rb.MaxTimestamp != h.MaxTimestamp ||
				rb.ProducerID != h.ProducerID || rb.ProducerEpoch != h.ProducerEpoch ||
				rb.FirstSequence != h.BaseSequence || rb.NumRecords != int32(len(recs)) ||
				int(rb.Length) != len(b)-LogOverhead {
				t.Fatalf("kmsg header %+v does not match %+v", rb, h)
			}

			raw, err := dec.Decompress(rb.Records, kgo.CompressionCodecType(c))
			if err != nil {
				t.Fatalf("franz-go decompress: %v", err)
			}
			var got []Record
			for len(raw) > 0 {
				l, n := readVarint(raw)
				if n <= 0 {
					t.Fatal("bad record length")
				}
				var kr kmsg.Record
				if err := kr.ReadFrom(raw[:n+int(l)]); err != nil {
					t.Fatalf("kmsg record %d: %v", len(got), err)
				}
				got = append(got, fromKmsg(kr))
				raw = raw[n+int(l):]
			}
			equalRecords(t, got, recs)

			// And kmsg's own encoding of the records is what Build wrote.
			if c == None && !bytes.Equal(b[HeaderSize:], kmsgRecords(recs)) {
				t.Fatal("records section differs from kmsg encoding")
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range allCodecs {
		for _, n := range []int{1, 2, 1000} {
			recs := sampleRecords(n, 100)
			h := sampleHeader(c, n)
			b := mustBuild(t, h, recs)
			if _, err := Validate(b); err != nil {
				t.Fatalf("%s/%d: Validate: %v", c, n, err)
			}
			gh, got, err := Records(b)
			if err != nil {
				t.Fatalf("%s/%d: Records: %v", c, n, err)
			}
			if gh.Codec() != c || gh.NumRecords != int32(n) {
				t.Fatalf("%s/%d: header %+v", c, n, gh)
			}
			equalRecords(t, got, recs)
		}
	}
}

// A compacted batch keeps its LastOffsetDelta and the surviving records'
// deltas: Records accepts it, Validate (for produced batches) does not.
func TestCompactedBatch(t *testing.T) {
	recs := sampleRecords(10, 20)
	kept := []Record{recs[1], recs[4], recs[9]}
	h := sampleHeader(Zstd, 10)
	b := mustBuild(t, h, kept)
	gh, got, err := Records(b)
	if err != nil {
		t.Fatal(err)
	}
	if gh.LastOffsetDelta != 9 || gh.NumRecords != 3 {
		t.Fatalf("header %+v", gh)
	}
	equalRecords(t, got, kept)
	if _, err := Validate(b); err == nil {
		t.Fatal("Validate accepted non-contiguous offset deltas")
	}

	// An empty batch (all records compacted away) is a valid log entry.
	b = mustBuild(t, sampleHeader(None, 10), nil)
	if _, got, err := Records(b); err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v, %d records", err, len(got))
	}
	if _, err := Validate(b); err == nil {
		t.Fatal("Validate accepted an empty batch")
	}
}

func TestCompressRoundTrip(t *testing.T) {
	inputs := [][]byte{{}, []byte("x"), bytes.Repeat([]byte("kafka "), 50000)}
	for _, c := range allCodecs {
		for _, in := range inputs {
			z, err := Compress(c, in)
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			out, err := Decompress(c, z, len(in))
			if err != nil {
				t.Fatalf("%s/%d: %v", c, len(in), err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("%s/%d: round trip differs", c, len(in))
			}
		}
	}
}

// Snappy arrives raw from most clients and xerial-framed from Java.
func TestSnappyFramings(t *testing.T) {
	// Written by the Java client (from franz-go's tests).
	java, _ := base64.StdEncoding.DecodeString("glNOQVBQWQAAAAABAAAAAQAAAA8NMEhlbGxvLCBXb3JsZCE=")
	out, err := Decompress(Snappy, java, 100)
	if err != nil || string(out) != "Hello, World!" {
		t.Fatalf("xerial: %q, %v", out, err)
	}
	raw := compressOther(t, Snappy, "kgo", []byte("Hello, World!"))
	if bytes.HasPrefix(raw, xerialMagic) {
		t.Fatal("expected a raw snappy block from kgo")
	}
	out, err = Decompress(Snappy, raw, 100)
	if err != nil || string(out) != "Hello, World!" {
		t.Fatalf("raw: %q, %v", out, err)
	}
	// Build writes xerial, as the Java producer does.
	z, _ := Compress(Snappy, []byte("Hello, World!"))
	if !bytes.HasPrefix(z, xerialHeader) {
		t.Fatalf("Compress(Snappy) is not xerial framed: %x", z)
	}
}

func TestVarints(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, -64, 64, 1 << 20, -1 << 31, 1<<31 - 1} {
		b := appendVarint(nil, v)
		if len(b) != varintSize(v) {
			t.Fatalf("varintSize(%d) = %d, encoded %d", v, varintSize(v), len(b))
		}
		got, n := readVarint(b)
		if got != v || n != len(b) {
			t.Fatalf("varint %d: got %d, %d", v, got, n)
		}
		if _, n := readVarint(b[:len(b)-1]); n != 0 {
			t.Fatalf("truncated varint %d: n=%d", v, n)
		}
	}
	for _, v := range []int64{0, -1, 1 << 40, -1 << 63, 1<<63 - 1} {
		b := appendVarlong(nil, v)
		if len(b) != varlongSize(v) {
			t.Fatalf("varlongSize(%d) = %d, encoded %d", v, varlongSize(v), len(b))
		}
		got, n := readVarlong(b)
		if got != v || n != len(b) {
			t.Fatalf("varlong %d: got %d, %d", v, got, n)
		}
	}
	for _, bad := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0x10},       // overflows 32 bits
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, // six bytes
	} {
		if _, n := readVarint(bad); n >= 0 {
			t.Fatalf("readVarint(%x) accepted", bad)
		}
	}
	if _, n := readVarlong([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}); n >= 0 {
		t.Fatal("readVarlong accepted 65 bits")
	}
}

func TestHeaderHelpers(t *testing.T) {
	b := mustBuild(t, sampleHeader(None, 3), sampleRecords(3, 10))
	SetBaseOffset(b, 99)
	SetPartitionLeaderEpoch(b, 5)
	SetLogAppendTime(b, 123)
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 99 || h.PartitionLeaderEpoch != 5 || !h.LogAppendTime() || h.MaxTimestamp != 123 || h.LastOffset() != 101 {
		t.Fatalf("header %+v", h)
	}
	two := append(bytes.Clone(b), b...)
	first, rest, _, err := Next(two)
	if err != nil || !bytes.Equal(first, b) || !bytes.Equal(rest, b) {
		t.Fatalf("Next: %v", err)
	}
	if _, _, _, err := Next(two[:len(b)-1]); err == nil {
		t.Fatal("Next accepted a truncated batch")
	}
}

// The pools and the shared zstd coders are used from many goroutines at once.
func TestConcurrent(t *testing.T) {
	recs := sampleRecords(200, 50)
	done := make(chan error)
	for _, c := range allCodecs {
		go func() {
			var err error
			for range 20 {
				var b []byte
				if b, err = Build(sampleHeader(c, len(recs)), recs); err != nil {
					break
				}
				if _, err = Validate(b); err != nil {
					break
				}
				if _, _, err = Records(b); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range allCodecs {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestFirstRecordHeader(t *testing.T) {
	for _, c := range allCodecs {
		recs := []Record{
			{OffsetDelta: 0, Value: []byte("a"), Headers: []RecordHeader{{Key: "other", Value: []byte("x")}, {Key: "traceparent", Value: []byte("00-tp-01")}}},
			{OffsetDelta: 1, Value: []byte("b"), Headers: []RecordHeader{{Key: "later", Value: []byte("y")}}},
		}
		b, err := Build(Header{Attributes: int16(c), LastOffsetDelta: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := FirstRecordHeader(b, "traceparent"); !ok || string(v) != "00-tp-01" {
			t.Errorf("%s: traceparent %q, %v", c, v, ok)
		}
		// Only the first record counts.
		if v, ok := FirstRecordHeader(b, "later"); ok {
			t.Errorf("%s: found a later record's header: %q", c, v)
		}
		if _, ok := FirstRecordHeader(b[:len(b)-1], "traceparent"); ok {
			t.Errorf("%s: truncated batch accepted", c)
		}
	}
}
