package integration

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// proc is a broker running as a separate process.
type proc struct {
	cmd   *exec.Cmd
	addr  string
	admin string // the admin HTTP address (/metrics)
}

func startProc(t *testing.T, dir string, port, raftPort int, extra ...string) *proc {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// Not the default admin port: several brokers run at once.
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := append([]string{"broker", "--data-dir", dir, "--listen", addr,
		"--raft-addr", "127.0.0.1:" + strconv.Itoa(raftPort), "--log-level", "warn", "--admin-listen", admin}, extra...)
	cmd := exec.Command(samsaBinary(t), args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, admin: admin}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker did not start listening on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL: no shutdown hooks, no syncs.
func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

func recordValue(id uint64, size int) []byte {
	v := make([]byte, size)
	binary.BigEndian.PutUint64(v, id)
	return v
}

// produceN produces ids [from, to) with acks=all (franz-go defaults:
// idempotent), stopping early after stopAfter acks when stopAfter > 0. It
// returns the acknowledged ids.
func produceN(t *testing.T, ctx context.Context, addr, topic string, from, to uint64, stopAfter int64, onStop func()) map[uint64]bool {
	// The delivery timeout is generous: these tests check that writes go
	// through and survive, not how fast a failover is (the failover
	// benchmark measures that), and a loaded machine stretches elections
	// and franz-go's metadata retries.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addr, ",")...), kgo.DefaultProduceTopic(topic),
		kgo.MaxBufferedRecords(100_000), kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.ProduceRequestTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var mu sync.Mutex
	acked := make(map[uint64]bool, to-from)
	var n atomic.Int64
	var stopOnce, errOnce sync.Once
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for id := from; id < to && pctx.Err() == nil; id++ {
		id := id
		cl.Produce(pctx, &kgo.Record{Key: []byte(strconv.FormatUint(id, 10)), Value: recordValue(id, 100)}, func(_ *kgo.Record, err error) {
			if err != nil {
				errOnce.Do(func() { t.Logf("produce to %s: first error: %v", topic, err) })
				return
			}
			mu.Lock()
			acked[id] = true
			mu.Unlock()
			if c := n.Add(1); stopAfter > 0 && c >= stopAfter {
				stopOnce.Do(func() { onStop(); cancel() })
			}
		})
	}
	if stopAfter > 0 {
		<-pctx.Done()
		cl.PurgeTopicsFromClient(topic)
	} else if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	out := make(map[uint64]bool, len(acked))
	for k := range acked {
		out[k] = true
	}
	return out
}

// readAll consumes the topic from the start up to its end offsets and checks
// offsets are contiguous from 0 and no id appears twice.
func readAll(t *testing.T, ctx context.Context, addr, topic string) map[uint64]bool {
	t.Helper()
	adm := newAdmin(t, addr)
	ends, err := adm.ListEndOffsets(ctx, topic)
	for i := 0; i < 50 && (err != nil || ends.Error() != nil); i++ {
		// A leader election in progress (LEADER_NOT_AVAILABLE) is
		// retriable, as clients treat it.
		time.Sleep(200 * time.Millisecond)
		ends, err = adm.ListEndOffsets(ctx, topic)
	}
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(32<<20))
	seen := make(map[uint64]bool, want)
	next := map[int32]int64{}
	var got int64
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v (read %d of %d)", err, got, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d, expected %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			id := binary.BigEndian.Uint64(r.Value)
			if seen[id] {
				t.Fatalf("id %d read twice", id)
			}
			seen[id] = true
			got++
		})
	}
	return seen
}

// TestKill9AcksAllDurable: a million acks=all records survive kill -9 and a
// restart: all present, none twice, offsets contiguous.
func TestKill9AcksAllDurable(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	dir := t.TempDir()
	port, raftPort := freePort(t), freePort(t)
	p := startProc(t, dir, port, raftPort)
	ctx := testContext(t, 5*time.Minute)
	const topic = "durable"
	if _, err := newAdmin(t, p.addr).CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	const n = 1_000_000
	start := time.Now()
	acked := produceN(t, ctx, p.addr, topic, 0, n, 0, nil)
	t.Logf("produced %d acks=all records in %v", len(acked), time.Since(start))
	if len(acked) != n {
		t.Fatalf("only %d of %d acknowledged", len(acked), n)
	}
	p.kill()

	p = startProc(t, dir, port, raftPort)
	seen := readAll(t, ctx, p.addr, topic)
	if len(seen) != n {
		t.Fatalf("after kill -9: %d records, want %d", len(seen), n)
	}
	for id := range acked {
		if !seen[id] {
			t.Fatalf("acknowledged id %d lost", id)
		}
	}
}

// TestKill9MidStream kills the broker while a producer is busy: every
// acknowledged record is there after restart, nothing twice, offsets
// contiguous, and the broker keeps taking writes.
func TestKill9MidStream(t *testing.T) {
	dir := t.TempDir()
	port, raftPort := freePort(t), freePort(t)
	p := startProc(t, dir, port, raftPort)
	ctx := testContext(t, 3*time.Minute)
	const topic = "midstream"
	if _, err := newAdmin(t, p.addr).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	acked := produceN(t, ctx, p.addr, topic, 0, 300_000, 100_000, p.kill)
	t.Logf("%d acknowledged before kill -9", len(acked))

	p = startProc(t, dir, port, raftPort)
	seen := readAll(t, ctx, p.addr, topic)
	lost := 0
	for id := range acked {
		if !seen[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged records lost (of %d)", lost, len(acked))
	}
	more := produceN(t, ctx, p.addr, topic, 1_000_000, 1_010_000, 0, nil)
	if len(more) != 10_000 {
		t.Fatalf("after restart only %d acknowledged", len(more))
	}
	if got := readAll(t, ctx, p.addr, topic); len(got) != len(seen)+10_000 {
		t.Fatalf("after more writes: %d records, want %d", len(got), len(seen)+10_000)
	}
}
