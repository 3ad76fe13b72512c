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

	"github.com/samsa-io/samsa/client"
	"github.com/spf13/cobra"
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
			cfg := make(map[string]string, len(configs))
			for _, s := range configs {
				k, v, err := parseKV(s, "config")
				if err != nil {
					return err
				}
				cfg[k] = v
			}
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			specs := make([]client.TopicSpec, len(args))
			for i, t := range args {
				specs[i] = client.TopicSpec{Name: t, Partitions: partitions, ReplicationFactor: replication, Configs: cfg}
			}
			// The client also waits for the new partitions' leaders,
			// so a script can produce right after this command.
			failed, err := byName(adm.CreateTopics(ctx, specs...), topicName)
			if err != nil {
				return requestError(cmd, "create topics", err)
			}
			out := cmd.OutOrStdout()
			var errs []error
			for _, t := range args {
				switch e, ok := failed[t]; {
				case !ok:
					fmt.Fprintf(out, "Created topic %s.\n", t)
				case ifNotExists && errors.Is(e, client.ErrTopicAlreadyExists):
					// Idempotent create for scripts: existing is success.
				default:
					errs = append(errs, e)
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			tds, err := adm.DescribeTopics(ctx)
			if err != nil {
				return requestError(cmd, "list topics", err)
			}
			// No header: the first column stays a plain list of names
			// for scripts (awk '{print $1}').
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, td := range tds {
				if internal || !td.Internal {
					fmt.Fprintf(tw, "%s\t%d\n", td.Name, len(td.Partitions))
				}
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			described, err := adm.DescribeTopics(ctx, args...)
			if err != nil {
				return requestError(cmd, "describe topics", err)
			}
			tds := make(map[string]client.TopicDescription, len(described))
			var names []string
			for _, td := range described {
				tds[td.Name] = td
				if !td.Internal {
					names = append(names, td.Name)
				}
			}
			if len(args) > 0 {
				names = args
			}
			var errs []error
			out := cmd.OutOrStdout()
			for _, t := range names {
				td, ok := tds[t]
				switch {
				case !ok:
					errs = append(errs, &client.TopicError{Topic: t, Err: client.ErrUnknownTopicOrPartition})
					continue
				case td.Err != nil:
					errs = append(errs, &client.TopicError{Topic: t, Err: td.Err})
					continue
				}
				configs, err := adm.DescribeConfigs(ctx, client.ConfigResource{Type: client.ResourceTopic, Name: t})
				if err != nil {
					te, ok := errors.AsType[*client.TopicError](err)
					if !ok {
						return requestError(cmd, "describe topic configs", err)
					}
					errs = append(errs, te)
				}
				printTopicDescription(out, td, configs)
			}
			return errors.Join(errs...)
		},
	}
	addTimeoutFlag(cmd)
	return cmd
}

// printTopicDescription writes the kafka-topics --describe layout so that
// output (and habits) carry over from Apache Kafka tooling.
func printTopicDescription(w io.Writer, td client.TopicDescription, configs map[string]client.ConfigEntry) {
	parts := td.Partitions
	rf := 0
	for _, p := range parts {
		rf = max(rf, len(p.Replicas))
	}
	fmt.Fprintf(w, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
		td.Name, formatTopicID(td.ID), len(parts), rf, nonDefaultConfigs(configs))
	for _, p := range parts {
		leader := "none"
		if p.Leader >= 0 {
			leader = strconv.Itoa(int(p.Leader))
		}
		fmt.Fprintf(w, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s",
			td.Name, p.Partition, leader, joinInt32(p.Replicas), joinInt32(p.ISR))
		if len(p.Offline) > 0 {
			fmt.Fprintf(w, "\tOffline: %s", joinInt32(p.Offline))
		}
		if p.Err != nil {
			fmt.Fprintf(w, "\tError: %v", p.Err)
		}
		fmt.Fprintln(w)
	}
}

// formatTopicID renders a topic ID the way Kafka prints a Uuid (URL-safe
// base64 without padding), so IDs can be compared with kafka-topics output.
func formatTopicID(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// nonDefaultConfigs lists the configs that differ from what a topic gets
// implicitly. Static broker configs count as defaults: they are the same
// for every topic and would only add noise to each header line.
func nonDefaultConfigs(configs map[string]client.ConfigEntry) string {
	var kvs []string
	for _, c := range configs {
		if isDefaultSource(c.Source) {
			continue
		}
		kvs = append(kvs, c.Name+"="+configValue(c))
	}
	sort.Strings(kvs)
	return strings.Join(kvs, ",")
}

func configValue(c client.ConfigEntry) string {
	switch {
	case c.Sensitive:
		return "<sensitive>"
	case c.Value == nil:
		return ""
	}
	return *c.Value
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			out := cmd.OutOrStdout()
			if setPartitions {
				// CreatePartitions takes the final count, which is what
				// users think in ("make it 12"), not a delta.
				if err := adm.CreatePartitions(ctx, topic, int32(partitions)); err != nil {
					return failure(cmd, "create partitions", err)
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			failed, err := byName(adm.DeleteTopics(ctx, args...), topicName)
			if err != nil {
				return requestError(cmd, "delete topics", err)
			}
			out := cmd.OutOrStdout()
			var errs []error
			for _, t := range args {
				if e, ok := failed[t]; ok {
					errs = append(errs, e)
				} else {
					fmt.Fprintf(out, "Deleted topic %s.\n", t)
				}
			}
			return errors.Join(errs...)
		},
	}
	addTimeoutFlag(cmd)
	return cmd
}

// topicName keys byName's split of per-topic errors.
func topicName(e *client.TopicError) string { return e.Topic }
