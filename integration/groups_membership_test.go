package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// processed records what the members of a group processed.
type processed struct {
	mu       sync.Mutex
	byOffset map[string]string // "partition/offset" → member
	byValue  map[string]int
	byMember map[string]int
	dups     []string
	// closing: the test is over; commits on revoke may race the rebalances
	// of members closing one after the other.
	closing atomic.Bool
}

func newProcessed() *processed {
	return &processed{byOffset: map[string]string{}, byValue: map[string]int{}, byMember: map[string]int{}}
}

func (p *processed) add(member string, recs []*kgo.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
		if prev, ok := p.byOffset[k]; ok {
			p.dups = append(p.dups, fmt.Sprintf("%s (%s) by %s, earlier by %s", k, r.Value, member, prev))
		}
		p.byOffset[k] = member
		p.byValue[string(r.Value)]++
		p.byMember[member]++
	}
}

func (p *processed) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byValue)
}

func (p *processed) of(member string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byMember[member]
}

// eoMember is a group member following franz-go's pattern for processing
// each record once across rebalances: BlockRebalanceOnPoll, so no
// rebalance runs between a poll and AllowRebalance; records are marked once
// processed (AutoCommitMarks) and the marks are committed when partitions
// are revoked, before anybody else can be assigned them.
type eoMember struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startEOMember(t *testing.T, ctx context.Context, addr, group, topic, name string, bal kgo.GroupBalancer, p *processed) *eoMember {
	cl := newClient(t, addr,
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(bal),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(), kgo.AutoCommitMarks(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil && !p.closing.Load() {
				t.Errorf("%s: commit on revoke of %v: %v", name, revoked, err)
			}
		}),
	)
	mctx, cancel := context.WithCancel(ctx)
	m := &eoMember{name: name, cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollRecords(mctx, 500)
			recs := fs.Records()
			p.add(name, recs) // "processing"
			cl.MarkCommitRecords(recs...)
			cl.AllowRebalance()
			if mctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			fs.EachError(func(topic string, part int32, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s: fetch %s/%d: %v", name, topic, part, err)
				}
			})
		}
	}()
	return m
}

// stopPolling ends the member's processing loop.
func (m *eoMember) stopPolling() {
	m.cancel()
	<-m.done
}

// leave stops processing and closes the client: franz-go revokes every
// partition (our callback commits the marks) and sends LeaveGroup.
func (m *eoMember) leave() {
	m.stopPolling()
	m.cl.Close()
}

// TestGroupMembersJoinAndLeaveExactlyOnce: while records are produced
// continuously, franz-go members join and leave a group on a 6-partition
// topic (1 member, then 3, then 2, then 3 again); they commit what they
// processed when partitions are revoked. Every record is processed exactly
// once by the group, for the eager range balancer and for the cooperative
// sticky one, and the final commits equal the end offsets.
func TestGroupMembersJoinAndLeaveExactlyOnce(t *testing.T) {
	b := startBroker(t, "", fastGroups)
	for _, tc := range []struct {
		name string
		bal  kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t, 90*time.Second)
			topic, group := "eo-"+tc.name, "eo-"+tc.name
			adm := newAdmin(t, b.Addr())
			const partitions = 6
			if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			p := newProcessed()
			s := startStream(t, ctx, b.Addr(), topic, tc.name+"-")
			members := map[string]*eoMember{}
			add := func(names ...string) {
				for _, n := range names {
					members[n] = startEOMember(t, ctx, b.Addr(), group, topic, n, tc.bal, p)
				}
			}
			// settle waits for a balanced group of n members, then until
			// each named member processed records (its partitions moved to
			// it and it consumes them).
			settle := func(n int, names ...string) {
				t.Helper()
				d := waitGroup(t, ctx, adm, group, topic, fmt.Sprintf("%d balanced members", n),
					func(d kadm.DescribedGroup) bool { return balanced(d, topic, partitions, n) })
				t.Logf("%s", groupSummary(d, topic))
				before := map[string]int{}
				for _, name := range names {
					before[name] = p.of(name)
				}
				waitFor(t, ctx, fmt.Sprintf("%v to process records", names), func() bool {
					for _, name := range names {
						if p.of(name) <= before[name] {
							return false
						}
					}
					return true
				})
			}
			start := time.Now()
			add("m1")
			settle(1, "m1")
			add("m2", "m3")
			settle(3, "m1", "m2", "m3")
			members["m2"].leave()
			delete(members, "m2")
			settle(2, "m1", "m3")
			add("m4")
			settle(3, "m1", "m3", "m4")

			acked := s.stop()
			t.Logf("%d records produced in %v", len(acked), time.Since(start))
			waitFor(t, ctx, "the group to process every record", func() bool { return p.total() >= len(acked) })
			for _, m := range members {
				m.stopPolling()
			}
			// The group is stable: commit what was processed last, then
			// check the commits cover exactly what was produced.
			for _, n := range slices.Sorted(maps.Keys(members)) {
				if err := members[n].cl.CommitMarkedOffsets(ctx); err != nil {
					t.Fatalf("%s: final commit: %v", n, err)
				}
			}

			p.closing.Store(true)
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.dups) > 0 {
				t.Fatalf("%d records processed twice, first: %v", len(p.dups), p.dups[:min(5, len(p.dups))])
			}
			for v := range acked {
				if p.byValue[v] != 1 {
					t.Fatalf("record %s processed %d times", v, p.byValue[v])
				}
			}
			if len(p.byValue) != len(acked) {
				t.Fatalf("processed %d distinct records, %d were acknowledged", len(p.byValue), len(acked))
			}
			t.Logf("per member: %v", p.byMember)
			ends := endOffsets(t, ctx, adm, topic)
			var sum int64
			for _, o := range ends {
				sum += o
			}
			if sum != int64(len(acked)) {
				t.Fatalf("log holds %d records, %d acknowledged", sum, len(acked))
			}
			if got := committedOffsets(t, ctx, adm, group, topic); !maps.Equal(got, ends) {
				t.Fatalf("committed offsets %v, end offsets %v", got, ends)
			}
		})
	}
}
