package client

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// txnTargets runs fn against kfake and Samsa.
func txnTargets(t *testing.T, fn func(t *testing.T, tg *target)) {
	t.Run("kfake", func(t *testing.T) { fn(t, newKfake(t)) })
	t.Run("samsa", func(t *testing.T) { fn(t, newSamsa(t)) })
}

func sendTxn(t *testing.T, ctx context.Context, p *Producer, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := p.Send(ctx, &Record{Topic: topic, Value: []byte(strconv.Itoa(i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTransactionsCommitAbort(t *testing.T) {
	txnTargets(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 2)
		ctx := testCtx(t, 60*time.Second)
		p := newTestProducer(t, tg, WithTransactionalID(uniq("tx")))
		if err := p.BeginTransaction(); !errors.Is(err, ErrTransactionState) {
			t.Fatalf("begin before init: %v", err)
		}
		if err := p.InitTransactions(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Send(ctx, &Record{Topic: topic}, nil); !errors.Is(err, ErrTransactionState) {
			t.Fatalf("send outside a transaction: %v", err)
		}
		p.BeginTransaction()
		sendTxn(t, ctx, p, topic, 0, 10)
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		p.BeginTransaction()
		sendTxn(t, ctx, p, topic, 100, 5)
		if err := p.Flush(ctx); err != nil { // written, then aborted
			t.Fatal(err)
		}
		if err := p.AbortTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		p.BeginTransaction()
		sendTxn(t, ctx, p, topic, 10, 3)
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatal(err)
		}

		committed := newTestConsumer(t, tg, WithIsolationLevel(ReadCommitted), WithAutoOffsetReset(ResetEarliest))
		committed.Assign(allParts(topic, 2)...)
		seen := map[string]bool{}
		for _, r := range consumeN(t, ctx, committed, 13) {
			if v, _ := strconv.Atoi(string(r.Value)); v >= 100 {
				t.Fatalf("read_committed returned aborted record %s", r.Value)
			}
			seen[string(r.Value)] = true
		}
		if len(seen) != 13 {
			t.Fatalf("%d distinct committed records", len(seen))
		}
		// Nothing more for read_committed.
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		if recs, _ := committed.Poll(pctx); len(recs) > 0 {
			t.Fatalf("extra records: %s", recs[0].Value)
		}
		cancel()
		all := newTestConsumer(t, tg, WithIsolationLevel(ReadUncommitted), WithAutoOffsetReset(ResetEarliest))
		all.Assign(allParts(topic, 2)...)
		if recs := consumeN(t, ctx, all, 18); len(recs) != 18 {
			t.Fatalf("read_uncommitted: %d records", len(recs))
		}
	})
}

// Consume-transform-produce: offsets sent to the transaction are committed
// with it, and a second producer with the same transactional.id fences the first.
func TestTransactionsSendOffsetsAndFencing(t *testing.T) {
	txnTargets(t, func(t *testing.T, tg *target) {
		in, out := newTopic(t, tg, 1), newTopic(t, tg, 1)
		group := uniq("g")
		ctx := testCtx(t, 60*time.Second)
		produceN(t, newTestProducer(t, tg), in, 10, nil)

		c := newTestConsumer(t, tg, groupOpts(group, WithAutoCommit(false), WithIsolationLevel(ReadCommitted))...)
		c.Subscribe(in)
		recs := consumeN(t, ctx, c, 10)
		id := uniq("tx")
		p := newTestProducer(t, tg, WithTransactionalID(id))
		if err := p.InitTransactions(ctx); err != nil {
			t.Fatal(err)
		}
		p.BeginTransaction()
		for _, r := range recs {
			p.Send(ctx, &Record{Topic: out, Value: append([]byte("x"), r.Value...)}, nil)
		}
		tp := TopicPartition{in, 0}
		if err := p.SendOffsetsToTransaction(ctx, map[TopicPartition]int64{tp: recs[len(recs)-1].Offset + 1}, c.GroupMetadata()); err != nil {
			t.Fatal(err)
		}
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Committed(ctx, tp); err != nil || got[tp] != 10 {
			t.Fatalf("committed through the transaction: %v %v", got, err)
		}

		// Fencing.
		p.BeginTransaction()
		sendTxn(t, ctx, p, out, 0, 1)
		p2 := newTestProducer(t, tg, WithTransactionalID(id))
		if err := p2.InitTransactions(ctx); err != nil {
			t.Fatal(err)
		}
		err := p.CommitTransaction(ctx)
		if err == nil {
			t.Fatal("fenced producer committed")
		}
		if !errors.Is(err, ErrProducerFenced) && !errors.Is(err, ErrInvalidProducerEpoch) && !errors.Is(err, ErrInvalidTxnState) {
			t.Fatalf("fenced commit: %v", err)
		}
	})
}
