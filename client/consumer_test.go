package client

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func allParts(topic string, n int32) []TopicPartition {
	var out []TopicPartition
	for i := range n {
		out = append(out, TopicPartition{topic, i})
	}
	return out
}

// groupOpts keeps group tests quick: Samsa and kfake accept 6s sessions.
func groupOpts(group string, extra ...Option) []Option {
	return append([]Option{
		WithGroupID(group), WithSessionTimeout(6 * time.Second),
		WithHeartbeatInterval(200 * time.Millisecond), WithRebalanceTimeout(10 * time.Second),
		WithAutoOffsetReset(ResetEarliest),
	}, extra...)
}

// recordingListener records listener calls.
type recordingListener struct {
	mu                      sync.Mutex
	assigned, revoked, lost []TopicPartition
	calls                   []string
}

func (l *recordingListener) OnPartitionsAssigned(_ context.Context, _ *Consumer, tps []TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.assigned = append(l.assigned, tps...)
	l.calls = append(l.calls, "assigned")
}

func (l *recordingListener) OnPartitionsRevoked(_ context.Context, c *Consumer, tps []TopicPartition) {
	l.mu.Lock()
	l.revoked = append(l.revoked, tps...)
	l.calls = append(l.calls, "revoked")
	l.mu.Unlock()
}

func (l *recordingListener) OnPartitionsLost(_ context.Context, _ *Consumer, tps []TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost = append(l.lost, tps...)
	l.calls = append(l.calls, "lost")
}

// pollUntil polls the consumers in turn, passing records to onRecs, until
// cond holds.
func pollUntil(t *testing.T, ctx context.Context, onRecs func(*Consumer, []*Record), cond func() bool, cs ...*Consumer) {
	t.Helper()
	for !cond() {
		for _, c := range cs {
			pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			recs, err := c.Poll(pctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("poll: %v", err)
			}
			if onRecs != nil && len(recs) > 0 {
				onRecs(c, recs)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("condition not reached: %v", ctx.Err())
		}
	}
}

// Two members share a topic with every assignor: each record is consumed
// exactly once, both get partitions, and after one leaves the other takes
// over everything.
func TestGroupAssignors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, asg := range []Assignor{RangeAssignor(), RoundRobinAssignor(), StickyAssignor(), CooperativeStickyAssignor()} {
			t.Run(asg.Name(), func(t *testing.T) {
				topic := newTopic(t, tg, 4)
				group := uniq("g")
				p := newTestProducer(t, tg)
				produceN(t, p, topic, 100, func(i int) []byte { return []byte(strconv.Itoa(i)) })
				l1, l2 := &recordingListener{}, &recordingListener{}
				c1 := newTestConsumer(t, tg, groupOpts(group, WithAssignors(asg), WithRebalanceListener(l1))...)
				c2 := newTestConsumer(t, tg, groupOpts(group, WithAssignors(asg), WithRebalanceListener(l2))...)
				c1.Subscribe(topic)
				c2.Subscribe(topic)
				ctx := testCtx(t, 60*time.Second)
				seen := map[TopicPartition]map[int64]bool{}
				total := 0
				pollUntil(t, ctx, func(_ *Consumer, recs []*Record) {
					for _, r := range recs {
						tp := TopicPartition{r.Topic, r.Partition}
						if seen[tp] == nil {
							seen[tp] = map[int64]bool{}
						}
						if seen[tp][r.Offset] {
							// A rebalance may redeliver uncommitted records
							// (at-least-once); count distinct ones.
							continue
						}
						seen[tp][r.Offset] = true
						total++
					}
				}, func() bool {
					return total >= 100 && len(c1.Assignment()) == 2 && len(c2.Assignment()) == 2
				}, c1, c2)
				if total != 100 {
					t.Fatalf("%d distinct records, want 100", total)
				}
				a1, a2 := c1.Assignment(), c2.Assignment()
				for _, tp := range a1 {
					if slices.Contains(a2, tp) {
						t.Fatalf("%s assigned to both members", tp)
					}
				}
				if err := c1.CommitSync(ctx); err != nil {
					t.Fatal(err)
				}
				if err := c2.Close(ctx); err != nil {
					t.Fatal(err)
				}
				pollUntil(t, ctx, nil, func() bool { return len(c1.Assignment()) == 4 }, c1)
				l1.mu.Lock()
				defer l1.mu.Unlock()
				if len(l1.assigned) < 4 {
					t.Fatalf("listener: %v assigned %v", l1.calls, l1.assigned)
				}
				l2.mu.Lock()
				defer l2.mu.Unlock()
				if len(l2.revoked) == 0 {
					t.Fatalf("closed member never revoked: %v", l2.calls)
				}
			})
		}
	})
}

