package integration

import (
	"context"
	"encoding/binary"
	"maps"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupCoordinatorFailover: three broker processes, __consumer_offsets
// with 3 partitions replicated 3 times. A member commits its offsets; kill
// -9 of the broker leading the group's __consumer_offsets partition moves
// the coordinator to a survivor, which has the committed offsets and the
// group's membership. kadm's lag is exactly the records produced after the
// commit, and a new member resumes right after the committed offsets: it
// reads exactly those records, once each.
func TestGroupCoordinatorFailover(t *testing.T) {
	c := startCluster(t, 3, "--set", "offsets.topic.num.partitions=3", "--set", "group.initial.rebalance.delay.ms=0")
	ctx := testContext(t, 3*time.Minute)
	const (
		topic, group = "failover", "failover"
		partitions   = 3
		first, more  = 300, 200
	)
	adm := newAdmin(t, c.addrs(0))
	if _, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, topic, 3)
	if got := produceN(t, ctx, c.addrs(0), topic, 0, first, 0, nil); len(got) != first {
		t.Fatalf("%d of %d acknowledged", len(got), first)
	}

	// A member reads everything and commits it.
	m1 := newClient(t, c.addrs(0), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	for n := 0; n < first; {
		fs := m1.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if err := m1.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	m1ID, _ := m1.GroupMetadata()
	committed := committedOffsets(t, ctx, adm, group, topic)
	var sum int64
	for _, o := range committed {
		sum += o
	}
	if sum != first {
		t.Fatalf("committed offsets %v sum to %d, want %d", committed, sum, first)
	}
	if got := produceN(t, ctx, c.addrs(0), topic, first, first+more, 0, nil); len(got) != more {
		t.Fatalf("%d of %d acknowledged", len(got), more)
	}
	ends := endOffsets(t, ctx, adm, topic)

	// The coordinator's partition must be fully replicated before the kill
	// (acks=all only promises a majority).
	for {
		td, err := adm.ListTopics(ctx, "__consumer_offsets")
		ps := td["__consumer_offsets"].Partitions
		full := err == nil && len(ps) == 3
		for _, p := range ps {
			full = full && len(p.ISR) == 3
		}
		if full {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("__consumer_offsets never fully in sync: %+v %v", ps, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fc := adm.FindGroupCoordinators(ctx, group)
	coord, ok := fc[group]
	if !ok || coord.Err != nil || coord.NodeID < 1 {
		t.Fatalf("FindCoordinator: %+v", fc)
	}
	victim := coord.NodeID
	c.procs[victim-1].kill()
	t.Logf("killed broker %d, the coordinator of %s", victim, group)
	rest := c.addrs(int(victim))

	// The lag, through the new coordinator: exactly the records after
	// the commit. The member is still in the group.
	var lag kadm.DescribedGroupLag
	killed := time.Now()
	for {
		// A fresh client each time: franz-go keeps a coordinator it found
		// for sharded admin requests (DescribeGroups) even when that
		// broker no longer accepts connections, and right after the kill
		// the survivors may still name the dead broker.
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(rest, ",")...))
		if err != nil {
			t.Fatal(err)
		}
		adm = kadm.NewClient(cl)
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		lags, err := adm.Lag(lctx, group)
		cancel()
		lag = lags[group]
		if err == nil && lag.Error() == nil && lag.Coordinator.NodeID != victim && lag.State == "Stable" {
			t.Cleanup(cl.Close)
			break
		}
		cl.Close()
		if ctx.Err() != nil {
			t.Fatalf("no lag after the failover: %v %v (%+v)", err, lag.Error(), lag)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("broker %d coordinates after %v", lag.Coordinator.NodeID, time.Since(killed).Round(time.Millisecond))
	if total := lag.Lag.Total(); total != more {
		t.Fatalf("lag %d after the failover, want %d: %+v", total, more, lag.Lag)
	}
	for p := int32(0); p < partitions; p++ {
		l, ok := lag.Lag.Lookup(topic, p)
		if !ok || l.Commit.At != committed[p] || l.End.Offset != ends[p] || l.Lag != ends[p]-committed[p] {
			t.Fatalf("partition %d: %+v; committed %d, end %d", p, l, committed[p], ends[p])
		}
	}
	// And as an operator sees it: samsa groups describe.
	out, err := exec.Command(samsaBinary(t), "groups", "describe", group, "--brokers", rest).Output()
	if err != nil {
		t.Fatalf("samsa groups describe: %v\n%s", err, out)
	}
	cliLag := int64(0)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == group && f[1] == topic {
			n, err := strconv.ParseInt(f[5], 10, 64)
			if err != nil {
				t.Fatalf("LAG column %q in %q", f[5], line)
			}
			cliLag += n
		}
	}
	if cliLag != int64(more) {
		t.Fatalf("samsa groups describe shows lag %d, want %d:\n%s", cliLag, more, out)
	}
	if len(lag.Members) != 1 || lag.Members[0].MemberID != m1ID {
		t.Fatalf("members after the failover: %+v, want only %s", lag.Members, m1ID)
	}
	if got := committedOffsets(t, ctx, adm, group, topic); !maps.Equal(got, committed) {
		t.Fatalf("committed offsets %v after the failover, %v before", got, committed)
	}

	// The member leaves (committing nothing more); a new one resumes from
	// the committed offsets.
	m1.Close()
	m2 := newClient(t, rest, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	seen := map[uint64]bool{}
	for len(seen) < more {
		fs := m2.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			id := binary.BigEndian.Uint64(r.Value)
			if id < first || id >= first+more {
				t.Fatalf("new member read id %d at %d/%d: not after the committed offsets %v", id, r.Partition, r.Offset, committed)
			}
			if seen[id] {
				t.Fatalf("new member read id %d twice", id)
			}
			seen[id] = true
		})
	}
	if err := m2.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	if got := committedOffsets(t, ctx, adm, group, topic); !maps.Equal(got, ends) {
		t.Fatalf("committed offsets %v, end offsets %v", got, ends)
	}
}
