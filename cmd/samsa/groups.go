package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerCommand(newGroupsCmd) }

func newGroupsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List, describe and delete consumer groups, reset their offsets",
	}
	cmd.AddCommand(
		newGroupsListCmd(),
		newGroupsDescribeCmd(),
		newGroupsDeleteCmd(),
		newGroupsResetOffsetsCmd(),
	)
	return cmd
}

// groupStates are the group states a broker reports (classic and KIP-848
// groups), spelled the way ListGroups' state filter expects them.
var groupStates = []string{
	"PreparingRebalance", "CompletingRebalance", "Stable", "Empty", "Dead",
	"Assigning", "Reconciling", "NotReady",
}

// parseGroupStates canonicalises --state values, which are accepted in any
// case (like kafka-consumer-groups); brokers match the filter exactly.
func parseGroupStates(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		i := slices.IndexFunc(groupStates, func(c string) bool { return strings.EqualFold(c, s) })
		if i < 0 {
			return nil, fmt.Errorf("--state %q: want one of %s", s, strings.Join(groupStates, ","))
		}
		if !slices.Contains(out, groupStates[i]) {
			out = append(out, groupStates[i])
		}
	}
	return out, nil
}

func newGroupsListCmd() *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List groups with their state and protocol type",
		Long: "List groups with their state and protocol type, one per line (no header,\n" +
			"so the first column is a plain list of names). Every broker is asked.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := parseGroupStates(states)
			if err != nil {
				return err
			}
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			listed, err := adm.ListGroups(ctx, filter...)
			// Some brokers failing still leaves the others' groups
			// worth printing; the command fails afterwards.
			var se *kadm.ShardErrors
			if err != nil && (!errors.As(err, &se) || se.AllFailed) {
				return requestError(cmd, "list groups", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, g := range listed.Sorted() {
				// Filter here too: a broker that predates the state
				// filter (KIP-518) ignores it.
				if len(filter) > 0 && g.State != "" && !slices.Contains(filter, g.State) {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, orDash(g.State), orDash(g.ProtocolType))
			}
			if ferr := tw.Flush(); ferr != nil {
				return ferr
			}
			if err != nil {
				return requestError(cmd, "list groups (the output lacks the groups of failed brokers)", err)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil,
		"only groups in these states, comma-separated (e.g. Stable,Empty; case-insensitive)")
	addTimeoutFlag(cmd)
	return cmd
}

func newGroupsDescribeCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members, committed offsets and lag",
		Long: "Show each group's state, protocol, member count and coordinator, then one\n" +
			"row per partition like kafka-consumer-groups --describe: committed offset,\n" +
			"log end offset, lag and the member the partition is assigned to (\"-\" where\n" +
			"there is none: no commit yet, or no member owns the partition).",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return errors.New("give group names or --all-groups, not both")
			case !all && len(args) == 0:
				return errors.New("no group given (name groups or use --all-groups)")
			}
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			groups := dedupe(args)
			// Lag describes the groups, fetches their commits and
			// lists start and end offsets, batching per broker.
			lags, err := adm.Lag(ctx, groups...)
			if err != nil {
				return requestError(cmd, "describe groups", err)
			}
			if all {
				groups = make([]string, 0, len(lags))
				for _, l := range lags.Sorted() {
					groups = append(groups, l.Group)
				}
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			var errs []error
			printed := 0
			for _, g := range groups {
				l, ok := lags[g]
				if !ok {
					errs = append(errs, fmt.Errorf("group %s: missing from the broker's response", g))
					continue
				}
				if err := describedGroupError(l); err != nil {
					errs = append(errs, err)
					continue
				}
				if printed > 0 {
					fmt.Fprintln(out)
				}
				printed++
				if err := printGroupLag(out, errOut, l); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&all, "all-groups", false, "describe every classic group in the cluster")
	addTimeoutFlag(cmd)
	return cmd
}

// describedGroupError reports a group that could not be described,
// including one that does not exist: newer brokers answer
// GROUP_ID_NOT_FOUND, older ones describe it as Dead.
func describedGroupError(l kadm.DescribedGroupLag) error {
	if l.DescribeErr != nil {
		return groupError(l.Group, l.DescribeErr, "")
	}
	if l.State == "Dead" && len(l.Members) == 0 && len(l.Lag.Sorted()) == 0 {
		return groupError(l.Group, kerr.GroupIDNotFound, "")
	}
	if l.FetchErr != nil {
		return fmt.Errorf("group %s: fetch committed offsets: %w", l.Group, l.FetchErr)
	}
	return nil
}

