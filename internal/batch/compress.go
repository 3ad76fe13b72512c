package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MaxDecompressedSize bounds the decompressed records section in Records and
// Validate, so that a small compressed batch cannot make the broker allocate
// gigabytes. It is far above what real producers send (their batches are
// bounded by max.message.bytes before compression and compress a few times at
// most). Set it once at startup, before any batch is decoded.
var MaxDecompressedSize = 128 << 20

// ErrTooLarge is returned when a records section decompresses to more than the
// allowed size.
var ErrTooLarge = fmt.Errorf("%w: decompressed records exceed the size limit", ErrCorrupt)

// Compress compresses src, a records section, with codec c. For None it
// returns src itself.
func Compress(c Codec, src []byte) ([]byte, error) {
	if c == None {
		return src, nil
	}
	return appendCompressed(nil, c, src)
}

// Decompress decompresses src, a records section compressed with codec c,
// into a new slice. More than maxSize bytes of output is an error wrapping
// ErrTooLarge (and so ErrCorrupt); the codecs stop before producing much more
// than that, so memory stays bounded whatever src claims. For None it returns
// src itself, subject to the same bound.
func Decompress(c Codec, src []byte, maxSize int) ([]byte, error) {
	if c == None {
		if len(src) > maxSize {
			return nil, ErrTooLarge
		}
		return src, nil
	}
	return appendDecompressed(nil, c, src, maxSize)
}

func errCodec(c Codec) error { return fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c) }

// appendCompressed appends src compressed with c to dst. Build uses it to
// compress straight behind the batch header, saving a copy.
func appendCompressed(dst []byte, c Codec, src []byte) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Gzip:
		e := gzipWriters.Get().(*gzipEncoder)
		defer gzipWriters.Put(e)
		return e.out.finish(dst, e.w, src)
	case Snappy:
		return appendXerial(dst, src), nil
	case LZ4:
		e := lz4Writers.Get().(*lz4Encoder)
		defer lz4Writers.Put(e)
		return e.out.finish(dst, e.w, src)
	case Zstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return nil, errCodec(c)
}

// appendDecompressed appends the decompression of src to dst, failing if that
// adds more than maxSize bytes. Every error wraps ErrCorrupt.
func appendDecompressed(dst []byte, c Codec, src []byte, maxSize int) ([]byte, error) {
	maxSize = max(maxSize, 0)
	var (
		out []byte
		err error
	)
	switch {
	case c == None:
		if len(src) > maxSize {
			return nil, ErrTooLarge
		}
		return append(dst, src...), nil
	case c < None || c > Zstd:
		return nil, errCodec(c)
	case len(src) == 0:
		// Every codec writes a header even for no input, but some readers
		// would return nothing for an empty stream instead of failing.
		return nil, fmt.Errorf("%w: empty %s payload", ErrCorrupt, c)
	}
	switch c {
	case Gzip:
		d := gzipReaders.Get().(*gzipDecoder)
		d.src.Reset(src)
		if err = d.r.Reset(&d.src); err == nil {
			out, err = readBounded(dst, &d.r, maxSize)
		}
		d.src.Reset(nil)
		gzipReaders.Put(d)
	case Snappy:
		out, err = appendSnappy(dst, src, maxSize)
	case LZ4:
		d := lz4Readers.Get().(*lz4Decoder)
		d.src.Reset(src)
		d.r.Reset(&d.src)
		out, err = readBounded(dst, d.r, maxSize)
		d.r.Reset(nil)
		d.src.Reset(nil)
		lz4Readers.Put(d)
	case Zstd:
		// A frame declaring its size lets a bomb fail before decoding.
		var fh zstd.Header
		if fh.Decode(src) == nil && fh.HasFCS && fh.FrameContentSize > uint64(maxSize) {
			return nil, ErrTooLarge
		}
		out, err = zstdDecoder(maxSize).DecodeAll(src, dst)
		// The decoder's own bound is looser than maxSize; see zstdDecoder.
		if err == nil && len(out)-len(dst) > maxSize {
			err = ErrTooLarge
		}
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, fmt.Errorf("%w: %s: %v", ErrTooLarge, c, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
	}
	return out, nil
}

// readBounded appends everything r yields to dst, failing once that exceeds
// maxSize. It grows dst geometrically but never beyond maxSize+1 new bytes, so a
// bomb costs at most that much memory.
func readBounded(dst []byte, r io.Reader, maxSize int) ([]byte, error) {
	start := len(dst)
	stalls := 0
	for {
		if len(dst) == cap(dst) {
			n := len(dst) - start
			grow := min(max(n, 4096), maxSize+1-n)
			if grow <= 0 {
				return nil, ErrTooLarge
			}
			dst = slices.Grow(dst, grow)
		}
		m, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+m]
		if len(dst)-start > maxSize {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			if stalls++; stalls > 100 {
				return nil, io.ErrNoProgress
			}
		}
	}
}

// sliceWriter is an io.Writer appending to a slice; pooled with the encoder
// that writes to it so a compression allocates neither.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type resetWriteCloser interface {
	io.WriteCloser
	Reset(io.Writer)
}

// finish runs one whole compression of src through zw, appending to dst.
func (w *sliceWriter) finish(dst []byte, zw resetWriteCloser, src []byte) ([]byte, error) {
	w.b = dst
	zw.Reset(w)
	_, err := zw.Write(src)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	out := w.b
	w.b = nil // do not keep the caller's buffer alive in the pool
	return out, err
}

