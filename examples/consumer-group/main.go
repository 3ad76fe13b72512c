// Command consumer-group consumes a topic as a member of a consumer group,
// committing after each batch. Run several copies to watch partitions move.
//
//	go run ./examples/consumer-group --brokers 127.0.0.1:9092 --topic demo --group demo-group
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/samsa-io/samsa/client"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma-separated")
	topic := flag.String("topic", "demo", "topic to consume")
	group := flag.String("group", "demo-group", "consumer group")
	max := flag.Int("max", 0, "stop after this many records (0: run until interrupted)")
	idle := flag.Duration("idle", 0, "stop after this long without records (0: never)")
	flag.Parse()

	c, err := client.NewConsumer(
		client.WithBrokers(strings.Split(*brokers, ",")...),
		client.WithGroupID(*group),
		client.WithAssignors(client.CooperativeStickyAssignor()),
		client.WithAutoOffsetReset(client.ResetEarliest),
		client.WithAutoCommit(false), // commit explicitly after processing
		client.WithRebalanceListener(client.RebalanceListenerFuncs{
			Assigned: func(_ context.Context, _ *client.Consumer, tps []client.TopicPartition) {
				log.Printf("assigned %v", tps)
			},
			Revoked: func(ctx context.Context, c *client.Consumer, tps []client.TopicPartition) {
				log.Printf("revoked %v", tps)
				// Commit what was processed before the partitions move.
				if err := c.CommitSync(ctx); err != nil {
					log.Printf("commit on revoke: %v", err)
				}
			},
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Subscribe(*topic); err != nil {
		log.Fatal(err)
	}

	// Ctrl-C interrupts a blocked Poll with Wakeup.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		c.Wakeup()
	}()

	n := 0
	for *max == 0 || n < *max {
		ctx := context.Background()
		var cancel context.CancelFunc = func() {}
		if *idle > 0 {
			ctx, cancel = context.WithTimeout(ctx, *idle)
		}
		recs, err := c.Poll(ctx)
		cancel()
		if errors.Is(err, client.ErrWakeup) || errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range recs {
			fmt.Printf("%s/%d@%d key=%s value=%s\n", r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		}
		n += len(recs)
		if err := c.CommitSync(context.Background()); err != nil {
			log.Printf("commit: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil { // leaves the group
		log.Fatal(err)
	}
	log.Printf("consumed %d records", n)
}
