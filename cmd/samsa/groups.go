package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/spf13/cobra"
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			listed, err := adm.ListGroups(ctx, filter...)
			// Some brokers failing still leaves the others' groups
			// worth printing; the command fails afterwards.
			if err != nil && len(listed) == 0 {
				return requestError(cmd, "list groups", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, g := range listed {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", g.GroupID, orDash(g.State), orDash(g.ProtocolType))
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			groups := dedupe(args)
			if all {
				listed, err := adm.ListGroups(ctx)
				if err != nil {
					return requestError(cmd, "list groups", err)
				}
				groups = nil
				for _, g := range listed {
					groups = append(groups, g.GroupID)
				}
			}
			// DescribeGroupLag describes the groups, fetches their
			// commits and lists the log end offsets.
			lags, err := adm.DescribeGroupLag(ctx, groups...)
			if err != nil {
				return requestError(cmd, "describe groups", err)
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			var errs []error
			printed := 0
			for _, l := range lags {
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

// describedGroupError reports a group that could not be described (or its
// committed offsets fetched), including one that does not exist: newer
// brokers answer GROUP_ID_NOT_FOUND, older ones describe it as Dead.
func describedGroupError(l client.GroupLagDescription) error {
	if l.Err != nil {
		return &client.GroupError{Group: l.GroupID, Err: l.Err}
	}
	if l.State == "Dead" && len(l.Members) == 0 && len(l.Lag) == 0 {
		return &client.GroupError{Group: l.GroupID, Err: client.ErrGroupIDNotFound}
	}
	return nil
}

// printGroupLag writes one group's summary line and its partition table.
func printGroupLag(w, errw io.Writer, l client.GroupLagDescription) error {
	switch l.State {
	case "Empty":
		// Like kafka-consumer-groups, on stderr.
		fmt.Fprintf(errw, "Consumer group '%s' has no active members.\n", l.GroupID)
	case "PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling":
		fmt.Fprintf(errw, "Warning: consumer group '%s' is rebalancing.\n", l.GroupID)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL\tMEMBERS\tCOORDINATOR")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", l.GroupID, orDash(l.State), orDash(l.Protocol),
		len(l.Members), formatBroker(l.Coordinator))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID")
	owning := make(map[string]bool)
	for _, tp := range slices.SortedFunc(maps.Keys(l.Lag), compareTP) {
		m := l.Lag[tp]
		if m.Member == nil && m.Committed < 0 {
			// The client also lists partitions of the group's topics
			// that nobody owns or committed; kafka-consumer-groups
			// does not.
			continue
		}
		current, end, lag := "-", "-", "-"
		if m.Committed >= 0 {
			current = strconv.FormatInt(m.Committed, 10)
		}
		if m.EndErr == nil && m.End >= 0 {
			end = strconv.FormatInt(m.End, 10)
			// The client counts an uncommitted partition's lag from
			// offset 0; kafka-consumer-groups shows "-", and so do
			// we. Nor do we clamp: a commit beyond the log end
			// (e.g. after truncation) should be visible.
			if m.Committed >= 0 {
				lag = strconv.FormatInt(m.End-m.Committed, 10)
			}
		}
		member, host, clientID := "-", "-", "-"
		if m.Member != nil {
			member, host, clientID = m.Member.MemberID, orDash(m.Member.ClientHost), orDash(m.Member.ClientID)
			owning[m.Member.MemberID] = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			l.GroupID, tp.Topic, tp.Partition, current, end, lag, member, host, clientID)
	}
	// Members without partitions still appear, as in Kafka's output.
	for _, m := range l.Members {
		if !owning[m.MemberID] {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%s\t%s\t%s\n",
				l.GroupID, m.MemberID, orDash(m.ClientHost), orDash(m.ClientID))
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			groups := dedupe(args)
			// Each group's failure, its coordinator unreachable
			// included, is reported with the group below.
			failed, err := byName(adm.DeleteGroups(ctx, groups...), func(e *client.GroupError) string { return e.Group })
			if err != nil {
				return requestError(cmd, "delete groups", err)
			}
			out := cmd.OutOrStdout()
			var errs []error
			for _, g := range groups {
				switch e, ok := failed[g]; {
				case !ok:
					fmt.Fprintf(out, "Deleted group %s.\n", g)
				case errors.Is(e, client.ErrNonEmptyGroup):
					errs = append(errs, fmt.Errorf("%w: it still has active members; stop its consumers first", e))
				default:
					errs = append(errs, e)
				}
			}
			return errors.Join(errs...)
		},
	}
	addTimeoutFlag(cmd)
	return cmd
}

// formatBroker renders a broker the way kafka-consumer-groups prints a
// coordinator: host:port (id).
func formatBroker(b client.BrokerInfo) string {
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
	adm, err := newAdmin(cmd)
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := commandContext(cmd)
	defer cancel()

	// Offsets can only be committed from outside while nobody consumes:
	// members would overwrite them (and the broker rejects a commit
	// from a non-member of an active group anyway).
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return requestError(cmd, "describe group", err)
	}
	if len(described) != 1 {
		return fmt.Errorf("group %s: missing from the broker's response", group)
	}
	d := described[0]
	state := d.State
	switch {
	case errors.Is(d.Err, client.ErrGroupIDNotFound):
		state = "Dead" // resetting creates the group's offsets
	case d.Err != nil:
		return &client.GroupError{Group: group, Err: d.Err}
	}
	if state != "Empty" && state != "Dead" {
		inactive := fmt.Errorf("group %s is %s with %d member(s): offsets can only be reset while the group is inactive; stop its consumers first",
			group, orDash(state), len(d.Members))
		if o.execute {
			return inactive
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", inactive)
	}

	committed, err := adm.GroupOffsets(ctx, group)
	if err != nil {
		return requestError(cmd, "fetch committed offsets", err)
	}
	if o.allTopics {
		if len(committed) == 0 {
			return fmt.Errorf("group %s has no committed offsets: nothing to reset with --all-topics (name topics with --topic)", group)
		}
		for tp := range committed {
			specs[tp.Topic] = append(specs[tp.Topic], tp.Partition)
		}
	}
	topics := slices.Sorted(maps.Keys(specs))

	tds, err := adm.DescribeTopics(ctx, topics...)
	if err != nil {
		return requestError(cmd, "describe topics", err)
	}
	counts := make(map[string]int32, len(tds))
	for _, td := range tds {
		if td.Err == nil {
			counts[td.Name] = int32(len(td.Partitions))
		}
	}
	var errs []error
	var tps []client.TopicPartition
	for _, t := range topics {
		n, ok := counts[t]
		if !ok {
			errs = append(errs, &client.TopicError{Topic: t, Err: topicErr(tds, t)})
			continue
		}
		ps := specs[t]
		if ps == nil {
			for p := range n {
				ps = append(ps, p)
			}
		}
		slices.Sort(ps)
		for _, p := range slices.Compact(ps) {
			if p >= n {
				errs = append(errs, fmt.Errorf("topic %s: partition %d does not exist (%d partitions)", t, p, n))
				continue
			}
			tps = append(tps, client.TopicPartition{Topic: t, Partition: p})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	starts, err := adm.ListOffsets(ctx, client.OffsetEarliest, tps...)
	if err != nil {
		return requestError(cmd, "list start offsets", err)
	}
	ends, err := adm.ListOffsets(ctx, client.OffsetLatest, tps...)
	if err != nil {
		return requestError(cmd, "list end offsets", err)
	}
	var afters map[client.TopicPartition]int64
	if !datetime.IsZero() {
		if afters, err = adm.ListOffsets(ctx, datetime.UnixMilli(), tps...); err != nil {
			return requestError(cmd, "list offsets by time", err)
		}
	}

	var plan []plannedOffset
	for _, tp := range tps {
		start, end := starts[tp], ends[tp]
		cur, hasCur := committed[tp]
		if !hasCur {
			cur = -1
		}
		var want int64
		switch {
		case o.toEarliest:
			want = start
		case o.toLatest:
			want = end
		case cmd.Flags().Changed("to-offset"):
			want = o.toOffset
		case cmd.Flags().Changed("shift-by"):
			if !hasCur {
				errs = append(errs, fmt.Errorf("topic %s partition %d: group %s has no committed offset to shift", tp.Topic, tp.Partition, group))
				continue
			}
			want = cur + o.shiftBy
		default: // --to-datetime
			want = end // no record at or after the time
			if at, ok := afters[tp]; ok && at >= 0 {
				want = at
			}
		}
		next := clampOffset(cmd.ErrOrStderr(), tp.Topic, tp.Partition, want, start, end)
		plan = append(plan, plannedOffset{topic: tp.Topic, partition: tp.Partition, current: cur, next: next})
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

	offs := make(map[client.TopicPartition]int64, len(plan))
	for _, po := range plan {
		offs[client.TopicPartition{Topic: po.topic, Partition: po.partition}] = po.next
	}
	if err := adm.CommitGroupOffsets(ctx, group, offs); err != nil {
		return requestError(cmd, fmt.Sprintf("group %s: commit", group), err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Committed %d offset(s) for group %s.\n", len(plan), group)
	return nil
}

// topicErr is why topic is missing from a DescribeTopics answer.
func topicErr(tds []client.TopicDescription, topic string) error {
	for _, td := range tds {
		if td.Name == topic && td.Err != nil {
			return td.Err
		}
	}
	return client.ErrUnknownTopicOrPartition
}

// compareTP orders partitions by topic, then number.
func compareTP(a, b client.TopicPartition) int {
	return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
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
