package client

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A group mixing this client and franz-go (which follows the Java client's
// encodings): whoever leads, the other understands the member metadata and
// assignment, and every record is consumed.
func TestGroupInteropWithKgo(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, oursFirst := range []bool{true, false} {
			t.Run("ours-first="+strconv.FormatBool(oursFirst), func(t *testing.T) {
				topic := newTopic(t, tg, 4)
				group := uniq("g")
				ctx := testCtx(t, 60*time.Second)
				produceN(t, newTestProducer(t, tg), topic, 200, func(i int) []byte { return []byte(strconv.Itoa(i)) })

				var mu sync.Mutex
				seen := map[string]bool{}
				add := func(topic string, p int32, off int64) {
					mu.Lock()
					seen[topic+"/"+strconv.Itoa(int(p))+"/"+strconv.FormatInt(off, 10)] = true
					mu.Unlock()
				}
				startKgo := func() {
					cl, err := kgo.NewClient(kgo.SeedBrokers(tg.addrs...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
						kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
						kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond))
					if err != nil {
						t.Fatal(err)
					}
					kctx, cancel := context.WithCancel(ctx)
					done := make(chan struct{})
					t.Cleanup(func() { cancel(); <-done; cl.Close() })
					go func() {
						defer close(done)
						for kctx.Err() == nil {
							fs := cl.PollFetches(kctx)
							fs.EachRecord(func(r *kgo.Record) { add(r.Topic, r.Partition, r.Offset) })
						}
					}()
				}
				if !oursFirst {
					startKgo()
				}
				c := newTestConsumer(t, tg, groupOpts(group, WithAssignors(CooperativeStickyAssignor()))...)
				c.Subscribe(topic)
				onRecs := func(_ *Consumer, recs []*Record) {
					for _, r := range recs {
						add(r.Topic, r.Partition, r.Offset)
					}
				}
				if oursFirst {
					pollUntil(t, ctx, onRecs, func() bool { return len(c.Assignment()) == 4 }, c)
					startKgo()
				}
				pollUntil(t, ctx, onRecs, func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(seen) == 200 && len(c.Assignment()) == 2
				}, c)
			})
		}
	})
}
