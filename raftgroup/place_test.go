package raftgroup

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func mdWith(racks map[int32]string) *Metadata {
	md := &Metadata{Brokers: map[int32]Broker{}, NextShardID: FirstPartitionShardID}
	for id, r := range racks {
		md.Brokers[id] = Broker{NodeID: id, Rack: r}
	}
	return md
}

func TestPlaceRoundRobin(t *testing.T) {
	md := mdWith(map[int32]string{1: "", 2: "", 3: ""})
	as, code := place(md, nil, 0, 6, 3, 0)
	if code != 0 {
		t.Fatal(code)
	}
	leaders := map[int32]int{}
	for i, a := range as {
		if a.ShardID != FirstPartitionShardID+uint64(i) || a.Partition != int32(i) {
			t.Fatalf("partition %d: %+v", i, a)
		}
		seen := map[int32]bool{}
		for _, r := range a.Replicas {
			if seen[r] {
				t.Fatalf("partition %d: replica %d twice: %v", i, r, a.Replicas)
			}
			seen[r] = true
		}
		leaders[a.Replicas[0]]++
	}
	if leaders[1] != 2 || leaders[2] != 2 || leaders[3] != 2 {
		t.Fatalf("leaders not spread: %v", leaders)
	}
	if _, code := place(md, nil, 0, 1, 4, 0); code != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("rf 4 on 3 brokers: %d", code)
	}
	// Only the live candidates are used.
	as, _ = place(md, []int32{1, 3}, 0, 4, 2, 0)
	for _, a := range as {
		for _, r := range a.Replicas {
			if r == 2 {
				t.Fatalf("placed on a broker that is not a candidate: %v", a.Replicas)
			}
		}
	}
}

func TestPlaceRackAware(t *testing.T) {
	md := mdWith(map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"})
	as, code := place(md, nil, 0, 12, 3, 7)
	if code != 0 {
		t.Fatal(code)
	}
	for _, a := range as {
		racks := map[string]bool{}
		for _, r := range a.Replicas {
			racks[md.Brokers[r].Rack] = true
		}
		if len(racks) != 3 {
			t.Fatalf("partition %d replicas %v span racks %v", a.Partition, a.Replicas, racks)
		}
	}
	// Two racks, rf 3: both racks used, no broker twice.
	md = mdWith(map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"})
	as, _ = place(md, nil, 0, 4, 3, 0)
	for _, a := range as {
		racks := map[string]bool{}
		seen := map[int32]bool{}
		for _, r := range a.Replicas {
			racks[md.Brokers[r].Rack] = true
			if seen[r] {
				t.Fatalf("replica twice: %v", a.Replicas)
			}
			seen[r] = true
		}
		if len(racks) != 2 || len(a.Replicas) != 3 {
			t.Fatalf("partition %d: %v", a.Partition, a.Replicas)
		}
	}
}