// printGroupLag writes one group's summary line and its partition table.
func printGroupLag(w, errw io.Writer, l kadm.DescribedGroupLag) error {
	switch l.State {
	case "Empty":
		// Like kafka-consumer-groups, on stderr.
		fmt.Fprintf(errw, "Consumer group '%s' has no active members.\n", l.Group)
	case "PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling":
		fmt.Fprintf(errw, "Warning: consumer group '%s' is rebalancing.\n", l.Group)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL\tMEMBERS\tCOORDINATOR")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", l.Group, orDash(l.State), orDash(l.Protocol),
		len(l.Members), formatBroker(l.Coordinator))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID")
	owning := make(map[string]bool)
	for _, m := range l.Lag.Sorted() {
		if m.Member == nil && m.Commit.At < 0 {
			// kadm also lists partitions of the group's topics that
			// nobody owns or committed; kafka-consumer-groups does not.
			continue
		}
		current, end, lag := "-", "-", "-"
		if m.Commit.At >= 0 {
			current = strconv.FormatInt(m.Commit.At, 10)
		}
		if m.End.Err == nil && m.End.Offset >= 0 {
			end = strconv.FormatInt(m.End.Offset, 10)
			// kadm counts an uncommitted partition's lag from the
			// log start; kafka-consumer-groups shows "-", and so do
			// we. Nor do we clamp: a commit beyond the log end
			// (e.g. after truncation) should be visible.
			if m.Commit.At >= 0 {
				lag = strconv.FormatInt(m.End.Offset-m.Commit.At, 10)
			}
		}
		member, host, client := "-", "-", "-"
		if m.Member != nil {
			member, host, client = m.Member.MemberID, orDash(m.Member.ClientHost), orDash(m.Member.ClientID)
			owning[m.Member.MemberID] = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			l.Group, m.Topic, m.Partition, current, end, lag, member, host, client)
	}
	// Members without partitions still appear, as in Kafka's output.
	for _, m := range l.Members {
		if !owning[m.MemberID] {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%s\t%s\t%s\n",
				l.Group, m.MemberID, orDash(m.ClientHost), orDash(m.ClientID))
		}
	}
	return tw.Flush()
}

func newGroupsDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete groups and their committed offsets (groups must have no members)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			groups := dedupe(args)
			resps, err := adm.DeleteGroups(ctx, groups...)
			// Per-broker failures are reported per group below.
			var se *kadm.ShardErrors
			if err != nil && (!errors.As(err, &se) || se.AllFailed) {
				return requestError(cmd, "delete groups", err)
			}
			out := cmd.OutOrStdout()
			var errs []error
			for _, g := range groups {
				r, ok := resps[g]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("group %s: not deleted: %w", g, shardErrorFor(se, g)))
				case errors.Is(r.Err, kerr.NonEmptyGroup):
					errs = append(errs, fmt.Errorf("group %s: %w: it still has active members; stop its consumers first", g, r.Err))
				case r.Err != nil:
					errs = append(errs, groupError(g, r.Err, r.ErrMessage))
				default:
					fmt.Fprintf(out, "Deleted group %s.\n", g)
				}
			}
			return errors.Join(errs...)
		},
	}
	addTimeoutFlag(cmd)
	return cmd
}

// shardErrorFor returns the error of the failed request piece that carried
// group, or a generic one.
func shardErrorFor(se *kadm.ShardErrors, group string) error {
	if se != nil {
		for _, e := range se.Errs {
			if r, ok := e.Req.(*kmsg.DeleteGroupsRequest); ok && slices.Contains(r.Groups, group) {
				return e.Err
			}
		}
	}
	return errors.New("missing from the broker's response")
}

// groupError formats a per-group broker error as "group NAME: CODE: text",
// appending the broker's own message when it adds information.
func groupError(group string, err error, msg string) error {
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("group %s: %w: %s", group, err, msg)
	}
	return fmt.Errorf("group %s: %w", group, err)
}

// formatBroker renders a broker the way kafka-consumer-groups prints a
// coordinator: host:port (id).
func formatBroker(b kadm.BrokerDetail) string {
	if b.Host == "" {
		return "-"
	}
	return fmt.Sprintf("%s (%d)", net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), b.NodeID)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dedupe drops repeated names, keeping the first occurrence's position.
func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// resetOptions holds the flags of groups reset-offsets.
type resetOptions struct {
	topics     []string
	allTopics  bool
	toEarliest bool
	toLatest   bool
	toOffset   int64
	shiftBy    int64
	toDatetime string
	execute    bool
}

var resetScenarios = []string{"to-earliest", "to-latest", "to-offset", "shift-by", "to-datetime"}

