package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TxnConfig describes a transaction latency benchmark: transactions that
// each write one record to each of k partitions and commit, for each k.
type TxnConfig struct {
	Brokers           []string  `json:"brokers"`
	Topic             string    `json:"topic"`              // default "bench-<random hex>", created with max(Partitions) partitions
	ReplicationFactor int16     `json:"replication_factor"` // default -1 = broker default
	Partitions        []int     `json:"partitions"`         // partitions per transaction; default 1, 10, 100
	Transactions      int       `json:"transactions"`       // per partition count per run; default 200
	RecordSize        int       `json:"record_size"`        // default 100
	Runs              int       `json:"runs"`               // default 1; partition counts interleave within a run
	Progress          io.Writer `json:"-"`
}

// TxnResult is one partition count in one run. Latencies are in
// milliseconds: Commit from EndTransaction(commit) to its return (the
// coordinator has durably decided; markers follow), Total from
// BeginTransaction to the commit's return.
type TxnResult struct {
	Run          int     `json:"run"`
	Partitions   int     `json:"partitions"`
	Transactions int     `json:"transactions"`
	PerSec       float64 `json:"transactions_per_sec"`
	Commit       Latency `json:"commit_latency_ms"`
	Total        Latency `json:"total_latency_ms"`
}

// TxnReport is the outcome of RunTxn.
type TxnReport struct {
	Config  TxnConfig   `json:"config"`
	Results []TxnResult `json:"results"`
}

func (c TxnConfig) withDefaults() TxnConfig {
	if c.Topic == "" {
		c.Topic = RandomTopic()
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if len(c.Partitions) == 0 {
		c.Partitions = []int{1, 10, 100}
	}
	if c.Transactions == 0 {
		c.Transactions = 200
	}
	if c.RecordSize == 0 {
		c.RecordSize = DefaultRecordSize
	}
	if c.Runs == 0 {
		c.Runs = 1
	}
	return c
}

// RunTxn measures transaction commit latency with franz-go's transactional
// producer (which uses KIP-890's protocol where the cluster offers it).
func RunTxn(ctx context.Context, cfg TxnConfig) (TxnReport, error) {
	cfg = cfg.withDefaults()
	rep := TxnReport{Config: cfg}
	most := 0
	for _, k := range cfg.Partitions {
		if k < 1 {
			return rep, fmt.Errorf("bench: %d partitions per transaction", k)
		}
		most = max(most, k)
	}
	if len(cfg.Brokers) == 0 || cfg.Transactions < 1 || cfg.Runs < 1 {
		return rep, errors.New("bench: need brokers, transactions ≥ 1 and runs ≥ 1")
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("samsa-bench"))
	if err != nil {
		return rep, err
	}
	defer admCl.Close()
	if _, _, err := ensureTopic(ctx, kadm.NewClient(admCl), cfg.Topic, int32(most), cfg.ReplicationFactor); err != nil {
		return rep, err
	}
	value := makePayloads(cfg.RecordSize, 1)[0]
	for run := 1; run <= cfg.Runs; run++ {
		for _, k := range cfg.Partitions {
			res, err := txnRun(ctx, cfg, run, k, value)
			if err != nil {
				return rep, err
			}
			rep.Results = append(rep.Results, res)
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "run %d/%d %3d partitions: %.0f txn/s, commit p50 %.2f ms p99 %.2f ms\n",
					run, cfg.Runs, k, res.PerSec, res.Commit.P50, res.Commit.P99)
			}
		}
	}
	return rep, nil
}

func txnRun(ctx context.Context, cfg TxnConfig, run, k int, value []byte) (TxnResult, error) {
	res := TxnResult{Run: run, Partitions: k, Transactions: cfg.Transactions}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("samsa-bench"),
		kgo.TransactionalID(fmt.Sprintf("%s-txn-%d-%d", cfg.Topic, run, k)), kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	commit, total := latencyHist(), latencyHist()
	one := func(timed bool) error {
		start := time.Now()
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		for p := 0; p < k; p++ {
			cl.Produce(ctx, &kgo.Record{Partition: int32(p), Value: value}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		endStart := time.Now()
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return err
		}
		if timed {
			end := time.Now()
			_ = commit.RecordValue(end.Sub(endStart).Microseconds())
			_ = total.RecordValue(end.Sub(start).Microseconds())
		}
		return nil
	}
	// An untimed transaction finds the coordinator and gets the producer ID.
	if err := one(false); err != nil {
		return res, fmt.Errorf("bench: transaction: %w", err)
	}
	start := time.Now()
	for i := 0; i < cfg.Transactions; i++ {
		if err := one(true); err != nil {
			return res, fmt.Errorf("bench: transaction %d of %d partitions: %w", i, k, err)
		}
	}
	res.PerSec = float64(cfg.Transactions) / time.Since(start).Seconds()
	res.Commit, res.Total = latencyOf(commit), latencyOf(total)
	return res, nil
}

// WriteTable prints the median over runs of each partition count.
func (r TxnReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partitions\ttxn/s\tcommit p50 ms\tcommit p99 ms\tcommit max ms\ttotal p50 ms\ttotal p99 ms\t")
	for _, k := range r.Config.Partitions {
		var rate, c50, c99, cmax, t50, t99 []float64
		for _, x := range r.Results {
			if x.Partitions == k {
				rate, c50, c99, cmax = append(rate, x.PerSec), append(c50, x.Commit.P50), append(c99, x.Commit.P99), append(cmax, x.Commit.Max)
				t50, t99 = append(t50, x.Total.P50), append(t99, x.Total.P99)
			}
		}
		if len(rate) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", k, statOf(rate).Median, statOf(c50).Median,
			statOf(c99).Median, statOf(cmax).Median, statOf(t50).Median, statOf(t99).Median)
	}
	return tw.Flush()
}