func TestStickyAssignorUnit(t *testing.T) {
	members := []GroupMember{
		{ID: "a", Topics: []string{"t"}},
		{ID: "b", Topics: []string{"t"}},
	}
	parts := map[string]int32{"t": 6}
	first := StickyAssignor().Assign(members, parts)
	if len(first["a"]) != 3 || len(first["b"]) != 3 {
		t.Fatalf("unbalanced: %v", first)
	}
	// A third member joins: only two partitions move, one from each.
	members[0].Owned, members[1].Owned = first["a"], first["b"]
	members = append(members, GroupMember{ID: "c", Topics: []string{"t"}})
	second := StickyAssignor().Assign(members, parts)
	for _, id := range []string{"a", "b", "c"} {
		if len(second[id]) != 2 {
			t.Fatalf("unbalanced after join: %v", second)
		}
	}
	for _, id := range []string{"a", "b"} {
		for _, tp := range second[id] {
			if !slices.Contains(first[id], tp) {
				t.Fatalf("%s moved to %s without need: %v -> %v", tp, id, first, second)
			}
		}
	}
	// Cooperative: partitions moving to c are withheld this round.
	coop := CooperativeStickyAssignor().Assign(members, parts)
	if len(coop["c"]) != 0 || len(coop["a"]) != 2 || len(coop["b"]) != 2 {
		t.Fatalf("cooperative first round: %v", coop)
	}
	// Heterogeneous subscriptions: b only reads u.
	het := StickyAssignor().Assign([]GroupMember{
		{ID: "a", Topics: []string{"t", "u"}},
		{ID: "b", Topics: []string{"u"}},
	}, map[string]int32{"t": 2, "u": 2})
	if len(het["a"]) != 2 || len(het["b"]) != 2 {
		t.Fatalf("heterogeneous: %v", het)
	}
	for _, tp := range het["b"] {
		if tp.Topic != "u" {
			t.Fatalf("b got %s", tp)
		}
	}
	// Range and roundrobin match Kafka's layouts.
	rng := RangeAssignor().Assign([]GroupMember{{ID: "m1", Topics: []string{"t"}}, {ID: "m2", Topics: []string{"t"}}}, map[string]int32{"t": 3})
	if !slices.Equal(rng["m1"], []TopicPartition{{"t", 0}, {"t", 1}}) || !slices.Equal(rng["m2"], []TopicPartition{{"t", 2}}) {
		t.Fatalf("range: %v", rng)
	}
	rr := RoundRobinAssignor().Assign([]GroupMember{{ID: "m1", Topics: []string{"t"}}, {ID: "m2", Topics: []string{"t"}}}, map[string]int32{"t": 3})
	if !slices.Equal(rr["m1"], []TopicPartition{{"t", 0}, {"t", 2}}) || !slices.Equal(rr["m2"], []TopicPartition{{"t", 1}}) {
		t.Fatalf("roundrobin: %v", rr)
	}
}