func newGroupsResetOffsetsCmd() *cobra.Command {
	var o resetOptions
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic T[:P,...]... | --all-topics) SCENARIO [--execute]",
		Short: "Plan or commit new offsets for an inactive group",
		Long: "Compute new committed offsets for a group and print the plan (TOPIC PARTITION\n" +
			"CURRENT NEW). Nothing changes without --execute, which commits the plan; the\n" +
			"group must then be inactive (Empty, or not exist yet), as with\n" +
			"kafka-consumer-groups. --to-offset and --shift-by results are clamped into\n" +
			"[log start, log end]. --to-datetime takes RFC 3339 (2024-01-01T00:00:00Z) or\n" +
			"a zoneless local time (2024-01-01T00:00:00.000) and picks the first record at\n" +
			"or after it (the log end when there is none).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runResetOffsets(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	// StringArray, not StringSlice: "orders:0,1" contains a comma.
	f.StringArrayVar(&o.topics, "topic", nil, "topic to reset, optionally only some partitions: T or T:0,2 (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "reset every partition the group has committed offsets for")
	f.BoolVar(&o.toEarliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&o.toLatest, "to-latest", false, "reset to the log end offset")
	f.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by N (negative: back)")
	f.StringVar(&o.toDatetime, "to-datetime", "", "reset to the first record at or after this time")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets (default: dry run, print the plan only)")
	cmd.MarkFlagsMutuallyExclusive("topic", "all-topics")
	cmd.MarkFlagsOneRequired("topic", "all-topics")
	cmd.MarkFlagsMutuallyExclusive(resetScenarios...)
	cmd.MarkFlagsOneRequired(resetScenarios...)
	addTimeoutFlag(cmd)
	return cmd
}

// parseTopicSpecs turns --topic values into topic -> partitions, where a
// nil partition list means every partition of the topic.
func parseTopicSpecs(specs []string) (map[string][]int32, error) {
	out := make(map[string][]int32)
	for _, s := range specs {
		topic, list, hasList := strings.Cut(s, ":")
		if topic == "" {
			return nil, fmt.Errorf("--topic %q: want TOPIC or TOPIC:P[,P...]", s)
		}
		if !hasList {
			out[topic] = nil // every partition wins over a list
			continue
		}
		var ps []int32
		for _, f := range strings.Split(list, ",") {
			p, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil || p < 0 {
				return nil, fmt.Errorf("--topic %q: partition %q is not a partition number", s, f)
			}
			ps = append(ps, int32(p))
		}
		if cur, seen := out[topic]; !seen || cur != nil {
			out[topic] = append(cur, ps...)
		}
	}
	return out, nil
}

// parseDatetime accepts what kafka-consumer-groups --to-datetime does:
// RFC 3339 with optional fractional seconds, a zone written +hh:mm, +hhmm
// or Z, or no zone at all, meaning local time.
func parseDatetime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--to-datetime %q: want e.g. 2024-01-01T00:00:00Z, 2024-01-01T00:00:00.000+01:00 or 2024-01-01T00:00:00 (local time)", s)
}

// plannedOffset is one row of a reset plan.
type plannedOffset struct {
	topic     string
	partition int32
	current   int64 // -1: nothing committed
	next      int64
}

