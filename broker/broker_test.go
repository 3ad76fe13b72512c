package broker

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestBrokerUnderRace runs a broker in-process under the race detector while
// producers, a long-polling consumer and admin calls run concurrently, then
// restarts it on the same data and reads everything back.
func TestBrokerUnderRace(t *testing.T) {
	baseline := runtime.NumGoroutine()
	defer checkGoroutines(t, baseline)
	dir := t.TempDir()
	raft := "127.0.0.1:" + strconv.Itoa(freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := Start(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", RaftAddr: raft})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("race"),
		kgo.ConsumeTopics("race"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "race"); err != nil {
		t.Fatal(err)
	}
	const producers, each = 4, 2000
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(p)), Value: []byte(fmt.Sprintf("%d-%d", p, i))}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
		}(p)
	}
	wg.Add(1)
	go func() { // admin traffic alongside
		defer wg.Done()
		for i := 0; i < 5; i++ {
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, fmt.Sprintf("side-%d", i)); err != nil {
				t.Errorf("create: %v", err)
			}
		}
		if _, err := adm.DeleteTopics(ctx, "side-0", "side-1"); err != nil {
			t.Errorf("delete: %v", err)
		}
	}()
	seen := 0
	for seen < producers*each {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		seen += fs.NumRecords()
	}
	wg.Wait()
	cl.Close()
	b.Close()

	b, err = Start(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", RaftAddr: raft})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl2, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("race"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	got := 0
	for got < producers*each {
		fs := cl2.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if got != producers*each {
		t.Fatalf("after restart %d records, want %d", got, producers*each)
	}
}

// checkGoroutines fails the test if goroutines started during it outlive
// the broker's Close (a leak), after giving them a moment to exit.
func checkGoroutines(t *testing.T, baseline int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after Close, %d before:\n%s", n, baseline, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNodeIDMismatchRefused: a data directory is never started as another
// node.
func TestNodeIDMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raft := "127.0.0.1:" + strconv.Itoa(freePort(t))
	b, err := Start(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", RaftAddr: raft})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	_, err = Start(ctx, Config{NodeID: 2, DataDir: dir, Listen: "127.0.0.1:0", RaftAddr: raft})
	if err == nil || !strings.Contains(err.Error(), "belongs to node 1") {
		t.Fatalf("started node 2 on node 1's data: %v", err)
	}
}
