package batch

import (
	"math/rand/v2"
	"testing"
)

// benchRecords is 1000 records with 100-byte values of random lowercase text
// (compressible about 1.6:1, like typical payloads) and short keys.
func benchRecords() []Record {
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]Record, 1000)
	for i := range recs {
		v := make([]byte, 100)
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte("key"), Value: v}
	}
	return recs
}

// BenchmarkValidate reports throughput in uncompressed batch bytes, so the
// codecs compare on the work done rather than the bytes received.
func BenchmarkValidate(b *testing.B) {
	recs := benchRecords()
	plain := mustBuild(b, sampleHeader(None, len(recs)), recs)
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			batch := mustBuild(b, sampleHeader(c, len(recs)), recs)
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(batch)), "wire-bytes")
		})
	}
}

func BenchmarkRecords(b *testing.B) {
	recs := benchRecords()
	plain := mustBuild(b, sampleHeader(None, len(recs)), recs)
	for _, c := range []Codec{None, Zstd} {
		b.Run(c.String(), func(b *testing.B) {
			batch := mustBuild(b, sampleHeader(c, len(recs)), recs)
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Records(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	recs := benchRecords()
	plain := mustBuild(b, sampleHeader(None, len(recs)), recs)
	for _, c := range []Codec{None, Zstd} {
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				mustBuild(b, sampleHeader(c, len(recs)), recs)
			}
		})
	}
}
