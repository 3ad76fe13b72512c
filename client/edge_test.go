package client

import (
	"errors"
	"testing"
	"time"
)

// Fetch limits smaller than a batch still return it (KIP-74), so a consumer
// never stalls on a large record.
func TestFetchSizesSmallerThanBatch(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		p := newTestProducer(t, tg, WithLinger(20*time.Millisecond))
		produceN(t, p, topic, 50, nil)
		c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest), WithFetchMaxBytes(10), WithMaxPartitionFetchBytes(10))
		c.Assign(TopicPartition{topic, 0})
		recs := consumeN(t, testCtx(t, 30*time.Second), c, 50)
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("record %d has offset %d", i, r.Offset)
			}
		}
	})
}

// With message.timestamp.type=LogAppendTime the broker stamps batches; the
// delivery report and consumed records carry its time, not the producer's.
func TestLogAppendTime(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		if !tg.samsa {
			t.Skip("kfake ignores message.timestamp.type (it only honours the batch attribute a client sets)")
		}
		topic := newTopic(t, tg, 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
		p := newTestProducer(t, tg)
		ctx := testCtx(t, 30*time.Second)
		old := time.UnixMilli(1_000_000_000_000) // 2001
		md, err := p.SendSync(ctx, &Record{Topic: topic, Value: []byte("x"), Timestamp: old})
		if err != nil {
			t.Fatal(err)
		}
		if !md.Timestamp.After(old.Add(24 * time.Hour)) {
			t.Fatalf("delivery timestamp %v is the producer's", md.Timestamp)
		}
		c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
		c.Assign(TopicPartition{topic, 0})
		r := consumeN(t, ctx, c, 1)[0]
		if !r.Timestamp.Equal(md.Timestamp) {
			t.Fatalf("consumed timestamp %v, delivery said %v", r.Timestamp, md.Timestamp)
		}
	})
}

// ListOffsets by timestamp finds the first record at or after it.
func TestListOffsetsByTimestamp(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		tp := TopicPartition{topic, 0}
		p := newTestProducer(t, tg)
		ctx := testCtx(t, 30*time.Second)
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		for i := range 10 {
			if _, err := p.SendSync(ctx, &Record{Topic: topic, Timestamp: base.Add(time.Duration(i) * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		a := newTestAdmin(t, tg)
		got, err := a.ListOffsets(ctx, base.Add(4*time.Minute+time.Second).UnixMilli(), tp)
		if err != nil || got[tp] != 5 {
			t.Fatalf("offset for timestamp: %v %v, want 5", got, err)
		}
		got, err = a.ListOffsets(ctx, OffsetEarliest, tp)
		if err != nil || got[tp] != 0 {
			t.Fatalf("earliest: %v %v", got, err)
		}
	})
}

// A partition beyond the topic's count fails in Send, before buffering.
func TestSendToMissingPartition(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		p := newTestProducer(t, tg, WithPartitioner(ManualPartitioner()))
		err := p.Send(testCtx(t, 10*time.Second), &Record{Topic: topic, Partition: 3}, nil)
		if !errors.Is(err, ErrUnknownTopicOrPartition) {
			t.Fatalf("send to partition 3 of 1: %v", err)
		}
	})
}

// A position past the log end (OFFSET_OUT_OF_RANGE) is reset by
// auto.offset.reset.
func TestSeekPastEndResets(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		tp := TopicPartition{topic, 0}
		produceN(t, newTestProducer(t, tg), topic, 5, nil)
		c := newTestConsumer(t, tg, WithAutoOffsetReset(ResetEarliest))
		c.Assign(tp)
		c.Seek(tp, 100)
		if recs := consumeN(t, testCtx(t, 30*time.Second), c, 5); recs[0].Offset != 0 {
			t.Fatalf("reset to %d, want 0", recs[0].Offset)
		}
	})
}
