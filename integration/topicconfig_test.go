package integration

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicConfigsApply: message.timestamp.type=LogAppendTime stamps records
// with the broker's time; max.message.bytes refuses bigger batches with
// MESSAGE_TOO_LARGE; a compacted topic refuses keyless records.
func TestTopicConfigsApply(t *testing.T) {
	b := startBroker(t, "", nil)
	ctx := testContext(t, time.Minute)
	adm := newAdmin(t, b.Addr())
	lat, small, compact := "LogAppendTime", "2000", "compact"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"message.timestamp.type": &lat}, "lat"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": &small}, "small"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &compact}, "compacted"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr(), kgo.ProducerLinger(0))

	old := time.Now().Add(-48 * time.Hour)
	before := time.Now()
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: []byte("x"), Timestamp: old})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons := newClient(t, b.Addr(), kgo.ConsumeTopics("lat"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if fs.NumRecords() != 1 {
		t.Fatalf("read %d records", fs.NumRecords())
	}
	r := fs.Records()[0]
	if r.Timestamp.Before(before.Add(-time.Second)) || r.Attrs.TimestampType() != 1 {
		t.Fatalf("LogAppendTime not applied: ts %v type %d", r.Timestamp, r.Attrs.TimestampType())
	}

	big := make([]byte, 5000)
	rand.Read(big) // incompressible: the limit applies to the compressed batch
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("oversized batch: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: []byte("fits")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on compacted topic: %v", err)
	}
}

// TestRetentionAndCompactionOnBroker: with a fast maintenance interval the
// broker deletes old segments of a retention.ms topic (the log start offset
// advances) and compacts a cleanup.policy=compact topic to the latest value
// per key, with offsets unchanged.
func TestRetentionAndCompactionOnBroker(t *testing.T) {
	b := startBroker(t, "", map[string]string{"log.retention.check.interval.ms": "200"})
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr())
	seg, ret, compact, dirty := "1024", "1000", "compact", "0.01"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": &seg, "retention.ms": &ret}, "retained"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": &seg, "cleanup.policy": &compact,
		"min.cleanable.dirty.ratio": &dirty}, "compacted"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr(), kgo.ProducerLinger(0))
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 60; i++ {
		// Old records: retention.ms (1 s) has long passed for them.
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "retained", Value: []byte(strings.Repeat("r", 100)), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("k%d", i%5)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Key: []byte(key), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		starts, err := newAdmin(t, b.Addr()).ListStartOffsets(ctx, "retained")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := starts.Lookup("retained", 0); o.Offset > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retention never advanced the log start offset")
		}
		time.Sleep(100 * time.Millisecond)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		cons := newClient(t, b.Addr(), kgo.ConsumeTopics("compacted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var recs []*kgo.Record
		for len(recs) == 0 || recs[len(recs)-1].Offset < 59 {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, fs.Records()...)
		}
		cons.Close()
		latest := map[string]int64{}
		for _, r := range recs {
			var i int64
			if _, err := fmt.Sscan(string(r.Value), &i); err != nil {
				t.Fatalf("bad value %q", r.Value)
			}
			if i != r.Offset {
				t.Fatalf("record %q moved to offset %d", r.Value, r.Offset)
			}
			latest[string(r.Key)] = r.Offset
		}
		if len(recs) < 60 {
			// Compacted: every key's latest value is still there.
			for k := 0; k < 5; k++ {
				if latest[fmt.Sprintf("k%d", k)] < 55 {
					t.Fatalf("key k%d lost its latest value: %v", k, latest)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("compaction never removed superseded records")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
