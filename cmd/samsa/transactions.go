package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
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
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			lt, err := adm.ListTransactions(ctx, nil, states)
			if err != nil {
				return requestError(cmd, "list transactions", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tSTATE")
			for _, t := range lt.Sorted() {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t.TxnID, t.Coordinator, t.ProducerID, t.State)
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
			adm, cl, err := newAdmin(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			dt, err := adm.DescribeTransactions(ctx, ids...)
			if err != nil {
				return requestError(cmd, "describe transactions", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tEPOCH\tSTATE\tTIMEOUT-MS\tDURATION-MS\tPARTITIONS")
			var errs []string
			for _, id := range ids {
				d, ok := dt[id]
				if !ok || d.Err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", id, d.Err))
					continue
				}
				dur := "-"
				if d.StartTimestamp > 0 {
					dur = fmt.Sprint(time.Since(time.UnixMilli(d.StartTimestamp)).Milliseconds())
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", id, d.Coordinator, d.ProducerID, d.ProducerEpoch, d.State,
					d.TimeoutMillis, dur, partitionList(d.Topics))
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

// partitionList renders topic-partition sets as "t-0,t-1".
func partitionList(ts kadm.TopicsSet) string {
	var out []string
	for t, ps := range ts {
		for p := range ps {
			out = append(out, fmt.Sprintf("%s-%d", t, p))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}
