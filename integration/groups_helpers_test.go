package integration

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Shared helpers of the groups_*_test.go files.

// fastGroups are broker settings that keep group tests short: no initial
// rebalance delay and few __consumer_offsets partitions.
var fastGroups = map[string]string{"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "3"}

// describeGroup asks the group's coordinator about the group.
func describeGroup(ctx context.Context, adm *kadm.Client, group string) (kadm.DescribedGroup, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dgs, err := adm.DescribeGroups(dctx, group)
	if err != nil {
		return kadm.DescribedGroup{}, err
	}
	d, ok := dgs[group]
	if !ok {
		return d, fmt.Errorf("group %s not in the DescribeGroups answer", group)
	}
	return d, d.Err
}

// assignedPartitions returns the partitions of topic in m's assignment,
// sorted.
func assignedPartitions(m kadm.DescribedGroupMember, topic string) []int32 {
	a, ok := m.Assigned.AsConsumer()
	if !ok {
		return nil
	}
	var out []int32
	for _, t := range a.Topics {
		if t.Topic == topic {
			out = append(out, t.Partitions...)
		}
	}
	slices.Sort(out)
	return out
}

// groupSummary renders a description for failure messages.
func groupSummary(d kadm.DescribedGroup, topic string) string {
	s := fmt.Sprintf("state=%s protocol=%s members=%d:", d.State, d.Protocol, len(d.Members))
	for _, m := range d.Members {
		inst := ""
		if m.InstanceID != nil {
			inst = " instance=" + *m.InstanceID
		}
		s += fmt.Sprintf(" [%s%s %v]", m.MemberID, inst, assignedPartitions(m, topic))
	}
	return s
}

// balanced reports whether the group is Stable with exactly members members,
// each owning at least one partition of topic, and each of the topic's
// partitions owned by exactly one member.
func balanced(d kadm.DescribedGroup, topic string, partitions, members int) bool {
	if d.State != "Stable" || len(d.Members) != members {
		return false
	}
	owners := make(map[int32]int)
	for _, m := range d.Members {
		ps := assignedPartitions(m, topic)
		if len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			owners[p]++
		}
	}
	if len(owners) != partitions {
		return false
	}
	for p, n := range owners {
		if n != 1 || p < 0 || int(p) >= partitions {
			return false
		}
	}
	return true
}

// waitGroup polls DescribeGroups until ok holds and returns that
// description; it fails the test when ctx ends first.
func waitGroup(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic, what string, ok func(kadm.DescribedGroup) bool) kadm.DescribedGroup {
	t.Helper()
	var (
		d   kadm.DescribedGroup
		err error
	)
	for {
		d, err = describeGroup(ctx, adm, group)
		if err == nil && ok(d) {
			return d
		}
		if ctx.Err() != nil {
			t.Fatalf("group %s never got %s: %s (last error %v)", group, what, groupSummary(d, topic), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls cond every 20ms until it holds or ctx ends (then it fails
// the test with what).
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stream produces small batches of uniquely valued records to topic until
// stopped, and remembers which were acknowledged.
type stream struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	acked map[string]bool
}

func startStream(t *testing.T, ctx context.Context, addr, topic, prefix string) *stream {
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	sctx, cancel := context.WithCancel(ctx)
	s := &stream{t: t, cancel: cancel, done: make(chan struct{}), acked: make(map[string]bool)}
	go func() {
		defer close(s.done)
		for i := 0; sctx.Err() == nil; {
			var recs []*kgo.Record
			for j := 0; j < 10; j, i = j+1, i+1 {
				v := prefix + strconv.Itoa(i)
				recs = append(recs, &kgo.Record{Key: []byte(v), Value: []byte(v)})
			}
			// Not sctx: a batch in flight when the stream stops must be
			// acknowledged or fail, not be abandoned half-written.
			pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
			res := cl.ProduceSync(pctx, recs...)
			pcancel()
			s.mu.Lock()
			for _, r := range res {
				if r.Err != nil {
					t.Errorf("produce %s: %v", r.Record.Value, r.Err)
					continue
				}
				s.acked[string(r.Record.Value)] = true
			}
			s.mu.Unlock()
			select {
			case <-sctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return s
}

// stop ends the stream and returns the acknowledged values.
func (s *stream) stop() map[string]bool {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}

// endOffsets returns the end offset of every partition of topic.
func endOffsets(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("ListEndOffsets %s: %v", topic, err)
	}
	out := make(map[int32]int64)
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// committedOffsets returns the group's committed offsets for topic.
func committedOffsets(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatalf("FetchOffsets %s: %v", group, err)
	}
	out := make(map[int32]int64)
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}
