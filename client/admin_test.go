package client

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
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
		if err := a.DeleteGroups(ctx, group); !errors.Is(err, ErrNonEmptyGroup) {
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
