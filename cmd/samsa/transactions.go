package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/spf13/cobra"
)

func init() { registerCommand(newTransactionsCmd) }

func newTransactionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "transactions", Short: "Inspect transactional producers (as kafka-transactions.sh)"}
	cmd.AddCommand(newTransactionsListCmd(), newTransactionsDescribeCmd())
	return cmd
}

// newTransactionsListCmd lists transactional IDs with their producer and state.
func newTransactionsListCmd() *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List transactional IDs, their producer ID and state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			lt, err := adm.ListTransactions(ctx, client.TransactionFilter{States: states})
			if err != nil {
				return requestError(cmd, "list transactions", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tSTATE")
			for _, t := range lt {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t.TransactionalID, t.Coordinator, t.ProducerID, t.State)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only these states (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort)")
	return cmd
}

// newTransactionsDescribeCmd describes transactional IDs: producer, epoch,
// state, timeout, how long the open transaction has run and its partitions.
func newTransactionsDescribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID...",
		Short: "Describe transactional IDs and their open transactions",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			adm, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			dt, err := adm.DescribeTransactions(ctx, ids...)
			if err != nil {
				return requestError(cmd, "describe transactions", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tEPOCH\tSTATE\tTIMEOUT-MS\tDURATION-MS\tPARTITIONS")
			var errs []string
			for _, d := range dt {
				if d.Err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", d.TransactionalID, d.Err))
					continue
				}
				dur := "-"
				if !d.Start.IsZero() {
					dur = fmt.Sprint(time.Since(d.Start).Milliseconds())
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", d.TransactionalID, d.Coordinator, d.ProducerID, d.ProducerEpoch,
					d.State, d.Timeout.Milliseconds(), dur, partitionList(d.Partitions))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s", strings.Join(errs, "; "))
			}
			return nil
		},
	}
}

// partitionList renders partitions as "t-0,t-1".
func partitionList(tps []client.TopicPartition) string {
	if len(tps) == 0 {
		return "-"
	}
	out := make([]string, len(tps))
	for i, tp := range tps {
		out[i] = tp.String()
	}
	return strings.Join(out, ",")
}
