package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/samsa-io/samsa/bench"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg      bench.Config
		jsonPath string
		quiet    bool
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark produce (per acks mode) and consume throughput and latency",
		Long: "Benchmark any Kafka-protocol cluster. Creates the topic if missing, then for each\n" +
			"run produces --records records per acks mode (modes interleaved within a run)\n" +
			"and reads the whole topic back. Prints a table; --json also writes every run.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seeds, err := seedBrokers(cmd)
			if err != nil {
				return err
			}
			cfg.Brokers = seeds
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			rep, runErr := bench.Run(ctx, cfg)
			// Print and save whatever completed, even after a failure:
			// a long benchmark's finished runs are still worth having.
			if len(rep.Summary) > 0 {
				if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
					return err
				}
			}
			if jsonPath != "" && (runErr == nil || len(rep.Summary) > 0) {
				if err := writeJSONReport(cmd, jsonPath, rep); err != nil && runErr == nil {
					return err
				}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Topic, "topic", "", "topic to use; created if missing (default bench-<random>)")
	f.Int32Var(&cfg.Partitions, "partitions", bench.DefaultPartitions, "partitions when creating the topic (-1 = broker default)")
	f.Int16Var(&cfg.ReplicationFactor, "replication-factor", -1, "replication factor when creating the topic (-1 = broker default)")
	f.StringSliceVar(&cfg.Acks, "acks", bench.DefaultAcks, "comma-separated acks modes to measure: 0, 1, all (idempotent), all-noidem")
	f.IntVar(&cfg.Records, "records", bench.DefaultRecords, "records per acks mode per run")
	f.IntVar(&cfg.RecordSize, "size", bench.DefaultRecordSize, "record value size in bytes")
	f.StringVar(&cfg.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	f.IntVar(&cfg.Producers, "producers", 1, "concurrent producer clients")
	f.IntVar(&cfg.Runs, "runs", 1, "repetitions; >1 reports median and min–max")
	f.DurationVar(&cfg.Linger, "linger", bench.DefaultLinger, "producer linger")
	f.IntVar(&cfg.MaxBufferedRecords, "max-buffered-records", bench.DefaultMaxBufferedRecords, "per-producer buffer before Produce blocks")
	f.Int32Var(&cfg.BatchMaxBytes, "batch-max-bytes", bench.DefaultBatchMaxBytes, "maximum record batch size")
	f.BoolVar(&cfg.SkipConsume, "no-consume", false, "skip the consume phase")
	f.BoolVar(&cfg.DeleteTopic, "delete-topic", false, "delete the topic at the end if the benchmark created it")
	f.StringVar(&jsonPath, "json", "", "also write the full report as JSON to this file (- = stdout)")
	f.BoolVar(&quiet, "quiet", false, "no per-phase progress lines on stderr")
	f.DurationVar(&timeout, "timeout", 0, "abort the whole benchmark after this long (0 = none)")
	cmd.AddCommand(newBenchTxnCmd())
	return cmd
}

func newBenchTxnCmd() *cobra.Command {
	var (
		cfg      bench.TxnConfig
		jsonPath string
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "txn",
		Short: "Benchmark transaction commit latency for transactions over 1, 10 and 100 partitions",
		Long: "Runs --transactions transactions per partition count, each writing one record to\n" +
			"each of the first N partitions of the topic and committing, and reports the\n" +
			"commit latency (EndTransaction) and the whole transaction's latency.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seeds, err := seedBrokers(cmd)
			if err != nil {
				return err
			}
			cfg.Brokers = seeds
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			rep, err := bench.RunTxn(cmd.Context(), cfg)
			if len(rep.Results) > 0 {
				if werr := rep.WriteTable(cmd.OutOrStdout()); werr != nil {
					return werr
				}
				if jsonPath != "" {
					if werr := writeJSON(cmd, jsonPath, rep); werr != nil && err == nil {
						return werr
					}
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Topic, "topic", "", "topic to use; created with the largest partition count if missing (default bench-<random>)")
	f.Int16Var(&cfg.ReplicationFactor, "replication-factor", -1, "replication factor when creating the topic (-1 = broker default)")
	f.IntSliceVar(&cfg.Partitions, "partitions", []int{1, 10, 100}, "partitions per transaction to measure")
	f.IntVar(&cfg.Transactions, "transactions", 200, "transactions per partition count per run")
	f.IntVar(&cfg.RecordSize, "size", bench.DefaultRecordSize, "record value size in bytes")
	f.IntVar(&cfg.Runs, "runs", 1, "repetitions (partition counts interleave within a run); the table shows medians")
	f.StringVar(&jsonPath, "json", "", "also write the report as JSON to this file (- = stdout)")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	return cmd
}

func writeJSONReport(cmd *cobra.Command, path string, rep bench.Report) error {
	return writeJSON(cmd, path, rep)
}

// writeJSON writes v, indented, to path (- = stdout).
func writeJSON(cmd *cobra.Command, path string, v any) error {
	w := cmd.OutOrStdout()
	var f *os.File
	if path != "-" {
		var err error
		if f, err = os.Create(path); err != nil {
			return err
		}
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		if f != nil {
			f.Close()
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if f != nil {
		return f.Close()
	}
	return nil
}
