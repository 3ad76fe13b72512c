package coordinator

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// javaBytes builds Kafka's classic (non-flexible) encodings by hand, so the
// checks below do not rely on the encoder under test.
type javaBytes struct{ b []byte }

func (j *javaBytes) i16(v int16) *javaBytes {
	j.b = binary.BigEndian.AppendUint16(j.b, uint16(v))
	return j
}
func (j *javaBytes) i32(v int32) *javaBytes {
	j.b = binary.BigEndian.AppendUint32(j.b, uint32(v))
	return j
}
func (j *javaBytes) i64(v int64) *javaBytes {
	j.b = binary.BigEndian.AppendUint64(j.b, uint64(v))
	return j
}
func (j *javaBytes) str(s string) *javaBytes {
	j.i16(int16(len(s)))
	j.b = append(j.b, s...)
	return j
}
func (j *javaBytes) nullableStr(s *string) *javaBytes {
	if s == nil {
		return j.i16(-1)
	}
	return j.str(*s)
}
func (j *javaBytes) bytes(b []byte) *javaBytes {
	j.i32(int32(len(b)))
	j.b = append(j.b, b...)
	return j
}

func TestRecordEncodingsMatchKafka(t *testing.T) {
	tp := topicPartition{"orders", 3}
	e := offsetEntry{offset: 1234, leaderEpoch: 5, metadata: "meta", commitTimestamp: 1_700_000_000_123, expireTimestamp: -1}

	// OffsetCommitKey v1: version, group, topic, partition.
	wantKey := (&javaBytes{}).i16(1).str("grp").str("orders").i32(3).b
	if got := encodeOffsetKey("grp", tp); !bytes.Equal(got, wantKey) {
		t.Fatalf("offset key\n got %x\nwant %x", got, wantKey)
	}
	// OffsetCommitValue v3: version, offset, leader epoch, metadata, commit timestamp.
	wantValue := (&javaBytes{}).i16(3).i64(1234).i32(5).str("meta").i64(1_700_000_000_123).b
	if got := encodeOffsetValue(e); !bytes.Equal(got, wantValue) {
		t.Fatalf("offset value\n got %x\nwant %x", got, wantValue)
	}
	// With an expire timestamp (old clients): v1 = offset, metadata, commit, expire.
	old := e
	old.expireTimestamp = 1_700_000_100_000
	wantOld := (&javaBytes{}).i16(1).i64(1234).str("meta").i64(1_700_000_000_123).i64(1_700_000_100_000).b
	if got := encodeOffsetValue(old); !bytes.Equal(got, wantOld) {
		t.Fatalf("offset value v1\n got %x\nwant %x", got, wantOld)
	}
	// GroupMetadataKey v2.
	if got, want := encodeGroupKey("grp"), (&javaBytes{}).i16(2).str("grp").b; !bytes.Equal(got, want) {
		t.Fatalf("group key\n got %x\nwant %x", got, want)
	}

	// GroupMetadataValue v3 from a real group.
	h := newHarness(t, Config{})
	h.join("client-a", staticJoinReq("grp", "", "inst-a", "range"))
	jb := h.join("client-b", joinReq(3, "grp", "", "range"))
	h.advance(7 * time.Second)
	ida := h.c.Group("grp").Leader()
	h.sync(syncReq("grp", jb.resp.MemberID, 1, nil))
	h.sync(syncReq("grp", ida, 1, map[string]string{ida: "AA", jb.resp.MemberID: "BB"}))
	rec := h.log[len(h.log)-1]
	proto, leader, inst := "range", ida, "inst-a"
	// The state timestamp is when the join completed (after the initial
	// delay was extended once), as the group was when the leader synced.
	completed := t0.Add(6 * time.Second).UnixMilli()
	want := (&javaBytes{}).i16(3).str("consumer").i32(1).nullableStr(&proto).nullableStr(&leader).i64(completed).i32(2)
	sub := consumerMetadata("t1")
	want.str(ida).nullableStr(&inst).str("client-a").str("/10.0.0.1").i32(30000).i32(10000).bytes(sub).bytes([]byte("AA"))
	want.str(jb.resp.MemberID).nullableStr(nil).str("client-b").str("/10.0.0.1").i32(30000).i32(10000).bytes(sub).bytes([]byte("BB"))
	if !bytes.Equal(rec.Value, want.b) {
		t.Fatalf("group metadata value\n got %x\nwant %x", rec.Value, want.b)
	}
	if !bytes.Equal(rec.Key, encodeGroupKey("grp")) {
		t.Fatal("group metadata key")
	}

	// And kmsg (what franz-go tools use to read __consumer_offsets) decodes
	// them to the same fields.
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	if err := k.ReadFrom(wantKey); err != nil || k.Version != 1 || k.Group != "grp" || k.Topic != "orders" || k.Partition != 3 {
		t.Fatalf("kmsg offset key %+v %v", k, err)
	}
	if err := v.ReadFrom(wantValue); err != nil || v.Version != 3 || v.Offset != 1234 || v.LeaderEpoch != 5 || v.Metadata != "meta" || v.CommitTimestamp != e.commitTimestamp {
		t.Fatalf("kmsg offset value %+v %v", v, err)
	}
	var gv kmsg.GroupMetadataValue
	if err := gv.ReadFrom(rec.Value); err != nil || gv.Version != 3 || gv.Generation != 1 || len(gv.Members) != 2 ||
		*gv.Members[0].InstanceID != "inst-a" || gv.Members[1].InstanceID != nil || string(gv.Members[1].Assignment) != "BB" {
		t.Fatalf("kmsg group value %+v %v", gv, err)
	}

	// Decoding: key versions 0/1 are offsets, 2 group metadata, newer ones
	// (KIP-848 records) are skipped, garbage is an error.
	for _, tc := range []struct {
		key  []byte
		kind keyKind
		err  bool
	}{
		{(&javaBytes{}).i16(0).str("g").str("t").i32(1).b, keyOffset, false},
		{wantKey, keyOffset, false},
		{encodeGroupKey("g"), keyGroup, false},
		{(&javaBytes{}).i16(3).str("g").b, keyUnknown, false},
		{[]byte{0}, 0, true},
		{(&javaBytes{}).i16(1).str("g").b, 0, true},
	} {
		k, err := decodeKey(tc.key)
		if (err != nil) != tc.err || (!tc.err && k.kind != tc.kind) {
			t.Fatalf("decodeKey(%x) = %+v, %v", tc.key, k, err)
		}
	}
}

