package main

import (
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newConfigsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "configs",
		Short: "Describe and alter topic configs",
	}
	cmd.AddCommand(newConfigsDescribeCmd(), newConfigsAlterCmd())
	return cmd
}

func newConfigsDescribeCmd() *cobra.Command {
	var (
		topic string
		all   bool
	)
	cmd := &cobra.Command{
		Use:   "describe --topic NAME",
		Short: "Print a topic's configs as key=value and their source",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			rcs, err := adm.DescribeTopicConfigs(ctx, topic)
			if err != nil {
				return requestError(cmd, "describe configs", err)
			}
			rc, err := rcs.On(topic, nil)
			if err != nil {
				return topicError(topic, err, "")
			}
			if rc.Err != nil {
				return topicError(topic, rc.Err, rc.ErrMessage)
			}
			configs := rc.Configs
			sort.Slice(configs, func(i, j int) bool { return configs[i].Key < configs[j].Key })
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, c := range configs {
				if !all && isDefaultSource(c.Source) {
					continue
				}
				fmt.Fprintf(tw, "%s=%s\t%s\n", c.Key, configValue(c), c.Source)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "topic to describe")
	cmd.Flags().BoolVar(&all, "all", false, "include configs that are at their default")
	_ = cmd.MarkFlagRequired("topic")
	addTimeoutFlag(cmd)
	return cmd
}

func newConfigsAlterCmd() *cobra.Command {
	var (
		topic string
		set   []string
		del   []string
	)
	cmd := &cobra.Command{
		Use:   "alter --topic NAME [--set k=v]... [--delete k]...",
		Short: "Set or remove topic config overrides (IncrementalAlterConfigs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, err := configOps(set, del, "set")
			if err != nil {
				return err
			}
			if len(ops) == 0 {
				return errors.New("nothing to alter: give --set or --delete")
			}
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := alterTopicConfigs(cmd, adm, topic, ops); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Updated configs of topic %s.\n", topic)
			return nil
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "topic to alter")
	cmd.Flags().StringArrayVar(&set, "set", nil, "set config key=value (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete", nil, "remove a config override (repeatable)")
	_ = cmd.MarkFlagRequired("topic")
	addTimeoutFlag(cmd)
	return cmd
}

// isDefaultSource reports whether a config value is one every topic gets
// implicitly (see nonDefaultConfigs for why static broker configs count).
func isDefaultSource(s kmsg.ConfigSource) bool {
	switch s {
	case kmsg.ConfigSourceDefaultConfig, kmsg.ConfigSourceStaticBrokerConfig, kmsg.ConfigSourceUnknown:
		return true
	}
	return false
}

// configOps turns --set/--config k=v and --delete k flags into incremental
// alter operations; setFlag names the flag for error messages.
func configOps(set, del []string, setFlag string) ([]kadm.AlterConfig, error) {
	ops := make([]kadm.AlterConfig, 0, len(set)+len(del))
	for _, s := range set {
		k, v, err := parseKV(s, setFlag)
		if err != nil {
			return nil, err
		}
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
	}
	for _, k := range del {
		if k == "" {
			return nil, errors.New("empty config name to delete")
		}
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return ops, nil
}

// alterTopicConfigs applies ops to one topic with IncrementalAlterConfigs,
// which, unlike the legacy AlterConfigs, leaves other overrides untouched.
func alterTopicConfigs(cmd *cobra.Command, adm *kadm.Client, topic string, ops []kadm.AlterConfig) error {
	ctx, cancel := commandContext(cmd)
	defer cancel()
	resps, err := adm.AlterTopicConfigs(ctx, ops, topic)
	if err != nil {
		return requestError(cmd, "alter configs", err)
	}
	r, err := resps.On(topic, nil)
	if err != nil {
		return topicError(topic, err, "")
	}
	if r.Err != nil {
		return topicError(topic, r.Err, r.ErrMessage)
	}
	return nil
}
