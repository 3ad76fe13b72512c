package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var noDelay = Config{InitialRebalanceDelay: -1}

func TestSingleMemberJoinSyncHeartbeat(t *testing.T) {
	h := newHarness(t, noDelay)

	// KIP-394: a v4+ join without member id only gets an id.
	first := h.join("c", joinReq(9, "g", "", "range"))
	wantCode(t, "first join", first.resp.ErrorCode, kerr.MemberIDRequired.Code)
	id := first.resp.MemberID
	if id != "c-1" {
		t.Fatalf("member id %q, want c-1 (client id + counter)", id)
	}
	if g := h.c.Group("g"); g.State() != StateEmpty || len(g.MemberIDs()) != 0 {
		t.Fatalf("after MEMBER_ID_REQUIRED: %s with %v", g.State(), g.MemberIDs())
	}

	j := h.join("c", joinReq(9, "g", id, "range"))
	if !j.answered() {
		t.Fatal("a lone member's join should complete at once without the initial delay")
	}
	r := j.resp
	wantCode(t, "join", r.ErrorCode, 0)
	if r.Generation != 1 || r.LeaderID != id || r.MemberID != id || *r.Protocol != "range" || *r.ProtocolType != "consumer" || r.SkipAssignment {
		t.Fatalf("join response %+v", r)
	}
	if len(r.Members) != 1 || r.Members[0].MemberID != id || string(r.Members[0].ProtocolMetadata) != string(consumerMetadata("t1")) {
		t.Fatalf("leader members %+v", r.Members)
	}
	if st := h.c.Group("g").State(); st != StateCompletingRebalance {
		t.Fatalf("state %s", st)
	}
	wantCode(t, "heartbeat before sync", h.heartbeat("g", id, 1), 0)

	s := h.sync(syncReq("g", id, 1, map[string]string{id: "mine"}))
	wantCode(t, "sync", s.resp.ErrorCode, 0)
	if string(s.resp.MemberAssignment) != "mine" || *s.resp.Protocol != "range" || *s.resp.ProtocolType != "consumer" {
		t.Fatalf("sync response %+v", s.resp)
	}
	if st := h.c.Group("g").State(); st != StateStable {
		t.Fatalf("state %s", st)
	}
	if len(h.log) != 1 {
		t.Fatalf("%d records written, want the group metadata", len(h.log))
	}

	wantCode(t, "heartbeat", h.heartbeat("g", id, 1), 0)
	wantCode(t, "heartbeat old generation", h.heartbeat("g", id, 0), kerr.IllegalGeneration.Code)
	wantCode(t, "heartbeat unknown member", h.heartbeat("g", "nobody", 1), kerr.UnknownMemberID.Code)
	wantCode(t, "heartbeat unknown group", h.heartbeat("other", id, 1), kerr.UnknownMemberID.Code)
	wantCode(t, "heartbeat no group id", h.heartbeat("", id, 1), kerr.InvalidGroupID.Code)

	// A follower-less stable member rejoining with the same metadata: it is
	// the leader, so it forces a rebalance (Kafka's way for the leader to
	// react to metadata changes).
	j2 := h.join("c", joinReq(9, "g", id, "range"))
	wantCode(t, "leader rejoin", j2.resp.ErrorCode, 0)
	if j2.resp.Generation != 2 {
		t.Fatalf("leader rejoin generation %d, want 2", j2.resp.Generation)
	}
}

