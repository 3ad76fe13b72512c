package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
)

// countMetadata counts the Metadata requests a client writes.
type countMetadata struct{ n atomic.Int64 }

func (c *countMetadata) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.Metadata.Int16() && err == nil {
		c.n.Add(1)
	}
}

// TestClusterLeaderMoveHint (KIP-951): when a partition's leadership moves,
// the old leader's NOT_LEADER_OR_FOLLOWER answer to Produce and Fetch names
// the new leader and its endpoint, and franz-go follows it without a
// metadata refresh. The clients are configured so they cannot refresh
// metadata for an hour: they keep producing and consuming across the move
// only if the hint works.
func TestClusterLeaderMoveHint(t *testing.T) {
	c := startCluster(t, 3, "--set", "auto.leader.rebalance.enable=false")
	ctx := testContext(t, 3*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "hint"
	createReplicated(t, ctx, adm, c, topic)

	noRefresh := []kgo.Opt{kgo.MetadataMinAge(time.Hour), kgo.MetadataMaxAge(time.Hour)}
	var prodMeta, consMeta countMetadata
	prod := newClient(t, c.addrs(0), append(noRefresh, kgo.DefaultProduceTopic(topic), kgo.WithHooks(&prodMeta))...)
	cons := newClient(t, c.addrs(0), append(noRefresh, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(&consMeta))...)

	produce := func(v string) int64 { return produceWithin(t, ctx, prod, v) }
	consume := func(want string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			fs := cons.PollFetches(pctx)
			if pctx.Err() != nil {
				t.Fatalf("consumer never got %q", want)
			}
			var got []string
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			if len(got) > 0 {
				if !slices.Equal(got, []string{want}) {
					t.Fatalf("consumed %q, want [%s]", got, want)
				}
				return
			}
		}
	}

	if off := produce("before"); off != 0 {
		t.Fatalf("first offset %d", off)
	}
	consume("before")
	before := leaderOf(t, ctx, adm, topic, 0)
	prodSeen, consSeen := prodMeta.n.Load(), consMeta.n.Load()

	moveLeader(t, ctx, adm, topic, before)

	if off := produce("after"); off != 1 {
		t.Fatalf("offset after the move %d, want 1", off)
	}
	consume("after")
	if n := prodMeta.n.Load() - prodSeen; n != 0 {
		t.Errorf("producer sent %d metadata requests after the move; it should have followed the hint", n)
	}
	if n := consMeta.n.Load() - consSeen; n != 0 {
		t.Errorf("consumer sent %d metadata requests after the move; it should have followed the hint", n)
	}
}

// TestClusterMetadataWaitsForElection: right after a partition leader's
// process dies, the surviving brokers notice (its sockets close), leave it
// out of Metadata, and answer Metadata for its partitions with the newly
// elected leader rather than LEADER_NOT_AVAILABLE or the dead broker; a
// client that asks at once then needs no second try (which franz-go
// would delay by its metadata min age, 5 s).
func TestClusterMetadataWaitsForElection(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "elect-wait"
	createReplicated(t, ctx, adm, c, topic)
	dead := leaderOf(t, ctx, adm, topic, 0)
	surv := dead%3 + 1
	cl := newClient(t, c.procs[surv-1].addr)
	if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
		t.Fatal(err)
	}
	br := cl.Broker(int(surv))
	waitMetrics(t, ctx, c.procs, "brokers watching each other", func(m map[string]float64) bool {
		return m["samsa_peer_brokers_up"] == 6
	}, "samsa_peer_brokers_up")

	c.procs[dead-1].kill()
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		name := topic
		rt.Topic = &name
		req.Topics = append(req.Topics, rt)
		r, err := br.RetriableRequest(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := r.(*kmsg.MetadataResponse)
		listed := false
		for _, b := range resp.Brokers {
			listed = listed || b.NodeID == dead
		}
		if listed {
			// Broker surv has not noticed yet.
			if attempt > 1000 {
				t.Fatalf("broker %d still lists dead broker %d", surv, dead)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.Leader == dead || p.Leader < 0 {
			t.Fatalf("first answer without broker %d: leader %d, error %v", dead, p.Leader, kerr.ErrorForCode(p.ErrorCode))
		}
		t.Logf("broker %d killed; broker %d answered leader %d after %d earlier answers", dead, surv, p.Leader, attempt)
		return
	}
}

// produceWithin produces one record and fails the test if it is not
// acknowledged within 30 s: franz-go retries a record it cannot place until
// its metadata is refreshed, which the clients here are configured not to
// do.
func produceWithin(t *testing.T, ctx context.Context, cl *kgo.Client, v string) int64 {
	t.Helper()
	type result struct {
		off int64
		err error
	}
	done := make(chan result, 1)
	cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) { done <- result{r.Offset, err} })
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("produce %q: %v", v, r.err)
		}
		return r.off
	case <-time.After(30 * time.Second):
		t.Fatalf("produce %q not acknowledged in 30 s", v)
		return -1
	}
}

