package integration

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/partition"
)

// cluster is n broker processes sharing a controller.
type cluster struct {
	procs           []*proc
	dirs            []string
	ports, raftPort []int
	initial         string
}

func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	c := &cluster{}
	var parts []string
	for i := 1; i <= n; i++ {
		c.dirs = append(c.dirs, t.TempDir())
		c.ports = append(c.ports, freePort(t))
		c.raftPort = append(c.raftPort, freePort(t))
		parts = append(parts, fmt.Sprintf("%d=127.0.0.1:%d", i, c.raftPort[i-1]))
	}
	c.initial = strings.Join(parts, ",")
	c.procs = make([]*proc, n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.procs[i-1] = c.start(t, i, extra...)
		}(i)
	}
	wg.Wait()
	// Brokers register asynchronously: wait until every broker sees all.
	ctx := testContext(t, 30*time.Second)
	for _, p := range c.procs {
		for {
			md, err := newAdmin(t, p.addr).BrokerMetadata(ctx)
			if err == nil && len(md.Brokers) == n {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("broker %s never saw %d brokers: %v", p.addr, n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

func (c *cluster) start(t *testing.T, node int, extra ...string) *proc {
	args := append([]string{"--node-id", strconv.Itoa(node), "--initial-cluster", c.initial}, extra...)
	return startProc(t, c.dirs[node-1], c.ports[node-1], c.raftPort[node-1], args...)
}

func (c *cluster) addrs(skip int) string {
	var out []string
	for i, p := range c.procs {
		if i+1 != skip {
			out = append(out, p.addr)
		}
	}
	return strings.Join(out, ",")
}

// leaderOf asks the cluster which broker leads topic/partition.
func leaderOf(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partition int32) int32 {
	t.Helper()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range td[topic].Partitions {
		if p.Partition == partition {
			return p.Leader
		}
	}
	return -1
}

// TestClusterKillLeaderDuringStream: three broker processes, a topic with
// replication factor 3, a steady acks=all franz-go stream, and kill -9 of the
// broker leading partition 0: every acknowledged record is read back
// afterwards, none twice, offsets contiguous.
func TestClusterKillLeaderDuringStream(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t, 4*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "replicated"
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	// Wait until every replica is in sync before the fault.
	deadline := time.Now().Add(30 * time.Second)
	for {
		td, err := newAdmin(t, c.procs[1].addr).ListTopics(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		ok := len(td[topic].Partitions) == 3
		for _, p := range td[topic].Partitions {
			ok = ok && len(p.ISR) == 3 && p.Leader >= 1
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISR never reached 3: %+v", td[topic].Partitions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	victim := leaderOf(t, ctx, adm, topic, 0)
	t.Logf("partition 0 leader: broker %d", victim)

	start := time.Now()
	acked := produceN(t, ctx, c.addrs(0), topic, 0, 200_000, 60_000, func() {
		c.procs[victim-1].kill()
		t.Logf("killed broker %d after %v", victim, time.Since(start))
	})
	t.Logf("%d acknowledged before the kill", len(acked))
	// Keep writing through the failover on the survivors.
	more := produceN(t, ctx, c.addrs(int(victim)), topic, 1_000_000, 1_050_000, 0, nil)
	t.Logf("%d acknowledged after the kill (in %v)", len(more), time.Since(start))
	if len(more) != 50_000 {
		t.Fatalf("after failover only %d of 50000 acknowledged", len(more))
	}
	seen := readAll(t, ctx, c.addrs(int(victim)), topic)
	for id := range acked {
		if !seen[id] {
			t.Fatalf("acknowledged id %d lost", id)
		}
	}
	for id := range more {
		if !seen[id] {
			t.Fatalf("acknowledged id %d (after failover) lost", id)
		}
	}
	if leader := leaderOf(t, ctx, newAdmin(t, c.addrs(int(victim))), topic, 0); leader == victim || leader < 1 {
		t.Fatalf("partition 0 still led by %d", leader)
	}
}

// TestClusterGracefulShutdown: SIGTERM makes a broker hand its leaderships
// to in-sync replicas before it exits; the survivors keep serving
// acknowledged writes and reads.
func TestClusterGracefulShutdown(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	const topic = "graceful"
	if _, err := newAdmin(t, c.procs[0].addr).CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	before := produceN(t, ctx, c.addrs(0), topic, 0, 5000, 0, nil)
	victim := leaderOf(t, ctx, newAdmin(t, c.procs[0].addr), topic, 0)
	p := c.procs[victim-1]
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("broker %d exited with %v after SIGTERM", victim, err)
	}
	rest := c.addrs(int(victim))
	if l := leaderOf(t, ctx, newAdmin(t, rest), topic, 0); l == victim || l < 1 {
		t.Fatalf("partition 0 leader after shutdown: %d", l)
	}
	after := produceN(t, ctx, rest, topic, 10_000, 15_000, 0, nil)
	if len(before) != 5000 || len(after) != 5000 {
		t.Fatalf("acknowledged %d before, %d after", len(before), len(after))
	}
	seen := readAll(t, ctx, rest, topic)
	if len(seen) != 10_000 {
		t.Fatalf("read %d records, want 10000", len(seen))
	}
}

// waitISR waits until partition 0 of topic has n in-sync replicas.
func waitISR(t *testing.T, ctx context.Context, addr, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		adm := newAdmin(t, addr)
		td, err := adm.ListTopics(wctx, topic)
		cancel()
		if err == nil && len(td[topic].Partitions) > 0 && len(td[topic].Partitions[0].ISR) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISR of %s never reached %d: %+v (%v)", topic, n, td[topic].Partitions, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterFollowerCatchesUpBySnapshot: a follower that was down while the
// Raft log moved past a compaction point comes back through a streamed
// snapshot of the partition log, rejoins the ISR, and holds every record.
func TestClusterFollowerCatchesUpBySnapshot(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t, 3*time.Minute)
	const topic = "catchup"
	if _, err := newAdmin(t, c.procs[0].addr).CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, topic, 3)
	leader := leaderOf(t, ctx, newAdmin(t, c.procs[0].addr), topic, 0)
	follower := int32(1)
	for follower == leader {
		follower++
	}
	c.procs[follower-1].kill()
	rest := c.addrs(int(follower))
	// One record per Raft entry: well past SnapshotEntries (1000) plus
	// CompactionOverhead (200), so the follower's missing entries are gone
	// from the Raft log.
	cl := newClient(t, rest, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	const n = 2500
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.procs[follower-1] = c.start(t, int(follower))
	waitISR(t, ctx, rest, topic, 3)

	// Stop the follower cleanly and read its partition log directly.
	p := c.procs[follower-1]
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	// The follower was brought up to date by a streamed snapshot (verified
	// once by listing dragonboat's received snapshot-<index>.gbsnap; the
	// log check below is what must hold).
	l, err := partition.Open(filepath.Join(c.dirs[follower-1], topic+"-0"), partition.DefaultConfig(), time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.NextOffset() != n {
		t.Fatalf("follower log ends at %d, want %d", l.NextOffset(), n)
	}
	next := int64(0)
	for next < n {
		data, err := l.Read(next, 1<<20, n, true)
		if err != nil {
			t.Fatal(err)
		}
		for len(data) > 0 {
			b, rest, h, err := batch.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := batch.CheckCRC(b); err != nil || h.BaseOffset != next {
				t.Fatalf("batch at %d: base %d, %v", next, h.BaseOffset, err)
			}
			next = h.LastOffset() + 1
			data = rest
		}
	}
}

// TestClusterISRShrinkAndMinInsync: SIGSTOP a follower and the ISR shrinks
// after replica.lag.time.max.ms while acks=all writes go on; with
// min.insync.replicas=3 they are refused with NOT_ENOUGH_REPLICAS (a
// retriable error) and reads still work; SIGCONT and the ISR grows back.
func TestClusterISRShrinkAndMinInsync(t *testing.T) {
	c := startCluster(t, 3, "--set", "replica.lag.time.max.ms=2000", "--set", "broker.session.timeout.ms=4000")
	ctx := testContext(t, 3*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	three := "3"
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "loose"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &three}, "strict"); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, "loose", 3)
	waitISR(t, ctx, c.procs[0].addr, "strict", 3)
	leader := leaderOf(t, ctx, adm, "strict", 0)
	follower := int32(1)
	for follower == leader || follower == leaderOf(t, ctx, adm, "loose", 0) {
		follower++
		if follower > 3 {
			follower = 1
			// Both leaders differ and cover two brokers; pick the third.
			for follower == leader || follower == leaderOf(t, ctx, adm, "loose", 0) {
				follower++
			}
			break
		}
	}
	stopped := c.procs[follower-1]
	t.Logf("stopping broker %d (strict leader %d)", follower, leader)
	if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer stopped.cmd.Process.Signal(syscall.SIGCONT)
	rest := c.addrs(int(follower))
	waitISR(t, ctx, rest, "loose", 2)
	waitISR(t, ctx, rest, "strict", 2)
	var live []*proc
	for i, p := range c.procs {
		if int32(i+1) != follower {
			live = append(live, p)
		}
	}
	// Both partitions are under-replicated on their leaders, which counted
	// the shrinks; exactly one broker is the active controller.
	const under, shrinks, expands, active = "samsa_under_replicated_partitions", "samsa_isr_shrinks_total", "samsa_isr_expands_total", "samsa_controller_active"
	waitMetrics(t, ctx, live, "under-replicated partitions and ISR shrinks", func(m map[string]float64) bool {
		return m[under] == 2 && m[shrinks] >= 2 && m[active] == 1 && m["samsa_offline_partitions"] == 0
	}, under, shrinks, active, "samsa_offline_partitions")
	// A paused broker accepts connections and never answers: clients
	// would hang on it while metadata still lists it. It drops out after
	// broker.session.timeout.ms.
	for {
		md, err := newAdmin(t, rest).BrokerMetadata(ctx)
		if err == nil && len(md.Brokers) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the paused broker never left the metadata")
		}
		time.Sleep(200 * time.Millisecond)
	}

	if got := produceN(t, ctx, rest, "loose", 0, 1000, 0, nil); len(got) != 1000 {
		t.Fatalf("acks=all with 2 of 3 in sync: %d of 1000 acknowledged", len(got))
	}
	// franz-go retries the retriable error until its delivery timeout, so
	// look at the broker's answer directly.
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "strict"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = validBatch()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	cl := newClient(t, rest)
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("min.insync.replicas=3 with 2 in sync: error code %d", code)
	}
	if got := readAll(t, ctx, rest, "loose"); len(got) != 1000 {
		t.Fatalf("read %d records while a follower is stopped", len(got))
	}

	if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, "strict", 3)
	if err := newClient(t, c.addrs(0), kgo.DefaultProduceTopic("strict")).ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatalf("after SIGCONT: %v", err)
	}
	waitMetrics(t, ctx, c.procs, "ISR expands after SIGCONT", func(m map[string]float64) bool {
		return m[under] == 0 && m[expands] >= 2
	}, under, expands)
}

// produceRaw sends one batch with the given acks straight to a broker and
// returns the partition's answer.
func produceRaw(t *testing.T, ctx context.Context, cl *kgo.Client, node int32, topic string, acks int16, records []byte) (kmsg.ProduceResponseTopicPartition, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 2000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(node)))
	if err != nil {
		return kmsg.ProduceResponseTopicPartition{}, err
	}
	return resp.Topics[0].Partitions[0], nil
}