func TestThreeMembersInitialDelayAndAssignment(t *testing.T) {
	h := newHarness(t, Config{InitialRebalanceDelay: 3 * time.Second})
	a := h.join("a", joinReq(3, "g", "", "range"))
	h.advance(time.Second)
	b := h.join("b", joinReq(3, "g", "", "range"))
	h.advance(time.Second)
	c := h.join("c", joinReq(3, "g", "", "range"))

	// The delay is extended while members keep coming: 3s, then one more
	// delay since members arrived during the first.
	if got, want := h.c.NextDeadline(), t0.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("next deadline %v, want %v", got, want)
	}
	h.advance(time.Second) // t0+3s
	if a.answered() || b.answered() || c.answered() {
		t.Fatal("join completed before the extended initial delay")
	}
	if got, want := h.c.NextDeadline(), t0.Add(6*time.Second); !got.Equal(want) {
		t.Fatalf("extended deadline %v, want %v", got, want)
	}
	h.advance(3 * time.Second) // t0+6s
	for _, j := range []*call[*kmsg.JoinGroupResponse]{a, b, c} {
		if !j.answered() || j.resp.ErrorCode != 0 || j.resp.Generation != 1 || j.resp.LeaderID != a.resp.MemberID {
			t.Fatalf("join response %+v", j.resp)
		}
	}
	if len(a.resp.Members) != 3 || len(b.resp.Members) != 0 || len(c.resp.Members) != 0 {
		t.Fatal("only the leader gets the member list")
	}

	// Followers wait for the leader's assignment.
	sb := h.sync(syncReq("g", b.resp.MemberID, 1, nil))
	if sb.answered() {
		t.Fatal("follower answered before the leader synced")
	}
	h.manual = true // the assignment is answered only once it is written
	sa := h.sync(syncReq("g", a.resp.MemberID, 1, map[string]string{
		a.resp.MemberID: "A", b.resp.MemberID: "B", c.resp.MemberID: "C",
	}))
	if sa.answered() || sb.answered() || len(h.queued) != 1 {
		t.Fatal("sync answered before the group metadata was written")
	}
	h.complete(0, nil)
	if string(sa.resp.MemberAssignment) != "A" || string(sb.resp.MemberAssignment) != "B" {
		t.Fatalf("assignments %q %q", sa.resp.MemberAssignment, sb.resp.MemberAssignment)
	}
	h.manual = false
	sc := h.sync(syncReq("g", c.resp.MemberID, 1, nil))
	if string(sc.resp.MemberAssignment) != "C" {
		t.Fatalf("late follower assignment %q", sc.resp.MemberAssignment)
	}

	// The stored metadata names every member with its assignment.
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(h.log[0].Value); err != nil {
		t.Fatal(err)
	}
	if v.Generation != 1 || *v.Leader != a.resp.MemberID || *v.Protocol != "range" || len(v.Members) != 3 || string(v.Members[1].Assignment) != "B" {
		t.Fatalf("stored metadata %+v", v)
	}
}

