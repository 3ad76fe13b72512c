package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzInputs returns data and, when it is long enough, a copy with the length,
// magic and CRC fixed up: random mutations almost never keep a valid CRC, and
// without the fix-up the fuzzer would never get past it into the records.
func fuzzInputs(data []byte) [][]byte {
	ins := [][]byte{data}
	if len(data) >= HeaderSize {
		b := bytes.Clone(data)
		binary.BigEndian.PutUint32(b[posLength:], uint32(len(b)-LogOverhead))
		b[posMagic] = 2
		ins = append(ins, fixCRC(b))
	}
	return ins
}

// smallLimit keeps decompression bombs among fuzz inputs cheap.
func smallLimit(f *testing.F) {
	old := MaxDecompressedSize
	MaxDecompressedSize = 1 << 20
	f.Cleanup(func() { MaxDecompressedSize = old })
}

func checkErr(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("%s: error %v wraps neither ErrCorrupt nor ErrUnsupportedMagic", what, err)
	}
}

func FuzzValidate(f *testing.F) {
	smallLimit(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range fuzzInputs(data) {
			h, err := Validate(b)
			if err != nil {
				checkErr(t, "Validate", err)
				continue
			}
			rh, recs, err := Records(b)
			if err != nil {
				t.Fatalf("Validate accepted a batch Records rejects: %v", err)
			}
			if rh != h || len(recs) != int(h.NumRecords) || h.NumRecords <= 0 || h.LastOffsetDelta != h.NumRecords-1 {
				t.Fatalf("Validate header %+v, Records header %+v with %d records", h, rh, len(recs))
			}
			for i, r := range recs {
				if r.OffsetDelta != int32(i) {
					t.Fatalf("record %d has offset delta %d", i, r.OffsetDelta)
				}
			}
		}
	})
}

func FuzzRecords(f *testing.F) {
	smallLimit(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range fuzzInputs(data) {
			// Reads the same bytes; must never panic, and must agree with
			// Records on a well-formed batch.
			tp, tpOK := FirstRecordHeader(b, "traceparent")
			h, recs, err := Records(b)
			if err != nil {
				checkErr(t, "Records", err)
				continue
			}
			if len(recs) > 0 {
				var want []byte
				for _, rh := range recs[0].Headers {
					if rh.Key == "traceparent" && rh.Value != nil && want == nil {
						want = rh.Value
					}
				}
				if (want != nil) != tpOK || !bytes.Equal(want, tp) {
					t.Fatalf("FirstRecordHeader %q %v, first record's header %q", tp, tpOK, want)
				}
			}
			if len(recs) != int(h.NumRecords) {
				t.Fatalf("%d records, header says %d", len(recs), h.NumRecords)
			}
			// Re-encoding must give back the same header and records,
			// and Validate must judge both encodings alike.
			b2, err := Build(h, recs)
			if err != nil {
				t.Fatalf("Build of decoded records: %v", err)
			}
			h2, recs2, err := Records(b2)
			if err != nil {
				t.Fatalf("Records of rebuilt batch: %v", err)
			}
			h2.Length, h2.CRC = h.Length, h.CRC
			if h2 != h {
				t.Fatalf("rebuilt header %+v, want %+v", h2, h)
			}
			equalRecords(t, recs2, recs)
			_, err1 := Validate(b)
			_, err2 := Validate(b2)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("Validate: original %v, rebuilt %v", err1, err2)
			}
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data)
		if err != nil {
			checkErr(t, "ParseHeader", err)
			if _, _, _, err := Next(data); err == nil {
				t.Fatal("Next accepted what ParseHeader rejects")
			}
			return
		}
		if len(data) < HeaderSize || h.Magic != 2 || h.Size() < HeaderSize {
			t.Fatalf("accepted header %+v from %d bytes", h, len(data))
		}
		var enc [HeaderSize]byte
		putHeader(enc[:], &h)
		if !bytes.Equal(enc[:], data[:HeaderSize]) {
			t.Fatalf("header %+v does not re-encode to its bytes", h)
		}
		first, rest, nh, err := Next(data)
		switch {
		case h.Size() > len(data):
			if err == nil {
				t.Fatal("Next accepted a truncated batch")
			}
		case err != nil || nh != h || len(first) != h.Size() || len(first)+len(rest) != len(data):
			t.Fatalf("Next: %v, %d+%d bytes of %d", err, len(first), len(rest), len(data))
		}
		if _, err := CheckCRC(data); err != nil {
			checkErr(t, "CheckCRC", err)
		}
		_ = h.LastSequence()
	})
}

