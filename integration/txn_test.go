package integration

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestTransactionalProducerFranzGo: franz-go's transactional producer
// against the transaction coordinator, with both transaction protocols: a
// committed transaction is visible to read_committed consumers, an aborted
// one never is, and a second producer with the same transactional.id fences
// the first. "v2" is KIP-890 part 2, which franz-go uses when the broker
// finalizes transaction.version 2 (no AddPartitionsToTxn, an epoch bump per
// EndTxn); "v1" caps the client's request versions below it.
func TestTransactionalProducerFranzGo(t *testing.T) {
	for _, proto := range []string{"v2", "v1"} {
		t.Run(proto, func(t *testing.T) {
			var opts []kgo.Opt
			if proto == "v1" {
				opts = append(opts, kgo.MaxVersions(txnV1Versions()))
			}
			testTransactionalProducer(t, proto == "v2", opts...)
		})
	}
}

func testTransactionalProducer(t *testing.T, v2 bool, clientOpts ...kgo.Opt) {
	b := startBroker(t, "", map[string]string{"transaction.state.log.num.partitions": "5"})
	addr := b.Addr()
	ctx := testContext(t, 2*time.Minute)
	const topic = "tx-out"
	if _, err := newAdmin(t, addr).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	txn := func(cl *kgo.Client, prefix string, n int, commit bool) error {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}).FirstErr(); err != nil {
				return err
			}
		}
		return cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
	}
	p1 := newClient(t, addr, append(clientOpts, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(30*time.Second))...)
	if err := txn(p1, "committed", 20, true); err != nil {
		t.Fatalf("committed transaction: %v", err)
	}
	if err := txn(p1, "aborted", 7, false); err != nil {
		t.Fatalf("aborted transaction: %v", err)
	}
	if err := txn(p1, "committed2", 5, true); err != nil {
		t.Fatalf("second committed transaction: %v", err)
	}

	// An open transaction, seen by kadm as kafka-transactions.sh sees it.
	if err := p1.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p1.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("aborted-open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := newAdmin(t, addr)
	dt, err := adm.DescribeTransactions(ctx, "tx-1")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := dt["tx-1"]
	if !ok || d.Err != nil || d.State != "Ongoing" || len(d.Topics) != 1 {
		t.Fatalf("DescribeTransactions: %+v", dt)
	}
	// Three transactions ended: under v2 each bumped the epoch.
	if want := map[bool]int16{true: 3, false: 0}[v2]; d.ProducerEpoch != want {
		t.Fatalf("producer epoch after three transactions: %d, want %d (transaction protocol v2: %v)", d.ProducerEpoch, want, v2)
	}
	lt, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lt["tx-1"]; !ok || len(lt) != 1 {
		t.Fatalf("ListTransactions Ongoing: %+v", lt)
	}
	// The CLI shows the same.
	for _, args := range [][]string{{"transactions", "list", "--state", "Ongoing"}, {"transactions", "describe", "tx-1"}} {
		out, err := exec.Command(samsaBinary(t), append(args, "--brokers", addr)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "tx-1") || !strings.Contains(string(out), "Ongoing") {
			t.Fatalf("samsa %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[1] == "describe" && !strings.Contains(string(out), topic+"-") {
			t.Fatalf("samsa transactions describe does not list a partition of %s:\n%s", topic, out)
		}
	}
	if err := p1.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if lt, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"}); err != nil || len(lt) != 0 {
		t.Fatalf("ListTransactions Ongoing after the abort: %+v %v", lt, err)
	}

	// A new instance with the same transactional.id fences the first.
	p2 := newClient(t, addr, append(clientOpts, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic(topic))...)
	if err := txn(p2, "fencer", 1, true); err != nil {
		t.Fatalf("the new instance: %v", err)
	}
	err = txn(p1, "zombie", 1, true)
	if err == nil {
		t.Fatal("the fenced producer committed a transaction")
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Logf("fenced producer's error: %v", err)
	}

	got := consumeValues(t, ctx, addr, topic, kgo.ReadCommitted())
	count := map[string]int{}
	for _, v := range got {
		var prefix string
		var i int
		fmt.Sscanf(v, "%s", &prefix)
		for j := len(v) - 1; j >= 0; j-- {
			if v[j] == '-' {
				prefix = v[:j]
				fmt.Sscanf(v[j+1:], "%d", &i)
				break
			}
		}
		count[prefix]++
	}
	if count["committed"] != 20 || count["committed2"] != 5 || count["fencer"] != 1 || count["aborted"] != 0 || count["zombie"] != 0 {
		t.Fatalf("read_committed: %v", count)
	}
	if all := consumeValues(t, ctx, addr, topic, kgo.ReadUncommitted()); len(all) < 33 {
		t.Fatalf("read_uncommitted saw %d records, want the aborted ones too", len(all))
	}
}

