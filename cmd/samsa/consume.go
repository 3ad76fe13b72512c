package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// commitOnExitTimeout bounds the final group commit, which must run even
// after Ctrl-C has cancelled the command context.
const commitOnExitTimeout = 10 * time.Second

type consumeOptions struct {
	fromBeginning bool
	offset        int64
	partition     int32
	maxMessages   int
	idle          time.Duration
	printKey      bool
	keySep        string
	printOffset   bool
	group         string
	isolation     string
}

func newConsumeCmd() *cobra.Command {
	var o consumeOptions
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic, one value per line",
		Long: "Print records of a topic, one value per line (key<sep>value with --print-key).\n" +
			"Runs until Ctrl-C, until --max-messages records were printed, or until no\n" +
			"record arrived for --timeout.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the earliest offset (default: only new records)")
	f.Int64Var(&o.offset, "offset", 0, "start at this exact offset (all partitions, or the one given by --partition)")
	f.Int32Var(&o.partition, "partition", 0, "consume only this partition")
	f.IntVar(&o.maxMessages, "max-messages", 0, "exit after printing this many records (0 = unlimited)")
	f.DurationVar(&o.idle, "timeout", 0, "exit when no record arrived for this long (0 = wait forever)")
	f.BoolVar(&o.printKey, "print-key", false, "print key<separator>value")
	f.StringVar(&o.keySep, "key-separator", "\t", "separator between key and value with --print-key")
	f.BoolVar(&o.printOffset, "print-offset", false, "prefix each line with Partition:<p>\\tOffset:<o>\\t")
	f.StringVar(&o.group, "group", "", "consume as a member of this consumer group (commits what was printed)")
	f.StringVar(&o.isolation, "isolation", "read_uncommitted", "read_committed or read_uncommitted")
	return cmd
}

func runConsume(cmd *cobra.Command, topic string, o consumeOptions) error {
	flags := cmd.Flags()
	withOffset, withPartition := flags.Changed("offset"), flags.Changed("partition")
	switch {
	case o.maxMessages < 0:
		return fmt.Errorf("--max-messages %d: must not be negative", o.maxMessages)
	case withOffset && o.offset < 0:
		return fmt.Errorf("--offset %d: must not be negative", o.offset)
	case withPartition && o.partition < 0:
		return fmt.Errorf("--partition %d: must not be negative", o.partition)
	case withOffset && o.fromBeginning:
		return errors.New("--offset and --from-beginning are mutually exclusive")
	case o.group != "" && (withOffset || withPartition):
		// A group member's partitions and positions come from the group.
		return errors.New("--group cannot be combined with --offset or --partition")
	}
	var iso kgo.IsolationLevel
	switch o.isolation {
	case "read_uncommitted":
		iso = kgo.ReadUncommitted()
	case "read_committed":
		iso = kgo.ReadCommitted()
	default:
		return fmt.Errorf("--isolation %q: want read_committed or read_uncommitted", o.isolation)
	}

	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}

	start := kgo.NewOffset().AtEnd()
	if o.fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	if withOffset {
		start = kgo.NewOffset().At(o.offset)
	}

	// Check the topic first: franz-go would otherwise wait silently for
	// a topic that does not exist.
	partitions, err := topicPartitions(ctx, cmd, topic)
	if err != nil {
		return err
	}
	opts := []kgo.Opt{kgo.FetchIsolationLevel(iso)}
	switch {
	case withPartition || withOffset:
		if withPartition {
			if int(o.partition) >= partitions {
				return fmt.Errorf("topic %s: partition %d does not exist (%d partitions)", topic, o.partition, partitions)
			}
			partitions = 1
		}
		offs := make(map[int32]kgo.Offset, partitions)
		for p := range int32(partitions) {
			if withPartition {
				p = o.partition
			}
			offs[p] = start
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	case o.group != "":
		// AutoCommitMarks + marking each printed record means a stop at
		// --max-messages never commits records that were fetched but not
		// printed.
		opts = append(opts, kgo.ConsumerGroup(o.group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(start), kgo.AutoCommitMarks())
	default:
		opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start))
	}
	cl, err := newClient(cmd, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	n, err := consumeLoop(ctx, cmd, cl, o)
	if o.group != "" {
		cctx, cancel := context.WithTimeout(context.Background(), commitOnExitTimeout)
		cerr := cl.CommitMarkedOffsets(cctx)
		cancel()
		if cerr != nil && err == nil {
			err = fmt.Errorf("group %s: commit: %w", o.group, cerr)
		}
	}
	// Like kafka-console-consumer; on stderr so stdout stays pure data.
	fmt.Fprintf(cmd.ErrOrStderr(), "Processed a total of %d messages\n", n)
	return err
}

// topicPartitions returns the topic's partition count or a readable error.
func topicPartitions(ctx context.Context, cmd *cobra.Command, topic string) (int, error) {
	cl, err := newClient(cmd)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	mctx, cancel := context.WithTimeout(ctx, defaultRequestTimeout)
	defer cancel()
	tds, err := kadm.NewClient(cl).ListTopics(mctx, topic)
	if err != nil {
		return 0, requestError(cmd, "metadata", err)
	}
	td, ok := tds[topic]
	switch {
	case !ok:
		return 0, topicError(topic, kerr.UnknownTopicOrPartition, "")
	case td.Err != nil:
		return 0, topicError(topic, td.Err, "")
	}
	return len(td.Partitions), nil
}

// consumeLoop prints records until a stop condition and returns how many
// it printed. Interruption (ctx done) and idleness are normal exits.
func consumeLoop(ctx context.Context, cmd *cobra.Command, cl *kgo.Client, o consumeOptions) (int, error) {
	w := bufio.NewWriter(cmd.OutOrStdout())
	defer w.Flush()
	n := 0
	last := time.Now()
	for o.maxMessages == 0 || n < o.maxMessages {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if o.idle > 0 {
			pctx, cancel = context.WithDeadline(ctx, last.Add(o.idle))
		}
		// PollRecords caps the batch so --max-messages never prints (or,
		// in a group, marks) more than asked for.
		fetches := cl.PollRecords(pctx, o.maxMessages-n)
		cancel()
		if fetches.IsClientClosed() {
			return n, nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			var loss *kgo.ErrDataLoss
			switch {
			case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			case errors.As(err, &loss):
				// Informational: the client already reset and continues.
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
			case ferr == nil:
				ferr = fmt.Errorf("topic %s partition %d: %w", t, p, err)
			}
		})
		got := 0
		fetches.EachRecord(func(r *kgo.Record) {
			if o.printOffset {
				fmt.Fprintf(w, "Partition:%d\tOffset:%d\t", r.Partition, r.Offset)
			}
			if o.printKey {
				w.Write(r.Key)
				w.WriteString(o.keySep)
			}
			w.Write(r.Value)
			w.WriteByte('\n')
			if o.group != "" {
				cl.MarkCommitRecords(r)
			}
			got++
		})
		n += got
		// Flush per poll so piped output appears promptly, not at exit.
		if err := w.Flush(); err != nil {
			return n, err
		}
		if ferr != nil {
			return n, ferr
		}
		if ctx.Err() != nil {
			return n, nil
		}
		if got > 0 {
			last = time.Now()
		} else if o.idle > 0 && time.Since(last) >= o.idle {
			return n, nil
		}
	}
	return n, nil
}
