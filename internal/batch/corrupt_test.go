package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// expectCorrupt runs both decoders on b and requires an error wrapping want.
func expectCorrupt(t *testing.T, name string, b []byte, want error) {
	t.Helper()
	if _, err := Validate(b); !errors.Is(err, want) {
		t.Errorf("%s: Validate error %v, want %v", name, err, want)
	}
	if _, _, err := Records(b); !errors.Is(err, want) {
		t.Errorf("%s: Records error %v, want %v", name, err, want)
	}
}

func TestCorruptHeader(t *testing.T) {
	for _, c := range allCodecs {
		good := mustBuild(t, sampleHeader(c, 20), sampleRecords(20, 50))

		for i := range 4 {
			b := bytes.Clone(good)
			b[posCRC+i] ^= 0x01
			expectCorrupt(t, c.String()+": flipped CRC byte", b, ErrCRC)
		}
		for _, pos := range []int{posAttributes, posNumRecords, HeaderSize, len(good) - 1} {
			b := bytes.Clone(good)
			b[pos] ^= 0x80
			expectCorrupt(t, c.String()+": flipped covered byte", b, ErrCRC)
		}
		for n := range len(good) {
			expectCorrupt(t, c.String()+": truncated", good[:n], ErrCorrupt)
		}
		expectCorrupt(t, c.String()+": trailing byte", append(bytes.Clone(good), 0), ErrCorrupt)
		expectCorrupt(t, c.String()+": two batches", append(bytes.Clone(good), good...), ErrCorrupt)

		b := bytes.Clone(good)
		binary.BigEndian.PutUint32(b[posLength:], 10)
		expectCorrupt(t, c.String()+": length below header", b, ErrCorrupt)
		binary.BigEndian.PutUint32(b[posLength:], 0x80000000)
		expectCorrupt(t, c.String()+": negative length", b, ErrCorrupt)

		b = bytes.Clone(good)
		b[posMagic] = 1
		expectCorrupt(t, c.String()+": magic 1", b, ErrUnsupportedMagic)
		expectCorrupt(t, c.String()+": short magic 0", b[:20], ErrUnsupportedMagic)

		for _, n := range []int32{19, 21, 0, -1, 1 << 30} {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint32(b[posNumRecords:], uint32(n))
			binary.BigEndian.PutUint32(b[posLastOffsetDelta:], uint32(n-1))
			expectCorrupt(t, c.String()+": wrong record count", fixCRC(b), ErrCorrupt)
		}
		b = bytes.Clone(good)
		binary.BigEndian.PutUint32(b[posLastOffsetDelta:], 20)
		if _, err := Validate(fixCRC(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: LastOffsetDelta != n-1 accepted: %v", c, err)
		}
	}
	for codec := Codec(5); codec <= 7; codec++ {
		b := mustBuild(t, sampleHeader(None, 3), sampleRecords(3, 5))
		b[posAttributes+1] |= byte(codec)
		expectCorrupt(t, codec.String(), fixCRC(b), ErrCorrupt)
	}
	if _, err := Build(sampleHeader(6, 1), sampleRecords(1, 1)); err == nil {
		t.Error("Build accepted codec 6")
	}
}

func TestOffsetDeltas(t *testing.T) {
	for _, c := range allCodecs {
		for name, deltas := range map[string][]int32{
			"gap":       {0, 2, 3},
			"duplicate": {0, 1, 1},
			"reordered": {0, 2, 1},
			"not zero":  {1, 2, 3},
			"negative":  {-1, 0, 1},
		} {
			recs := sampleRecords(3, 10)
			for i := range recs {
				recs[i].OffsetDelta = deltas[i]
			}
			h := sampleHeader(c, 3)
			b := mustBuild(t, h, recs)
			if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s/%s: Validate error %v", c, name, err)
			}
		}
	}
}

