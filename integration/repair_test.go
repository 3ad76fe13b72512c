package integration

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	seen := partitionIDs(t, dir)
	if len(seen) != n {
		t.Fatalf("repaired replica holds %d of %d records", len(seen), n)
	}
	for id := uint64(0); id < n; id++ {
		if !seen[id] {
			t.Fatalf("record %d missing from the repaired replica", id)
		}
	}
}

// partitionIDs reads the record ids (recordValue) in a partition directory
// of a stopped broker.
func partitionIDs(t *testing.T, dir string) map[uint64]bool {
	t.Helper()
	l, err := partition.Open(dir, partition.DefaultConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seen := map[uint64]bool{}
	for off := l.StartOffset(); off < l.NextOffset(); {
		data, err := l.Read(off, 1<<20, l.NextOffset(), true)
		if err != nil || len(data) == 0 {
			t.Fatalf("reading %s at %d: %v", dir, off, err)
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
	return seen
}

// TestClusterRepairsDamagedRaftLog: every Raft log on one broker (the
// controller's and each partition's) is overwritten with garbage, or the
// whole raft directory is lost, while the broker is down. On restart the
// broker finds the damage before dragonboat reads it, sets the logs aside,
// gets a new controller replica from the others (its old one may have
// voted: it cannot come back under its old ID), and each partition replica
// is replaced and refilled by snapshot. Afterwards the broker is a voting
// controller member again and its own partition logs hold every
// acknowledged record.
func TestClusterRepairsDamagedRaftLog(t *testing.T) {
	t.Run("garbage", func(t *testing.T) { testRaftLogRepair(t, false) })
	t.Run("lost", func(t *testing.T) { testRaftLogRepair(t, true) })
}

func testRaftLogRepair(t *testing.T, lose bool) {
	c := startCluster(t, 3, "--set", "replica.lag.time.max.ms=2000", "--set", "broker.session.timeout.ms=4000")
	ctx := testContext(t, 4*time.Minute)
	adm := newAdmin(t, c.procs[0].addr)
	const topic, parts = "raftdamage", 3
	if _, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, topic, 3)
	// One acks=all request per record, fewer than SnapshotEntries (1000)
	// per partition: every entry is still in the Raft logs, so garbage
	// written over them is found.
	cl := newClient(t, c.addrs(0), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	const n = 600
	for id := uint64(0); id < n; id++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: recordValue(id, 512)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	const f = 2
	time.Sleep(500 * time.Millisecond) // let broker 2 apply the tail
	c.procs[f-1].kill()
	raftDir := filepath.Join(c.dirs[f-1], "raft")
	if lose {
		if err := os.RemoveAll(raftDir); err != nil {
			t.Fatal(err)
		}
	} else {
		logs, _ := filepath.Glob(filepath.Join(raftDir, "*", "*", "tandb", "node-*", "*.log"))
		damaged := 0
		for _, path := range logs {
			if garble(t, path) {
				damaged++
			}
		}
		if damaged == 0 {
			t.Fatalf("no Raft log data to damage among %v", logs)
		}
		t.Logf("broker %d: wrote garbage into %d Raft log files", f, damaged)
	}

	c.procs[f-1] = c.start(t, f)
	for p := int32(0); p < parts; p++ {
		waitISRPartition(t, ctx, c.procs[f-1].addr, topic, p, 3)
	}
	aside, _ := filepath.Glob(filepath.Join(raftDir, "damaged", "node-*"))
	if want := 1 + parts; lose {
		aside, _ = filepath.Glob(filepath.Join(c.dirs[f-1], topic+"-*.damaged-*"))
		if len(aside) != parts {
			t.Fatalf("partitions set aside: %v, want %d", aside, parts)
		}
	} else if len(aside) < want {
		t.Fatalf("damaged Raft logs set aside: %v, want the controller's and %d partitions'", aside, parts)
	}
	if id, err := os.ReadFile(filepath.Join(c.dirs[f-1], "raft", "controller.replica")); err != nil {
		t.Fatalf("no new controller replica: %v", err)
	} else {
		t.Logf("broker %d: new controller replica %s", f, strings.TrimSpace(string(id)))
	}
	// Broker 2 is a voter again: with broker 1 down, brokers 2 and 3 are
	// the controller's quorum, and a topic can still be created.
	c.procs[0].kill()
	adm3 := newAdmin(t, c.procs[2].addr)
	for {
		_, err := adm3.CreateTopic(ctx, 1, 2, nil, "after-repair")
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("creating a topic with brokers 2 and 3: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The rebuilt replicas' own logs hold every record.
	c.procs[f-1].kill()
	seen := map[uint64]bool{}
	for p := 0; p < parts; p++ {
		for id := range partitionIDs(t, filepath.Join(c.dirs[f-1], fmt.Sprintf("%s-%d", topic, p))) {
			seen[id] = true
		}
	}
	for id := uint64(0); id < n; id++ {
		if !seen[id] {
			t.Fatalf("record %d missing from broker %d's rebuilt replicas (%d of %d there)", id, f, len(seen), n)
		}
	}
}

// garble overwrites 8 KiB of a file's written data with garbage, reporting
// whether there was data to overwrite (tan preallocates log files: the
// tail is zeros).
func garble(t *testing.T, path string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := len(data)
	for end > 0 && data[end-1] == 0 {
		end--
	}
	if end < 1024 {
		return false
	}
	// Valid records must follow the garbage: damage reaching the end of
	// the data is indistinguishable from a write torn by a crash.
	from := end / 4
	to := min(from+8192, end*3/4)
	for i := from; i < to; i++ {
		data[i] = byte(i*7 + 13)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return true
}
