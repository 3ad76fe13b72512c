package coordinator

import (
	"math"
	"unicode/utf16"
)

// PartitionFor returns the __consumer_offsets partition that owns groupID:
// Kafka's Utils.abs(groupId.hashCode()) % numPartitions. The hash is Java's
// String.hashCode over UTF-16 code units, so that Samsa and Kafka brokers (and
// every client or tool that computes it) agree on a group's coordinator.
// numPartitions must be positive.
func PartitionFor(groupID string, numPartitions int32) int32 {
	if numPartitions <= 0 {
		panic("coordinator: PartitionFor with a non-positive partition count")
	}
	return javaAbs(javaStringHash(groupID)) % numPartitions
}

// javaStringHash is java.lang.String.hashCode: s[0]*31^(n-1) + ... + s[n-1]
// over UTF-16 code units with int32 overflow.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + int32(hi)
			h = 31*h + int32(lo)
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// javaAbs is Kafka's Utils.abs, which maps Integer.MIN_VALUE to 0 (unlike
// Math.abs, which would return it unchanged and negative).
func javaAbs(n int32) int32 {
	if n == math.MinInt32 {
		return 0
	}
	if n < 0 {
		return -n
	}
	return n
}