// Hand-made records sections: each is one record (or, where named, more)
// with a single defect.
func TestMalformedRecords(t *testing.T) {
	// Body of a valid record: attrs 0, ts 0, offset 0, key null, value "v",
	// no headers.
	valid := []byte{0, 0, 0, 1, 2, 'v', 0}
	rec := func(body ...byte) []byte { return append(appendVarint(nil, int32(len(body))), body...) }
	if _, err := Validate(rawBatch(rec(valid...), 1)); err != nil {
		t.Fatalf("control case: %v", err)
	}
	cases := map[string][]byte{
		"empty section":             {},
		"length too long":           append(appendVarint(nil, int32(len(valid)+1)), valid...),
		"length too short":          append(appendVarint(nil, int32(len(valid)-1)), valid...),
		"negative length":           append(appendVarint(nil, -3), valid...),
		"length varint truncated":   {0x80},
		"length varint 6 bytes":     {0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
		"length varint overflow":    {0xff, 0xff, 0xff, 0xff, 0x7f},
		"tiny record":               rec(0, 0, 0, 1, 1),
		"timestamp varlong too big": rec(0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 1, 1, 0),
		"timestamp varlong cut":     rec(0, 0xff, 0xff, 0xff),
		"offset varint overflow":    rec(0, 0, 0xff, 0xff, 0xff, 0xff, 0x1f, 1, 1, 0),
		"key length -2":             rec(0, 0, 0, 3, 1, 0),
		"key past record":           rec(0, 0, 0, 20, 'k', 1, 0),
		"value past record":         rec(0, 0, 0, 1, 20, 'v', 0),
		"value varint cut":          rec(0, 0, 0, 1, 0x80),
		"negative header count":     rec(0, 0, 0, 1, 1, 1),
		"huge header count":         rec(0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x07),
		"header count past record":  rec(0, 0, 0, 1, 1, 4, 0, 0),
		"null header key":           rec(0, 0, 0, 1, 1, 2, 1, 0),
		"header value past record":  rec(0, 0, 0, 1, 1, 2, 2, 'k', 10, 'v'),
		"trailing byte in record":   rec(append(bytes.Clone(valid), 0)...),
		"trailing bytes in section": append(rec(valid...), 0, 0),
		"missing headers field":     rec(0, 0, 0, 1, 2, 'v'),
	}
	for name, section := range cases {
		expectCorrupt(t, name, rawBatch(section, 1), ErrCorrupt)
	}
	two := append(rec(valid...), rec(valid...)...)
	expectCorrupt(t, "more records than count", rawBatch(two, 1), ErrCorrupt)
	expectCorrupt(t, "fewer records than count", rawBatch(rec(valid...), 2), ErrCorrupt)
}

func TestBadCompressedPayload(t *testing.T) {
	raw := kmsgRecords(sampleRecords(20, 50))
	for _, c := range allCodecs[1:] {
		z, err := Compress(c, raw)
		if err != nil {
			t.Fatal(err)
		}
		payloads := map[string][]byte{
			"garbage":    bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 50),
			"empty":      {},
			"truncated":  z[:len(z)/2],
			"cut by one": z[:len(z)-1],
			"flipped":    flip(z, len(z)/2),
			"wrong one":  mustCompress(t, (c%4)+1, raw), // another codec's output
			"trailing":   append(bytes.Clone(z), 1, 2, 3, 4, 5, 6, 7, 8, 9),
		}
		if c == Snappy {
			// Snappy has no checksum: a flipped literal goes unnoticed
			// (the batch CRC is what catches that), so flip a length.
			payloads["flipped"] = flip(z, len(xerialHeader)+2)
			payloads["xerial block cut"] = append(bytes.Clone(xerialHeader), 0, 0, 1, 0, 1, 2)
			payloads["xerial length cut"] = append(bytes.Clone(xerialHeader), 0, 0)
			payloads["xerial header cut"] = xerialHeader[:12]
		}
		for name, p := range payloads {
			if _, err := Decompress(c, p, 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s/%s: Decompress error %v", c, name, err)
			}
			b := kmsgBatch(sampleHeader(c, 20), 20, p)
			expectCorrupt(t, c.String()+"/"+name, b, ErrCorrupt)
		}
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x55
	return b
}

func mustCompress(t *testing.T, c Codec, raw []byte) []byte {
	z, err := Compress(c, raw)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// A small payload that expands far beyond the bound must fail with
// ErrTooLarge without allocating anything like its expanded size.
func TestDecompressionBomb(t *testing.T) {
	const expanded = 256 << 20
	chunk := make([]byte, 1<<20)
	stream := func(w io.WriteCloser, buf *bytes.Buffer) []byte {
		for range expanded / len(chunk) {
			w.Write(chunk)
		}
		w.Close()
		return buf.Bytes()
	}
	type bomb struct {
		c Codec
		z []byte
	}
	bombs := map[string]bomb{}
	var gz, l4, zs, zsFCS bytes.Buffer
	bombs["gzip"] = bomb{Gzip, stream(gzip.NewWriter(&gz), &gz)}
	bombs["lz4"] = bomb{LZ4, stream(lz4.NewWriter(&l4), &l4)}
	// Streaming producers write zstd frames without a content size, which
	// only fail while decoding; with a declared size they fail up front.
	zw, _ := zstd.NewWriter(&zs)
	bombs["zstd stream"] = bomb{Zstd, stream(zw, &zs)}
	zw, _ = zstd.NewWriter(nil)
	zw.ResetContentSize(&zsFCS, expanded)
	bombs["zstd sized"] = bomb{Zstd, stream(zw, &zsFCS)}
	// Snappy cannot beat about 20:1, so the bomb is smaller.
	bombs["snappy"] = bomb{Snappy, mustCompress(t, Snappy, make([]byte, 32<<20))}
	// Snappy blocks that merely claim a huge size.
	bombs["snappy claim"] = bomb{Snappy, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0}}
	x := bytes.Clone(xerialHeader)
	for range 100 {
		blk := []byte{0x80, 0x80, 0x80, 0x40, 0}
		x = binary.BigEndian.AppendUint32(x, uint32(len(blk)))
		x = append(x, blk...)
	}
	bombs["xerial claims"] = bomb{Snappy, x}

	const limit = 1 << 20
	for name, bm := range bombs {
		if len(bm.z) > 2<<20 {
			t.Fatalf("%s: bomb is %d bytes, not much of a bomb", name, len(bm.z))
		}
		Decompress(bm.c, bm.z, limit) // warm up pools and the shared zstd decoder
		allocated := allocs(func() {
			if _, err := Decompress(bm.c, bm.z, limit); !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s: Decompress error %v, want ErrTooLarge", name, err)
			}
		})
		// The output stops just past the limit. lz4 also needs a buffer
		// for one block (up to 4 MB, as the frame declares); zstd decodes
		// up to its decoder's floor bound (zstdMinLimit), growing its
		// output in small steps.
		bound := uint64(4 * limit)
		switch bm.c {
		case LZ4:
			bound += 4 << 20
		case Zstd:
			bound = 8 * zstdMinLimit
		}
		if allocated > bound && !raceEnabled {
			t.Errorf("%s: allocated %d bytes decompressing with a %d limit", name, allocated, limit)
		}
	}

	// Validate and Records apply MaxDecompressedSize.
	defer func(old int) { MaxDecompressedSize = old }(MaxDecompressedSize)
	MaxDecompressedSize = limit
	recs := []Record{{Value: make([]byte, 4*limit)}}
	for _, c := range allCodecs[1:] {
		b := mustBuild(t, sampleHeader(c, 1), recs)
		expectCorrupt(t, c.String()+" bomb batch", b, ErrTooLarge)
	}
}

func allocs(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Validate of an uncompressed batch must not allocate.
func TestValidateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	b := mustBuild(t, sampleHeader(None, 1000), sampleRecords(1000, 100))
	if n := testing.AllocsPerRun(20, func() { Validate(b) }); n != 0 {
		t.Fatalf("Validate allocates %v times per uncompressed batch", n)
	}
	z := mustBuild(t, sampleHeader(Zstd, 1000), sampleRecords(1000, 100))
	Validate(z)
	if n := testing.AllocsPerRun(20, func() { Validate(z) }); n > 2 {
		t.Fatalf("Validate allocates %v times per zstd batch", n)
	}
}
