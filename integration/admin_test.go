package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicAdmin drives topic administration through kadm: create (and
// validate-only), list, describe, configs, add partitions, delete, and the
// errors Kafka clients expect.
func TestTopicAdmin(t *testing.T) {
	b := startBroker(t, "", map[string]string{"num.partitions": "2"})
	adm := newAdmin(t, b.Addr())
	ctx := testContext(t, time.Minute)
	// kadm caches metadata per client; list through fresh clients so each
	// listing reflects the broker now.
	list := func(topics ...string) kadm.TopicDetails {
		t.Helper()
		td, err := newAdmin(t, b.Addr()).ListTopics(ctx, topics...)
		if err != nil {
			t.Fatal(err)
		}
		return td
	}

	// validate-only creates nothing.
	vr, err := adm.ValidateCreateTopics(ctx, 4, 1, nil, "orders")
	if err != nil || vr["orders"].Err != nil {
		t.Fatalf("validate-only: %v %v", err, vr["orders"].Err)
	}
	if list().Has("orders") {
		t.Fatal("validate-only created the topic")
	}

	retention := "3600000"
	cr, err := adm.CreateTopic(ctx, 6, 1, map[string]*string{"retention.ms": &retention}, "orders")
	if err != nil || cr.Err != nil {
		t.Fatalf("create: %v %v", err, cr.Err)
	}
	if cr.ID == [16]byte{} {
		t.Fatal("no topic ID")
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "too-replicated"); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3 on one broker: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "bad/name"); !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("bad name: %v", err)
	}
	bad := "forever"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &bad}, "bad-config"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("bad config: %v", err)
	}
	// Defaults: -1 partitions takes num.partitions.
	if r, err := adm.CreateTopic(ctx, -1, -1, nil, "defaults"); err != nil || r.NumPartitions != 2 {
		t.Fatalf("defaults: %v %+v", err, r)
	}

	td := list()
	if !td.Has("orders") || !td.Has("defaults") || len(td["orders"].Partitions) != 6 {
		t.Fatalf("list: %v", td.Names())
	}
	if td["orders"].ID != cr.ID {
		t.Fatal("metadata topic ID differs from CreateTopics'")
	}
	for _, p := range td["orders"].Partitions {
		if p.Leader != b.NodeID() || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.Err != nil {
			t.Fatalf("partition %+v", p)
		}
	}

	rc, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rc.On("orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]kadm.Config{}
	for _, c := range cfg.Configs {
		got[c.Key] = c
	}
	if v := got["retention.ms"]; v.MaybeValue() != "3600000" || v.Source != 1 {
		t.Fatalf("retention.ms: %+v", v)
	}
	if v := got["cleanup.policy"]; v.MaybeValue() != "delete" || v.Source != 5 {
		t.Fatalf("cleanup.policy: %+v", v)
	}

	// Incremental alter, then check.
	seg := "1048576"
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Name: "segment.bytes", Value: &seg},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "orders"); err != nil {
		t.Fatal(err)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "orders")
	cfg, _ = rc.On("orders", nil)
	for _, c := range cfg.Configs {
		if c.Key == "segment.bytes" && c.MaybeValue() != seg {
			t.Fatalf("segment.bytes = %s", c.MaybeValue())
		}
		if c.Key == "retention.ms" && c.MaybeValue() != "604800000" {
			t.Fatalf("retention.ms after delete = %s", c.MaybeValue())
		}
	}
	// Non-incremental AlterConfigs replaces the set.
	if _, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: &seg}}, "orders"); err != nil {
		t.Fatal(err)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "orders")
	cfg, _ = rc.On("orders", nil)
	for _, c := range cfg.Configs {
		if c.Key == "segment.bytes" && c.Source != 5 {
			t.Fatalf("segment.bytes survived a replacing AlterConfigs: %+v", c)
		}
	}

	// Add partitions, and partitions can't shrink.
	if _, err := adm.UpdatePartitions(ctx, 12, "orders"); err != nil {
		t.Fatal(err)
	}
	td = list("orders")
	if len(td["orders"].Partitions) != 12 {
		t.Fatalf("after alter: %d partitions", len(td["orders"].Partitions))
	}
	if r, _ := adm.UpdatePartitions(ctx, 3, "orders"); r["orders"].Err == nil {
		t.Fatal("shrinking partitions succeeded")
	}
	// The new partitions take writes.
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 11, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	dr, err := adm.DeleteTopics(ctx, "orders")
	if err != nil || dr["orders"].Err != nil {
		t.Fatalf("delete: %v %v", err, dr["orders"].Err)
	}
	if list().Has("orders") {
		t.Fatal("deleted topic still listed")
	}
	if r, _ := adm.DeleteTopics(ctx, "orders"); !errors.Is(r["orders"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete again: %v", r["orders"].Err)
	}
	// Re-creating the name gives a fresh, empty topic.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	ends, _ := adm.ListEndOffsets(ctx, "orders")
	if o, _ := ends.Lookup("orders", 0); o.Offset != 0 {
		t.Fatalf("recreated topic has end offset %d", o.Offset)
	}
}

// TestAutoCreate: a metadata request for an unknown topic creates it with
// num.partitions, unless auto.create.topics.enable=false.
func TestAutoCreate(t *testing.T) {
	b := startBroker(t, "", map[string]string{"num.partitions": "3"})
	ctx := testContext(t, time.Minute)
	cl := newClient(t, b.Addr(), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	td, _ := newAdmin(t, b.Addr()).ListTopics(ctx, "auto")
	if len(td["auto"].Partitions) != 3 {
		t.Fatalf("auto-created with %d partitions", len(td["auto"].Partitions))
	}

	b2 := startBroker(t, "", map[string]string{"auto.create.topics.enable": "false"})
	td, err := newAdmin(t, b2.Addr()).ListTopics(ctx, "nope")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(td["nope"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("auto-create disabled: %v", td["nope"].Err)
	}
}
