// Command transactional runs consume-transform-produce exactly once: it
// reads --in as a group member, writes upper-cased values to --out and
// commits the consumed offsets in the same transaction.
//
//	go run ./examples/transactional --brokers 127.0.0.1:9092 --in demo --out demo-upper
//
// The broker must support transactions (Samsa does not yet).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/samsa-io/samsa/client"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma-separated")
	in := flag.String("in", "demo", "input topic")
	out := flag.String("out", "demo-upper", "output topic")
	group := flag.String("group", "demo-transformer", "consumer group")
	txnID := flag.String("transactional-id", "demo-transformer-1", "transactional.id")
	idle := flag.Duration("idle", 5*time.Second, "stop after this long without input")
	flag.Parse()
	addrs := strings.Split(*brokers, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	c, err := client.NewConsumer(
		client.WithBrokers(addrs...),
		client.WithGroupID(*group),
		client.WithAutoCommit(false),
		client.WithIsolationLevel(client.ReadCommitted), // skip aborted input
		client.WithAutoOffsetReset(client.ResetEarliest),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := c.Subscribe(*in); err != nil {
		log.Fatal(err)
	}
	p, err := client.NewProducer(client.WithBrokers(addrs...), client.WithTransactionalID(*txnID))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(context.Background())
	if err := p.InitTransactions(ctx); err != nil {
		log.Fatal(err)
	}

	total := 0
	for {
		pctx, cancel := context.WithTimeout(ctx, *idle)
		recs, err := c.Poll(pctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if err := p.BeginTransaction(); err != nil {
			log.Fatal(err)
		}
		next := map[client.TopicPartition]int64{}
		for _, r := range recs {
			if err := p.Send(ctx, &client.Record{Topic: *out, Key: r.Key, Value: bytes.ToUpper(r.Value)}, nil); err != nil {
				log.Fatal(err)
			}
			next[client.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
		}
		if err := p.SendOffsetsToTransaction(ctx, next, c.GroupMetadata()); err != nil {
			log.Fatal(err)
		}
		if err := p.CommitTransaction(ctx); err != nil {
			log.Printf("commit failed, aborting: %v", err)
			if err := p.AbortTransaction(ctx); err != nil {
				log.Fatal(err)
			}
			continue
		}
		total += len(recs)
	}
	log.Printf("transformed %d records", total)
}
