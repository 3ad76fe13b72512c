package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/bench"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxReportedProduceErrors caps per-record error lines: when a broker is
// down every record fails the same way and a million identical lines help
// nobody. The total is always reported.
const maxReportedProduceErrors = 5

// flushOnInterruptTimeout bounds the final flush after Ctrl-C: the user
// asked to stop, so we deliver what was typed but do not wait forever.
const flushOnInterruptTimeout = 5 * time.Second

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
			ackOpts, err := bench.AcksOpts(acks)
			if err != nil {
				return err
			}
			comp, err := bench.CompressionOpt(compression)
			if err != nil {
				return err
			}
			var hdrs []kgo.RecordHeader
			for _, h := range headers {
				k, v, err := parseKV(h, "header")
				if err != nil {
					return err
				}
				hdrs = append(hdrs, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
			manual := cmd.Flags().Changed("partition")
			if manual && partition < 0 {
				return fmt.Errorf("--partition %d: must not be negative", partition)
			}

			opts := append([]kgo.Opt{kgo.DefaultProduceTopic(topic), comp}, ackOpts...)
			if timeout > 0 {
				// Without a delivery timeout franz-go retries forever, so
				// an unreachable cluster would hang the final flush.
				opts = append(opts, kgo.RecordDeliveryTimeout(timeout))
			}
			if manual {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			cl, err := newClient(cmd, opts...)
			if err != nil {
				return err
			}
			defer cl.Close()

			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if err := checkProduceTopic(ctx, cmd, cl, topic, manual, partition); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			var failed atomic.Int64
			promise := func(r *kgo.Record, err error) {
				if err == nil {
					return
				}
				// Promises run serially, so these writes do not interleave.
				if failed.Add(1) <= maxReportedProduceErrors {
					fmt.Fprintf(stderr, "produce to %s: %v\n", r.Topic, err)
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
					r := &kgo.Record{Value: line, Headers: hdrs}
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
					cl.Produce(ctx, r, promise)
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
			if err := cl.Flush(fctx); err != nil {
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

// checkProduceTopic fails fast on a topic that does not exist: franz-go
// would otherwise retry metadata for up to ~20 s per record before giving
// up. Like the Java producer it asks the broker to auto-create the topic,
// so clusters with auto.create.topics.enable keep working.
func checkProduceTopic(ctx context.Context, cmd *cobra.Command, cl *kgo.Client, topic string, manual bool, partition int32) error {
	mctx, cancel := context.WithTimeout(ctx, defaultRequestTimeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(mctx, cl)
	if err != nil {
		return requestError(cmd, "metadata", err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		err := kerr.ErrorForCode(t.ErrorCode)
		// UNKNOWN_TOPIC_OR_PARTITION after an auto-create request means
		// the topic is really absent (kerr calls it retriable because it
		// can be transient during creation). Other retriable errors, such
		// as LEADER_NOT_AVAILABLE while auto-creating, are left to the
		// client's retries.
		if err != nil && (errors.Is(err, kerr.UnknownTopicOrPartition) || !kerr.IsRetriable(err)) {
			return topicError(topic, err, "")
		}
		if err == nil && manual && len(t.Partitions) > 0 && int(partition) >= len(t.Partitions) {
			return fmt.Errorf("topic %s: partition %d does not exist (%d partitions)", topic, partition, len(t.Partitions))
		}
	}
	return nil
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