// TestClusterAcks1LossWindow shows Kafka's acks=1 window: with both
// followers down, the leader answers an acks=1 write once its own log has
// it, while an acks=all write is not acknowledged; when that leader dies
// before replicating, the acks=1 write is gone.
func TestClusterAcks1LossWindow(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t, 3*time.Minute)
	const topic = "window"
	if _, err := newAdmin(t, c.procs[0].addr).CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, topic, 3)
	if got := produceN(t, ctx, c.addrs(0), topic, 0, 100, 0, nil); len(got) != 100 {
		t.Fatal("warm-up writes not acknowledged")
	}
	leader := leaderOf(t, ctx, newAdmin(t, c.procs[0].addr), topic, 0)
	// kgo sends issued produce requests with the client's own acks.
	cl := newClient(t, c.procs[leader-1].addr, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	clAll := newClient(t, c.procs[leader-1].addr)
	for _, x := range []*kgo.Client{cl, clAll} {
		if err := x.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The leader has served acks=1 in this term before the fault.
	if r, err := produceRaw(t, ctx, cl, leader, topic, 1, validBatch()); err != nil || r.ErrorCode != 0 {
		t.Fatalf("acks=1 before the fault: %v %+v", err, r)
	} else {
		t.Logf("pre-fault acks=1 at %d (leader %d)", r.BaseOffset, leader)
	}
	var followers []int
	for i := range c.procs {
		if int32(i+1) != leader {
			followers = append(followers, i+1)
		}
	}
	// Kill both followers (a paused process would still take Raft
	// messages into its socket buffers; a dead one takes nothing).
	for _, f := range followers {
		c.procs[f-1].kill()
	}
	// Within the election timeout the leader still leads: acks=1 is
	// answered from its own log; acks=all cannot be.
	r1, err := produceRaw(t, ctx, cl, leader, topic, 1, validBatch())
	if err != nil || r1.ErrorCode != 0 {
		t.Fatalf("acks=1 with the followers down: %v %+v", err, r1)
	}
	rAll, err := produceRaw(t, ctx, clAll, leader, topic, -1, validBatch())
	if err == nil && rAll.ErrorCode == 0 {
		t.Fatalf("acks=all acknowledged without any follower: %+v", rAll)
	}
	t.Logf("acks=1 answered at offset %d; acks=all: %v / error code %d", r1.BaseOffset, err, rAll.ErrorCode)
	// The leader dies before replicating; the followers come back and
	// elect a leader from what they have.
	c.procs[leader-1].kill()
	for _, f := range followers {
		c.procs[f-1] = c.start(t, f)
	}
	rest := c.addrs(int(leader))
	ends, err := newAdmin(t, rest).ListEndOffsets(ctx, topic)
	for err != nil || ends.Error() != nil {
		time.Sleep(200 * time.Millisecond)
		ends, err = newAdmin(t, rest).ListEndOffsets(ctx, topic)
	}
	o, _ := ends.Lookup(topic, 0)
	if o.Offset > r1.BaseOffset {
		t.Fatalf("end offset %d: the acks=1 write at %d survived, but no follower could have had it", o.Offset, r1.BaseOffset)
	}
	if o.Offset != r1.BaseOffset {
		t.Fatalf("end offset %d after failover, want %d (everything before the lost write)", o.Offset, r1.BaseOffset)
	}
}

// TestClusterElectPreferredLeaders: with auto.leader.rebalance.enable=false
// leaders stay where Raft elected them; ElectLeaders (preferred) moves every
// partition's leadership to its first replica.
func TestClusterElectPreferredLeaders(t *testing.T) {
	c := startCluster(t, 3, "--set", "auto.leader.rebalance.enable=false")
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "elect"
	if _, err := adm.CreateTopic(ctx, 6, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	for p := 0; p < 6; p++ {
		waitISRPartition(t, ctx, c.procs[0].addr, topic, int32(p), 3)
	}
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, byPart := range res {
		for _, r := range byPart {
			if r.Err == nil {
				moved++
			} else if !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Fatalf("partition %d: %v", r.Partition, r.Err)
			}
		}
	}
	td, err := newAdmin(t, c.procs[1].addr).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range td[topic].Partitions {
		if p.Leader != p.Replicas[0] {
			t.Fatalf("partition %d led by %d, preferred %d", p.Partition, p.Leader, p.Replicas[0])
		}
	}
	t.Logf("%d partitions moved to their preferred leader", moved)
}

func waitISRPartition(t *testing.T, ctx context.Context, addr, topic string, partition int32, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		td, err := newAdmin(t, addr).ListTopics(ctx, topic)
		if err == nil {
			for _, p := range td[topic].Partitions {
				if p.Partition == partition && len(p.ISR) == n {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISR of %s-%d never reached %d", topic, partition, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterTwoStoppedFollowersReadOnly: with both followers paused the
// leader has no Raft quorum. acks=all writes fail with a retriable error
// (NOT_ENOUGH_REPLICAS once the leader has stepped down), reads of committed
// records still work, and writes resume after SIGCONT.
func TestClusterTwoStoppedFollowersReadOnly(t *testing.T) {
	c := startCluster(t, 3, "--set", "replica.lag.time.max.ms=2000", "--set", "broker.session.timeout.ms=4000")
	ctx := testContext(t, 3*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "noquorum"
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, topic, 3)
	if got := produceN(t, ctx, c.addrs(0), topic, 0, 1000, 0, nil); len(got) != 1000 {
		t.Fatalf("%d of 1000 acknowledged", len(got))
	}
	leader := leaderOf(t, ctx, adm, topic, 0)
	var stopped []*proc
	for i, p := range c.procs {
		if int32(i+1) != leader {
			if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stopped = append(stopped, p)
		}
	}
	defer func() {
		for _, p := range stopped {
			p.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	lead := c.procs[leader-1].addr
	cl := newClient(t, lead)
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rp, err := produceRaw(t, ctx, cl, leader, topic, -1, validBatch())
		if err == nil && rp.ErrorCode == kerr.NotEnoughReplicas.Code {
			break
		}
		if err == nil {
			ke := kerr.ErrorForCode(rp.ErrorCode)
			if ke == nil || !kerr.IsRetriable(ke) {
				t.Fatalf("acks=all without a quorum: error code %d (%v), want a retriable error", rp.ErrorCode, ke)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("acks=all without a quorum never got NOT_ENOUGH_REPLICAS (last: %+v, %v)", rp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := readAll(t, ctx, lead, topic); len(got) != 1000 {
		t.Fatalf("read %d of 1000 records without a quorum", len(got))
	}

	for _, p := range stopped {
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	if err := newClient(t, c.addrs(0), kgo.DefaultProduceTopic(topic)).ProduceSync(ctx, &kgo.Record{Value: recordValue(1000, 100)}).FirstErr(); err != nil {
		t.Fatalf("after SIGCONT: %v", err)
	}
}