type gzipEncoder struct {
	w   *gzip.Writer
	out sliceWriter
}

type lz4Encoder struct {
	w   *lz4.Writer
	out sliceWriter
}

type gzipDecoder struct {
	r   gzip.Reader
	src bytes.Reader
}

type lz4Decoder struct {
	r   *lz4.Reader
	src bytes.Reader
}

var (
	gzipWriters = sync.Pool{New: func() any {
		e := new(gzipEncoder)
		e.w, _ = gzip.NewWriterLevel(&e.out, gzip.DefaultCompression)
		return e
	}}
	lz4Writers = sync.Pool{New: func() any {
		e := new(lz4Encoder)
		e.w = lz4.NewWriter(&e.out)
		// 64 KB blocks like the Java producer: smaller buffers, and every
		// reader supports them.
		_ = e.w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ConcurrencyOption(1))
		return e
	}}
	gzipReaders = sync.Pool{New: func() any { return new(gzipDecoder) }}
	lz4Readers  = sync.Pool{New: func() any { return &lz4Decoder{r: lz4.NewReader(nil)} }}
)

// zstdEncoder is shared: EncodeAll is safe for concurrent use. Built on first
// use because it preallocates per-CPU state.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithZeroFrames(true))
	if err != nil {
		panic(err) // only on invalid options
	}
	return e
})

// zstdDecoders holds shared decoders (DecodeAll is safe for concurrent use),
// one per power-of-two output bound, since the bound is fixed when a decoder
// is created. Callers use one or two bounds, so few are ever built.
var (
	zstdDecoders  [64]atomic.Pointer[zstd.Decoder]
	zstdDecodersM sync.Mutex
)

// zstdMinLimit is the smallest bound a decoder gets. The decoder also rejects
// frames whose window exceeds its bound, and streaming producers declare
// windows of a few MB (zstd-jni at Kafka's default level: 2 MB) however small
// the content, so a tight bound would reject valid batches. The decoder stops
// at its bound and the caller's exact maxSize is checked afterwards, so a
// bomb costs at most max(maxSize, zstdMinLimit) rounded up to a power of two.
const zstdMinLimit = 8 << 20

func zstdDecoder(maxSize int) *zstd.Decoder {
	k := bits.Len64(uint64(max(maxSize, zstdMinLimit) - 1))
	if d := zstdDecoders[k].Load(); d != nil {
		return d
	}
	zstdDecodersM.Lock()
	defer zstdDecodersM.Unlock()
	if d := zstdDecoders[k].Load(); d != nil {
		return d
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(uint64(1)<<k))
	if err != nil {
		panic(err) // only on invalid options
	}
	zstdDecoders[k].Store(d)
	return d
}

// Snappy. The Java producer writes xerial framing: a 16-byte header (magic,
// version, compatible version) then blocks, each a 4-byte big-endian length
// and a raw snappy block. Other clients write one raw snappy block. Readers
// accept both, telling them apart by the magic, which cannot start a valid
// raw block.

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// xerialHeader is the magic, version 1 and minimum compatible version 1 (the
// Java reader rejects anything lower).
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

// xerialBlockSize is the uncompressed block size the Java stream writes.
const xerialBlockSize = 32 << 10

func appendXerial(dst, src []byte) []byte {
	dst = append(dst, xerialHeader...)
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		at := len(dst)
		dst = slices.Grow(dst, 4+snappy.MaxEncodedLen(n))
		// Encode straight into dst's spare room after the length slot.
		block := snappy.Encode(dst[at+4:cap(dst)], src[:n])
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(block)))
		dst = dst[:at+4+len(block)]
		src = src[n:]
	}
	return dst
}

// appendSnappy decodes a raw snappy block or an xerial stream. Every block
// declares its decoded length up front, so the total is checked against
// maxSize before anything is allocated. It uses the strict snappy decoder: the
// faster s2 decoder accepts s2 extensions that Java consumers would reject.
func appendSnappy(dst, src []byte, maxSize int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return appendSnappyBlock(dst, src, maxSize)
	}
	if len(src) < len(xerialHeader) {
		return nil, errors.New("short xerial header")
	}
	src = src[len(xerialHeader):]
	total := 0
	for rem := src; len(rem) > 0; {
		if len(rem) < 4 {
			return nil, errors.New("truncated xerial block length")
		}
		size := binary.BigEndian.Uint32(rem)
		rem = rem[4:]
		if uint64(size) > uint64(len(rem)) {
			return nil, errors.New("truncated xerial block")
		}
		l, err := snappy.DecodedLen(rem[:size])
		if err != nil {
			return nil, err
		}
		if total += l; total > maxSize {
			return nil, ErrTooLarge
		}
		rem = rem[size:]
	}
	dst = slices.Grow(dst, total)
	for len(src) > 0 {
		size := binary.BigEndian.Uint32(src)
		src = src[4:]
		var err error
		if dst, err = appendSnappyBlock(dst, src[:size], maxSize); err != nil {
			return nil, err
		}
		src = src[size:]
	}
	return dst, nil
}

func appendSnappyBlock(dst, src []byte, maxSize int) ([]byte, error) {
	l, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if l > maxSize {
		return nil, ErrTooLarge
	}
	dst = slices.Grow(dst, l)
	// With room for l bytes DecodeStrict decodes in place.
	if _, err := snappy.DecodeStrict(dst[len(dst):len(dst)+l], src); err != nil {
		return nil, err
	}
	return dst[:len(dst)+l], nil
}