func TestMemberLeavesRebalanceBumpsGeneration(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g", "a", "b", "c")

	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = "g"
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[2]}, {MemberID: "ghost"}}
	resp := h.c.LeaveGroup(h.now, req)
	if resp.ErrorCode != 0 || resp.Members[0].ErrorCode != 0 || resp.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave response %+v", resp)
	}
	if st := h.c.Group("g").State(); st != StatePreparingRebalance {
		t.Fatalf("state %s after leave", st)
	}
	wantCode(t, "heartbeat during rebalance", h.heartbeat("g", ids[1], 1), kerr.RebalanceInProgress.Code)

	ja := h.join("a", joinReq(3, "g", ids[0], "range"))
	if ja.answered() {
		t.Fatal("join completed before b rejoined")
	}
	jb := h.join("b", joinReq(3, "g", ids[1], "range"))
	for _, j := range []*call[*kmsg.JoinGroupResponse]{ja, jb} {
		if !j.answered() || j.resp.ErrorCode != 0 || j.resp.Generation != 2 {
			t.Fatalf("rejoin response %+v", j.resp)
		}
	}
	if len(ja.resp.Members) != 2 {
		t.Fatalf("leader sees %d members", len(ja.resp.Members))
	}
	wantCode(t, "heartbeat of the old generation", h.heartbeat("g", ids[1], 1), kerr.IllegalGeneration.Code)

	// v0–v2 leave a single member and report its error at the top level.
	old := kmsg.NewPtrLeaveGroupRequest()
	old.Version = 1
	old.Group = "g"
	old.MemberID = "ghost"
	wantCode(t, "v1 leave", h.c.LeaveGroup(h.now, old).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestSessionTimeoutRemovesSilentMember(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g", "a", "b")
	for i := 0; i < 3; i++ { // a heartbeats every 3s, b stays silent
		h.advance(3 * time.Second)
		wantCode(t, "heartbeat", h.heartbeat("g", ids[0], 1), 0)
	}
	h.advance(2 * time.Second) // 11s after the sync: b's 10s session expired
	g := h.c.Group("g")
	if slices.Contains(g.MemberIDs(), ids[1]) || g.State() != StatePreparingRebalance {
		t.Fatalf("after b's session timeout: %s %v", g.State(), g.MemberIDs())
	}
	wantCode(t, "heartbeat", h.heartbeat("g", ids[0], 1), kerr.RebalanceInProgress.Code)
	j := h.join("a", joinReq(3, "g", ids[0], "range"))
	if j.resp.ErrorCode != 0 || j.resp.Generation != 2 || len(j.resp.Members) != 1 {
		t.Fatalf("rejoin %+v", j.resp)
	}
	wantCode(t, "expired member", h.heartbeat("g", ids[1], 2), kerr.UnknownMemberID.Code)
}

func TestRebalanceTimeoutDropsMemberThatDoesNotRejoin(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g", "a", "b")
	if !h.c.TriggerRebalance(h.now, "g") {
		t.Fatal("TriggerRebalance on a Stable group")
	}
	h.advance(time.Second)
	ja := h.join("a", joinReq(3, "g", ids[0], "range"))
	// b keeps its session alive but never rejoins.
	for i := 0; i < 5; i++ {
		h.advance(5 * time.Second)
		wantCode(t, "b heartbeat", h.heartbeat("g", ids[1], 1), kerr.RebalanceInProgress.Code)
	}
	if ja.answered() {
		t.Fatal("join completed before the rebalance timeout")
	}
	h.advance(5 * time.Second) // 31s: past the 30s rebalance timeout
	if !ja.answered() || ja.resp.ErrorCode != 0 || ja.resp.Generation != 2 || len(ja.resp.Members) != 1 {
		t.Fatalf("join after rebalance timeout %+v", ja.resp)
	}
	wantCode(t, "dropped member", h.heartbeat("g", ids[1], 1), kerr.UnknownMemberID.Code)
}

func TestPendingSyncExpiry(t *testing.T) {
	h := newHarness(t, Config{})
	ja := h.join("a", joinReq(3, "g", "", "range"))
	jb := h.join("b", joinReq(3, "g", "", "range"))
	h.advance(7 * time.Second)
	if !ja.answered() || !jb.answered() {
		t.Fatal("join did not complete")
	}
	// b never syncs; a (the leader) does, then b is removed after the
	// rebalance timeout and the group rebalances.
	sa := h.sync(syncReq("g", ja.resp.MemberID, 1, map[string]string{ja.resp.MemberID: "x"}))
	wantCode(t, "leader sync", sa.resp.ErrorCode, 0)
	for i := 0; i < 7; i++ { // both stay alive
		h.advance(5 * time.Second)
		h.heartbeat("g", ja.resp.MemberID, 1)
		h.heartbeat("g", jb.resp.MemberID, 1)
	}
	g := h.c.Group("g")
	if g.State() != StatePreparingRebalance || len(g.MemberIDs()) != 1 {
		t.Fatalf("after pending sync expiry: %s %v", g.State(), g.MemberIDs())
	}
}

func TestStaticMemberRestartKeepsAssignment(t *testing.T) {
	h := newHarness(t, Config{})
	ja := h.join("a", staticJoinReq("g", "", "ia", "range"))
	jb := h.join("b", staticJoinReq("g", "", "ib", "range"))
	h.advance(7 * time.Second)
	if ja.resp.ErrorCode != 0 || jb.resp.ErrorCode != 0 {
		t.Fatalf("static members must not get MEMBER_ID_REQUIRED: %v %v", errName(ja.resp.ErrorCode), errName(jb.resp.ErrorCode))
	}
	oldA, idB := ja.resp.MemberID, jb.resp.MemberID
	if oldA != "ia-1" {
		t.Fatalf("static member id %q, want instance id prefix", oldA)
	}
	h.sync(syncReq("g", idB, 1, nil))
	h.sync(syncReq("g", oldA, 1, map[string]string{oldA: "A", idB: "B"}))
	logged := len(h.log)

	// Instance ia restarts within its session timeout: same protocols, no
	// rebalance, a new member id that is answered once it is persisted.
	h.advance(2 * time.Second)
	h.manual = true
	restart := h.join("a", staticJoinReq("g", "", "ia", "range"))
	if restart.answered() {
		t.Fatal("static rejoin answered before its member id was persisted")
	}
	h.complete(0, nil)
	h.manual = false
	r := restart.resp
	wantCode(t, "static rejoin", r.ErrorCode, 0)
	newA := r.MemberID
	if newA == oldA || r.Generation != 1 || r.LeaderID != oldA || len(r.Members) != 0 || r.SkipAssignment {
		t.Fatalf("static rejoin response %+v", r)
	}
	g := h.c.Group("g")
	if g.State() != StateStable || g.Generation() != 1 || g.Leader() != newA {
		t.Fatalf("group after static rejoin: %s gen %d leader %s", g.State(), g.Generation(), g.Leader())
	}
	if len(h.log) != logged+1 {
		t.Fatal("the new member id was not persisted")
	}
	s := h.sync(syncReq("g", newA, 1, nil))
	if s.resp.ErrorCode != 0 || string(s.resp.MemberAssignment) != "A" {
		t.Fatalf("restarted member sync %+v", s.resp)
	}
	wantCode(t, "b unaffected", h.heartbeat("g", idB, 1), 0)

	// The old incarnation is fenced.
	wantCode(t, "old member id", h.staticHeartbeat("g", oldA, "ia", 1), kerr.FencedInstanceID.Code)
	c := h.commit(func() *kmsg.OffsetCommitRequest {
		r := commitReq("g", oldA, 1, map[string]int64{"t1": 5})
		id := "ia"
		r.InstanceID = &id
		return r
	}())
	wantCode(t, "old member commit", commitErrors(c.resp)["t1"], kerr.FencedInstanceID.Code)
	fenced := h.join("a", staticJoinReq("g", oldA, "ia", "range"))
	wantCode(t, "old member join", fenced.resp.ErrorCode, kerr.FencedInstanceID.Code)

	// A restart without the group's protocol is rejected.
	bad := h.join("a", staticJoinReq("g", "", "ia", "roundrobin"))
	wantCode(t, "static rejoin with other protocol", bad.resp.ErrorCode, kerr.InconsistentGroupProtocol.Code)
}

func TestStaticMemberFencesParkedRequests(t *testing.T) {
	h := newHarness(t, Config{})
	ja := h.join("a", staticJoinReq("g", "", "ia", "range"))
	jb := h.join("b", staticJoinReq("g", "", "ib", "range"))
	h.advance(7 * time.Second)
	// b (a follower) waits in SyncGroup when a second instance of ib starts.
	sb := h.sync(syncReq("g", jb.resp.MemberID, 1, nil))
	second := h.join("b2", staticJoinReq("g", "", "ib", "range"))
	wantCode(t, "parked sync of the fenced member", sb.resp.ErrorCode, kerr.FencedInstanceID.Code)
	if second.answered() {
		t.Fatal("the new instance should wait for the rebalance it started")
	}
	if st := h.c.Group("g").State(); st != StatePreparingRebalance {
		t.Fatalf("state %s", st)
	}
	ja2 := h.join("a", staticJoinReq("g", ja.resp.MemberID, "ia", "range"))
	if !ja2.answered() || !second.answered() || second.resp.Generation != 2 || ja2.resp.Generation != 2 {
		t.Fatalf("rebalance after fencing: %+v %+v", ja2.resp, second.resp)
	}
}

func TestStaticMemberProtocolChangeRebalances(t *testing.T) {
	h := newHarness(t, Config{})
	ja := h.join("a", staticJoinReq("g", "", "ia", "range", "roundrobin"))
	h.advance(7 * time.Second)
	h.sync(syncReq("g", ja.resp.MemberID, 1, map[string]string{ja.resp.MemberID: "A"}))
	// The only member now prefers roundrobin: the selection changes.
	restart := h.join("a", staticJoinReq("g", "", "ia", "roundrobin", "range"))
	g := h.c.Group("g")
	if !restart.answered() || restart.resp.Generation != 2 || *restart.resp.Protocol != "roundrobin" {
		t.Fatalf("restart with new preference: %+v (group %s)", restart.resp, g.State())
	}
}

func TestMemberIDRequiredPendingExpiry(t *testing.T) {
	h := newHarness(t, noDelay)
	ids := h.stableGroup("g", "a")
	first := h.join("n", joinReq(9, "g", "", "range"))
	wantCode(t, "new member", first.resp.ErrorCode, kerr.MemberIDRequired.Code)
	if st := h.c.Group("g").State(); st != StateStable {
		t.Fatalf("MEMBER_ID_REQUIRED must not start a rebalance: %s", st)
	}
	h.advance(6 * time.Second)
	wantCode(t, "heartbeat", h.heartbeat("g", ids[0], 1), 0)
	h.advance(5 * time.Second) // the pending id expires after the session timeout
	wantCode(t, "heartbeat", h.heartbeat("g", ids[0], 1), 0)
	late := h.join("n", joinReq(9, "g", first.resp.MemberID, "range"))
	wantCode(t, "expired pending member", late.resp.ErrorCode, kerr.UnknownMemberID.Code)

	// In time, the pending member joins and the group rebalances.
	again := h.join("n", joinReq(9, "g", "", "range"))
	j := h.join("n", joinReq(9, "g", again.resp.MemberID, "range"))
	if j.answered() || h.c.Group("g").State() != StatePreparingRebalance {
		t.Fatal("the new member should wait for the existing one to rejoin")
	}
	ja := h.join("a", joinReq(9, "g", ids[0], "range"))
	if !j.answered() || j.resp.Generation != 2 || ja.resp.LeaderID != ids[0] {
		t.Fatalf("rebalance with the new member: %+v", j.resp)
	}
}

func TestProtocolSelection(t *testing.T) {
	cases := []struct {
		name    string
		members [][]string
		want    string
		reject  int // index of the member rejected with INCONSISTENT_GROUP_PROTOCOL; -1 none
	}{
		{"only common candidate", [][]string{{"roundrobin", "range"}, {"range", "roundrobin"}, {"range"}}, "range", -1},
		{"most votes", [][]string{{"a", "b"}, {"b", "a"}, {"b", "a"}}, "b", -1},
		{"tie goes to the leader's preference", [][]string{{"a", "b"}, {"b", "a"}}, "a", -1},
		{"no common protocol", [][]string{{"a"}, {"b"}}, "a", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			var joins []*call[*kmsg.JoinGroupResponse]
			for i, ps := range tc.members {
				joins = append(joins, h.join(string(rune('a'+i)), joinReq(3, "g", "", ps...)))
			}
			h.advance(10 * time.Second)
			for i, j := range joins {
				if i == tc.reject {
					wantCode(t, "join", j.resp.ErrorCode, kerr.InconsistentGroupProtocol.Code)
					continue
				}
				wantCode(t, "join", j.resp.ErrorCode, 0)
				if *j.resp.Protocol != tc.want {
					t.Fatalf("protocol %q, want %q", *j.resp.Protocol, tc.want)
				}
			}
		})
	}

	t.Run("protocol type mismatch", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.join("a", joinReq(3, "g", "", "range"))
		other := joinReq(3, "g", "", "range")
		other.ProtocolType = "connect"
		wantCode(t, "join", h.join("b", other).resp.ErrorCode, kerr.InconsistentGroupProtocol.Code)
	})
}

