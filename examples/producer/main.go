// Command producer sends records with the samsa Go client.
//
//	go run ./examples/producer --brokers 127.0.0.1:9092 --topic demo --count 1000
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
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/client"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma-separated")
	topic := flag.String("topic", "demo", "topic to produce to")
	count := flag.Int("count", 1000, "records to send")
	create := flag.Int("partitions", 3, "create the topic with this many partitions if missing (0: do not create)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := []client.Option{client.WithBrokers(strings.Split(*brokers, ",")...), client.WithClientID("example-producer")}

	if *create > 0 {
		admin, err := client.NewAdmin(opts...)
		if err != nil {
			log.Fatal(err)
		}
		err = admin.CreateTopics(ctx, client.TopicSpec{Name: *topic, Partitions: int32(*create), ReplicationFactor: 1})
		admin.Close()
		if err != nil && !isExists(err) {
			log.Fatal(err)
		}
	}

	p, err := client.NewProducer(append(opts,
		client.WithAcks(client.AcksAll), // idempotent by default
		client.WithLinger(5*time.Millisecond),
		client.WithCompression(client.CompressionZstd),
	)...)
	if err != nil {
		log.Fatal(err)
	}
	var failed atomic.Int64
	start := time.Now()
	for i := range *count {
		rec := &client.Record{
			Topic:   *topic,
			Key:     []byte(fmt.Sprintf("user-%d", i%10)), // same key, same partition
			Value:   []byte(fmt.Sprintf("event %d", i)),
			Headers: []client.Header{{Key: "source", Value: []byte("example")}},
		}
		err := p.Send(ctx, rec, func(md client.RecordMetadata, err error) {
			if err != nil {
				failed.Add(1)
				log.Printf("record failed: %v", err)
			}
		})
		if err != nil {
			log.Fatalf("send: %v", err)
		}
	}
	// Close flushes: every callback has run when it returns.
	if err := p.Close(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent %d records (%d failed) in %v\n", *count, failed.Load(), time.Since(start).Round(time.Millisecond))

	// A synchronous send reports where the record went.
	p2, err := client.NewProducer(opts...)
	if err != nil {
		log.Fatal(err)
	}
	md, err := p2.SendSync(ctx, &client.Record{Topic: *topic, Value: []byte("last")})
	p2.Close(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("last record: partition %d offset %d\n", md.Partition, md.Offset)
}

func isExists(err error) bool { return errors.Is(err, client.ErrTopicAlreadyExists) }
