package coordinator

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetCommitAndFetch(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g", "a", "b")

	c := h.commit(commitReq("g", ids[1], 1, map[string]int64{"t1": 42, "t2": 7}))
	if errs := commitErrors(c.resp); errs["t1"] != 0 || errs["t2"] != 0 {
		t.Fatalf("commit errors %v", errs)
	}
	if off, code := h.fetched(h.c, "g", "t1"); off != 42 || code != 0 {
		t.Fatalf("fetch t1: %d %s", off, errName(code))
	}

	cases := []struct {
		name   string
		req    *kmsg.OffsetCommitRequest
		want   int16
		offset int64 // t1 afterwards
	}{
		{"stale generation", commitReq("g", ids[0], 0, map[string]int64{"t1": 1}), kerr.IllegalGeneration.Code, 42},
		{"future generation", commitReq("g", ids[0], 2, map[string]int64{"t1": 1}), kerr.IllegalGeneration.Code, 42},
		{"unknown member", commitReq("g", "ghost", 1, map[string]int64{"t1": 1}), kerr.UnknownMemberID.Code, 42},
		{"simple commit to a group with members", commitReq("g", "", -1, map[string]int64{"t1": 1}), kerr.UnknownMemberID.Code, 42},
		{"member commit", commitReq("g", ids[0], 1, map[string]int64{"t1": 43}), 0, 43},
	}
	for _, tc := range cases {
		c := h.commit(tc.req)
		wantCode(t, tc.name, commitErrors(c.resp)["t1"], tc.want)
		if off, _ := h.fetched(h.c, "g", "t1"); off != tc.offset {
			t.Fatalf("%s: offset %d, want %d", tc.name, off, tc.offset)
		}
	}

	// Metadata over offset.metadata.max.bytes is refused per partition.
	big := commitReq("g", ids[0], 1, map[string]int64{"t1": 50})
	md := string(make([]byte, 4097))
	big.Topics[0].Partitions[0].Metadata = &md
	wantCode(t, "large metadata", commitErrors(h.commit(big).resp)["t1"], kerr.OffsetMetadataTooLarge.Code)

	// Fetch everything (null topics) and the v1 shape.
	all := h.c.FetchOffsets("g", nil, false)
	if len(all.Topics) != 2 || all.Topics[0].Topic != "t1" || all.Topics[0].Partitions[0].Offset != 43 || *all.Topics[0].Partitions[0].Metadata != "md-t1" {
		t.Fatalf("fetch all %+v", all)
	}
	v1 := kmsg.NewPtrOffsetFetchRequest()
	v1.Version = 1
	v1.Group = "g"
	v1.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t2", Partitions: []int32{0, 1}}}
	r1 := h.c.OffsetFetch(v1)
	if p := r1.Topics[0].Partitions; p[0].Offset != 7 || p[1].Offset != -1 || p[1].ErrorCode != 0 {
		t.Fatalf("v1 fetch %+v", r1)
	}

	// During CompletingRebalance the member has no assignment yet.
	h.c.TriggerRebalance(h.now, "g")
	h.join("a", joinReq(3, "g", ids[0], "range"))
	h.join("b", joinReq(3, "g", ids[1], "range"))
	wantCode(t, "commit while completing", commitErrors(h.commit(commitReq("g", ids[0], 2, map[string]int64{"t1": 1})).resp)["t1"], kerr.RebalanceInProgress.Code)
}

func TestSimpleCommitsAndUnknownGroupFetch(t *testing.T) {
	h := newHarness(t, Config{})
	// Unknown group: offset -1, no error (the consumer applies auto.offset.reset).
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "nobody", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
	resp := h.c.OffsetFetch(req)
	if g := resp.Groups[0]; g.ErrorCode != 0 || g.Topics[0].Partitions[0].Offset != -1 || g.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("unknown group fetch %+v", resp)
	}
	if h.c.Group("nobody") != nil {
		t.Fatal("a fetch must not create a group")
	}

	// A known generation of an unknown group is stale.
	wantCode(t, "generation 3 of unknown group", commitErrors(h.commit(commitReq("s", "m", 3, map[string]int64{"t": 1})).resp)["t"], kerr.IllegalGeneration.Code)
	// Generation -1 without member: a simple (offsets-only) group.
	wantCode(t, "simple commit", commitErrors(h.commit(commitReq("s", "", -1, map[string]int64{"t": 9})).resp)["t"], 0)
	if off, _ := h.fetched(h.c, "s", "t"); off != 9 {
		t.Fatalf("simple offset %d", off)
	}
	g := h.c.Group("s")
	if g.State() != StateEmpty || g.ProtocolType() != "" || g.Generation() != 0 {
		t.Fatalf("simple group %s %q %d", g.State(), g.ProtocolType(), g.Generation())
	}
	// v0 has neither generation nor member id.
	v0 := commitReq("s", "", 0, map[string]int64{"t": 10})
	v0.Version = 0
	wantCode(t, "v0 commit", commitErrors(h.commit(v0).resp)["t"], 0)
}

