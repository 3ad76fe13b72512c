package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func produceValues(t *testing.T, addr, topic string, from, to int) {
	t.Helper()
	ctx := testContext(t, time.Minute)
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
}

// TestConsumerGroupCommittedOffsetsSurviveRestart: a franz-go group consumer
// commits what it read; after a broker restart a new member of the group
// resumes from the committed offsets; kadm sees the group and its offsets.
func TestConsumerGroupCommittedOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	settings := map[string]string{"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"}
	b := startBroker(t, dir, settings)
	ctx := testContext(t, 2*time.Minute)
	if _, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 6, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	produceValues(t, b.Addr(), "events", 0, 600)
	consume := func(addr string, want int) map[string]int {
		cl := newClient(t, addr, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("events"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		got := map[string]int{}
		for n := 0; n < want; {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; n++ })
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		cl.Close() // leaves the group
		return got
	}
	if got := consume(b.Addr(), 600); len(got) != 600 {
		t.Fatalf("first pass read %d distinct records", len(got))
	}
	b.Close()

	b = startBroker(t, dir, settings)
	produceValues(t, b.Addr(), "events", 600, 700)
	got := consume(b.Addr(), 100)
	for v := range got {
		var i int
		fmt.Sscan(v, &i)
		if i < 600 {
			t.Fatalf("record %s read again after its offset was committed", v)
		}
	}
	if len(got) != 100 {
		t.Fatalf("second pass read %d distinct records, want 100", len(got))
	}
	adm := newAdmin(t, b.Addr())
	offs, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadmOffsetResponse) { total += o.At })
	if total != 700 {
		t.Fatalf("committed offsets sum to %d, want 700", total)
	}
	groups, err := adm.ListGroups(ctx)
	if _, ok := groups["g"]; err != nil || !ok {
		t.Fatalf("ListGroups: %v %v", groups, err)
	}
	dg, err := adm.DescribeGroups(ctx, "g")
	if err != nil || dg["g"].State != "Empty" {
		t.Fatalf("DescribeGroups: %+v %v", dg["g"], err)
	}
	if _, err := adm.DeleteGroups(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	offs, _ = adm.FetchOffsets(ctx, "g")
	offs.Each(func(o kadmOffsetResponse) {
		if o.At != -1 {
			t.Fatalf("offset %d left after DeleteGroups", o.At)
		}
	})
}

// TestConsumerGroupSharesPartitions: three franz-go members of one group
// split a 6-partition topic (each record read once, by one member), while a
// second group reads everything too (pub/sub).
func TestConsumerGroupSharesPartitions(t *testing.T) {
	b := startBroker(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"})
	ctx := testContext(t, 2*time.Minute)
	if _, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 6, 1, nil, "shared"); err != nil {
		t.Fatal(err)
	}
	var members []*kgo.Client
	for i := 0; i < 3; i++ {
		members = append(members, newClient(t, b.Addr(), kgo.ConsumerGroup("queue"), kgo.ConsumeTopics("shared"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Balancers(kgo.RangeBalancer())))
	}
	// Wait for one stable generation with all three members.
	adm := newAdmin(t, b.Addr())
	for {
		dg, err := adm.DescribeGroups(ctx, "queue")
		if err == nil && dg["queue"].State == "Stable" && len(dg["queue"].Members) == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("group never stabilised: %+v %v", dg["queue"], err)
		}
		for _, m := range members { // keep polling so members (re)join
			pctx, cancel := contextWithTimeout(ctx, 50*time.Millisecond)
			m.PollFetches(pctx)
			cancel()
		}
	}
	produceValues(t, b.Addr(), "shared", 0, 600)
	var mu sync.Mutex
	seen := map[string]int{}
	perMember := make([]int, 3)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func(i int, m *kgo.Client) {
			defer wg.Done()
			for {
				mu.Lock()
				done := len(seen) >= 600
				mu.Unlock()
				if done {
					return
				}
				pctx, cancel := contextWithTimeout(ctx, 200*time.Millisecond)
				fs := m.PollFetches(pctx)
				cancel()
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)]++
					perMember[i]++
					mu.Unlock()
				})
				if ctx.Err() != nil {
					return
				}
			}
		}(i, m)
	}
	wg.Wait()
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s read %d times within one group", v, n)
		}
	}
	if len(seen) != 600 {
		t.Fatalf("group read %d records", len(seen))
	}
	for i, n := range perMember {
		if n == 0 {
			t.Fatalf("member %d got no partitions: %v", i, perMember)
		}
	}
	// Another group gets everything as well.
	other := newClient(t, b.Addr(), kgo.ConsumerGroup("pubsub"), kgo.ConsumeTopics("shared"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	n := 0
	for n < 600 {
		fs := other.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
}