func TestGroupMaxSize(t *testing.T) {
	h := newHarness(t, Config{MaxGroupSize: 2})
	a := h.join("a", joinReq(3, "g", "", "range"))
	b := h.join("b", joinReq(3, "g", "", "range"))
	c := h.join("c", joinReq(3, "g", "", "range"))
	wantCode(t, "third member", c.resp.ErrorCode, kerr.GroupMaxSizeReached.Code)
	h.advance(7 * time.Second)
	if a.resp.ErrorCode != 0 || b.resp.ErrorCode != 0 || len(a.resp.Members) != 2 {
		t.Fatalf("the first two members form the group: %+v", a.resp)
	}
	// Once the join completed, a new member still does not fit.
	d := h.join("d", joinReq(3, "g", "", "range"))
	wantCode(t, "member of a full group", d.resp.ErrorCode, kerr.GroupMaxSizeReached.Code)
}

func TestInvalidSessionTimeoutAndUnknownMember(t *testing.T) {
	h := newHarness(t, Config{})
	r := joinReq(3, "g", "", "range")
	r.SessionTimeoutMillis = 1000
	wantCode(t, "short session", h.join("a", r).resp.ErrorCode, kerr.InvalidSessionTimeout.Code)
	wantCode(t, "known member id, unknown group", h.join("a", joinReq(3, "nogroup", "x-1", "range")).resp.ErrorCode, kerr.UnknownMemberID.Code)
	wantCode(t, "sync unknown group", h.sync(syncReq("nogroup", "x-1", 1, nil)).resp.ErrorCode, kerr.UnknownMemberID.Code)
	sr := syncReq("g", "x", 1, nil)
	sr.Protocol = nil
	wantCode(t, "sync v5 without protocol", h.sync(sr).resp.ErrorCode, kerr.InconsistentGroupProtocol.Code)
}

