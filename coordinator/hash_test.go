package coordinator

import (
	"math/big"
	"testing"
	"unicode/utf16"
)

func TestPartitionForJavaHashCode(t *testing.T) {
	// Values of java.lang.String.hashCode, and the partition Kafka picks
	// with 50 partitions (offsets.topic.num.partitions' default).
	cases := []struct {
		group string
		hash  int32
		want  int32
	}{
		{"", 0, 0},
		{"a", 97, 47},
		{"Aa", 2112, 12},
		{"BB", 2112, 12}, // the classic collision
		{"hello", 99162322, 22},
		{"hello world", 1794106052, 2},
		// Integer.MIN_VALUE: Kafka's Utils.abs maps it to 0 (Math.abs would not).
		{"polygenelubricants", -2147483648, 0},
		{"é", 233, 33},
		// Outside the BMP: two UTF-16 code units (0xD83D, 0xDE00).
		{"😀", 55357*31 + 56832, 49},
	}
	for _, tc := range cases {
		if got := javaStringHash(tc.group); got != tc.hash {
			t.Errorf("hash(%q) = %d, want %d", tc.group, got, tc.hash)
		}
		if got := PartitionFor(tc.group, 50); got != tc.want {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.group, got, tc.want)
		}
	}
}

// TestPartitionForNegativeHashes checks the overflowing, negative hashes
// against the definition sum(s[i]*31^(n-1-i)) mod 2^32, computed exactly.
func TestPartitionForNegativeHashes(t *testing.T) {
	negatives := 0
	for _, s := range []string{"console-consumer-12345", "orders-consumer", "kafka-streams-app", "组消费者"} {
		units := utf16.Encode([]rune(s))
		sum := new(big.Int)
		for i, u := range units {
			p := new(big.Int).Exp(big.NewInt(31), big.NewInt(int64(len(units)-1-i)), nil)
			sum.Add(sum, p.Mul(p, big.NewInt(int64(u))))
		}
		want := int32(uint32(new(big.Int).Mod(sum, new(big.Int).Lsh(big.NewInt(1), 32)).Uint64()))
		if got := javaStringHash(s); got != want {
			t.Fatalf("hash(%q) = %d, want %d", s, got, want)
		}
		if want < 0 {
			negatives++
			abs := -int64(want)
			if got := PartitionFor(s, 50); int64(got) != abs%50 {
				t.Fatalf("PartitionFor(%q) = %d, want %d", s, got, abs%50)
			}
		}
	}
	if negatives == 0 {
		t.Fatal("no negative hash exercised")
	}
}
