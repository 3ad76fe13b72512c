package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/spf13/cobra"
)

// maxReportedProduceErrors caps per-record error lines: when a broker is
// down every record fails the same way and a million identical lines help
// nobody. The total is always reported.
const maxReportedProduceErrors = 5

// flushOnInterruptTimeout bounds the final flush after Ctrl-C: the user
// asked to stop, so we deliver what was typed but do not wait forever.
const flushOnInterruptTimeout = 5 * time.Second

// forever stands for --timeout 0: the client has no "no limit" setting,
// and a century is as good as one.
const forever = 100 * 365 * 24 * time.Hour

func newProduceCmd() *cobra.Command {
	var (
		keySep      string
		acks        string
		compression string
		partition   int32
		headers     []string
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of stdin",
		Long: "Produce one record per line of stdin. With --key-separator each line is split at\n" +
			"the first separator into key and value; lines without it are an error.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			ack, err := parseAcks(acks)
			if err != nil {
				return err
			}
			codec, err := parseCompression(compression)
			if err != nil {
				return err
			}
			var hdrs []client.Header
			for _, h := range headers {
				k, v, err := parseKV(h, "header")
				if err != nil {
					return err
				}
				hdrs = append(hdrs, client.Header{Key: k, Value: []byte(v)})
			}
			manual := cmd.Flags().Changed("partition")
			if manual && partition < 0 {
				return fmt.Errorf("--partition %d: must not be negative", partition)
			}

			// Like the Java producer, ask brokers to auto-create the
			// topic, so clusters with auto.create.topics.enable work.
			popts := []client.Option{client.WithAcks(ack), client.WithCompression(codec), client.WithAllowAutoTopicCreation()}
			// --timeout bounds delivery and also the waits for metadata
			// and buffer space, so an unreachable cluster fails within it.
			deadline := timeout
			if deadline <= 0 {
				deadline = forever
			}
			popts = append(popts, client.WithDeliveryTimeout(deadline), client.WithMaxBlock(deadline))
			if manual {
				popts = append(popts, client.WithPartitioner(client.ManualPartitioner()))
			}
			opts, err := clientOptions(cmd, popts...)
			if err != nil {
				return err
			}
			p, err := client.NewProducer(opts...)
			if err != nil {
				return fmt.Errorf("client: %w", err)
			}
			// Closed after the flush below: what is left by then has
			// been given up on, so Close need not wait.
			defer p.Close(expired())

			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if err := checkProduceTopic(ctx, cmd, p, topic, manual, partition); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			var (
				failed   atomic.Int64
				reportMu sync.Mutex // Send errors and callbacks report from different goroutines
			)
			report := func(err error) {
				if failed.Add(1) <= maxReportedProduceErrors {
					reportMu.Lock()
					fmt.Fprintf(stderr, "produce to %s: %v\n", topic, err)
					reportMu.Unlock()
				}
			}
			callback := func(_ client.RecordMetadata, err error) {
				if err != nil {
					report(err)
				}
			}

			// Cancelling rctx releases the reader goroutine if we stop early.
			rctx, stopReading := context.WithCancel(ctx)
			defer stopReading()
			lines, readErr := readLines(rctx, cmd.InOrStdin())
			var (
				sent        int64
				inputErr    error
				interrupted bool
			)
		loop:
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						break loop
					}
					r := &client.Record{Topic: topic, Value: line, Headers: hdrs}
					if keySep != "" {
						k, v, found := bytes.Cut(line, []byte(keySep))
						if !found {
							inputErr = fmt.Errorf("line %d: no key separator %q", sent+1, keySep)
							break loop
						}
						r.Key, r.Value = k, v
					}
					if manual {
						r.Partition = partition
					}
					if err := p.Send(ctx, r, callback); err != nil {
						if ctx.Err() != nil {
							interrupted = true
							break loop
						}
						report(err)
					}
					sent++
				case <-ctx.Done():
					interrupted = true
					break loop
				}
			}

			fctx := ctx
			if interrupted {
				var cancel context.CancelFunc
				fctx, cancel = context.WithTimeout(context.Background(), flushOnInterruptTimeout)
				defer cancel()
			}
			if err := p.Flush(fctx); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
			if n := failed.Load(); n > 0 {
				if n > maxReportedProduceErrors {
					fmt.Fprintf(stderr, "(%d more errors not shown)\n", n-maxReportedProduceErrors)
				}
				return fmt.Errorf("topic %s: %d of %d records failed", topic, n, sent)
			}
			if inputErr != nil {
				return inputErr
			}
			if !interrupted {
				// lines is closed, so the reader has sent its result.
				if err := <-readErr; err != nil {
					return fmt.Errorf("reading stdin: %w", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keySep, "key-separator", "", "split each line into key and value at the first occurrence of this string")
	f.StringVar(&acks, "acks", "all", "required acks: 0, 1 or all")
	f.StringVar(&compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.Int32Var(&partition, "partition", 0, "send every record to this partition (default: key hash / sticky)")
	f.StringArrayVar(&headers, "header", nil, "record header key=value (repeatable)")
	f.DurationVar(&timeout, "timeout", defaultRequestTimeout, "give up on a record not acknowledged within this long (0 = retry forever)")
	return cmd
}

// checkProduceTopic fails fast on a topic that does not exist, which the
// producer would otherwise wait for up to --timeout per record. The
// metadata request asks the broker to auto-create the topic, so clusters
// with auto.create.topics.enable keep working.
func checkProduceTopic(ctx context.Context, cmd *cobra.Command, p *client.Producer, topic string, manual bool, partition int32) error {
	mctx, cancel := context.WithTimeout(ctx, defaultRequestTimeout)
	defer cancel()
	parts, err := p.PartitionsFor(mctx, topic)
	if err != nil {
		return failure(cmd, "metadata", err)
	}
	if manual && int(partition) >= len(parts) {
		return fmt.Errorf("topic %s: partition %d does not exist (%d partitions)", topic, partition, len(parts))
	}
	return nil
}

// parseAcks reads --acks: 0, 1 or all (-1 is an alias, as in Kafka).
func parseAcks(mode string) (client.Acks, error) {
	switch strings.ToLower(strings.TrimSpace(mode)) {
	case "0":
		return client.AcksNone, nil
	case "1":
		return client.AcksLeader, nil
	case "all", "-1":
		return client.AcksAll, nil
	}
	return 0, fmt.Errorf("acks %q: want 0, 1 or all", mode)
}

// parseCompression reads --compression.
func parseCompression(name string) (client.Compression, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return client.CompressionNone, nil
	case "gzip":
		return client.CompressionGzip, nil
	case "snappy":
		return client.CompressionSnappy, nil
	case "lz4":
		return client.CompressionLZ4, nil
	case "zstd":
		return client.CompressionZstd, nil
	}
	return 0, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// expired returns a context that has already ended, for a Close that must
// not wait.
func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// readLines streams stdin lines (without the trailing \n or \r\n) from a
// goroutine so that Ctrl-C is noticed while a terminal read is blocked.
// The error channel yields the read error (nil at EOF) once lines closes.
func readLines(ctx context.Context, in io.Reader) (<-chan []byte, <-chan error) {
	lines := make(chan []byte, 1024)
	errc := make(chan error, 1)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(in, 64<<10)
		for {
			// ReadBytes returns a fresh slice each time, which the
			// record can own without copying.
			line, err := br.ReadBytes('\n')
			if len(line) > 0 || err == nil {
				line = bytes.TrimSuffix(line, []byte("\n"))
				line = bytes.TrimSuffix(line, []byte("\r"))
				select {
				case lines <- line:
				case <-ctx.Done():
					errc <- nil
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
		}
	}()
	return lines, errc
}
