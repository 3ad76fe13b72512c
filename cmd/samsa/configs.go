package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/samsa-io/samsa/client"
	"github.com/spf13/cobra"
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()

			configs, err := adm.DescribeConfigs(ctx, client.ConfigResource{Type: client.ResourceTopic, Name: topic})
			if err != nil {
				return failure(cmd, "describe configs", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, name := range slices.Sorted(maps.Keys(configs)) {
				c := configs[name]
				if !all && isDefaultSource(c.Source) {
					continue
				}
				fmt.Fprintf(tw, "%s=%s\t%s\n", c.Name, configValue(c), c.Source)
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
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
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

// isDefaultSource reports whether a config value (its source as Kafka names
// it) is one every topic gets implicitly (see nonDefaultConfigs for why
// static broker configs count).
func isDefaultSource(s string) bool {
	switch s {
	case "DEFAULT_CONFIG", "STATIC_BROKER_CONFIG", "UNKNOWN":
		return true
	}
	return false
}

// configOps turns --set/--config k=v and --delete k flags into incremental
// alter operations, a nil value deleting the override; setFlag names the
// flag for error messages.
func configOps(set, del []string, setFlag string) (map[string]*string, error) {
	ops := make(map[string]*string, len(set)+len(del))
	for _, s := range set {
		k, v, err := parseKV(s, setFlag)
		if err != nil {
			return nil, err
		}
		ops[k] = &v
	}
	for _, k := range del {
		if k == "" {
			return nil, errors.New("empty config name to delete")
		}
		ops[k] = nil
	}
	return ops, nil
}

// alterTopicConfigs applies ops to one topic with IncrementalAlterConfigs,
// which, unlike the legacy AlterConfigs, leaves other overrides untouched.
func alterTopicConfigs(cmd *cobra.Command, adm *client.Admin, topic string, ops map[string]*string) error {
	ctx, cancel := commandContext(cmd)
	defer cancel()
	if err := adm.AlterConfigs(ctx, client.ConfigResource{Type: client.ResourceTopic, Name: topic}, ops); err != nil {
		return failure(cmd, "alter configs", err)
	}
	return nil
}
