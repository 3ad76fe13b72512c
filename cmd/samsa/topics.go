package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newTopicsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create, list, describe, alter and delete topics",
	}
	cmd.AddCommand(
		newTopicsCreateCmd(),
		newTopicsListCmd(),
		newTopicsDescribeCmd(),
		newTopicsAlterCmd(),
		newTopicsDeleteCmd(),
	)
	return cmd
}

func newTopicsCreateCmd() *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME...",
		Short: "Create topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if partitions == 0 || partitions < -1 {
				return fmt.Errorf("--partitions %d: want a positive count or -1 for the broker default", partitions)
			}
			if replication == 0 || replication < -1 {
				return fmt.Errorf("--replication-factor %d: want a positive count or -1 for the broker default", replication)
			}
			cfg := make(map[string]*string, len(configs))
			for _, s := range configs {
				k, v, err := parseKV(s, "config")
				if err != nil {
					return err
				}
				cfg[k] = kadm.StringPtr(v)
			}
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			resps, err := adm.CreateTopics(ctx, partitions, replication, cfg, args...)
			if err != nil {
				return requestError(cmd, "create topics", err)
			}
			out := cmd.OutOrStdout()
			var errs []error
			for _, t := range args {
				r, ok := resps[t]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("topic %s: missing from the broker's response", t))
				case r.Err == nil:
					fmt.Fprintf(out, "Created topic %s.\n", t)
				case ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists):
					// Idempotent create for scripts: existing is success.
				default:
					errs = append(errs, topicError(t, r.Err, r.ErrMessage))
				}
			}
			return errors.Join(errs...)
		},
	}
	f := cmd.Flags()
	f.Int32Var(&partitions, "partitions", -1, "number of partitions (-1 = broker default)")
	f.Int16Var(&replication, "replication-factor", -1, "replication factor (-1 = broker default)")
	// StringArray, not StringSlice: config values such as
	// cleanup.policy=compact,delete contain commas.
	f.StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed if the topic already exists")
	addTimeoutFlag(cmd)
	return cmd
}

func newTopicsListCmd() *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics and their partition counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			var tds kadm.TopicDetails
			if internal {
				tds, err = adm.ListTopicsWithInternal(ctx)
			} else {
				tds, err = adm.ListTopics(ctx)
			}
			if err != nil {
				return requestError(cmd, "list topics", err)
			}
			// No header: the first column stays a plain list of names
			// for scripts (awk '{print $1}').
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, td := range tds.Sorted() {
				fmt.Fprintf(tw, "%s\t%d\n", td.Topic, len(td.Partitions))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (e.g. __consumer_offsets)")
	addTimeoutFlag(cmd)
	return cmd
}

func newTopicsDescribeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe [NAME...]",
		Short: "Describe topics (all non-internal topics when no name is given)",
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			tds, err := adm.ListTopics(ctx, args...)
			if err != nil {
				return requestError(cmd, "describe topics", err)
			}
			names := args
			if len(names) == 0 {
				names = tds.Names()
			}
			var errs []error
			var found []string
			for _, t := range names {
				td, ok := tds[t]
				switch {
				case !ok:
					errs = append(errs, topicError(t, kerr.UnknownTopicOrPartition, ""))
				case td.Err != nil:
					errs = append(errs, topicError(t, td.Err, ""))
				default:
					found = append(found, t)
				}
			}
			var rcs kadm.ResourceConfigs
			if len(found) > 0 {
				if rcs, err = adm.DescribeTopicConfigs(ctx, found...); err != nil {
					return requestError(cmd, "describe topic configs", err)
				}
			}
			out := cmd.OutOrStdout()
			for _, t := range found {
				rc, _ := rcs.On(t, nil)
				if rc.Err != nil {
					errs = append(errs, topicError(t, rc.Err, rc.ErrMessage))
				}
				printTopicDescription(out, tds[t], rc.Configs)
			}
			return errors.Join(errs...)
		},
	}
	addTimeoutFlag(cmd)
	return cmd
}