// A static member that restarts within the session timeout gets its
// partitions back without a rebalance of the others.
func TestStaticMembership(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 4)
		group := uniq("g")
		ctx := testCtx(t, 60*time.Second)
		la := &recordingListener{}
		a := newTestConsumer(t, tg, groupOpts(group, WithGroupInstanceID("a"), WithRebalanceListener(la), WithAssignors(RangeAssignor()))...)
		b := newTestConsumer(t, tg, groupOpts(group, WithGroupInstanceID("b"), WithAssignors(RangeAssignor()))...)
		a.Subscribe(topic)
		b.Subscribe(topic)
		pollUntil(t, ctx, nil, func() bool { return len(a.Assignment()) == 2 && len(b.Assignment()) == 2 }, a, b)
		before := b.Assignment()
		genBefore := a.GroupMetadata().Generation
		la.mu.Lock()
		la.calls, la.revoked = nil, nil
		la.mu.Unlock()
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		b2 := newTestConsumer(t, tg, groupOpts(group, WithGroupInstanceID("b"), WithAssignors(RangeAssignor()))...)
		b2.Subscribe(topic)
		pollUntil(t, ctx, nil, func() bool { return len(b2.Assignment()) == 2 }, a, b2)
		if !slices.Equal(b2.Assignment(), before) {
			t.Fatalf("restarted static member got %v, had %v", b2.Assignment(), before)
		}
		// a never saw a rebalance: same generation, one assignment call.
		for range 5 {
			pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			a.Poll(pctx)
			cancel()
		}
		la.mu.Lock()
		defer la.mu.Unlock()
		if len(la.revoked) != 0 || a.GroupMetadata().Generation != genBefore {
			t.Fatalf("other member rebalanced: calls %v, generation %d -> %d", la.calls, genBefore, a.GroupMetadata().Generation)
		}
	})
}

// CommitSync, CommitOffsets, CommitAsync and auto commit; a new member
// resumes from the committed offsets.
func TestCommits(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		group := uniq("g")
		tp := TopicPartition{topic, 0}
		ctx := testCtx(t, 60*time.Second)
		p := newTestProducer(t, tg)
		produceN(t, p, topic, 30, nil)

		c := newTestConsumer(t, tg, groupOpts(group, WithAutoCommit(false), WithMaxPollRecords(10))...)
		c.Subscribe(topic)
		recs := consumeN(t, ctx, c, 10)
		if len(recs) != 10 || recs[9].Offset != 9 {
			t.Fatalf("max.poll.records: got %d records", len(recs))
		}
		if err := c.CommitSync(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := c.Committed(ctx, tp)
		if err != nil || got[tp] != 10 {
			t.Fatalf("committed %v %v, want 10", got, err)
		}
		if err := c.CommitOffsets(ctx, map[TopicPartition]int64{tp: 15}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		c.CommitOffsetsAsync(map[TopicPartition]int64{tp: 17}, func(offs map[TopicPartition]int64, err error) {
			if offs[tp] != 17 {
				err = errors.New("callback offsets wrong")
			}
			done <- err
		})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got, _ := c.Committed(ctx, tp); got[tp] != 17 {
			t.Fatalf("committed %v after async commit", got)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// Auto commit: a new member starts at 17, and Close commits.
		c2 := newTestConsumer(t, tg, groupOpts(group, WithAutoCommitInterval(50*time.Millisecond))...)
		c2.Subscribe(topic)
		recs = consumeN(t, ctx, c2, 13)
		if recs[0].Offset != 17 {
			t.Fatalf("resumed at %d, want 17", recs[0].Offset)
		}
		if err := c2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		a := newTestAdmin(t, tg)
		offs, err := a.GroupOffsets(ctx, group)
		if err != nil || offs[tp] != 30 {
			t.Fatalf("after close: %v %v, want 30", offs, err)
		}
	})
}

// auto.offset.reset earliest, latest and none.
func TestAutoOffsetReset(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		tp := TopicPartition{topic, 0}
		ctx := testCtx(t, 60*time.Second)
		p := newTestProducer(t, tg)
		produceN(t, p, topic, 5, nil)

		early := newTestConsumer(t, tg, WithGroupID(uniq("g")), WithAutoOffsetReset(ResetEarliest))
		early.Assign(tp)
		if recs := consumeN(t, ctx, early, 5); recs[0].Offset != 0 {
			t.Fatalf("earliest started at %d", recs[0].Offset)
		}
		late := newTestConsumer(t, tg, WithGroupID(uniq("g")), WithAutoOffsetReset(ResetLatest))
		late.Assign(tp)
		if pos, err := late.Position(ctx, tp); err != nil || pos != 5 {
			t.Fatalf("latest position %d %v", pos, err)
		}
		produceN(t, p, topic, 1, nil)
		if recs := consumeN(t, ctx, late, 1); recs[0].Offset != 5 {
			t.Fatalf("latest got offset %d", recs[0].Offset)
		}
		none := newTestConsumer(t, tg, WithGroupID(uniq("g")), WithAutoOffsetReset(ResetNone))
		none.Assign(tp)
		if _, err := none.Poll(ctx); !errors.Is(err, ErrNoOffsetForPartition) {
			t.Fatalf("reset none: %v", err)
		}
	})
}

