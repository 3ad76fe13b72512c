package integration

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestGroupCommitThroughput measures (does not assert) how many
// OffsetCommits per second one coordinator sustains: offsets.topic has one
// partition, so every group lands on the same coordinator, and 16 clients
// commit concurrently for 5 s. Run with
// SAMSA_BENCH=1 go test -run TestGroupCommitThroughput -v ./integration/
func TestGroupCommitThroughput(t *testing.T) {
	if os.Getenv("SAMSA_BENCH") == "" {
		t.Skip("benchmark: set SAMSA_BENCH=1")
	}
	b := startBroker(t, "", map[string]string{"offsets.topic.num.partitions": "1"})
	ctx := testContext(t, time.Minute)
	if _, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 1, 1, nil, "committed"); err != nil {
		t.Fatal(err)
	}
	const clients = 16
	var n atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(5 * time.Second)
	for c := 0; c < clients; c++ {
		adm := newAdmin(t, b.Addr())
		group := fmt.Sprintf("g%d", c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); time.Now().Before(end); i++ {
				var offs kadm.Offsets
				offs.Add(kadm.Offset{Topic: "committed", Partition: 0, At: i, LeaderEpoch: -1})
				r, err := adm.CommitOffsets(ctx, group, offs)
				if err != nil || r.Error() != nil {
					t.Errorf("commit: %v %v", err, r.Error())
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("one coordinator, %d concurrent clients: %.0f OffsetCommits/s", clients, float64(n.Load())/5)
}