func TestDescribeAndListGroups(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g1", "a", "b")
	h.join("c", joinReq(3, "g2", "", "range")) // PreparingRebalance (initial delay)
	h.commit(commitReq("simple", "", -1, map[string]int64{"t": 1}))

	d := h.c.DescribeGroup("g1", false)
	if d.ErrorCode != 0 || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "range" || len(d.Members) != 2 {
		t.Fatalf("describe %+v", d)
	}
	if m := d.Members[1]; m.MemberID != ids[1] || m.ClientID != "b" || m.ClientHost != "/10.0.0.1" || string(m.MemberAssignment) != "assign-"+ids[1] || len(m.ProtocolMetadata) == 0 {
		t.Fatalf("describe member %+v", m)
	}
	if d := h.c.DescribeGroup("g2", false); d.State != "PreparingRebalance" || d.Protocol != "" || len(d.Members) != 1 || d.Members[0].MemberAssignment != nil {
		t.Fatalf("describe rebalancing group %+v", d)
	}
	if d := h.c.DescribeGroup("nope", false); d.ErrorCode != 0 || d.State != "Dead" {
		t.Fatalf("describe unknown group %+v", d)
	}

	list := func(states ...string) []string {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 4
		req.StatesFilter = states
		var out []string
		for _, g := range h.c.ListGroups(req).Groups {
			out = append(out, g.Group+":"+g.GroupState+":"+g.ProtocolType)
		}
		return out
	}
	if got := list(); !slices.Equal(got, []string{"g1:Stable:consumer", "g2:PreparingRebalance:consumer", "simple:Empty:"}) {
		t.Fatalf("list %v", got)
	}
	if got := list("stable", "Empty"); !slices.Equal(got, []string{"g1:Stable:consumer", "simple:Empty:"}) {
		t.Fatalf("list filtered %v", got)
	}
}

