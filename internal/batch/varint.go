package batch

// Kafka record fields use zigzag varints: int32 values in at most 5 bytes,
// int64 values in at most 10. The readers return n > 0 on success, n == 0 if
// b ends inside the varint and n < 0 if it is too long or overflows; they
// reject encodings no Kafka client produces (a 5th byte above 0x0f, a 10th
// above 0x01) so every accepted value has exactly one meaning.

func zigzag32(x uint32) int32 { return int32(x>>1) ^ -int32(x&1) }
func zigzag64(x uint64) int64 { return int64(x>>1) ^ -int64(x&1) }

// readVarint is unrolled for speed: Validate spends most of its time here.
// With 5 bytes available no byte needs its own bounds check.
func readVarint(b []byte) (int32, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return zigzag32(uint32(b[0])), 1
	}
	if len(b) < 5 {
		return readVarintShort(b)
	}
	x := uint32(b[0])
	c := uint32(b[1])
	x = x&0x7f | c<<7
	if c < 0x80 {
		return zigzag32(x), 2
	}
	c = uint32(b[2])
	x = x&(1<<14-1) | c<<14
	if c < 0x80 {
		return zigzag32(x), 3
	}
	c = uint32(b[3])
	x = x&(1<<21-1) | c<<21
	if c < 0x80 {
		return zigzag32(x), 4
	}
	c = uint32(b[4])
	if c > 0x0f {
		return 0, -1
	}
	return zigzag32(x&(1<<28-1) | c<<28), 5
}

func readVarintShort(b []byte) (int32, int) {
	var x uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		if c < 0x80 {
			if i == 4 && c > 0x0f {
				return 0, -1
			}
			x |= uint32(c) << (7 * i)
			return zigzag32(x), i + 1
		}
		x |= uint32(c&0x7f) << (7 * i)
	}
	return 0, -1
}

func readVarlong(b []byte) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return zigzag64(uint64(b[0])), 1
	}
	var x uint64
	for i := 0; i < 10; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		if c < 0x80 {
			if i == 9 && c > 0x01 {
				return 0, -1
			}
			x |= uint64(c) << (7 * i)
			return zigzag64(x), i + 1
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	return 0, -1
}

func appendUvarint(dst []byte, x uint64) []byte {
	for x >= 0x80 {
		dst = append(dst, byte(x)|0x80)
		x >>= 7
	}
	return append(dst, byte(x))
}

func appendVarint(dst []byte, v int32) []byte {
	return appendUvarint(dst, uint64(uint32(v<<1)^uint32(v>>31)))
}

func appendVarlong(dst []byte, v int64) []byte {
	return appendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

func uvarintSize(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintSize(v int32) int  { return uvarintSize(uint64(uint32(v<<1) ^ uint32(v>>31))) }
func varlongSize(v int64) int { return uvarintSize(uint64(v<<1) ^ uint64(v>>63)) }