// TestClusterShutdownHint: a broker stopped with SIGTERM hands its
// leaderships over while it still serves, so a producer learns the new
// leader from its NOT_LEADER_OR_FOLLOWER hint. The producer cannot refresh
// metadata, so it keeps going across the shutdown only if that works (it
// hangs when the broker closes its connections first, as it used to). The
// shutdown grace period and the no-hand-back rule make this robust to
// timing; their effect shows in TestFailoverStall/franz-go-defaults/sigterm
// rather than here.
func TestClusterShutdownHint(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "shutdown-hint"
	createReplicated(t, ctx, adm, c, topic)
	prod := newClient(t, c.addrs(0), append(kgoDebugLog(), kgo.MetadataMinAge(time.Hour), kgo.MetadataMaxAge(time.Hour), kgo.DefaultProduceTopic(topic))...)
	next := int64(0)
	produce := func() {
		t.Helper()
		if off := produceWithin(t, ctx, prod, fmt.Sprint(next)); off != next {
			t.Fatalf("offset %d, want %d", off, next)
		}
		next++
	}
	produce()
	victim := leaderOf(t, ctx, adm, topic, 0)
	p := c.procs[victim-1]
	exited := make(chan error, 1)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- p.cmd.Wait() }()
	for {
		produce()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("broker %d exited with %v after SIGTERM", victim, err)
			}
			// Leadership stayed away from the stopping broker.
			for i := 0; i < 20; i++ {
				produce()
			}
			t.Logf("broker %d stopped; %d records acknowledged across it", victim, next)
			return
		default:
		}
	}
}

// moveLeader moves partition 0's leadership away from broker from: another
// replica becomes the preferred one, then a preferred election runs.
func moveLeader(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, from int32) int32 {
	t.Helper()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	replicas := td[topic].Partitions[0].Replicas
	var order []int32
	for _, r := range replicas {
		if r != from {
			order = append(order, r)
		}
	}
	order = append(order, from)
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, order)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	for !replicasAre(ctx, adm, topic, order) {
		if ctx.Err() != nil {
			t.Fatalf("replica order never became %v", order)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for leaderOf(t, ctx, adm, topic, 0) != order[0] {
		if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}}); err != nil {
			t.Logf("elect leaders: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("leadership moved from broker %d to %d", from, order[0])
	return order[0]
}

// TestClusterAcks0NotLeaderClosesConnection: an acks=0 produce has no
// answer to carry an error, so a broker that refuses one (here: it is not
// the partition's leader) closes the connection, as Kafka does; clients
// that refresh metadata on a disconnect (the Java client, librdkafka) then
// find the new leader. The leader keeps the connection of a good acks=0
// produce open.
func TestClusterAcks0NotLeaderClosesConnection(t *testing.T) {
	c := startCluster(t, 3, "--set", "auto.leader.rebalance.enable=false")
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "acks0-not-leader"
	createReplicated(t, ctx, adm, c, topic)
	leader := leaderOf(t, ctx, adm, topic, 0)
	follower := leader%3 + 1

	now := time.Now().UnixMilli()
	b, err := batch.Build(batch.Header{FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]batch.Record{{Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = 0, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("acks0-test"))

	// sendThenPing writes the acks=0 produce and then an ApiVersions
	// request on one connection, and reports whether ApiVersions was
	// answered (the connection stayed open).
	sendThenPing := func(node int32) bool {
		t.Helper()
		conn, err := net.Dial("tcp", c.procs[node-1].addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(f.AppendRequest(nil, req, 1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // let the refusal arrive first
		ping := kmsg.NewPtrApiVersionsRequest()
		ping.SetVersion(0)
		if _, err := conn.Write(f.AppendRequest(nil, ping, 2)); err != nil {
			return false
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var size [4]byte
		_, err = io.ReadFull(conn, size[:])
		return err == nil
	}
	if !sendThenPing(leader) {
		t.Fatalf("leader %d closed the connection of a good acks=0 produce", leader)
	}
	if sendThenPing(follower) {
		t.Fatalf("follower %d kept the connection open after refusing an acks=0 produce", follower)
	}
}

// createReplicated creates topic with one partition on all three brokers
// and waits until every replica is in sync.
func createReplicated(t *testing.T, ctx context.Context, adm *kadm.Client, c *cluster, topic string) {
	t.Helper()
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitISRPartition(t, ctx, c.procs[0].addr, topic, 0, 3)
}