// Seek, SeekToBeginning/End, Position, Pause and Resume.
func TestSeekPauseResume(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 2)
		t0, t1 := TopicPartition{topic, 0}, TopicPartition{topic, 1}
		ctx := testCtx(t, 60*time.Second)
		p := newTestProducer(t, tg, WithPartitioner(ManualPartitioner()))
		for i := range 20 {
			if err := p.Send(ctx, &Record{Topic: topic, Partition: int32(i % 2), Value: []byte(strconv.Itoa(i))}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
		c.Assign(t0, t1)
		if err := c.Seek(t0, 7); err != nil {
			t.Fatal(err)
		}
		if pos, _ := c.Position(ctx, t0); pos != 7 {
			t.Fatalf("position after seek %d", pos)
		}
		c.Pause(t1)
		recs := consumeN(t, ctx, c, 3)
		for _, r := range recs {
			if r.Partition != 0 {
				t.Fatalf("paused partition returned offset %d", r.Offset)
			}
		}
		if recs[0].Offset != 7 {
			t.Fatalf("after seek got %d", recs[0].Offset)
		}
		if !slices.Equal(c.Paused(), []TopicPartition{t1}) {
			t.Fatalf("paused %v", c.Paused())
		}
		c.Resume(t1)
		got1 := 0
		for got1 < 10 {
			recs, err := c.Poll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Partition == 1 {
					got1++
				}
			}
		}
		if err := c.SeekToEnd(t0); err != nil {
			t.Fatal(err)
		}
		if pos, err := c.Position(ctx, t0); err != nil || pos != 10 {
			t.Fatalf("end position %d %v", pos, err)
		}
		if err := c.SeekToBeginning(t0); err != nil {
			t.Fatal(err)
		}
		if pos, err := c.Position(ctx, t0); err != nil || pos != 0 {
			t.Fatalf("beginning position %d %v", pos, err)
		}
		if err := c.Seek(TopicPartition{topic, 9}, 0); !errors.Is(err, ErrNotAssigned) {
			t.Fatalf("seek unassigned: %v", err)
		}
	})
}

// Wakeup interrupts a Poll blocked on an idle partition, and a Wakeup with no
// Poll running makes the next Poll return.
func TestWakeup(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		c := newTestConsumer(t, tg, WithGroupID(uniq("g")))
		c.Subscribe(topic)
		errCh := make(chan error, 1)
		go func() {
			_, err := c.Poll(context.Background())
			errCh <- err
		}()
		// Wake until the poll returns: the first Wakeup may come before
		// the Poll starts, which the Poll then reports as well.
		c.Wakeup()
		if err := <-errCh; !errors.Is(err, ErrWakeup) {
			t.Fatalf("poll returned %v", err)
		}
		c.Wakeup()
		if _, err := c.Poll(context.Background()); !errors.Is(err, ErrWakeup) {
			t.Fatalf("poll after wakeup returned %v", err)
		}
	})
}

