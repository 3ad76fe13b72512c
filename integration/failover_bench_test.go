package integration

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFailoverStall measures (does not assert) the producer stall when the
// leader of a replicated partition is killed: the longest gap between
// consecutive acknowledgements of a sequential acks=all producer. Run with
// SAMSA_BENCH=1 go test -run TestFailoverStall -v ./integration/
//
// Two franz-go configurations: its defaults, where a metadata refresh
// waits until the last one is MetadataMinAge (5 s) old, so the stall
// depends on when the previous refresh happened; and a 100 ms minimum age,
// as the Java client refreshes after retry.backoff.ms, which shows the
// broker's own failover time. SAMSA_KGO_LOG=1 adds franz-go's debug log.
func TestFailoverStall(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") == "" {
		t.Skip("benchmark: set SAMSA_BENCH=1")
	}
	// Kill 3 s after the producer starts (its first metadata refresh is
	// younger than MetadataMinAge) and after 8 s (steady state: older).
	for _, warm := range []time.Duration{3 * time.Second, 8 * time.Second} {
		t.Run("franz-go-defaults/warm-"+warm.String(), func(t *testing.T) { failoverStall(t, warm) })
	}
	t.Run("metadata-min-age-100ms", func(t *testing.T) { failoverStall(t, 3*time.Second, kgo.MetadataMinAge(100*time.Millisecond)) })
	// A rolling restart: SIGTERM hands leadership over first (KIP-951
	// hints tell the producer where it went).
	graceful = true
	defer func() { graceful = false }()
	t.Run("franz-go-defaults/sigterm", func(t *testing.T) { failoverStall(t, 3*time.Second) })
}

// graceful makes failoverStall stop the leader with SIGTERM, not SIGKILL.
var graceful bool

func failoverStall(t *testing.T, warm time.Duration, opts ...kgo.Opt) {
	opts = append(opts, kgoDebugLog()...)
	c := startCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	if _, err := newAdmin(t, c.procs[0].addr).CreateTopic(ctx, 1, 3, nil, "stall"); err != nil {
		t.Fatal(err)
	}
	waitISR(t, ctx, c.procs[0].addr, "stall", 3)
	adm := newAdmin(t, c.procs[0].addr)
	leader := int32(-1)
	cl := newClient(t, c.addrs(0), append([]kgo.Opt{kgo.DefaultProduceTopic("stall"), kgo.ProducerLinger(0)}, opts...)...)
	var maxGap time.Duration
	last := time.Now()
	killAt := time.Now().Add(warm)
	end := killAt.Add(9 * time.Second)
	killed := false
	for time.Now().Before(end) {
		if !killed && time.Now().After(killAt) {
			// Asked now: leadership may have moved since the topic was
			// created (preferred leader election).
			leader = leaderOf(t, ctx, adm, "stall", 0)
			t.Logf("%s stopping broker %d (graceful %v)", time.Now().Format("15:04:05.000"), leader, graceful)
			if graceful {
				p := c.procs[leader-1]
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				go func() { _ = p.cmd.Wait() }()
			} else {
				c.procs[leader-1].kill()
			}
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

// kgoDebugLog turns on franz-go's debug log when SAMSA_KGO_LOG is set.
func kgoDebugLog() []kgo.Opt {
	if os.Getenv("SAMSA_KGO_LOG") == "" {
		return nil
	}
	return []kgo.Opt{kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, func() string { return time.Now().Format("15:04:05.000 ") }))}
}
