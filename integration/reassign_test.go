package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// steadyProducer produces ids 0, 1, ... with acks=all at a modest pace until
// stop is called, which flushes and returns the acknowledged ids.
func steadyProducer(t *testing.T, ctx context.Context, addr, topic string) (stop func() map[uint64]bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addr, ",")...), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.ProduceRequestTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[uint64]bool{}
	var firstErr error
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for id := uint64(0); ; id++ {
			select {
			case <-done:
				return
			default:
			}
			id := id
			cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.FormatUint(id, 10)), Value: recordValue(id, 100)}, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				acked[id] = true
			})
			if id%500 == 499 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	return func() map[uint64]bool {
		close(done)
		<-finished
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil {
			t.Logf("first produce error: %v", firstErr)
		}
		return acked
	}
}

// TestClusterJoinAndReassignWhileProducing: a fourth broker joins a running
// three-broker cluster with --join; a partition on {1,2,3} moves to {2,3,4}
// (Raft membership changes) while a producer writes with acks=all. Every
// acknowledged record is readable afterwards from the new replicas alone,
// none twice, offsets contiguous, and broker 1 has dropped its copy.
func TestClusterJoinAndReassignWhileProducing(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t, 4*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "moving"
	// Three partitions: leaders round-robin, so one of them is led by
	// broker 1 and must hand leadership over before leaving.
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		waitISRPartition(t, ctx, c.procs[0].addr, topic, p, 3)
	}
	if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}, 1: {}, 2: {}}}); err != nil {
		t.Fatal(err)
	}
	if leaderOf(t, ctx, adm, topic, 0) != 1 && leaderOf(t, ctx, adm, topic, 1) != 1 && leaderOf(t, ctx, adm, topic, 2) != 1 {
		t.Fatal("broker 1 leads none of the partitions after a preferred election")
	}

	dir4, port4, raft4 := t.TempDir(), freePort(t), freePort(t)
	p4 := startProc(t, dir4, port4, raft4, "--node-id", "4", "--join", c.procs[1].addr)
	all := c.addrs(0) + "," + p4.addr
	for {
		md, err := newAdmin(t, all).BrokerMetadata(ctx)
		if err == nil && len(md.Brokers) == 4 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("broker 4 never joined: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	stop := steadyProducer(t, ctx, all, topic)
	time.Sleep(2 * time.Second)
	req := kadm.AlterPartitionAssignmentsReq{}
	for p := int32(0); p < 3; p++ {
		req.Assign(topic, p, []int32{2, 3, 4})
	}
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatal(err)
	}
	sawOngoing := false
	for {
		lr, err := newAdmin(t, all).ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}, 2: {}}})
		if err == nil {
			if len(lr) == 0 {
				if replicasAre(ctx, newAdmin(t, all), topic, []int32{2, 3, 4}) {
					break
				}
			}
			lr.Each(func(r kadm.ListPartitionReassignmentsResponse) {
				sawOngoing = true
				if !slices.Equal(r.AddingReplicas, []int32{4}) || !slices.Equal(r.RemovingReplicas, []int32{1}) {
					t.Errorf("reassignment in progress: adding %v removing %v, want [4] and [1]", r.AddingReplicas, r.RemovingReplicas)
				}
			})
		}
		if ctx.Err() != nil {
			t.Fatal("reassignment never finished")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sawOngoing {
		t.Error("ListPartitionReassignments never listed the reassignment while it ran")
	}
	time.Sleep(time.Second) // keep producing on the new replica set
	acked := stop()
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged")
	}

	if !replicasAre(ctx, newAdmin(t, all), topic, []int32{2, 3, 4}) {
		t.Fatal("replicas after reassignment are not [2 3 4]")
	}
	// Broker 1 no longer serves or stores the partition.
	c.procs[0].kill()
	rest := c.addrs(1) + "," + p4.addr
	for p := int32(0); p < 3; p++ {
		waitISRPartition(t, ctx, rest, topic, p, 3)
	}
	seen := readAll(t, ctx, rest, topic)
	for id := range acked {
		if !seen[id] {
			t.Fatalf("acknowledged id %d lost (%d acknowledged, %d read)", id, len(acked), len(seen))
		}
	}
	t.Logf("%d acknowledged, %d read after moving {1,2,3} → {2,3,4}", len(acked), len(seen))
	entries, _ := os.ReadDir(c.dirs[0])
	defer func() {
		// Broker 1 comes back and partition 0 moves back onto it: Raft
		// never reuses a removed replica ID, so it rejoins under a new one.
		c.procs[0] = c.start(t, 1)
		back := kadm.AlterPartitionAssignmentsReq{}
		back.Assign(topic, 0, []int32{1, 2, 3})
		if res, err := adm.AlterPartitionAssignments(ctx, back); err != nil || res.Error() != nil {
			t.Fatalf("moving back: %v %v", err, res.Error())
		}
		all := c.addrs(0) + "," + p4.addr
		for {
			td, err := newAdmin(t, all).ListTopics(ctx, topic)
			if err == nil && slices.Equal(td[topic].Partitions[0].Replicas, []int32{1, 2, 3}) && len(td[topic].Partitions[0].ISR) == 3 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("partition 0 never moved back to [1 2 3]: %+v", td[topic].Partitions)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got := readAll(t, ctx, all, topic); len(got) != len(seen) {
			t.Fatalf("after moving back: %d records, want %d", len(got), len(seen))
		}
	}()
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), topic+"-") {
			if _, err := os.Stat(filepath.Join(c.dirs[0], e.Name())); err == nil {
				t.Errorf("broker 1 still holds %s", e.Name())
			}
		}
	}
}

// replicasAre: every partition of topic has exactly these replicas, in order.
func replicasAre(ctx context.Context, adm *kadm.Client, topic string, want []int32) bool {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil || len(td[topic].Partitions) == 0 {
		return false
	}
	for _, p := range td[topic].Partitions {
		if !slices.Equal(p.Replicas, want) {
			return false
		}
	}
	return true
}