func TestReplayRebuildsGroupsAndOffsets(t *testing.T) {
	h := newHarness(t, Config{})
	ids := h.stableGroup("g", "a", "b")
	h.commit(commitReq("g", ids[0], 1, map[string]int64{"t1": 10, "t2": 20}))
	h.commit(commitReq("g", ids[1], 1, map[string]int64{"t1": 11})) // latest wins
	h.commit(commitReq("simple", "", -1, map[string]int64{"x": 5, "y": 6}))
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "simple"
	req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "y", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	h.c.OffsetDelete(h.now, req, func(*kmsg.OffsetDeleteResponse) {})
	// A deleted group must stay deleted.
	gone := h.stableGroup("gone", "z")
	_ = gone
	h.c.LeaveGroup(h.now, &kmsg.LeaveGroupRequest{Version: 5, Group: "gone", Members: []kmsg.LeaveGroupRequestMember{{MemberID: gone[0]}}})
	h.c.DeleteGroups(h.now, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"gone"}}, func(*kmsg.DeleteGroupsResponse) {})

	later := h.now.Add(time.Second)
	loaded, err := Load(Config{}, later, h.log)
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded.GroupIDs(); !slices.Equal(got, []string{"g", "simple"}) {
		t.Fatalf("loaded groups %v", got)
	}
	for _, group := range []string{"g", "simple"} {
		a, b := h.c.FetchOffsets(group, nil, false), loaded.FetchOffsets(group, nil, false)
		if !equalFetch(a, b) {
			t.Fatalf("%s offsets differ after replay:\n%+v\n%+v", group, a, b)
		}
	}
	if off, _ := h.fetched(loaded, "g", "t1"); off != 11 {
		t.Fatalf("t1 = %d after replay", off)
	}
	if off, _ := h.fetched(loaded, "simple", "y"); off != -1 {
		t.Fatal("a deleted offset came back")
	}

	orig, g := h.c.Group("g"), loaded.Group("g")
	if g.State() != StateStable || g.Generation() != orig.Generation() || g.Leader() != orig.Leader() ||
		g.Protocol() != "range" || g.ProtocolType() != "consumer" || !slices.Equal(g.MemberIDs(), orig.MemberIDs()) {
		t.Fatalf("loaded group %s gen %d leader %s %v", g.State(), g.Generation(), g.Leader(), g.MemberIDs())
	}
	for _, id := range ids {
		if string(g.Assignment(id)) != "assign-"+id {
			t.Fatalf("assignment of %s: %q", id, g.Assignment(id))
		}
	}
	if !g.IsSubscribedToTopic("t1") {
		t.Fatal("subscriptions not restored")
	}
	da, db := h.c.DescribeGroup("g", false), loaded.DescribeGroup("g", false)
	if len(da.Members) != len(db.Members) || da.Members[0].ClientID != db.Members[0].ClientID || !bytes.Equal(da.Members[1].ProtocolMetadata, db.Members[1].ProtocolMetadata) {
		t.Fatalf("describe differs:\n%+v\n%+v", da, db)
	}

	// Loaded members carry on with their generation; silent ones expire a
	// session timeout after the load.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", ids[0], 1
	if code := loaded.Heartbeat(later, hb).ErrorCode; code != 0 {
		t.Fatalf("heartbeat after load: %s", errName(code))
	}
	loaded.Tick(later.Add(9 * time.Second))
	hb.MemberID = ids[0]
	loaded.Heartbeat(later.Add(9*time.Second), hb)
	loaded.Tick(later.Add(11 * time.Second))
	if st := g.State(); st != StatePreparingRebalance || len(g.MemberIDs()) != 1 {
		t.Fatalf("after the silent member's session: %s %v", st, g.MemberIDs())
	}
	loaded.Unload()
}

