package integration

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSaramaTransactionalProducer: sarama's transactional producer (the
// pre-KIP-890-part-2 protocol: AddPartitionsToTxn, EndTxn v3) commits one
// transaction and aborts another across three partitions; read_committed
// consumers (franz-go, and sarama's own) see exactly the committed records.
func TestSaramaTransactionalProducer(t *testing.T) {
	b := startBroker(t, "", map[string]string{"transaction.state.log.num.partitions": "3"})
	addr := b.Addr()
	ctx := testContext(t, 2*time.Minute)
	const topic = "sarama-txn"
	if _, err := newAdmin(t, addr).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "sarama-test"
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "sarama-tx"
	cfg.Producer.Transaction.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	txn := func(prefix string, n int, commit bool) {
		t.Helper()
		if err := p.BeginTxn(); err != nil {
			t.Fatalf("BeginTxn: %v", err)
		}
		var msgs []*sarama.ProducerMessage
		for i := 0; i < n; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)),
				Value: sarama.StringEncoder(fmt.Sprintf("%s-%03d", prefix, i))})
		}
		if err := p.SendMessages(msgs); err != nil {
			t.Fatalf("SendMessages: %v", err)
		}
		if commit {
			err = p.CommitTxn()
		} else {
			err = p.AbortTxn()
		}
		if err != nil {
			t.Fatalf("ending the transaction (commit %v): %v", commit, err)
		}
	}
	txn("committed", 100, true)
	txn("aborted", 50, false)
	txn("committed2", 30, true)

	want := map[string]bool{}
	for i := 0; i < 100; i++ {
		want[fmt.Sprintf("committed-%03d", i)] = true
	}
	for i := 0; i < 30; i++ {
		want[fmt.Sprintf("committed2-%03d", i)] = true
	}
	check := func(who string, got []string) {
		t.Helper()
		seen := map[string]bool{}
		for _, v := range got {
			if !want[v] || seen[v] {
				t.Fatalf("%s read_committed: unexpected or repeated %q", who, v)
			}
			seen[v] = true
		}
		if len(seen) != len(want) {
			t.Fatalf("%s read_committed: %d of %d committed records", who, len(seen), len(want))
		}
	}
	check("franz-go", consumeValues(t, ctx, addr, topic, kgo.ReadCommitted()))

	ccfg := sarama.NewConfig()
	ccfg.Version = sarama.V3_6_0_0
	ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
	c, err := sarama.NewConsumer([]string{addr}, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	for part := int32(0); part < 3; part++ {
		pc, err := c.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		hw := int64(-1)
	read:
		for {
			select {
			case m := <-pc.Messages():
				got = append(got, string(m.Value))
			case <-time.After(2 * time.Second):
				hw = pc.HighWaterMarkOffset()
				break read
			}
		}
		pc.Close()
		if hw <= 0 {
			t.Fatalf("partition %d: high watermark %d", part, hw)
		}
	}
	sort.Strings(got)
	check("sarama", got)
}