func runResetOffsets(cmd *cobra.Command, group string, o resetOptions) error {
	specs, err := parseTopicSpecs(o.topics)
	if err != nil {
		return err
	}
	var datetime time.Time
	if cmd.Flags().Changed("to-datetime") {
		if datetime, err = parseDatetime(o.toDatetime); err != nil {
			return err
		}
	}
	adm, cl, err := newAdmin(cmd)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := commandContext(cmd)
	defer cancel()

	// Offsets can only be committed from outside while nobody consumes:
	// members would overwrite them (and the broker rejects a commit
	// from a non-member of an active group anyway).
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return requestError(cmd, "describe group", err)
	}
	d, ok := described[group]
	state := d.State
	switch {
	case !ok:
		return fmt.Errorf("group %s: missing from the broker's response", group)
	case errors.Is(d.Err, kerr.GroupIDNotFound):
		state = "Dead" // resetting creates the group's offsets
	case d.Err != nil:
		return groupError(group, d.Err, d.ErrMessage)
	}
	if state != "Empty" && state != "Dead" {
		inactive := fmt.Errorf("group %s is %s with %d member(s): offsets can only be reset while the group is inactive; stop its consumers first",
			group, orDash(state), len(d.Members))
		if o.execute {
			return inactive
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", inactive)
	}

	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return requestError(cmd, "fetch committed offsets", err)
	}
	var errs []error
	current := make(map[string]map[int32]int64)
	committed.Each(func(r kadm.OffsetResponse) {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("topic %s partition %d: committed offset: %w", r.Topic, r.Partition, r.Err))
			return
		}
		if r.At < 0 {
			return
		}
		if current[r.Topic] == nil {
			current[r.Topic] = make(map[int32]int64)
		}
		current[r.Topic][r.Partition] = r.At
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if o.allTopics {
		if len(current) == 0 {
			return fmt.Errorf("group %s has no committed offsets: nothing to reset with --all-topics (name topics with --topic)", group)
		}
		for t, ps := range current {
			for p := range ps {
				specs[t] = append(specs[t], p)
			}
		}
	}
	topics := make([]string, 0, len(specs))
	for t := range specs {
		topics = append(topics, t)
	}
	sort.Strings(topics)

	starts, err := listOffsets(cmd, "list start offsets", topics, func() (kadm.ListedOffsets, error) {
		return adm.ListStartOffsets(ctx, topics...)
	})
	if err != nil {
		return err
	}
	ends, err := listOffsets(cmd, "list end offsets", topics, func() (kadm.ListedOffsets, error) {
		return adm.ListEndOffsets(ctx, topics...)
	})
	if err != nil {
		return err
	}
	var afters kadm.ListedOffsets
	if !datetime.IsZero() {
		afters, err = listOffsets(cmd, "list offsets by time", topics, func() (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, datetime.UnixMilli(), topics...)
		})
		if err != nil {
			return err
		}
	}

	var plan []plannedOffset
	for _, t := range topics {
		ps := specs[t]
		if ps == nil {
			for p := range ends[t] {
				ps = append(ps, p)
			}
		}
		slices.Sort(ps)
		for _, p := range slices.Compact(ps) {
			start, okStart := starts[t][p]
			end, okEnd := ends[t][p]
			if !okStart || !okEnd {
				errs = append(errs, fmt.Errorf("topic %s: partition %d does not exist (%d partitions)", t, p, len(ends[t])))
				continue
			}
			cur, hasCur := current[t][p]
			if !hasCur {
				cur = -1
			}
			var want int64
			switch {
			case o.toEarliest:
				want = start.Offset
			case o.toLatest:
				want = end.Offset
			case cmd.Flags().Changed("to-offset"):
				want = o.toOffset
			case cmd.Flags().Changed("shift-by"):
				if !hasCur {
					errs = append(errs, fmt.Errorf("topic %s partition %d: group %s has no committed offset to shift", t, p, group))
					continue
				}
				want = cur + o.shiftBy
			default: // --to-datetime
				at, ok := afters[t][p]
				want = end.Offset // no record at or after the time
				if ok && at.Offset >= 0 {
					want = at.Offset
				}
			}
			next := clampOffset(cmd.ErrOrStderr(), t, p, want, start.Offset, end.Offset)
			plan = append(plan, plannedOffset{topic: t, partition: p, current: cur, next: next})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT\tNEW")
	for _, po := range plan {
		cur := "-"
		if po.current >= 0 {
			cur = strconv.FormatInt(po.current, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", po.topic, po.partition, cur, po.next)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !o.execute {
		fmt.Fprintf(cmd.ErrOrStderr(), "Dry run: nothing was committed for group %s; add --execute to commit these offsets.\n", group)
		return nil
	}

	offs := make(kadm.Offsets)
	for _, po := range plan {
		offs.Add(kadm.Offset{Topic: po.topic, Partition: po.partition, At: po.next, LeaderEpoch: -1})
	}
	resps, err := adm.CommitOffsets(ctx, group, offs)
	if err != nil {
		return requestError(cmd, "commit offsets", err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("group %s: topic %s partition %d: commit: %w", group, r.Topic, r.Partition, r.Err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Committed %d offset(s) for group %s.\n", len(plan), group)
	return nil
}

// listOffsets runs one of kadm's ListXOffsets and turns missing topics and
// per-partition failures into errors.
func listOffsets(cmd *cobra.Command, what string, topics []string, list func() (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	listed, err := list()
	if err != nil {
		return nil, requestError(cmd, what, err)
	}
	var errs []error
	for _, t := range topics {
		ps, ok := listed[t]
		if !ok {
			errs = append(errs, topicError(t, kerr.UnknownTopicOrPartition, ""))
			continue
		}
		if bad, ok := ps[-1]; ok && bad.Err != nil {
			errs = append(errs, topicError(t, bad.Err, ""))
			continue
		}
		for _, lo := range ps {
			if lo.Err != nil {
				errs = append(errs, fmt.Errorf("topic %s partition %d: %s: %w", t, lo.Partition, what, lo.Err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return listed, nil
}

// clampOffset keeps a requested offset inside [start, end], warning like
// kafka-consumer-groups does when it has to move it.
func clampOffset(w io.Writer, topic string, partition int32, want, start, end int64) int64 {
	switch {
	case want < start:
		fmt.Fprintf(w, "warning: topic %s partition %d: new offset %d is before the log start offset; using %d\n",
			topic, partition, want, start)
		return start
	case want > end:
		fmt.Fprintf(w, "warning: topic %s partition %d: new offset %d is after the log end offset; using %d\n",
			topic, partition, want, end)
		return end
	}
	return want
}