func equalFetch(a, b kmsg.OffsetFetchResponseGroup) bool {
	if a.ErrorCode != b.ErrorCode || len(a.Topics) != len(b.Topics) {
		return false
	}
	for i := range a.Topics {
		ta, tb := a.Topics[i], b.Topics[i]
		if ta.Topic != tb.Topic || len(ta.Partitions) != len(tb.Partitions) {
			return false
		}
		for j := range ta.Partitions {
			pa, pb := ta.Partitions[j], tb.Partitions[j]
			if pa.Partition != pb.Partition || pa.Offset != pb.Offset || pa.LeaderEpoch != pb.LeaderEpoch || *pa.Metadata != *pb.Metadata {
				return false
			}
		}
	}
	return true
}

func TestReplayRejectsGarbageAndLateReplay(t *testing.T) {
	c := NewCoordinator(Config{})
	if err := c.Replay([]byte{0, 1, 0}, nil); err == nil {
		t.Fatal("truncated key accepted")
	}
	if err := c.Replay(encodeGroupKey("g"), []byte{0, 3, 0}); err == nil {
		t.Fatal("truncated group value accepted")
	}
	c.CompleteLoad(t0)
	if err := c.Replay(encodeGroupKey("g"), nil); err == nil {
		t.Fatal("Replay after CompleteLoad accepted")
	}
}

// FuzzReplay: records read back from disk must never panic the loader, and
// whatever loads must serve.
func FuzzReplay(f *testing.F) {
	f.Add(encodeOffsetKey("g", topicPartition{"t", 0}), encodeOffsetValue(offsetEntry{offset: 1, leaderEpoch: -1, expireTimestamp: -1}))
	f.Add(encodeGroupKey("g"), []byte(nil))
	v := kmsg.NewGroupMetadataValue()
	v.ProtocolType = "consumer"
	v.Generation = 3
	p, l := "range", "m"
	v.Protocol, v.Leader = &p, &l
	m := kmsg.NewGroupMetadataValueMember()
	m.MemberID, m.SessionTimeoutMillis, m.Subscription = "m", 10000, consumerMetadata("t")
	v.Members = append(v.Members, m)
	f.Add(encodeGroupKey("g"), encodeGroupValue(&v))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c := NewCoordinator(Config{})
		_ = c.Replay(key, value)
		c.CompleteLoad(t0)
		c.Tick(t0.Add(time.Hour))
		for _, id := range c.GroupIDs() {
			c.DescribeGroup(id, false)
			c.FetchOffsets(id, nil, false)
		}
		c.Unload()
	})
}
