package coordinator

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// harness drives a Coordinator with a fake clock, records what it writes,
// and checks at the end of the test (after Unload) that every response
// callback was called exactly once.
type harness struct {
	t   *testing.T
	c   *Coordinator
	cfg Config
	now time.Time

	log    []Record // written records, in write order
	manual bool     // hold writes in queued until the test completes them
	queued []*queuedWrite

	calls []func() (string, int)
}

type queuedWrite struct {
	records []Record
	done    func(error)
}

var t0 = time.UnixMilli(1_700_000_000_000)

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, now: t0}
	cfg.Commit = func(records []Record, done func(error)) {
		if h.manual {
			h.queued = append(h.queued, &queuedWrite{records: records, done: done})
			return
		}
		h.log = append(h.log, records...)
		done(nil)
	}
	h.cfg = cfg
	h.c = NewCoordinator(cfg)
	h.c.CompleteLoad(h.now)
	h.c.Tick(h.now) // the startup retention check
	t.Cleanup(h.finish)
	return h
}

func (h *harness) finish() {
	h.c.Unload()
	for _, check := range h.calls {
		if name, n := check(); n != 1 {
			h.t.Errorf("%s: respond called %d times, want exactly 1", name, n)
		}
	}
}

// complete finishes the i-th held write.
func (h *harness) complete(i int, err error) {
	h.t.Helper()
	w := h.queued[i]
	if err == nil {
		h.log = append(h.log, w.records...)
	}
	w.done(err)
}

// call is one response callback and what it received.
type call[T any] struct {
	name string
	n    int
	resp T
}

func (c *call[T]) answered() bool { return c.n > 0 }

func track[T any](h *harness, name string) (*call[T], func(T)) {
	c := &call[T]{name: name}
	h.calls = append(h.calls, func() (string, int) { return c.name, c.n })
	return c, func(r T) {
		c.n++
		if c.n > 1 {
			h.t.Errorf("%s: respond called again", c.name)
		}
		c.resp = r
	}
}

func (h *harness) join(clientID string, req *kmsg.JoinGroupRequest) *call[*kmsg.JoinGroupResponse] {
	c, fn := track[*kmsg.JoinGroupResponse](h, fmt.Sprintf("JoinGroup(%s, member %q)", clientID, req.MemberID))
	h.c.JoinGroup(h.now, req, clientID, "/10.0.0.1", fn)
	return c
}

func (h *harness) sync(req *kmsg.SyncGroupRequest) *call[*kmsg.SyncGroupResponse] {
	c, fn := track[*kmsg.SyncGroupResponse](h, fmt.Sprintf("SyncGroup(%s)", req.MemberID))
	h.c.SyncGroup(h.now, req, fn)
	return c
}

func (h *harness) commit(req *kmsg.OffsetCommitRequest) *call[*kmsg.OffsetCommitResponse] {
	c, fn := track[*kmsg.OffsetCommitResponse](h, fmt.Sprintf("OffsetCommit(%s)", req.Group))
	h.c.OffsetCommit(h.now, req, fn)
	return c
}

func (h *harness) heartbeat(group, memberID string, generation int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, memberID, generation
	return h.c.Heartbeat(h.now, req).ErrorCode
}

func (h *harness) staticHeartbeat(group, memberID, instanceID string, generation int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation, req.InstanceID = group, memberID, generation, &instanceID
	return h.c.Heartbeat(h.now, req).ErrorCode
}

// advance moves the clock forward by d, ticking at every deadline on the way.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	target := h.now.Add(d)
	for i := 0; ; i++ {
		if i > 100000 {
			h.t.Fatal("advance: deadlines do not move forward")
		}
		next := h.c.NextDeadline()
		if next.IsZero() || next.After(target) {
			break
		}
		if next.After(h.now) {
			h.now = next
		}
		h.c.Tick(h.now)
	}
	h.now = target
	h.c.Tick(h.now)
}

