package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitionActorPanicRestarts: a partition actor that panics is
// restarted by its supervisor; the broker and the partition keep serving.
func TestPartitionActorPanicRestarts(t *testing.T) {
	b := startBroker(t, "", nil)
	ctx := testContext(t, time.Minute)
	if _, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 2, 1, nil, "sup"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(p int32) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sup", Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
	produce(0)
	produce(1)
	part := b.Partition("sup", 0)
	for i := 0; i < 3; i++ {
		part.InjectPanic()
		produce(1) // the sibling is unaffected
		produce(0) // the restarted actor serves again
	}
	ends, _ := newAdmin(t, b.Addr()).ListEndOffsets(ctx, "sup")
	o0, _ := ends.Lookup("sup", 0)
	o1, _ := ends.Lookup("sup", 1)
	if o0.Offset != 4 || o1.Offset != 4 {
		t.Fatalf("end offsets %d, %d; want 4, 4", o0.Offset, o1.Offset)
	}
}
