package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/samsa-io/samsa/bench"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg          bench.Config
		rfs          []int
		jsonPath     string
		svgPath      string
		markdownPath string
		quiet        bool
		bar          bool
		timeout      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark produce (per acks mode) and consume throughput and latency",
		Long: "Benchmark any Kafka-protocol cluster. Every combination of --replication-factor,\n" +
			"--size, --compression and --acks is a cell; each run produces --records records\n" +
			"per cell, cells interleaved within a run, one topic per replication factor\n" +
			"(created if missing). A consumer reads each cell's records as they are produced\n" +
			"(end-to-end latency), and after each run the run's records are read back\n" +
			"(consume throughput). Without --rate producers go as fast as they can; with\n" +
			"--rate N they send N records/s per cell in total (split evenly over --producers)\n" +
			"and latency counts from each record's scheduled send time, so stalls are not\n" +
			"hidden (no coordinated omission). Prints a table; --json writes every run,\n" +
			"--svg a latency chart, --markdown the tables for docs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seeds, err := seedBrokers(cmd)
			if err != nil {
				return err
			}
			cfg.Brokers = seeds
			for _, rf := range rfs {
				if rf < -1 || rf > math.MaxInt16 {
					return fmt.Errorf("--replication-factor %d out of range", rf)
				}
				cfg.ReplicationFactors = append(cfg.ReplicationFactors, int16(rf))
			}
			if cfg.Linger == 0 {
				cfg.Linger = -1 // the flag's 0 means no linger, not the default
			}
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
				cfg.ProgressBar = bar || isTerminal(cfg.Progress)
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
			if len(rep.Summary) == 0 {
				return runErr
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			for _, out := range []struct {
				path  string
				write func(io.Writer) error
			}{{jsonPath, rep.WriteJSON}, {svgPath, rep.WriteSVG}, {markdownPath, rep.WriteMarkdown}} {
				if out.path == "" {
					continue
				}
				if err := writeTo(cmd, out.path, out.write); err != nil && runErr == nil {
					runErr = err
				}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Topic, "topic", "", "topic to use; created if missing (default bench-<random>; -rfN appended with several replication factors)")
	f.Int32Var(&cfg.Partitions, "partitions", bench.DefaultPartitions, "partitions when creating a topic (-1 = broker default)")
	f.IntSliceVar(&rfs, "replication-factor", []int{-1}, "comma-separated replication factors to compare, one topic each (-1 = broker default)")
	f.StringSliceVar(&cfg.Acks, "acks", bench.DefaultAcks, "comma-separated acks modes to compare: 0, 1, all (idempotent), all-noidem")
	f.IntSliceVar(&cfg.RecordSizes, "size", []int{bench.DefaultRecordSize}, "comma-separated record value sizes in bytes to compare")
	f.StringSliceVar(&cfg.Compressions, "compression", []string{"none"}, "comma-separated codecs to compare: none, gzip, snappy, lz4, zstd")
	f.IntVar(&cfg.Records, "records", bench.DefaultRecords, "records per cell per run")
	f.Int64Var(&cfg.MaxCellBytes, "max-cell-bytes", 0, "cap a cell's records at this many value bytes (records x size), so large sizes do not multiply the volume (0 = no cap)")
	f.Float64Var(&cfg.Rate, "rate", 0, "fixed rate: records/s per cell in total over all producers (0 = as fast as possible)")
	f.BoolVar(&cfg.NoE2E, "no-e2e", false, "skip the end-to-end latency measurement (no consumer during produce; values not stamped)")
	f.IntVar(&cfg.Producers, "producers", 1, "concurrent producer clients")
	f.IntVar(&cfg.Runs, "runs", 1, "repetitions; >1 reports median and min–max")
	f.DurationVar(&cfg.Linger, "linger", bench.DefaultLinger, "producer linger (0 = none)")
	f.IntVar(&cfg.MaxBufferedRecords, "max-buffered-records", bench.DefaultMaxBufferedRecords, "per-producer buffer before Produce blocks")
	f.IntVar(&cfg.MaxBufferedBytes, "max-buffered-bytes", bench.DefaultMaxBufferedBytes, "per-producer buffered value bytes before Produce blocks")
	f.Int32Var(&cfg.BatchMaxBytes, "batch-max-bytes", bench.DefaultBatchMaxBytes, "maximum record batch size")
	f.BoolVar(&cfg.SkipConsume, "no-consume", false, "skip the consume phase")
	f.BoolVar(&cfg.DeleteTopic, "delete-topic", false, "delete the topics at the end if the benchmark created them")
	f.StringVar(&jsonPath, "json", "", "also write the full report as JSON to this file (- = stdout)")
	f.StringVar(&svgPath, "svg", "", "also write a chart of the latency percentiles per acks mode (SVG) to this file")
	f.StringVar(&markdownPath, "markdown", "", "also write the tables as markdown to this file")
	f.BoolVar(&quiet, "quiet", false, "no progress output on stderr")
	f.BoolVar(&bar, "progress", false, "draw the progress bar even if stderr is not a terminal")
	f.DurationVar(&timeout, "timeout", 0, "abort the whole benchmark after this long (0 = none)")
	cmd.AddCommand(newBenchTxnCmd())
	return cmd
}

// isTerminal reports whether w is a character device (a terminal), where
// a progress bar redrawn in place makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
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

// writeJSON writes v, indented, to path (- = stdout).
func writeJSON(cmd *cobra.Command, path string, v any) error {
	return writeTo(cmd, path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// writeTo writes to the file at path, or to stdout for "-".
func writeTo(cmd *cobra.Command, path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(cmd.OutOrStdout())
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
