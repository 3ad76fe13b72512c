package integration

import (
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFailoverStall measures (does not assert) the producer stall when the
// leader of a replicated partition is killed: the longest gap between
// consecutive acknowledgements of a sequential acks=all producer. Run with
// SAMSA_BENCH=1 go test -run TestFailoverStall -v ./integration/
func TestFailoverStall(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") == "" {
		t.Skip("benchmark: set SAMSA_BENCH=1")
	}
	c := startCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	if _, err := newAdmin(t, c.procs[0].addr).CreateTopic(ctx, 1, 3, nil, "stall"); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, "stall", 3)
	leader := leaderOf(t, ctx, newAdmin(t, c.procs[0].addr), "stall", 0)
	cl := newClient(t, c.addrs(0), kgo.DefaultProduceTopic("stall"), kgo.ProducerLinger(0))
	var maxGap time.Duration
	last := time.Now()
	end := time.Now().Add(12 * time.Second)
	killAt := time.Now().Add(3 * time.Second)
	killed := false
	for time.Now().Before(end) {
		if !killed && time.Now().After(killAt) {
			c.procs[leader-1].kill()
			killed = true
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if g := time.Since(last); g > maxGap {
			maxGap = g
		}
		last = time.Now()
	}
	t.Logf("failover stall (longest gap between acks, leader %d killed): %v", leader, maxGap)
}
