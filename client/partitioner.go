package client

import (
	"math/rand/v2"
	"sync"
)

// Partitioner chooses a record's partition (partitioner.class). Partition
// is called with the topic's partition count (> 0) and must return a value
// in [0, n). Implementations must be goroutine-safe.
type Partitioner interface {
	Partition(r *Record, n int32) int32
}

// batchObserver is implemented by partitioners that want to know how many
// bytes went to a partition, to switch sticky partitions (KIP-794).
type batchObserver interface {
	onAppend(topic string, partition int32, bytes int, batchSize int)
}

// PartitionerFunc adapts a function to Partitioner.
type PartitionerFunc func(r *Record, n int32) int32

func (f PartitionerFunc) Partition(r *Record, n int32) int32 { return f(r, n) }

// murmur2 is Kafka's Utils.murmur2 (the Java client's key hash), so keyed
// records land on the same partition as a Java producer would put them.
func murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := length &^ 3
	switch length % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KeyPartition is the Java client's partition for a key:
// toPositive(murmur2(key)) % n.
func KeyPartition(key []byte, n int32) int32 {
	return (murmur2(key) & 0x7fffffff) % n
}

// DefaultPartitioner hashes keys with murmur2 like the Java client and
// spreads keyless records with the uniform sticky partitioner (KIP-794):
// one partition per topic until batch.size bytes went to it, then another,
// so keyless records fill batches instead of scattering.
func DefaultPartitioner() Partitioner { return &stickyPartitioner{hashKeys: true} }

// StickyPartitioner is the sticky partitioner for every record, ignoring keys.
func StickyPartitioner() Partitioner { return &stickyPartitioner{} }

// HashPartitioner partitions by murmur2 of the key; keyless records go to a
// random partition.
func HashPartitioner() Partitioner {
	return PartitionerFunc(func(r *Record, n int32) int32 {
		if r.Key == nil {
			return rand.Int32N(n)
		}
		return KeyPartition(r.Key, n)
	})
}

// RoundRobinPartitioner cycles through a topic's partitions record by record,
// keys ignored (the Java RoundRobinPartitioner).
func RoundRobinPartitioner() Partitioner {
	return &roundRobin{next: make(map[string]int32)}
}

// ManualPartitioner uses Record.Partition as given (an explicit partition).
func ManualPartitioner() Partitioner {
	return PartitionerFunc(func(r *Record, _ int32) int32 { return r.Partition })
}

type roundRobin struct {
	mu   sync.Mutex
	next map[string]int32
}

func (p *roundRobin) Partition(r *Record, n int32) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.next[r.Topic] % n
	p.next[r.Topic] = i + 1
	return i
}

type stickyPartitioner struct {
	hashKeys bool
	mu       sync.Mutex
	cur      map[string]*stickyState
}

type stickyState struct {
	partition int32
	n         int32
	bytes     int
}

func (p *stickyPartitioner) Partition(r *Record, n int32) int32 {
	if p.hashKeys && r.Key != nil {
		return KeyPartition(r.Key, n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		p.cur = make(map[string]*stickyState)
	}
	s := p.cur[r.Topic]
	if s == nil || s.partition >= n {
		s = &stickyState{partition: rand.Int32N(n), n: n}
		p.cur[r.Topic] = s
	}
	return s.partition
}

func (p *stickyPartitioner) onAppend(topic string, partition int32, bytes, batchSize int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.cur[topic]
	if s == nil || s.partition != partition {
		return
	}
	s.bytes += bytes
	if s.bytes >= batchSize && s.n > 1 {
		// Switch to another partition, never the same one again.
		np := rand.Int32N(s.n - 1)
		if np >= s.partition {
			np++
		}
		s.partition, s.bytes = np, 0
	}
}
