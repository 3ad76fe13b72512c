package bench

import (
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// arrival is a timed record as the broker received it: the send time
// stamped in its value and when its Produce request arrived.
type arrival struct{ stamp, at time.Time }

// watchProduce records every timed record arriving at the fake cluster.
// before, if set, runs on each Produce request first (e.g. to stall it).
func watchProduce(c *kfake.Cluster, before func(n int)) (get func() ([]arrival, error)) {
	var (
		mu   sync.Mutex
		seen []arrival
		n    int
		bad  error
	)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if before != nil {
			before(k)
		}
		at := time.Now()
		stamps, err := timedStamps(req.(*kmsg.ProduceRequest))
		mu.Lock()
		defer mu.Unlock()
		for _, s := range stamps {
			seen = append(seen, arrival{s, at})
		}
		if err != nil && bad == nil {
			bad = err
		}
		return nil, nil, false // the cluster handles the request as usual
	})
	return func() ([]arrival, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen), bad
	}
}

// timedStamps decodes the (uncompressed) batches of a Produce request and
// returns the send times stamped in its timed records (warm-ups, which
// carry a header, are left out).
func timedStamps(req *kmsg.ProduceRequest) ([]time.Time, error) {
	var out []time.Time
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(p.Records); err != nil {
				return out, err
			}
			if b.Attributes&7 != 0 {
				return out, errors.New("compressed batch")
			}
			src := b.Records
			for range b.NumRecords {
				l, n := binary.Varint(src)
				if n <= 0 || n+int(l) > len(src) {
					return out, errors.New("bad record length")
				}
				var r kmsg.Record
				if err := r.ReadFrom(src[:n+int(l)]); err != nil {
					return out, err
				}
				src = src[n+int(l):]
				if len(r.Headers) == 0 {
					out = append(out, time.Unix(0, int64(binary.BigEndian.Uint64(r.Value))))
				}
			}
		}
	}
	return out, nil
}

// TestFixedRateSchedule: with a rate, record k of the cell is due at
// start + k/rate (two producers taking turns), no record reaches the
// broker before it is due, so the cell cannot finish faster than the
// schedule.
func TestFixedRateSchedule(t *testing.T) {
	c, ctx := fakeCluster(t, 1)
	arrivals := watchProduce(c, nil)

	const rate, records = 2000, 600
	rep, err := Run(ctx, Config{Brokers: c.ListenAddrs(), Partitions: 2, Acks: []string{"1"},
		Records: records, Producers: 2, Rate: rate, SkipConsume: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := arrivals()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != records {
		t.Fatalf("broker saw %d timed records, want %d", len(got), records)
	}
	slices.SortFunc(got, func(a, b arrival) int { return a.stamp.Compare(b.stamp) })
	interval := time.Second / rate
	for k, a := range got {
		if d := a.stamp.Sub(got[0].stamp); d != time.Duration(k)*interval {
			t.Fatalf("record %d due %s after the first, want %s", k, d, time.Duration(k)*interval)
		}
		if a.at.Before(a.stamp) {
			t.Fatalf("record %d arrived %s before it was due", k, a.stamp.Sub(a.at))
		}
	}
	p := rep.Produce[0]
	if span := (records - 1) * interval; p.Elapsed < span || p.RecordsPerSec > float64(records)/span.Seconds() {
		t.Fatalf("cell took %s at %.0f records/s; the schedule spans %s", p.Elapsed, p.RecordsPerSec, span)
	}
	if !plausible(p.Latency, records) || p.E2E == nil || !plausible(*p.E2E, records) {
		t.Fatalf("latencies %+v e2e %+v", p.Latency, p.E2E)
	}
}

// TestFixedRateStallCounted: the broker stalls one Produce request for
// 300 ms. With one record buffered, the producer blocks meanwhile, so the
// records due during the stall are sent late. Measured from their due
// times (as they must be), about 300 of 1000 records are late by up to
// 300 ms, so at least 20% exceed 100 ms and p95 is above 100 ms; measured
// from the Produce call, only the one record in flight would be slow
// (coordinated omission) and p95 would stay near the round trip.
func TestFixedRateStallCounted(t *testing.T) {
	c, ctx := fakeCluster(t, 1)
	const stall = 300 * time.Millisecond
	watchProduce(c, func(n int) {
		if n == 50 { // well into the cell, after the warm-up
			c.SleepControl(func() { time.Sleep(stall) })
		}
	})

	const rate, records = 1000, 1000
	rep, err := Run(ctx, Config{Brokers: c.ListenAddrs(), Partitions: 1, Acks: []string{"1"},
		Records: records, Rate: rate, MaxBufferedRecords: 1, SkipConsume: true})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Produce[0]
	if l := p.Latency; l.Count != records || l.P95 < 100 || l.Max < 290 {
		t.Fatalf("produce latency %+v does not show the %s stall", l, stall)
	}
	if l := p.E2E; l == nil || l.Count != records || l.P95 < 100 {
		t.Fatalf("end-to-end latency %+v does not show the %s stall", l, stall)
	}
	if p.SendLagMax < 200 {
		t.Fatalf("send lag %.1f ms: the producer should have fallen behind during the stall", p.SendLagMax)
	}
	if p.Elapsed < (records-1)*time.Second/rate {
		t.Fatalf("cell took %s, faster than the schedule", p.Elapsed)
	}
	t.Logf("latency %+v, e2e %+v, send lag max %.1f ms", p.Latency, *p.E2E, p.SendLagMax)
}
