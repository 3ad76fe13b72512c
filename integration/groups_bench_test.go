package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkGroupOffsetCommit measures OffsetCommit round trips (one
// partition per request, written to __consumer_offsets with acks=all before
// the answer) and reports their p50 and p99.
//
//	go test -run '^$' -bench BenchmarkGroupOffsetCommit ./integration/
func BenchmarkGroupOffsetCommit(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a broker")
	}
	br := startBroker(b, "", fastGroups)
	ctx := testContext(b, 5*time.Minute)
	const topic, group = "bench-commit", "bench-commit"
	if _, err := newAdmin(b, br.Addr()).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	cl := newClient(b, br.Addr())
	commit := func(offset int64) error {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = group, -1 // a commit outside group management
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl) // kgo sends it to the coordinator
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	// The first commit creates __consumer_offsets and waits for the
	// coordinator to load.
	for err := commit(0); err != nil; err = commit(0) {
		if ctx.Err() != nil {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := commit(int64(i + 1)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}

// TestGroupStabiliseAfterJoinTiming logs how long a group of 10 franz-go
// members (default settings: 3 s heartbeat interval) takes to be Stable
// with every member assigned again after an 11th joins, for the eager
// range balancer and the cooperative sticky one. No thresholds: it is a
// measurement, run with SAMSA_BENCH=1.
func TestGroupStabiliseAfterJoinTiming(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") != "1" {
		t.Skip("measurement: set SAMSA_BENCH=1")
	}
	b := startBroker(t, "", fastGroups)
	for _, tc := range []struct {
		name string
		bal  kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t, 2*time.Minute)
			adm := newAdmin(t, b.Addr())
			topic, group := "stabilise-"+tc.name, "stabilise-"+tc.name
			const partitions = 22 // two or more per member
			if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			pctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			defer func() { stop(); wg.Wait() }()
			join := func(onAssigned func()) {
				cl := newClient(t, b.Addr(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
					kgo.Balancers(tc.bal), kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
						if onAssigned != nil && len(a[topic]) > 0 {
							onAssigned()
						}
					}))
				wg.Add(1)
				go func() {
					defer wg.Done()
					for pctx.Err() == nil {
						cl.PollFetches(pctx)
					}
				}()
			}
			start := time.Now()
			for i := 0; i < 10; i++ {
				join(nil)
			}
			waitGroup(t, ctx, adm, group, topic, "10 balanced members",
				func(d kadm.DescribedGroup) bool { return balanced(d, topic, partitions, 10) })
			t.Logf("10 members stable after %v", time.Since(start).Round(time.Millisecond))

			var once sync.Once
			assigned := make(chan time.Duration, 1)
			start = time.Now()
			join(func() { once.Do(func() { assigned <- time.Since(start) }) })
			waitGroup(t, ctx, adm, group, topic, "11 balanced members",
				func(d kadm.DescribedGroup) bool { return balanced(d, topic, partitions, 11) })
			stable := time.Since(start)
			first := "never"
			select {
			case d := <-assigned:
				first = fmt.Sprint(d.Round(time.Millisecond))
			default:
			}
			t.Logf("%s: 11th member joined; group stable with every member assigned after %v (new member's first assignment after %s)",
				tc.name, stable.Round(time.Millisecond), first)
		})
	}
}