// keepAlive advances the clock by d while the members heartbeat every 5s.
func (h *harness) keepAlive(d time.Duration, group string, generation int32, members ...string) {
	h.t.Helper()
	for end := h.now.Add(d); h.now.Before(end); {
		h.advance(5 * time.Second)
		for _, m := range members {
			wantCode(h.t, "keep-alive heartbeat", h.heartbeat(group, m, generation), 0)
		}
	}
}

// ---- request builders ----

func consumerMetadata(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 3
	m.Topics = topics
	return m.AppendTo(nil)
}

// joinReq is a consumer JoinGroup (session 10s, rebalance 30s) supporting
// protos, each subscribing to topic t1.
func joinReq(version int16, group, memberID string, protos ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = version
	r.Group = group
	r.MemberID = memberID
	r.SessionTimeoutMillis = 10000
	r.RebalanceTimeoutMillis = 30000
	r.ProtocolType = "consumer"
	for _, p := range protos {
		r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: consumerMetadata("t1")})
	}
	return r
}

func staticJoinReq(group, memberID, instanceID string, protos ...string) *kmsg.JoinGroupRequest {
	r := joinReq(9, group, memberID, protos...)
	r.InstanceID = &instanceID
	return r
}

func syncReq(group, memberID string, generation int32, assignments map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, memberID, generation
	pt, p := "consumer", "range"
	r.ProtocolType, r.Protocol = &pt, &p
	for id, a := range assignments {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	return r
}

func commitReq(group, memberID string, generation int32, offsets map[string]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.MemberID, r.Generation = group, memberID, generation
	for _, topic := range sortedKeys(offsets) {
		var t kmsg.OffsetCommitRequestTopic
		t.Topic = topic
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition = 0
		p.Offset = offsets[topic]
		md := "md-" + topic
		p.Metadata = &md
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
	}
	return r
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// commitErrors returns the error per topic (partition 0) of a commit response.
func commitErrors(resp *kmsg.OffsetCommitResponse) map[string]int16 {
	out := make(map[string]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[t.Topic] = p.ErrorCode
		}
	}
	return out
}

// fetched returns the committed offset of topic partition 0 (-1 if none)
// and the error of that partition.
func (h *harness) fetched(c *Coordinator, group, topic string) (int64, int16) {
	rg := c.FetchOffsets(group, []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}, false)
	if rg.ErrorCode != 0 {
		return -1, rg.ErrorCode
	}
	p := rg.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(code).Error()
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: error %s, want %s", what, errName(got), errName(want))
	}
}

// stableGroup brings a consumer group with the given clients to Stable
// (v3 joins within the initial delay, leader assigns "assign-<member>"),
// returning the member ids in join order; the first is the leader.
func (h *harness) stableGroup(group string, clients ...string) []string {
	h.t.Helper()
	var joins []*call[*kmsg.JoinGroupResponse]
	for _, cl := range clients {
		joins = append(joins, h.join(cl, joinReq(3, group, "", "range")))
	}
	for i := 0; i < 10 && !joins[0].answered(); i++ {
		h.advance(time.Second)
	}
	var ids []string
	for i, j := range joins {
		if !j.answered() || j.resp.ErrorCode != 0 {
			h.t.Fatalf("join %d not completed: %+v", i, j.resp)
		}
		ids = append(ids, j.resp.MemberID)
	}
	gen := joins[0].resp.Generation
	var syncs []*call[*kmsg.SyncGroupResponse]
	for _, id := range ids[1:] {
		syncs = append(syncs, h.sync(syncReq(group, id, gen, nil)))
	}
	assign := make(map[string]string)
	for _, id := range ids {
		assign[id] = "assign-" + id
	}
	syncs = append(syncs, h.sync(syncReq(group, ids[0], gen, assign)))
	for _, s := range syncs {
		if !s.answered() || s.resp.ErrorCode != 0 {
			h.t.Fatalf("sync not completed: %+v", s.resp)
		}
	}
	if st := h.c.Group(group).State(); st != StateStable {
		h.t.Fatalf("group %s is %s, want Stable", group, st)
	}
	return ids
}
