package client

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestErrorsIs(t *testing.T) {
	err := fmt.Errorf("producing: %w", ErrorForCode(6))
	if !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatalf("code 6 is not ErrNotLeaderOrFollower: %v", err)
	}
	if errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatal("code 6 matched another error")
	}
	if !IsRetriable(err) || IsRetriable(ErrTopicAlreadyExists) {
		t.Fatal("retriable classification wrong")
	}
	if ErrorForCode(0) != nil {
		t.Fatal("code 0 is an error")
	}
	var ke *Error
	if !errors.As(ErrorForCode(9999), &ke) || ke.Code != 9999 {
		t.Fatal("unknown code lost")
	}
	if got := codeErr(36, strPtr("exists already")); !errors.Is(got, ErrTopicAlreadyExists) {
		t.Fatalf("message lost errors.Is: %v", got)
	}
}

func strPtr(s string) *string { return &s }

func TestProduceConsumeBasic(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 3)
		p := newTestProducer(t, tg)
		ctx := testCtx(t, 60*time.Second)
		ts := time.UnixMilli(1700000000123)
		md, err := p.SendSync(ctx, &Record{
			Topic: topic, Key: []byte("k"), Value: []byte("hello"),
			Headers:   []Header{{Key: "h1", Value: []byte("v1")}, {Key: "h2"}},
			Timestamp: ts,
		})
		if err != nil {
			t.Fatal(err)
		}
		if md.Partition != KeyPartition([]byte("k"), 3) || md.Offset != 0 {
			t.Fatalf("metadata %+v", md)
		}
		produceN(t, p, topic, 300, func(i int) []byte { return []byte("key" + strconv.Itoa(i%10)) })

		c := newTestConsumer(t, tg)
		var tps []TopicPartition
		for i := range int32(3) {
			tps = append(tps, TopicPartition{topic, i})
		}
		if err := c.Assign(tps...); err != nil {
			t.Fatal(err)
		}
		if err := c.SeekToBeginning(); err != nil {
			t.Fatal(err)
		}
		recs := consumeN(t, ctx, c, 301)
		next := map[int32]int64{}
		var first *Record
		for _, r := range recs {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			if r.Key != nil && string(r.Key) == "k" {
				first = r
			} else if r.Partition != KeyPartition(r.Key, 3) {
				t.Fatalf("key %s on partition %d", r.Key, r.Partition)
			}
		}
		if first == nil || string(first.Value) != "hello" || !first.Timestamp.Equal(ts) ||
			len(first.Headers) != 2 || first.Headers[0].Key != "h1" || !bytes.Equal(first.Headers[0].Value, []byte("v1")) || first.Headers[1].Value != nil {
			t.Fatalf("first record %+v", first)
		}
	})
}
