package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newClusterCmd) }

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect the cluster"}
	cmd.AddCommand(newClusterDescribeCmd())
	return cmd
}

// newClusterDescribeCmd lists brokers, the controller and under-replicated
// partitions (in-sync replicas fewer than replicas).
func newClusterDescribeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "List brokers, the controller and under-replicated partitions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			md, err := adm.DescribeCluster(ctx)
			if err != nil {
				return requestError(cmd, "describe cluster", err)
			}
			tds, err := adm.DescribeTopics(ctx)
			if err != nil {
				return requestError(cmd, "list topics", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Cluster: %s\tController: %d\n", md.ClusterID, md.Controller)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BROKER\tHOST\tPORT\tRACK")
			for _, b := range md.Brokers {
				rack := ""
				if b.Rack != nil {
					rack = *b.Rack
				}
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", b.NodeID, b.Host, b.Port, rack)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			var under []string
			for _, td := range tds {
				for _, p := range td.Partitions {
					if len(p.ISR) < len(p.Replicas) || p.Leader < 0 {
						under = append(under, fmt.Sprintf("\tTopic: %s\tPartition: %d\tLeader: %d\tReplicas: %s\tIsr: %s",
							td.Name, p.Partition, p.Leader, joinInt32(p.Replicas), joinInt32(p.ISR)))
					}
				}
			}
			fmt.Fprintf(out, "Under-replicated partitions: %d\n", len(under))
			for _, u := range under {
				fmt.Fprintln(out, u)
			}
			return nil
		},
	}
	addTimeoutFlag(cmd)
	return cmd
}