// printTopicDescription writes the kafka-topics --describe layout so that
// output (and habits) carry over from Apache Kafka tooling.
func printTopicDescription(w io.Writer, td kadm.TopicDetail, configs []kadm.Config) {
	parts := td.Partitions.Sorted()
	rf := 0
	for _, p := range parts {
		rf = max(rf, len(p.Replicas))
	}
	fmt.Fprintf(w, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
		td.Topic, formatTopicID(td.ID), len(parts), rf, nonDefaultConfigs(configs))
	for _, p := range parts {
		leader := "none"
		if p.Leader >= 0 {
			leader = strconv.Itoa(int(p.Leader))
		}
		fmt.Fprintf(w, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s",
			td.Topic, p.Partition, leader, joinInt32(p.Replicas), joinInt32(p.ISR))
		if len(p.OfflineReplicas) > 0 {
			fmt.Fprintf(w, "\tOffline: %s", joinInt32(p.OfflineReplicas))
		}
		if p.Err != nil {
			fmt.Fprintf(w, "\tError: %v", p.Err)
		}
		fmt.Fprintln(w)
	}
}

// formatTopicID renders a topic ID the way Kafka prints a Uuid (URL-safe
// base64 without padding), so IDs can be compared with kafka-topics output.
func formatTopicID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// nonDefaultConfigs lists the configs that differ from what a topic gets
// implicitly. Static broker configs count as defaults: they are the same
// for every topic and would only add noise to each header line.
func nonDefaultConfigs(configs []kadm.Config) string {
	var kvs []string
	for _, c := range configs {
		if isDefaultSource(c.Source) {
			continue
		}
		kvs = append(kvs, c.Key+"="+configValue(c))
	}
	sort.Strings(kvs)
	return strings.Join(kvs, ",")
}

func configValue(c kadm.Config) string {
	if c.Sensitive {
		return "<sensitive>"
	}
	return c.MaybeValue()
}

func joinInt32(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, ",")
}

func newTopicsAlterCmd() *cobra.Command {
	var (
		partitions int
		set        []string
		del        []string
	)
	cmd := &cobra.Command{
		Use:   "alter NAME",
		Short: "Add partitions (--partitions) or change configs (--config, --delete-config)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			setPartitions := cmd.Flags().Changed("partitions")
			if !setPartitions && len(set) == 0 && len(del) == 0 {
				return errors.New("nothing to alter: give --partitions, --config or --delete-config")
			}
			if setPartitions && partitions <= 0 {
				return fmt.Errorf("--partitions %d: want a positive count", partitions)
			}
			ops, err := configOps(set, del, "config")
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

			out := cmd.OutOrStdout()
			if setPartitions {
				// UpdatePartitions takes the final count, which is what
				// users think in ("make it 12"), not a delta.
				resps, err := adm.UpdatePartitions(ctx, partitions, topic)
				if err != nil {
					return requestError(cmd, "create partitions", err)
				}
				r, err := resps.On(topic, nil)
				if err != nil {
					return topicError(topic, err, "")
				}
				if r.Err != nil {
					return topicError(topic, r.Err, r.ErrMessage)
				}
				fmt.Fprintf(out, "Topic %s now has %d partitions.\n", topic, partitions)
			}
			if len(ops) > 0 {
				if err := alterTopicConfigs(cmd, adm, topic, ops); err != nil {
					return err
				}
				fmt.Fprintf(out, "Updated configs of topic %s.\n", topic)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&partitions, "partitions", 0, "new total partition count (can only grow)")
	f.StringArrayVar(&set, "config", nil, "set topic config key=value (repeatable)")
	f.StringArrayVar(&del, "delete-config", nil, "remove a topic config override, reverting to the default (repeatable)")
	addTimeoutFlag(cmd)
	return cmd
}

func newTopicsDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			resps, err := adm.DeleteTopics(ctx, args...)
			if err != nil {
				return requestError(cmd, "delete topics", err)
			}
			out := cmd.OutOrStdout()
			var errs []error
			for _, t := range args {
				r, ok := resps[t]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("topic %s: missing from the broker's response", t))
				case r.Err != nil:
					errs = append(errs, topicError(t, r.Err, r.ErrMessage))
				default:
					fmt.Fprintf(out, "Deleted topic %s.\n", t)
				}
			}
			return errors.Join(errs...)
		},
	}
	addTimeoutFlag(cmd)
	return cmd
}
