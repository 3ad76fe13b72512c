package client

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAdminTopicsAndConfigs(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		a := newTestAdmin(t, tg)
		ctx := testCtx(t, 60*time.Second)
		name := uniq("adm")
		if err := a.CreateTopics(ctx, TopicSpec{Name: name, Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "123456"}}); err != nil {
			t.Fatal(err)
		}
		err := a.CreateTopics(ctx, TopicSpec{Name: name, Partitions: 2, ReplicationFactor: 1})
		if !errors.Is(err, ErrTopicAlreadyExists) {
			t.Fatalf("second create: %v", err)
		}
		names, err := a.ListTopics(ctx)
		if err != nil || !slices.Contains(names, name) {
			t.Fatalf("list: %v %v", names, err)
		}
		td, err := a.DescribeTopics(ctx, name)
		if err != nil || len(td) != 1 || len(td[0].Partitions) != 2 || td[0].Partitions[1].Leader < 0 {
			t.Fatalf("describe: %+v %v", td, err)
		}
		if err := a.CreatePartitions(ctx, name, 5); err != nil {
			t.Fatal(err)
		}
		if td, _ := a.DescribeTopics(ctx, name); len(td[0].Partitions) != 5 {
			t.Fatalf("after create partitions: %d", len(td[0].Partitions))
		}
		res := ConfigResource{Type: ResourceTopic, Name: name}
		cfgs, err := a.DescribeConfigs(ctx, res)
		if err != nil || cfgs["retention.ms"].Value == nil || *cfgs["retention.ms"].Value != "123456" {
			t.Fatalf("describe configs: %+v %v", cfgs["retention.ms"], err)
		}
		v := "654321"
		if err := a.AlterConfigs(ctx, res, map[string]*string{"retention.ms": &v}); err != nil {
			t.Fatal(err)
		}
		cfgs, _ = a.DescribeConfigs(ctx, res, "retention.ms")
		if cfgs["retention.ms"].Value == nil || *cfgs["retention.ms"].Value != v {
			t.Fatalf("after alter: %+v", cfgs["retention.ms"])
		}
		if err := a.AlterConfigs(ctx, res, map[string]*string{"retention.ms": nil}); err != nil {
			t.Fatal(err)
		}
		if cfgs, _ = a.DescribeConfigs(ctx, res, "retention.ms"); !cfgs["retention.ms"].Default {
			t.Fatalf("after delete: %+v", cfgs["retention.ms"])
		}
		ci, err := a.DescribeCluster(ctx)
		if err != nil || len(ci.Brokers) == 0 || ci.Controller < 0 {
			t.Fatalf("cluster: %+v %v", ci, err)
		}
		wantBrokers := 1
		if !tg.samsa {
			wantBrokers = 3
		}
		if len(ci.Brokers) != wantBrokers {
			t.Fatalf("%d brokers", len(ci.Brokers))
		}
		bc, err := a.DescribeConfigs(ctx, ConfigResource{Type: ResourceBroker, Name: strconv.Itoa(int(ci.Brokers[0].NodeID))})
		if err != nil || len(bc) == 0 {
			t.Fatalf("broker configs: %d %v", len(bc), err)
		}
		if err := a.DeleteTopics(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := a.DeleteTopics(ctx, name); !errors.Is(err, ErrUnknownTopicOrPartition) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestAdminGroups(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		a := newTestAdmin(t, tg)
		ctx := testCtx(t, 60*time.Second)
		topic := newTopic(t, tg, 2)
		group := uniq("g")
		p := newTestProducer(t, tg)
		produceN(t, p, topic, 20, func(i int) []byte { return []byte{byte(i)} })
		c := newTestConsumer(t, tg, groupOpts(group, WithAutoCommit(false))...)
		c.Subscribe(topic)
		consumeN(t, ctx, c, 20)
		t0, t1 := TopicPartition{topic, 0}, TopicPartition{topic, 1}
		if err := c.CommitOffsets(ctx, map[TopicPartition]int64{t0: 1, t1: 2}); err != nil {
			t.Fatal(err)
		}
		gl, err := a.ListGroups(ctx)
		if err != nil || !slices.ContainsFunc(gl, func(g GroupListing) bool { return g.GroupID == group }) {
			t.Fatalf("list groups: %+v %v", gl, err)
		}
		gd, err := a.DescribeGroups(ctx, group)
		if err != nil || len(gd) != 1 || gd[0].State != "Stable" || len(gd[0].Members) != 1 || len(gd[0].Members[0].Assignment) != 2 {
			t.Fatalf("describe: %+v %v", gd, err)
		}
		ends, err := a.ListOffsets(ctx, OffsetLatest, t0, t1)
		if err != nil {
			t.Fatal(err)
		}
		lag, err := a.GroupLag(ctx, group)
		if err != nil || lag[t0].Lag != ends[t0]-1 || lag[t1].Lag != ends[t1]-2 || lag[t0].Committed != 1 {
			t.Fatalf("lag %+v (ends %v) %v", lag, ends, err)
		}
		err = a.DeleteGroups(ctx, group)
		if ge, ok := errors.AsType[*GroupError](err); !ok || ge.Group != group || !errors.Is(err, ErrNonEmptyGroup) {
			t.Fatalf("delete live group: %v", err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.CommitGroupOffsets(ctx, group, map[TopicPartition]int64{t0: 0}); err != nil {
			t.Fatal(err)
		}
		if err := a.DeleteGroupOffsets(ctx, group, t1); err != nil {
			t.Fatal(err)
		}
		offs, err := a.GroupOffsets(ctx, group)
		if _, has1 := offs[t1]; err != nil || offs[t0] != 0 || has1 {
			t.Fatalf("offsets after reset/delete: %v %v", offs, err)
		}
		if err := a.DeleteGroups(ctx, group); err != nil {
			t.Fatal(err)
		}
		if gl, _ := a.ListGroups(ctx); slices.ContainsFunc(gl, func(g GroupListing) bool { return g.GroupID == group }) {
			t.Fatal("deleted group still listed")
		}
	})
}

// Calls naming several topics report each failed topic as a *TopicError and
// leave the others alone; single-topic calls say which topic too.
func TestAdminTopicErrors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		a := newTestAdmin(t, tg)
		ctx := testCtx(t, 60*time.Second)
		existing := newTopic(t, tg, 2)
		fresh, missing := uniq("fresh"), uniq("missing")

		err := a.CreateTopics(ctx, TopicSpec{Name: existing, Partitions: 1, ReplicationFactor: 1},
			TopicSpec{Name: fresh, Partitions: 1, ReplicationFactor: 1})
		failed := topicErrors(t, err)
		if len(failed) != 1 || !errors.Is(failed[existing], ErrTopicAlreadyExists) {
			t.Fatalf("create existing and fresh: %v", err)
		}
		// The broker's message only where it adds to the code's text.
		if n := strings.Count(err.Error(), ErrTopicAlreadyExists.Message); n != 1 {
			t.Fatalf("the code's description %d times in %q", n, err)
		}
		if td, err := a.DescribeTopics(ctx, fresh); err != nil || len(td) != 1 || td[0].Err != nil {
			t.Fatalf("fresh topic not created: %+v %v", td, err)
		}

		err = a.DeleteTopics(ctx, fresh, missing)
		if failed := topicErrors(t, err); len(failed) != 1 || !errors.Is(failed[missing], ErrUnknownTopicOrPartition) {
			t.Fatalf("delete fresh and missing: %v", err)
		}
		if td, _ := a.DescribeTopics(ctx, fresh); len(td) == 1 && td[0].Err == nil {
			t.Fatalf("fresh topic not deleted: %+v", td)
		}

		err = a.CreatePartitions(ctx, existing, 1)
		if te, ok := errors.AsType[*TopicError](err); !ok || te.Topic != existing || !errors.Is(err, ErrInvalidPartitions) {
			t.Fatalf("shrinking partitions: %v", err)
		}
		_, err = a.DescribeConfigs(ctx, ConfigResource{Type: ResourceTopic, Name: missing})
		if te, ok := errors.AsType[*TopicError](err); !ok || te.Topic != missing || !errors.Is(err, ErrUnknownTopicOrPartition) {
			t.Fatalf("configs of a missing topic: %v", err)
		}
	})
}

