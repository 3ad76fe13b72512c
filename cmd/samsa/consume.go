package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/spf13/cobra"
)

// commitOnExitTimeout bounds the final group commit, which must run even
// after Ctrl-C has cancelled the command context, and each other commit.
const commitOnExitTimeout = 10 * time.Second

// commitInterval is how often a group member commits what it printed
// (the Java client's auto.commit.interval.ms default).
const commitInterval = 5 * time.Second

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
	var iso client.IsolationLevel
	switch o.isolation {
	case "read_uncommitted":
		iso = client.ReadUncommitted
	case "read_committed":
		iso = client.ReadCommitted
	default:
		return fmt.Errorf("--isolation %q: want read_committed or read_uncommitted", o.isolation)
	}

	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}

	// Check the topic first: a consumer would otherwise wait silently
	// for a topic that does not exist.
	partitions, err := topicPartitions(ctx, cmd, topic)
	if err != nil {
		return err
	}
	if withPartition && o.partition >= partitions {
		return fmt.Errorf("topic %s: partition %d does not exist (%d partitions)", topic, o.partition, partitions)
	}
	// Where a partition without a position starts: a new group member's
	// or, after a Seek past the log end (--offset), anyone's. Explicit
	// --partition/--offset positions start over from the log start then.
	reset := client.ResetLatest
	if o.fromBeginning || withOffset || withPartition {
		reset = client.ResetEarliest
	}
	copts := []client.Option{client.WithIsolationLevel(iso), client.WithAutoOffsetReset(reset)}
	if o.maxMessages > 0 {
		// Fetch no more than will be printed.
		copts = append(copts, client.WithMaxPollRecords(min(o.maxMessages, 500)))
	}
	var commits *groupCommits
	if o.group != "" {
		// Not auto commit, which commits every assigned partition's
		// position: commit only what was printed, so a stop at
		// --max-messages never commits records that were fetched but
		// not printed, nor partitions that printed nothing.
		commits = &groupCommits{group: o.group, errw: cmd.ErrOrStderr(), printed: map[client.TopicPartition]int64{}, last: time.Now()}
		copts = append(copts, client.WithGroupID(o.group), client.WithAutoCommit(false), client.WithRebalanceListener(commits))
	}
	opts, err := clientOptions(cmd, copts...)
	if err != nil {
		return err
	}
	c, err := client.NewConsumer(opts...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := startConsuming(c, topic, partitions, o, withOffset, withPartition); err != nil {
		c.Close(expired())
		return err
	}

	n, err := consumeLoop(ctx, cmd, c, o, commits)
	// The final commit and Close (which leaves the group) must run even
	// after Ctrl-C has cancelled the command context.
	cctx, cancel := context.WithTimeout(context.Background(), commitOnExitTimeout)
	if commits != nil {
		if cerr := commits.commit(cctx, c, nil); cerr != nil && err == nil {
			err = fmt.Errorf("group %s: commit: %w", o.group, cerr)
		}
	}
	c.Close(cctx)
	cancel()
	// Like kafka-console-consumer; on stderr so stdout stays pure data.
	fmt.Fprintf(cmd.ErrOrStderr(), "Processed a total of %d messages\n", n)
	return err
}

// startConsuming subscribes c (in a group) or assigns it the partitions to
// read, positioned as the flags say.
func startConsuming(c *client.Consumer, topic string, partitions int32, o consumeOptions, withOffset, withPartition bool) error {
	if o.group != "" {
		return c.Subscribe(topic)
	}
	var tps []client.TopicPartition
	for p := range partitions {
		if !withPartition || p == o.partition {
			tps = append(tps, client.TopicPartition{Topic: topic, Partition: p})
		}
	}
	if err := c.Assign(tps...); err != nil {
		return err
	}
	switch {
	case withOffset:
		for _, tp := range tps {
			if err := c.Seek(tp, o.offset); err != nil {
				return err
			}
		}
	case o.fromBeginning:
		return c.SeekToBeginning()
	default:
		return c.SeekToEnd()
	}
	return nil
}

// topicPartitions returns the topic's partition count or a readable error.
func topicPartitions(ctx context.Context, cmd *cobra.Command, topic string) (int32, error) {
	adm, err := newAdmin(cmd)
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	mctx, cancel := context.WithTimeout(ctx, defaultRequestTimeout)
	defer cancel()
	tds, err := adm.DescribeTopics(mctx, topic)
	if err != nil {
		return 0, requestError(cmd, "metadata", err)
	}
	switch {
	case len(tds) != 1 || tds[0].Name != topic:
		return 0, &client.TopicError{Topic: topic, Err: client.ErrUnknownTopicOrPartition}
	case tds[0].Err != nil:
		return 0, &client.TopicError{Topic: topic, Err: tds[0].Err}
	}
	return int32(len(tds[0].Partitions)), nil
}

