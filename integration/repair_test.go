package integration

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/partition"
)

// TestClusterRepairsDamagedReplica: a follower's segment file is truncated
// while it is down, losing records Raft had applied there. On restart the
// broker reports the damage, sets the directory aside instead of serving
// it, and the replica is rebuilt from the others (a fresh replica ID, filled
// by snapshot). Once it is back in the ISR, its own log files hold every
// acknowledged record.
func TestClusterRepairsDamagedReplica(t *testing.T) {
	c := startCluster(t, 3, "--set", "replica.lag.time.max.ms=2000", "--set", "broker.session.timeout.ms=4000")
	ctx := testContext(t, 4*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic = "damaged"
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, topic, 3)
	// One acks=all request per record: well over SnapshotEntries (1000)
	// Raft entries, so every replica checkpoints what it applied.
	cl := newClient(t, c.addrs(0), kgo.DefaultProduceTopic(topic))
	const n = 1500
	for id := uint64(0); id < n; id++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: recordValue(id, 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	leader := leaderOf(t, ctx, adm, topic, 0)
	f := int32(1)
	for f == leader {
		f++
	}
	dir := filepath.Join(c.dirs[f-1], topic+"-0")
	time.Sleep(time.Second) // let the follower apply and checkpoint the tail
	c.procs[f-1].kill()
	if _, err := os.Stat(filepath.Join(dir, "raft-applied.checkpoint")); err != nil {
		t.Fatalf("follower %d has no Raft checkpoint, nothing to damage: %v", f, err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(segs)
	if len(segs) == 0 {
		t.Fatal("no segment files")
	}
	last := segs[len(segs)-1]
	st, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, st.Size()/3); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d: truncated %s from %d to %d bytes", f, filepath.Base(last), st.Size(), st.Size()/3)

	c.procs[f-1] = c.start(t, int(f))
	waitISR(t, ctx, c.procs[f-1].addr, topic, 3)
	aside, _ := filepath.Glob(dir + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged directory not set aside: %v", aside)
	}
	// The repaired replica's own log, read from its files after kill -9,
	// holds every record.
	c.procs[f-1].kill()
	l, err := partition.Open(dir, partition.DefaultConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seen := map[uint64]bool{}
	for off := l.StartOffset(); off < l.NextOffset(); {
		data, err := l.Read(off, 1<<20, l.NextOffset(), true)
		if err != nil || len(data) == 0 {
			t.Fatalf("reading the repaired log at %d: %v", off, err)
		}
		for len(data) > 0 {
			b, rest, h, err := batch.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			data = rest
			_, recs, err := batch.Records(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				seen[binary.BigEndian.Uint64(r.Value)] = true
			}
			off = h.LastOffset() + 1
		}
	}
	if len(seen) != n {
		t.Fatalf("repaired replica holds %d of %d records", len(seen), n)
	}
	for id := uint64(0); id < n; id++ {
		if !seen[id] {
			t.Fatalf("record %d missing from the repaired replica", id)
		}
	}
}
