package integration

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// staticMember is a franz-go member with a group.instance.id that counts
// its rebalance callbacks and what it reads.
type staticMember struct {
	cl *kgo.Client

	mu       sync.Mutex
	assigned [][]int32 // OnPartitionsAssigned, in order
	revoked  int       // OnPartitionsRevoked calls
	read     map[int32]int64
}

func startStaticMember(t *testing.T, addr, group, topic, instance string) *staticMember {
	m := &staticMember{read: map[int32]int64{}}
	m.cl = newClient(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.InstanceID(instance), kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			ps := slices.Clone(a[topic])
			slices.Sort(ps)
			m.assigned = append(m.assigned, ps)
		}),
		kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.revoked++
		}))
	return m
}

// poll reads what is ready within d.
func (m *staticMember) poll(ctx context.Context, d time.Duration) {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	fs := m.cl.PollFetches(pctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	fs.EachRecord(func(r *kgo.Record) { m.read[r.Partition]++ })
}

func (m *staticMember) callbacks() (assigned [][]int32, revoked int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.assigned), m.revoked
}

// byInstance maps group.instance.id to member id and assignment.
func byInstance(d kadm.DescribedGroup, topic string) (ids map[string]string, assigned map[string][]int32) {
	ids, assigned = map[string]string{}, map[string][]int32{}
	for _, m := range d.Members {
		if m.InstanceID != nil {
			ids[*m.InstanceID] = m.MemberID
			assigned[*m.InstanceID] = assignedPartitions(m, topic)
		}
	}
	return ids, assigned
}

// TestGroupStaticMemberRestart: a static member (group.instance.id) that
// closes (a static member sends no LeaveGroup) and comes back within its
// session timeout takes its old place: no rebalance — same generation for
// both members, the other member sees no revoke/assign, assignments
// unchanged — and it consumes exactly its old partitions.
func TestGroupStaticMemberRestart(t *testing.T) {
	b := startBroker(t, "", fastGroups)
	ctx := testContext(t, 90*time.Second)
	adm := newAdmin(t, b.Addr())
	const (
		topic, group = "static", "static"
		partitions   = 6
	)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	a := startStaticMember(t, b.Addr(), group, topic, "instance-a")
	bm := startStaticMember(t, b.Addr(), group, topic, "instance-b")
	var before kadm.DescribedGroup
	for {
		a.poll(ctx, 100*time.Millisecond)
		bm.poll(ctx, 100*time.Millisecond)
		var err error
		before, err = describeGroup(ctx, adm, group)
		// Both members must also have completed their SyncGroup (the
		// group is Stable once the leader's assignment is stored).
		_, genA := a.cl.GroupMetadata()
		_, genB := bm.cl.GroupMetadata()
		aa, _ := a.callbacks()
		ab, _ := bm.callbacks()
		if err == nil && balanced(before, topic, partitions, 2) && genA == genB && genA > 0 && len(aa) > 0 && len(ab) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("group never stabilised: %s (%v)", groupSummary(before, topic), err)
		}
	}
	idsBefore, assignedBefore := byInstance(before, topic)
	_, genBefore := bm.cl.GroupMetadata()
	bIDBefore, _ := bm.cl.GroupMetadata()
	bAssigned, bRevoked := bm.callbacks()
	t.Logf("generation %d: %s", genBefore, groupSummary(before, topic))

	a.cl.Close() // no LeaveGroup for a static member
	if d, err := describeGroup(ctx, adm, group); err != nil || len(d.Members) != 2 {
		t.Fatalf("after the static member closed: %s (%v)", groupSummary(d, topic), err)
	}

	a2 := startStaticMember(t, b.Addr(), group, topic, "instance-a")
	waitFor(t, ctx, "the restarted member to get its assignment", func() bool {
		a2.poll(ctx, 50*time.Millisecond)
		bm.poll(ctx, 50*time.Millisecond)
		as, _ := a2.callbacks()
		return len(as) > 0
	})
	after, err := describeGroup(ctx, adm, group)
	if err != nil {
		t.Fatal(err)
	}
	idsAfter, assignedAfter := byInstance(after, topic)
	t.Logf("after the restart: %s", groupSummary(after, topic))

	a2ID, a2Gen := a2.cl.GroupMetadata()
	bID, bGen := bm.cl.GroupMetadata()
	switch {
	case a2Gen != genBefore || bGen != genBefore:
		t.Fatalf("generation %d before, after the restart %d (restarted member) and %d (other member)", genBefore, a2Gen, bGen)
	case bID != bIDBefore:
		t.Fatalf("the other member's id changed: %s → %s", bIDBefore, bID)
	case after.State != "Stable" || !balanced(after, topic, partitions, 2):
		t.Fatalf("group after the restart: %s", groupSummary(after, topic))
	case !maps.EqualFunc(assignedBefore, assignedAfter, slices.Equal[[]int32]):
		t.Fatalf("assignments moved: %v → %v", assignedBefore, assignedAfter)
	case idsAfter["instance-a"] != a2ID || a2ID == idsBefore["instance-a"]:
		t.Fatalf("instance-a: member id %s before, %s after, restarted client has %s", idsBefore["instance-a"], idsAfter["instance-a"], a2ID)
	case idsAfter["instance-b"] != idsBefore["instance-b"]:
		t.Fatalf("instance-b: member id %s → %s", idsBefore["instance-b"], idsAfter["instance-b"])
	}
	if as, _ := a2.callbacks(); !slices.Equal(as[0], assignedBefore["instance-a"]) {
		t.Fatalf("restarted member assigned %v, had %v", as, assignedBefore["instance-a"])
	}

	// Records on every partition: each member reads exactly those of its
	// partitions, and the other member never went through a rebalance.
	produceValues(t, b.Addr(), topic, 0, 300)
	ends := endOffsets(t, ctx, adm, topic)
	want := func(instance string) map[int32]int64 {
		w := map[int32]int64{}
		for _, p := range assignedBefore[instance] {
			if ends[p] > 0 {
				w[p] = ends[p]
			}
		}
		return w
	}
	waitFor(t, ctx, "both members to read their partitions", func() bool {
		a2.poll(ctx, 50*time.Millisecond)
		bm.poll(ctx, 50*time.Millisecond)
		a2.mu.Lock()
		defer a2.mu.Unlock()
		bm.mu.Lock()
		defer bm.mu.Unlock()
		return maps.Equal(a2.read, want("instance-a")) && maps.Equal(bm.read, want("instance-b"))
	})
	if as, rs := bm.callbacks(); len(as) != len(bAssigned) || rs != bRevoked {
		t.Fatalf("the other member rebalanced: assigned %v → %v, revoked %d → %d times", bAssigned, as, bRevoked, rs)
	}
	if _, g := bm.cl.GroupMetadata(); g != genBefore {
		t.Fatalf("generation moved to %d", g)
	}
}