// A regex subscription picks up a topic created later.
func TestSubscribeRegex(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		prefix := uniq("rx")
		a := newTestAdmin(t, tg)
		ctx := testCtx(t, 60*time.Second)
		if err := a.CreateTopics(ctx, TopicSpec{Name: prefix + "-a", Partitions: 1, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
		c := newTestConsumer(t, tg, groupOpts(uniq("g"), WithMetadataMaxAge(100*time.Millisecond))...)
		if err := c.SubscribeRegex(regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + "-.*")); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, ctx, nil, func() bool { return len(c.Assignment()) == 1 }, c)
		if err := a.CreateTopics(ctx, TopicSpec{Name: prefix + "-b", Partitions: 2, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, ctx, nil, func() bool { return len(c.Assignment()) == 3 }, c)
		p := newTestProducer(t, tg)
		produceN(t, p, prefix+"-b", 10, nil)
		if recs := consumeN(t, ctx, c, 10); recs[0].Topic != prefix+"-b" {
			t.Fatalf("got topic %s", recs[0].Topic)
		}
	})
}

// Assign and Subscribe are exclusive; Subscribe needs a group.
func TestAssignSubscribeExclusive(t *testing.T) {
	tg := newKfake(t)
	c := newTestConsumer(t, tg, WithGroupID("g"))
	if err := c.Assign(TopicPartition{"x", 0}); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("x"); err == nil {
		t.Fatal("Subscribe after Assign succeeded")
	}
	nog := newTestConsumer(t, tg)
	if err := nog.Subscribe("x"); err == nil {
		t.Fatal("Subscribe without group.id succeeded")
	}
}

// The consumer follows a partition whose leader moves (NOT_LEADER_OR_FOLLOWER
// on fetch, then a metadata refresh).
func TestConsumerFollowsLeaderMove(t *testing.T) {
	tg := newKfake(t)
	topic := newTopic(t, tg, 1)
	ctx := testCtx(t, 60*time.Second)
	p := newTestProducer(t, tg)
	produceN(t, p, topic, 10, nil)
	c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest), WithFetchMaxWait(50*time.Millisecond))
	c.Assign(TopicPartition{topic, 0})
	consumeN(t, ctx, c, 10)
	old := tg.fake.LeaderFor(topic, 0)
	if err := tg.fake.MoveTopicPartition(topic, 0, (old+1)%3); err != nil {
		t.Fatal(err)
	}
	produceN(t, p, topic, 10, nil)
	recs := consumeN(t, ctx, c, 10)
	if recs[0].Offset != 10 {
		t.Fatalf("after move got offset %d", recs[0].Offset)
	}
}

// A heartbeat answered with ILLEGAL_GENERATION means the membership is gone:
// the listener hears OnPartitionsLost (not Revoked) and the member rejoins.
func TestPartitionsLost(t *testing.T) {
	tg := newKfake(t)
	topic := newTopic(t, tg, 2)
	ctx := testCtx(t, 60*time.Second)
	l := &recordingListener{}
	c := newTestConsumer(t, tg, groupOpts(uniq("g"), WithRebalanceListener(l))...)
	c.Subscribe(topic)
	pollUntil(t, ctx, nil, func() bool { return len(c.Assignment()) == 2 }, c)
	tg.fake.ControlKey(kmsg.Heartbeat.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = ErrIllegalGeneration.Code
		return resp, nil, true
	})
	pollUntil(t, ctx, nil, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.lost) == 2 && len(c.Assignment()) == 2
	}, c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.revoked) != 0 {
		t.Fatalf("lost partitions were reported revoked: %v", l.calls)
	}
}

// read_committed on plain (non-transactional) data reads everything up to
// the last stable offset, on both brokers.
func TestReadCommittedPlainData(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		produceN(t, newTestProducer(t, tg), topic, 20, nil)
		c := newTestConsumer(t, tg, WithIsolationLevel(ReadCommitted), WithAutoOffsetReset(ResetEarliest))
		c.Assign(TopicPartition{topic, 0})
		recs := consumeN(t, testCtx(t, 30*time.Second), c, 20)
		if recs[19].Offset != 19 {
			t.Fatalf("last offset %d", recs[19].Offset)
		}
	})
}

