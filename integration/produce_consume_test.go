package integration

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceConsumeEveryCodec produces with franz-go's defaults (acks=all,
// idempotent) under every codec and reads everything back: keys, values,
// headers and timestamps preserved, offsets contiguous from 0.
func TestProduceConsumeEveryCodec(t *testing.T) {
	b := startBroker(t, "", nil)
	adm := newAdmin(t, b.Addr())
	ctx := testContext(t, 2*time.Minute)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "codec-" + name
			if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			const n = 3000
			ts := time.UnixMilli(time.Now().UnixMilli())
			var recs []*kgo.Record
			for i := 0; i < n; i++ {
				recs = append(recs, &kgo.Record{
					Key:       []byte(fmt.Sprintf("key-%d", i)),
					Value:     bytes.Repeat([]byte{byte('a' + i%26)}, 10+i%200),
					Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}},
					Timestamp: ts,
					Topic:     topic,
					Partition: int32(i % 3),
				})
			}
			prod2 := newClient(t, b.Addr(), kgo.ProducerBatchCompression(codec), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err := prod2.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cons := newClient(t, b.Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := map[int32][]*kgo.Record{}
			total := 0
			for total < n {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					got[r.Partition] = append(got[r.Partition], r)
					total++
				})
			}
			seen := 0
			for p, rs := range got {
				for i, r := range rs {
					if r.Offset != int64(i) {
						t.Fatalf("partition %d: record %d has offset %d", p, i, r.Offset)
					}
					var idx int
					fmt.Sscanf(string(r.Key), "key-%d", &idx)
					want := recs[idx]
					if !bytes.Equal(r.Value, want.Value) || want.Partition != p {
						t.Fatalf("record %s: value/partition mismatch", r.Key)
					}
					if len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != fmt.Sprint(idx) {
						t.Fatalf("record %s: headers %v", r.Key, r.Headers)
					}
					if !r.Timestamp.Equal(ts) {
						t.Fatalf("record %s: timestamp %v, want %v", r.Key, r.Timestamp, ts)
					}
					seen++
				}
			}
			if seen != n {
				t.Fatalf("read %d records, want %d", seen, n)
			}
		})
	}
}

// TestAcksModes produces with acks=0, 1 and all and checks every record lands.
func TestAcksModes(t *testing.T) {
	b := startBroker(t, "", nil)
	ctx := testContext(t, time.Minute)
	adm := newAdmin(t, b.Addr())
	for _, acks := range []struct {
		name string
		opt  kgo.Acks
	}{{"0", kgo.NoAck()}, {"1", kgo.LeaderAck()}, {"all", kgo.AllISRAcks()}} {
		topic := "acks-" + acks.name
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		opts := []kgo.Opt{kgo.RequiredAcks(acks.opt), kgo.DefaultProduceTopic(topic)}
		if acks.name != "all" {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
		cl := newClient(t, b.Addr(), opts...)
		for i := 0; i < 100; i++ {
			cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("acks=%s: %v", acks.name, err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// acks=0 has no answer to wait for: poll the end offset.
		deadline := time.Now().Add(10 * time.Second)
		for {
			ends, err := adm.ListEndOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			o, _ := ends.Lookup(topic, 0)
			if o.Offset == 100 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("acks=%s: end offset %d, want 100", acks.name, o.Offset)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestListOffsetsByTimestamp checks earliest, latest, by-timestamp and
// max-timestamp lookups.
func TestListOffsetsByTimestamp(t *testing.T) {
	b := startBroker(t, "", nil)
	ctx := testContext(t, time.Minute)
	adm := newAdmin(t, b.Addr())
	const topic = "times"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 10; i++ {
		// One record per batch, timestamps 0, 10, ..., 90 s after base,
		// except offset 5 which is the largest.
		ts := base.Add(time.Duration(i*10) * time.Second)
		if i == 5 {
			ts = base.Add(500 * time.Second)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}, Timestamp: ts}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, got kadm.ListedOffsets, wantOffset int64) {
		t.Helper()
		o, ok := got.Lookup(topic, 0)
		if !ok || o.Err != nil || o.Offset != wantOffset {
			t.Fatalf("%s: got %+v, want offset %d", what, o, wantOffset)
		}
	}
	st, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	check("earliest", st, 0)
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	check("latest", end, 10)
	at, err := adm.ListOffsetsAfterMilli(ctx, base.Add(25*time.Second).UnixMilli(), topic)
	if err != nil {
		t.Fatal(err)
	}
	check("after 25s", at, 3)
	at, err = adm.ListOffsetsAfterMilli(ctx, base.Add(95*time.Second).UnixMilli(), topic)
	if err != nil {
		t.Fatal(err)
	}
	check("after 95s (only the 500s record)", at, 5)
	at, err = adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), topic)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing at or after: Kafka answers the end offset through kadm.
	if o, _ := at.Lookup(topic, 0); o.Offset != 10 && o.Offset != -1 {
		t.Fatalf("after all: offset %d", o.Offset)
	}
	// Max timestamp (KIP-734).
	req := newMaxTimestampRequest(topic)
	resp, err := req.RequestWith(ctx, newClient(t, b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.Offset != 5 || p.Timestamp != base.Add(500*time.Second).UnixMilli() {
		t.Fatalf("max timestamp: %+v", p)
	}
	_ = context.Background
}