// topicErrors maps the *TopicErrors joined in err by topic, failing on any
// other error.
func topicErrors(t *testing.T, err error) map[string]error {
	t.Helper()
	out := map[string]error{}
	if err == nil {
		return out
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		te, ok := errors.AsType[*TopicError](e)
		if !ok {
			t.Fatalf("not a topic's error: %v", e)
		}
		out[te.Topic] = te
	}
	return out
}

// DescribeGroupLag: state, coordinator, per-partition commits, log ends,
// lag and owners, and groups that do not exist.
func TestAdminDescribeGroupLag(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		a := newTestAdmin(t, tg)
		ctx := testCtx(t, 60*time.Second)
		topic := newTopic(t, tg, 2)
		group, nope := uniq("g"), uniq("nope")
		p := newTestProducer(t, tg, WithPartitioner(ManualPartitioner()))
		for i, part := range []int32{0, 0, 0, 1, 1} {
			if _, err := p.SendSync(ctx, &Record{Topic: topic, Partition: part, Value: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		t0, t1 := TopicPartition{topic, 0}, TopicPartition{topic, 1}
		if err := a.CommitGroupOffsets(ctx, group, map[TopicPartition]int64{t0: 1}); err != nil {
			t.Fatal(err)
		}
		c := newTestConsumer(t, tg, groupOpts(group, WithAutoCommit(false), WithClientID("lagger"))...)
		c.Subscribe(topic)
		pollUntil(t, ctx, nil, func() bool { return len(c.Assignment()) == 2 }, c)
		member := c.GroupMetadata().MemberID

		ds, err := a.DescribeGroupLag(ctx, group, nope)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 || ds[0].GroupID != group || ds[1].GroupID != nope {
			t.Fatalf("described %+v", ds)
		}
		d := ds[0]
		if d.Err != nil || d.State != "Stable" || len(d.Members) != 1 || len(d.Lag) != 2 {
			t.Fatalf("group %+v", d)
		}
		ci, err := a.DescribeCluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(ci.Brokers, func(b BrokerInfo) bool {
			return b.NodeID == d.Coordinator.NodeID && b.Host == d.Coordinator.Host && b.Port == d.Coordinator.Port
		}) {
			t.Fatalf("coordinator %+v is none of the brokers %+v", d.Coordinator, ci.Brokers)
		}
		for tp, want := range map[TopicPartition]PartitionLag{
			t0: {Committed: 1, End: 3, Lag: 2},
			t1: {Committed: -1, End: 2, Lag: 2},
		} {
			got := d.Lag[tp]
			if got.Committed != want.Committed || got.End != want.End || got.Lag != want.Lag || got.EndErr != nil ||
				got.Member == nil || got.Member.MemberID != member || got.Member.ClientID != "lagger" {
				t.Fatalf("%s: %+v, want %+v owned by %s", tp, got, want, member)
			}
		}
		// Newer brokers say GROUP_ID_NOT_FOUND, older ones Dead.
		if n := ds[1]; !errors.Is(n.Err, ErrGroupIDNotFound) && (n.Err != nil || n.State != "Dead" || len(n.Lag) != 0) {
			t.Fatalf("group that does not exist: %+v", n)
		}
		if lag, err := a.GroupLag(ctx, nope); err != nil || len(lag) != 0 {
			t.Fatalf("GroupLag of a group that does not exist: %v %v", lag, err)
		}

		if tg.fake == nil {
			return
		}
		// A partition whose log end cannot be listed gets EndErr; the
		// rest of the description stands.
		tg.fake.ControlKey(kmsg.ListOffsets.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
			tg.fake.KeepControl() // the partitions may have different leaders
			resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
			for _, rt := range req.(*kmsg.ListOffsetsRequest).Topics {
				st := kmsg.NewListOffsetsResponseTopic()
				st.Topic = rt.Topic
				for _, rp := range rt.Partitions {
					sp := kmsg.NewListOffsetsResponseTopicPartition()
					sp.Partition, sp.ErrorCode = rp.Partition, ErrKafkaStorageError.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		})
		ds, err = a.DescribeGroupLag(ctx, group)
		if err != nil || ds[0].Err != nil || len(ds[0].Lag) != 2 {
			t.Fatalf("with ListOffsets failing: %+v %v", ds, err)
		}
		for tp, got := range ds[0].Lag {
			if !errors.Is(got.EndErr, ErrKafkaStorageError) || got.End != -1 || got.Lag != -1 || got.Member == nil {
				t.Fatalf("%s with ListOffsets failing: %+v", tp, got)
			}
		}
	})
}

// ListGroups filters by state; kfake shows a broker failing: the others'
// groups come back with an error naming it.
func TestAdminListGroupsStates(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		a := newTestAdmin(t, tg)
		ctx := testCtx(t, 60*time.Second)
		topic := newTopic(t, tg, 1)
		stable, empty := uniq("stable"), uniq("empty")
		c1 := newTestConsumer(t, tg, groupOpts(stable)...)
		c1.Subscribe(topic)
		c2 := newTestConsumer(t, tg, groupOpts(empty)...)
		c2.Subscribe(topic)
		pollUntil(t, ctx, nil, func() bool { return len(c1.Assignment()) == 1 && len(c2.Assignment()) == 1 }, c1, c2)
		if err := c2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		has := func(gl []GroupListing, g, state string) bool {
			return slices.ContainsFunc(gl, func(l GroupListing) bool { return l.GroupID == g && l.State == state && l.ProtocolType == "consumer" })
		}
		for _, tc := range []struct {
			states                []string
			withStable, withEmpty bool
		}{
			{nil, true, true},
			{[]string{"Empty"}, false, true},
			{[]string{"Stable", "PreparingRebalance"}, true, false},
		} {
			gl, err := a.ListGroups(ctx, tc.states...)
			if err != nil || has(gl, stable, "Stable") != tc.withStable || has(gl, empty, "Empty") != tc.withEmpty {
				t.Fatalf("ListGroups %v: %+v %v", tc.states, gl, err)
			}
		}

		if tg.fake == nil {
			return
		}
		ds, err := a.DescribeGroups(ctx, stable, empty)
		if err != nil {
			t.Fatal(err)
		}
		down := ds[0].Coordinator.NodeID
		tg.fake.ControlKey(kmsg.ListGroups.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
			if tg.fake.CurrentNode() != down {
				return nil, nil, false
			}
			resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
			resp.ErrorCode = ErrCoordinatorNotAvailable.Code
			return resp, nil, true
		})
		gl, err := a.ListGroups(ctx)
		if !errors.Is(err, ErrCoordinatorNotAvailable) || !strings.Contains(err.Error(), fmt.Sprintf("broker %d:", down)) {
			t.Fatalf("one broker failing: %v", err)
		}
		emptyUp := ds[1].Coordinator.NodeID != down
		if has(gl, stable, "Stable") || has(gl, empty, "Empty") != emptyUp {
			t.Fatalf("broker %d failing (coordinators %d, %d): %+v", down, down, ds[1].Coordinator.NodeID, gl)
		}
	})
}