// A member that stops polling for max.poll.interval.ms leaves the group; its
// next Poll reports the partitions lost and rejoins.
func TestMaxPollInterval(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 2)
		group := uniq("g")
		ctx := testCtx(t, 60*time.Second)
		l := &recordingListener{}
		c := newTestConsumer(t, tg, groupOpts(group, WithRebalanceTimeout(time.Second), WithRebalanceListener(l))...)
		c.Subscribe(topic)
		pollUntil(t, ctx, nil, func() bool { return len(c.Assignment()) == 2 }, c)
		// Stop polling until the coordinator shows the member gone.
		a := newTestAdmin(t, tg)
		for {
			gd, err := a.DescribeGroups(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			if len(gd[0].Members) == 0 {
				break
			}
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				t.Fatalf("member never left: %v", gd)
			}
		}
		pollUntil(t, ctx, nil, func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return len(l.lost) == 2 && len(c.Assignment()) == 2
		}, c)
	})
}

// Partitions added to a subscribed topic reach the group: the leader sees the
// new count in metadata (metadata.max.age.ms) and rebalances.
func TestGroupSeesNewPartitions(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 2)
		ctx := testCtx(t, 60*time.Second)
		c := newTestConsumer(t, tg, groupOpts(uniq("g"), WithMetadataMaxAge(100*time.Millisecond))...)
		c.Subscribe(topic)
		pollUntil(t, ctx, nil, func() bool { return len(c.Assignment()) == 2 }, c)
		if err := newTestAdmin(t, tg).CreatePartitions(ctx, topic, 4); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, ctx, nil, func() bool { return len(c.Assignment()) == 4 }, c)
		p := newTestProducer(t, tg, WithPartitioner(ManualPartitioner()))
		if _, err := p.SendSync(ctx, &Record{Topic: topic, Partition: 3, Value: []byte("new")}); err != nil {
			t.Fatal(err)
		}
		if r := consumeN(t, ctx, c, 1)[0]; r.Partition != 3 {
			t.Fatalf("got partition %d", r.Partition)
		}
	})
}

// Subscribing to a topic that does not exist yet works once it is created.
func TestSubscribeBeforeTopicExists(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := uniq("later")
		ctx := testCtx(t, 60*time.Second)
		c := newTestConsumer(t, tg, groupOpts(uniq("g"), WithMetadataMaxAge(100*time.Millisecond))...)
		c.Subscribe(topic)
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		c.Poll(pctx)
		cancel()
		if err := newTestAdmin(t, tg).CreateTopics(ctx, TopicSpec{Name: topic, Partitions: 2, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, ctx, nil, func() bool { return len(c.Assignment()) == 2 }, c)
	})
}

// A member closed while its join is held (the coordinator waits for the
// other member to rejoin) leaves the group: the rebalance completes without
// it instead of waiting for its session to time out.
func TestCloseDuringJoinLeaves(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := testCtx(t, 60*time.Second)
		adm := newTestAdmin(t, tg)
		topic := newTopic(t, tg, 2)
		group := uniq("g")
		a := newTestConsumer(t, tg, groupOpts(group)...)
		a.Subscribe(topic)
		pollUntil(t, ctx, nil, func() bool { return len(a.Assignment()) == 2 }, a)

		// b's JoinGroup is held until a rejoins, which a does only when
		// it polls.
		b := newTestConsumer(t, tg, groupOpts(group)...)
		b.Subscribe(topic)
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := b.Poll(pctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("b's poll during the held join: %v", err)
		}
		if b.GroupMetadata().MemberID == "" {
			t.Fatal("b has no member ID to leave with (no KIP-394 MEMBER_ID_REQUIRED?)")
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = b.Close(cctx)
		cancel()
		if err != nil {
			t.Fatalf("closing b mid-join: %v", err)
		}

		var d GroupDescription
		pollUntil(t, ctx, nil, func() bool {
			ds, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			d = ds[0]
			return d.State == "Stable"
		}, a)
		if len(d.Members) != 1 || len(a.Assignment()) != 2 {
			t.Fatalf("after b closed mid-join: %+v, a owns %v", d, a.Assignment())
		}
	})
}
