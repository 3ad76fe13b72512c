package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupKafkaGoInterop: a kafka-go group reader (its own group protocol
// implementation, older JoinGroup/SyncGroup/OffsetCommit versions, range
// assignor) and a franz-go member (range balancer) share one group: they
// split the partitions, each record is read once by one of them, each reads
// only its own partitions, and both commit what they read.
func TestGroupKafkaGoInterop(t *testing.T) {
	b := startBroker(t, "", fastGroups)
	ctx := testContext(t, 90*time.Second)
	adm := newAdmin(t, b.Addr())
	const (
		topic, group = "interop", "interop"
		partitions   = 6
		n            = 600
	)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		readBy    = map[string][]string{} // value → readers
		partsOf   = map[string]map[int32]bool{"kafka-go": {}, "franz-go": {}}
		wg        sync.WaitGroup
		rctx, end = context.WithCancel(ctx)
	)
	record := func(who string, p int32, v []byte) {
		mu.Lock()
		defer mu.Unlock()
		readBy[string(v)] = append(readBy[string(v)], who)
		partsOf[who][p] = true
	}
	defer func() { end(); wg.Wait() }()

	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     []string{b.Addr()},
		GroupID:     group,
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		MaxWait:     500 * time.Millisecond,
		// CommitInterval 0: ReadMessage commits each message synchronously.
	})
	t.Cleanup(func() { reader.Close() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := reader.ReadMessage(rctx)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("kafka-go: %v", err)
				}
				return
			}
			record("kafka-go", int32(m.Partition), m.Value)
		}
	}()
	// kafka-go joins first (it becomes the leader and runs the assignment).
	waitGroup(t, ctx, adm, group, topic, "the kafka-go reader as member",
		func(d kadm.DescribedGroup) bool { return balanced(d, topic, partitions, 1) })

	franz := newClient(t, b.Addr(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.RangeBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for rctx.Err() == nil {
			fs := franz.PollFetches(rctx)
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("franz-go: fetch %s/%d: %v", topic, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { record("franz-go", r.Partition, r.Value) })
		}
	}()
	d := waitGroup(t, ctx, adm, group, topic, "both clients as balanced members",
		func(d kadm.DescribedGroup) bool { return balanced(d, topic, partitions, 2) })
	t.Logf("%s", groupSummary(d, topic))
	franzID, _ := franz.GroupMetadata()
	owned := map[string][]int32{}
	for _, m := range d.Members {
		who := "kafka-go"
		if m.MemberID == franzID {
			who = "franz-go"
		}
		owned[who] = assignedPartitions(m, topic)
	}
	if len(owned["kafka-go"]) == 0 || len(owned["franz-go"]) == 0 {
		t.Fatalf("assignment by client: %v (franz-go member %s)", owned, franzID)
	}

	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		v := fmt.Sprint(i)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(v)})
	}
	if err := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the group to read every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(readBy) >= n
	})
	if err := franz.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	end()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, r := range recs {
		if who := readBy[string(r.Value)]; len(who) != 1 {
			t.Fatalf("record %s (partition %d) read by %v", r.Value, r.Partition, who)
		}
	}
	if len(readBy) != n {
		t.Fatalf("read %d distinct records, produced %d", len(readBy), n)
	}
	for who, ps := range partsOf {
		if got := slices.Sorted(maps.Keys(ps)); !slices.Equal(got, owned[who]) {
			t.Fatalf("%s read partitions %v, was assigned %v", who, got, owned[who])
		}
	}
	// Both committed what they read (kafka-go after each message).
	ends := endOffsets(t, ctx, adm, topic)
	if got := committedOffsets(t, ctx, adm, group, topic); !maps.Equal(got, ends) {
		t.Fatalf("committed offsets %v, end offsets %v", got, ends)
	}
}