func TestCommitWriteFailureAndOrdering(t *testing.T) {
	h := newHarness(t, Config{})
	h.manual = true
	first := h.commit(commitReq("s", "", -1, map[string]int64{"t": 1}))
	second := h.commit(commitReq("s", "", -1, map[string]int64{"t": 2}))
	third := h.commit(commitReq("s", "", -1, map[string]int64{"t": 3}))

	// Pending writes make require_stable fetches answer UNSTABLE_OFFSET_COMMIT.
	rg := h.c.FetchOffsets("s", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}, true)
	wantCode(t, "require stable", rg.Topics[0].Partitions[0].ErrorCode, kerr.UnstableOffsetCommit.Code)

	// Results arrive out of order; responses and effects keep log order.
	h.complete(1, nil)
	if second.answered() {
		t.Fatal("the second write was answered before the first")
	}
	h.complete(0, kerr.NotEnoughReplicas)
	if !first.answered() || !second.answered() {
		t.Fatal("writes not answered")
	}
	wantCode(t, "failed write", commitErrors(first.resp)["t"], kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "second write", commitErrors(second.resp)["t"], 0)
	if off, _ := h.fetched(h.c, "s", "t"); off != 2 {
		t.Fatalf("offset %d after the first write failed and the second succeeded", off)
	}
	h.complete(2, kerr.NotLeaderForPartition)
	wantCode(t, "lost leadership", commitErrors(third.resp)["t"], kerr.NotCoordinator.Code)
	if off, _ := h.fetched(h.c, "s", "t"); off != 2 {
		t.Fatalf("a failed write changed the offset to %d", off)
	}
	h.queued[0].done(nil) // a second result for the same write is ignored
}

func TestOffsetDelete(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g", "a") // subscribes to t1
	h.commit(commitReq("g", ids[0], 1, map[string]int64{"t1": 1, "t2": 2}))

	del := func(group string, topics ...string) *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		for _, topic := range topics {
			req.Topics = append(req.Topics, kmsg.OffsetDeleteRequestTopic{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}})
		}
		c, fn := track[*kmsg.OffsetDeleteResponse](h, "OffsetDelete")
		h.c.OffsetDelete(h.now, req, fn)
		return c.resp
	}
	resp := del("g", "t1", "t2")
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code || resp.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("delete from a stable consumer group %+v", resp)
	}
	if off, _ := h.fetched(h.c, "g", "t1"); off != 1 {
		t.Fatal("a subscribed topic's offset was deleted")
	}
	if off, _ := h.fetched(h.c, "g", "t2"); off != -1 {
		t.Fatal("t2's offset survived")
	}
	wantCode(t, "unknown group", del("nope", "t1").ErrorCode, kerr.GroupIDNotFound.Code)

	// Simple group: deleting its last offset removes the group.
	h.commit(commitReq("s", "", -1, map[string]int64{"t": 5}))
	wantCode(t, "simple group", del("s", "t").ErrorCode, 0)
	if h.c.Group("s") != nil {
		t.Fatal("an empty group without offsets should be gone")
	}
}

func TestOffsetRetention(t *testing.T) {
	cfg := Config{OffsetsRetention: time.Hour, OffsetsRetentionCheckInterval: 10 * time.Minute, InitialRebalanceDelay: -1}

	t.Run("simple group expires by commit time", func(t *testing.T) {
		h := newHarness(t, cfg)
		h.commit(commitReq("s", "", -1, map[string]int64{"t": 1}))
		h.advance(55 * time.Minute)
		if off, _ := h.fetched(h.c, "s", "t"); off != 1 {
			t.Fatal("expired too early")
		}
		before := len(h.log)
		h.advance(10 * time.Minute) // check at 60m
		if off, _ := h.fetched(h.c, "s", "t"); off != -1 {
			t.Fatal("offset not expired after the retention")
		}
		if h.c.Group("s") != nil {
			t.Fatal("the simple group should be removed with its last offset")
		}
		if n := len(h.log) - before; n != 1 || h.log[before].Value != nil {
			t.Fatalf("want one offset tombstone (no group tombstone for a simple group), got %d records", n)
		}
	})

	t.Run("consumer group expires from when it became empty", func(t *testing.T) {
		h := newHarness(t, cfg)
		ids := h.stableGroup("g", "a")
		h.commit(commitReq("g", ids[0], 1, map[string]int64{"t1": 1}))
		h.keepAlive(50*time.Minute, "g", 1, ids...)
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version = 5
		leave.Group = "g"
		leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}}
		h.c.LeaveGroup(h.now, leave)
		emptySince := h.now
		h.advance(55 * time.Minute) // 105 minutes after the commit
		if off, _ := h.fetched(h.c, "g", "t1"); off != 1 {
			t.Fatal("offset expired counting from its commit, not from when the group became empty")
		}
		h.advance(10 * time.Minute)
		if h.now.Sub(emptySince) < time.Hour {
			t.Fatal("test clock")
		}
		if off, _ := h.fetched(h.c, "g", "t1"); off != -1 || h.c.Group("g") != nil {
			t.Fatal("offset and group should be gone an hour after the group became empty")
		}
		last := h.log[len(h.log)-1]
		if k, _ := decodeKey(last.Key); k.kind != keyGroup || last.Value != nil {
			t.Fatal("want a group metadata tombstone last")
		}
	})

	t.Run("stable consumer group keeps subscribed topics", func(t *testing.T) {
		h := newHarness(t, cfg)
		ids := h.stableGroup("g", "a") // subscribes to t1
		h.commit(commitReq("g", ids[0], 1, map[string]int64{"t1": 1, "old": 2}))
		h.keepAlive(90*time.Minute, "g", 1, ids...)
		if off, _ := h.fetched(h.c, "g", "t1"); off != 1 {
			t.Fatal("a subscribed topic's offset expired")
		}
		if off, _ := h.fetched(h.c, "g", "old"); off != -1 {
			t.Fatal("an unsubscribed topic's offset should expire")
		}
	})
}