// TestClusterTransactions: on three broker processes, a transaction spans
// partitions led by different brokers, so the coordinator writes markers
// both in place and through WriteTxnMarkers to the other leaders.
func TestClusterTransactions(t *testing.T) {
	c := startCluster(t, 3, "--set", "transaction.state.log.num.partitions=3", "--set", "offsets.topic.num.partitions=3")
	ctx := testContext(t, 3*time.Minute)
	const topic = "tx-cluster"
	if _, err := newAdmin(t, c.procs[0].addr).CreateTopic(ctx, 6, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 6; p++ {
		waitISRPartition(t, ctx, c.procs[0].addr, topic, p, 3)
	}
	all := c.addrs(0)
	cl := newClient(t, all, kgo.TransactionalID("tx-c"), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for round, commit := range []bool{true, false, true} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 60; i++ {
			v := fmt.Sprintf("r%d-%v-%d", round, commit, i)
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	got := consumeValues(t, ctx, all, topic, kgo.ReadCommitted())
	if len(got) != 120 {
		t.Fatalf("read_committed: %d records, want 120", len(got))
	}
	for _, v := range got {
		if v[:2] == "r1" {
			t.Fatalf("aborted record %q visible", v)
		}
	}
}

// TestConsumeTransformProduceExactlyOnce: franz-go GroupTransactSession
// reads a topic in a group and writes each record, transformed, to another
// topic in transactions that also commit the consumed offsets
// (AddOffsetsToTxn + TxnOffsetCommit). Two members take turns (the first
// leaves half way, and one aborted transaction is thrown in): the output
// holds every input exactly once under read_committed.
func TestConsumeTransformProduceExactlyOnce(t *testing.T) {
	for _, proto := range []string{"v2", "v1"} {
		t.Run(proto, func(t *testing.T) {
			var opts []kgo.Opt
			if proto == "v1" {
				opts = append(opts, kgo.MaxVersions(txnV1Versions()))
			}
			testConsumeTransformProduce(t, opts...)
		})
	}
}

// txnV1Versions caps franz-go's request versions below KIP-890 part 2, so
// it uses AddPartitionsToTxn, AddOffsetsToTxn and EndTxn v4.
func txnV1Versions() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(int16(kmsg.Produce), 11)
	v.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
	v.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), 4)
	return v
}

func testConsumeTransformProduce(t *testing.T, clientOpts ...kgo.Opt) {
	b := startBroker(t, "", map[string]string{"transaction.state.log.num.partitions": "3", "offsets.topic.num.partitions": "3",
		"group.initial.rebalance.delay.ms": "0"})
	addr := b.Addr()
	ctx := testContext(t, 3*time.Minute)
	adm := newAdmin(t, addr)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "ctp-in"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "ctp-out"); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	in := newClient(t, addr, kgo.DefaultProduceTopic("ctp-in"))
	for i := 0; i < n; i++ {
		in.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	run := func(name string, limit int, abortOnce bool) int {
		sess, err := kgo.NewGroupTransactSession(append(clientOpts, kgo.SeedBrokers(addr), kgo.TransactionalID("ctp-"+name),
			kgo.ConsumerGroup("ctp"), kgo.ConsumeTopics("ctp-in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.DefaultProduceTopic("ctp-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.TransactionTimeout(20*time.Second), kgo.SessionTimeout(6*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		done, idle := 0, 0
		for done < limit && idle < 10 {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			fs := sess.PollRecords(pctx, 100)
			cancel()
			if fs.NumRecords() == 0 {
				idle++
				continue
			}
			idle = 0
			if err := sess.Begin(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, nil)
			})
			commit := !abortOnce
			abortOnce = false
			committed, err := sess.End(ctx, kgo.TransactionEndTry(commit))
			if err != nil {
				t.Fatalf("%s: End: %v", name, err)
			}
			if committed {
				done += fs.NumRecords()
			}
		}
		return done
	}
	first := run("a", n/2, true)
	second := run("b", n, false)
	t.Logf("member a committed %d records, member b %d", first, second)

	got := consumeValues(t, ctx, addr, "ctp-out", kgo.ReadCommitted())
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("out-%d", i)]; c != 1 {
			t.Fatalf("input %d appears %d times in the output (%d output records)", i, c, len(got))
		}
	}
	if len(got) != n {
		t.Fatalf("%d output records, want %d", len(got), n)
	}
}