func TestDeleteGroups(t *testing.T) {
	h := newHarness(t, noDelay)
	h.stableGroup("busy", "a")
	ids := h.stableGroup("done", "b")
	h.commit(commitReq("done", ids[0], 1, map[string]int64{"t": 7}))
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "done"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}}
	h.c.LeaveGroup(h.now, leave)
	if st := h.c.Group("done").State(); st != StateEmpty {
		t.Fatalf("state after the last member left: %s", st)
	}

	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{"busy", "done", "nope"}
	c, fn := track[*kmsg.DeleteGroupsResponse](h, "DeleteGroups")
	before := len(h.log)
	h.c.DeleteGroups(h.now, req, fn)
	got := map[string]int16{}
	for _, g := range c.resp.Groups {
		got[g.Group] = g.ErrorCode
	}
	if got["busy"] != kerr.NonEmptyGroup.Code || got["done"] != 0 || got["nope"] != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete errors %v", got)
	}
	if h.c.Group("done") != nil {
		t.Fatal("deleted group still present")
	}
	tombstones := h.log[before:]
	if len(tombstones) != 2 || tombstones[0].Value != nil || tombstones[1].Value != nil {
		t.Fatalf("want an offset and a group tombstone, got %d records", len(tombstones))
	}
	if off, code := h.fetched(h.c, "done", "t"); off != -1 || code != 0 {
		t.Fatalf("offset after delete: %d %s", off, errName(code))
	}
}