// consumeLoop prints records until a stop condition and returns how many
// it printed. Interruption (ctx done) and idleness are normal exits.
func consumeLoop(ctx context.Context, cmd *cobra.Command, c *client.Consumer, o consumeOptions, commits *groupCommits) (int, error) {
	w := bufio.NewWriter(cmd.OutOrStdout())
	defer w.Flush()
	n := 0
	last := time.Now()
	for o.maxMessages == 0 || n < o.maxMessages {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if o.idle > 0 {
			pctx, cancel = context.WithDeadline(ctx, last.Add(o.idle))
		}
		recs, err := c.Poll(pctx)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return n, err
		}
		if o.maxMessages > 0 && len(recs) > o.maxMessages-n {
			recs = recs[:o.maxMessages-n]
		}
		for _, r := range recs {
			if o.printOffset {
				fmt.Fprintf(w, "Partition:%d\tOffset:%d\t", r.Partition, r.Offset)
			}
			if o.printKey {
				w.Write(r.Key)
				w.WriteString(o.keySep)
			}
			w.Write(r.Value)
			w.WriteByte('\n')
		}
		n += len(recs)
		// Flush per poll so piped output appears promptly, not at exit.
		if err := w.Flush(); err != nil {
			return n, err
		}
		if commits != nil {
			commits.printedAll(recs)
			commits.maybeCommit(ctx, c)
		}
		if ctx.Err() != nil {
			return n, nil
		}
		if len(recs) > 0 {
			last = time.Now()
		} else if o.idle > 0 && time.Since(last) >= o.idle {
			return n, nil
		}
	}
	return n, nil
}

// groupCommits is a group member's progress: per partition, the offset
// after the last printed record. It commits exactly that, every
// commitInterval, when partitions are revoked (as the RebalanceListener,
// called on the goroutine that polls, so without locking) and at exit.
type groupCommits struct {
	group   string
	errw    io.Writer
	printed map[client.TopicPartition]int64
	last    time.Time
}

func (g *groupCommits) printedAll(recs []*client.Record) {
	for _, r := range recs {
		g.printed[client.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
	}
}

// commit commits what was printed on tps (all partitions if nil) and
// forgets it.
func (g *groupCommits) commit(ctx context.Context, c *client.Consumer, tps []client.TopicPartition) error {
	offs := make(map[client.TopicPartition]int64)
	for tp, o := range g.printed {
		if tps == nil || slices.Contains(tps, tp) {
			offs[tp] = o
		}
	}
	if len(offs) == 0 {
		return nil
	}
	g.last = time.Now()
	if err := c.CommitOffsets(ctx, offs); err != nil {
		return err
	}
	for tp := range offs {
		delete(g.printed, tp)
	}
	return nil
}

func (g *groupCommits) maybeCommit(ctx context.Context, c *client.Consumer) {
	if time.Since(g.last) < commitInterval {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitOnExitTimeout)
	defer cancel()
	// A failure is retried with the next commit, the final one included.
	if err := g.commit(cctx, c, nil); err != nil {
		fmt.Fprintf(g.errw, "warning: group %s: commit: %v\n", g.group, err)
	}
}

func (g *groupCommits) OnPartitionsRevoked(ctx context.Context, c *client.Consumer, tps []client.TopicPartition) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitOnExitTimeout)
	defer cancel()
	if err := g.commit(cctx, c, tps); err != nil {
		fmt.Fprintf(g.errw, "warning: group %s: commit before a rebalance: %v\n", g.group, err)
	}
	g.OnPartitionsLost(ctx, c, tps) // their new owner commits from here on
}

func (g *groupCommits) OnPartitionsAssigned(context.Context, *client.Consumer, []client.TopicPartition) {
}

// OnPartitionsLost forgets the partitions: another member may own them
// already, and a commit from this one would be rejected or, worse, move
// the group back.
func (g *groupCommits) OnPartitionsLost(_ context.Context, _ *client.Consumer, tps []client.TopicPartition) {
	for _, tp := range tps {
		delete(g.printed, tp)
	}
}