// seedBatches are the committed fuzz seeds: small valid batches of every
// codec and framing, and a few broken ones.
func seedBatches(t testing.TB) map[string][]byte {
	recs := sampleRecords(4, 12)
	raw := kmsgRecords(recs)
	seeds := map[string][]byte{}
	for _, c := range allCodecs {
		seeds["valid-"+c.String()] = mustBuild(t, sampleHeader(c, len(recs)), recs)
	}
	seeds["valid-snappy-raw"] = kmsgBatch(sampleHeader(Snappy, len(recs)), len(recs), compressOther(t, Snappy, "kgo", raw))
	seeds["valid-lz4-kgo"] = kmsgBatch(sampleHeader(LZ4, len(recs)), len(recs), compressOther(t, LZ4, "kgo", raw))
	seeds["valid-gzip-stdlib"] = kmsgBatch(sampleHeader(Gzip, len(recs)), len(recs), compressOther(t, Gzip, "other", raw))

	ctl := sampleHeader(None, 1)
	ctl.Attributes |= AttrControl | AttrTransactional
	seeds["valid-control"] = mustBuild(t, ctl, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 5}}})
	seeds["records-only-compacted"] = mustBuild(t, sampleHeader(Zstd, 9), []Record{recs[0], recs[3]})
	seeds["records-only-empty"] = mustBuild(t, sampleHeader(None, 4), nil)

	good := seeds["valid-none"]
	b := bytes.Clone(good)
	b[posCRC] ^= 1
	seeds["corrupt-crc"] = b
	seeds["corrupt-truncated"] = good[:len(good)-3]
	b = bytes.Clone(good)
	binary.BigEndian.PutUint32(b[posNumRecords:], 5)
	seeds["corrupt-count"] = fixCRC(b)
	b = bytes.Clone(good)
	b[HeaderSize] = 0xff // the first record length becomes a long varint
	seeds["corrupt-varint"] = fixCRC(b)
	b = bytes.Clone(seeds["valid-zstd"])
	b[len(b)-5] ^= 0xff
	seeds["corrupt-zstd-payload"] = fixCRC(b)
	b = bytes.Clone(good)
	b[posMagic] = 1
	seeds["magic-1"] = b
	return seeds
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from seedBatches when
// BATCH_WRITE_CORPUS is set; otherwise it checks the committed seeds are
// there, so a rename of a fuzz target does not silently orphan them.
func TestWriteFuzzCorpus(t *testing.T) {
	write := os.Getenv("BATCH_WRITE_CORPUS") != ""
	for name, b := range seedBatches(t) {
		for _, target := range []string{"FuzzValidate", "FuzzRecords", "FuzzParseHeader"} {
			path := filepath.Join("testdata", "fuzz", target, "seed-"+name)
			if !write {
				if _, err := os.Stat(path); err != nil {
					t.Errorf("missing seed %s (run with BATCH_WRITE_CORPUS=1)", path)
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The seeds are what their names say.
func TestSeeds(t *testing.T) {
	for name, b := range seedBatches(t) {
		_, verr := Validate(b)
		_, _, rerr := Records(b)
		switch {
		case strings.HasPrefix(name, "valid-"):
			if verr != nil || rerr != nil {
				t.Errorf("%s: Validate %v, Records %v", name, verr, rerr)
			}
		case strings.HasPrefix(name, "records-only-"):
			if verr == nil || rerr != nil {
				t.Errorf("%s: Validate %v, Records %v", name, verr, rerr)
			}
		default:
			if verr == nil || rerr == nil {
				t.Errorf("%s: Validate %v, Records %v", name, verr, rerr)
			}
		}
	}
}