func TestLoadingAndNotCoordinator(t *testing.T) {
	c := NewCoordinator(Config{})
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID = "g", "m"
	wantCode(t, "heartbeat while loading", c.Heartbeat(t0, hb).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	var sync *kmsg.SyncGroupResponse
	c.SyncGroup(t0, syncReq("g", "m", 1, nil), func(r *kmsg.SyncGroupResponse) { sync = r })
	wantCode(t, "sync while loading", sync.ErrorCode, kerr.RebalanceInProgress.Code)
	c.CompleteLoad(t0)

	// A group that hashes to another partition belongs to another coordinator.
	owned := NewCoordinator(Config{Partition: 0, NumPartitions: 50})
	owned.CompleteLoad(t0)
	hb.Group = "hello" // partition 22
	wantCode(t, "foreign group", owned.Heartbeat(t0, hb).ErrorCode, kerr.NotCoordinator.Code)
}

func TestUnloadAnswersEverythingOnce(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g", "a", "b")
	h.c.TriggerRebalance(h.now, "g")
	parkedJoin := h.join("a", joinReq(3, "g", ids[0], "range"))
	jb := h.join("b", joinReq(3, "g", ids[1], "range"))
	parkedSync := h.sync(syncReq("g", ids[1], 2, nil))
	h.manual = true
	leaderSync := h.sync(syncReq("g", ids[0], 2, map[string]string{ids[0]: "x"}))
	commit := h.commit(commitReq("simple", "", -1, map[string]int64{"t": 1}))
	waitingJoin := h.join("n", joinReq(3, "g2", "", "range"))
	if parkedJoin.answered() != true || !jb.answered() || parkedSync.answered() || leaderSync.answered() || commit.answered() || waitingJoin.answered() {
		t.Fatal("unexpected answers before unload")
	}

	h.c.Unload()
	for name, code := range map[string]int16{
		"parked sync":    parkedSync.resp.ErrorCode,
		"leader sync":    leaderSync.resp.ErrorCode,
		"waiting join":   waitingJoin.resp.ErrorCode,
		"pending commit": commitErrors(commit.resp)["t"],
	} {
		wantCode(t, name, code, kerr.NotCoordinator.Code)
	}
	// Late write results are ignored (the harness checks nobody is answered twice).
	h.complete(0, nil)
	h.complete(1, nil)
	wantCode(t, "after unload", h.heartbeat("g", ids[0], 2), kerr.NotCoordinator.Code)
	if !h.c.NextDeadline().IsZero() {
		t.Fatal("an unloaded coordinator has no deadlines")
	}
}

func TestSyncStoreFailure(t *testing.T) {
	h := newHarness(t, Config{})
	ja := h.join("a", joinReq(3, "g", "", "range"))
	jb := h.join("b", joinReq(3, "g", "", "range"))
	h.advance(7 * time.Second)
	sb := h.sync(syncReq("g", jb.resp.MemberID, 1, nil))
	h.manual = true
	sa := h.sync(syncReq("g", ja.resp.MemberID, 1, map[string]string{ja.resp.MemberID: "A", jb.resp.MemberID: "B"}))
	h.complete(0, kerr.NotLeaderForPartition)
	wantCode(t, "leader", sa.resp.ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "follower", sb.resp.ErrorCode, kerr.NotCoordinator.Code)
	if st := h.c.Group("g").State(); st != StatePreparingRebalance {
		t.Fatalf("state after failed store %s", st)
	}
}

func TestSupersededJoinIsAnswered(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g", "a", "b")
	h.c.TriggerRebalance(h.now, "g")
	first := h.join("a", joinReq(3, "g", ids[0], "range"))
	retry := h.join("a", joinReq(3, "g", ids[0], "range"))
	wantCode(t, "superseded join", first.resp.ErrorCode, kerr.RebalanceInProgress.Code)
	if retry.answered() {
		t.Fatal("retry should stay parked")
	}
	h.join("b", joinReq(3, "g", ids[1], "range"))
	if !retry.answered() || retry.resp.Generation != 2 {
		t.Fatalf("retry %+v", retry.resp)
	}
}

func TestNewMemberJoinTimeout(t *testing.T) {
	// A new member parked in a long rebalance (the existing member has a long
	// rebalance timeout and does not rejoin) is dropped after 5 minutes, so
	// that a client that gave up does not linger as a member.
	h := newHarness(t, Config{MaxSessionTimeout: time.Hour})
	r := joinReq(3, "g", "", "range")
	r.SessionTimeoutMillis = 3_000_000
	r.RebalanceTimeoutMillis = 3_000_000
	ja := h.join("a", r)
	h.advance(7 * time.Second)
	h.sync(syncReq("g", ja.resp.MemberID, 1, map[string]string{ja.resp.MemberID: "A"}))
	nb := h.join("b", joinReq(3, "g", "", "range"))
	for i := 0; i < 6; i++ {
		h.advance(time.Minute)
		h.heartbeat("g", ja.resp.MemberID, 1)
	}
	wantCode(t, "new member after 5 minutes", nb.resp.ErrorCode, kerr.UnknownMemberID.Code)
}

func TestStaticMemberKeptWhenNotRejoining(t *testing.T) {
	h := newHarness(t, Config{})
	ja := h.join("a", staticJoinReq("g", "", "ia", "range"))
	jb := h.join("b", staticJoinReq("g", "", "ib", "range"))
	h.advance(7 * time.Second)
	h.sync(syncReq("g", jb.resp.MemberID, 1, nil))
	h.sync(syncReq("g", ja.resp.MemberID, 1, map[string]string{ja.resp.MemberID: "A", jb.resp.MemberID: "B"}))

	h.c.TriggerRebalance(h.now, "g")
	rejoin := h.join("a", staticJoinReq("g", ja.resp.MemberID, "ia", "range"))
	for i := 0; i < 7; i++ { // b stays alive but does not rejoin
		h.advance(5 * time.Second)
		h.staticHeartbeat("g", jb.resp.MemberID, "ib", 1)
	}
	// Unlike a dynamic member, b keeps its membership (and its place in the
	// leader's assignment) after the rebalance timeout.
	if !rejoin.answered() || rejoin.resp.Generation != 2 || len(rejoin.resp.Members) != 2 {
		t.Fatalf("rejoin %+v", rejoin.resp)
	}
	wantCode(t, "b on the old generation", h.staticHeartbeat("g", jb.resp.MemberID, "ib", 1), kerr.IllegalGeneration.Code)
}

func TestLeaveWhileParkedInSync(t *testing.T) {
	h := newHarness(t, Config{})
	ja := h.join("a", joinReq(3, "g", "", "range"))
	jb := h.join("b", joinReq(3, "g", "", "range"))
	h.advance(7 * time.Second)
	sb := h.sync(syncReq("g", jb.resp.MemberID, 1, nil))
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: jb.resp.MemberID}}
	if r := h.c.LeaveGroup(h.now, leave); r.Members[0].ErrorCode != 0 {
		t.Fatalf("leave %+v", r)
	}
	wantCode(t, "parked sync of the member that left", sb.resp.ErrorCode, kerr.UnknownMemberID.Code)
	// The leader has not synced yet: its sync is refused, it must rejoin.
	sa := h.sync(syncReq("g", ja.resp.MemberID, 1, nil))
	wantCode(t, "leader sync", sa.resp.ErrorCode, kerr.RebalanceInProgress.Code)
}

func TestInitialDelayCappedByRebalanceTimeout(t *testing.T) {
	h := newHarness(t, Config{InitialRebalanceDelay: 3 * time.Second})
	req := func() *kmsg.JoinGroupRequest {
		r := joinReq(3, "g", "", "range")
		r.RebalanceTimeoutMillis = 10000
		return r
	}
	first := h.join("c0", req())
	// A member arrives every 2s, for longer than the rebalance timeout: the
	// delay keeps being extended, but the join completes at 10s regardless.
	for i := 1; i <= 6; i++ {
		h.advance(2*time.Second - time.Millisecond)
		if first.answered() {
			t.Fatalf("join completed after %v, before the rebalance timeout", h.now.Sub(t0))
		}
		h.advance(time.Millisecond)
		if first.answered() {
			if got := h.now.Sub(t0); got != 10*time.Second {
				t.Fatalf("join completed after %v, want 10s", got)
			}
			return
		}
		h.join("c", req())
	}
	t.Fatal("the initial delay was not capped")
}