// PartitionsFor reports a topic's partitions, fails at once for a topic the
// broker does not know, and has the broker create it when allowed.
func TestProducerPartitionsFor(t *testing.T) {
	for _, tg := range []func(t testing.TB) *target{
		func(t testing.TB) *target { return newKfake(t, kfake.AllowAutoTopicCreation()) },
		newSamsa, // auto.create.topics.enable is on by default
	} {
		tg := tg(t)
		t.Run(tg.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			topic := newTopic(t, tg, 3)
			parts, err := newTestProducer(t, tg).PartitionsFor(ctx, topic)
			if err != nil || len(parts) != 3 {
				t.Fatalf("partitions of %s: %+v %v", topic, parts, err)
			}
			for i, p := range parts {
				if p.Partition != int32(i) || p.Leader < 0 || len(p.Replicas) != 1 || p.Err != nil {
					t.Fatalf("partition %d: %+v", i, p)
				}
			}

			missing := uniq("missing")
			start := time.Now()
			_, err = newTestProducer(t, tg).PartitionsFor(ctx, missing)
			if te, ok := errors.AsType[*TopicError](err); !ok || te.Topic != missing || !errors.Is(err, ErrUnknownTopicOrPartition) {
				t.Fatalf("missing topic: %v", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("missing topic took %v", d)
			}

			parts, err = newTestProducer(t, tg, WithAllowAutoTopicCreation()).PartitionsFor(ctx, missing)
			if err != nil || len(parts) == 0 || parts[0].Leader < 0 {
				t.Fatalf("auto-created %s: %+v %v", missing, parts, err)
			}
		})
	}
}

func TestCodeErrMessage(t *testing.T) {
	e := ErrTopicAlreadyExists
	for _, tc := range []struct {
		msg  *string
		want string
	}{
		{nil, e.Error()},
		{new(""), e.Error()},
		{new(e.Error()), e.Error()},
		{new(e.Message), e.Error()},
		{new(e.Error() + ": topic 'x' already exists"), e.Error() + " (topic 'x' already exists)"},
		{new("topic 'x' already exists"), e.Error() + " (topic 'x' already exists)"},
	} {
		err := codeErr(e.Code, tc.msg)
		if err.Error() != tc.want || !errors.Is(err, e) {
			t.Errorf("codeErr(%v) = %q, want %q", tc.msg, err, tc.want)
		}
	}
}
