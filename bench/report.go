package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of Run. It marshals to the JSON written by
// `samsa bench --json`; durations are nanoseconds, rates per second, MB is
// 2^20 bytes and latencies are milliseconds.
type Report struct {
	Config       Config          `json:"config"`
	Topic        string          `json:"topic"`
	Partitions   int             `json:"partitions"`
	TopicCreated bool            `json:"topic_created"`
	Started      time.Time       `json:"started"`
	Finished     time.Time       `json:"finished"`
	Produce      []ProduceResult `json:"produce"` // in execution order
	Consume      []ConsumeResult `json:"consume,omitempty"`
	Summary      []Summary       `json:"summary"` // one per acks mode, then "consume"
}

// ProduceResult is one acks mode in one run.
type ProduceResult struct {
	Run           int           `json:"run"`
	Acks          string        `json:"acks"`
	Records       int64         `json:"records"`
	Bytes         int64         `json:"bytes"`
	Elapsed       time.Duration `json:"elapsed_ns"`
	RecordsPerSec float64       `json:"records_per_sec"`
	MBPerSec      float64       `json:"mb_per_sec"`
	Latency       Latency       `json:"latency_ms"`
}

// Latency is the produce latency distribution in milliseconds: time from
// the Produce call until the record's promise fired (acknowledged, or for
// acks=0 written to the socket).
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// ConsumeResult is one run's read of the whole topic.
type ConsumeResult struct {
	Run           int           `json:"run"`
	Records       int64         `json:"records"`
	Bytes         int64         `json:"bytes"`
	Elapsed       time.Duration `json:"elapsed_ns"`
	RecordsPerSec float64       `json:"records_per_sec"`
	MBPerSec      float64       `json:"mb_per_sec"`
}

// Stat summarises one metric over the runs of a mode.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summary aggregates all runs of one mode ("acks=0", ..., "consume").
type Summary struct {
	Mode          string        `json:"mode"`
	Runs          int           `json:"runs"`
	RecordsPerSec Stat          `json:"records_per_sec"`
	MBPerSec      Stat          `json:"mb_per_sec"`
	Latency       *LatencyStats `json:"latency_ms,omitempty"` // produce modes only
}

// LatencyStats holds, per percentile, the median and spread over runs.
type LatencyStats struct {
	P50  Stat `json:"p50"`
	P95  Stat `json:"p95"`
	P99  Stat `json:"p99"`
	P999 Stat `json:"p99_9"`
	Max  Stat `json:"max"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		P50:  ms(h.ValueAtQuantile(50)),
		P95:  ms(h.ValueAtQuantile(95)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
		Mean: h.Mean() / 1000,
	}
}

// statOf returns the median (mean of the middle pair for even counts) and
// range; the median rather than the mean so one disturbed run does not
// move the headline number.
func statOf(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// finish stamps the end time and computes the per-mode summaries.
func (r *Report) finish() {
	r.Finished = time.Now()
	r.Summary = r.Summary[:0]
	for _, acks := range r.Config.Acks {
		var rps, mbps, p50, p95, p99, p999, pmax []float64
		for _, p := range r.Produce {
			if p.Acks != acks {
				continue
			}
			rps = append(rps, p.RecordsPerSec)
			mbps = append(mbps, p.MBPerSec)
			p50 = append(p50, p.Latency.P50)
			p95 = append(p95, p.Latency.P95)
			p99 = append(p99, p.Latency.P99)
			p999 = append(p999, p.Latency.P999)
			pmax = append(pmax, p.Latency.Max)
		}
		if len(rps) == 0 {
			continue
		}
		r.Summary = append(r.Summary, Summary{
			Mode: "acks=" + acks, Runs: len(rps),
			RecordsPerSec: statOf(rps), MBPerSec: statOf(mbps),
			Latency: &LatencyStats{
				P50: statOf(p50), P95: statOf(p95), P99: statOf(p99),
				P999: statOf(p999), Max: statOf(pmax),
			},
		})
	}
	if len(r.Consume) > 0 {
		var rps, mbps []float64
		for _, c := range r.Consume {
			rps = append(rps, c.RecordsPerSec)
			mbps = append(mbps, c.MBPerSec)
		}
		r.Summary = append(r.Summary, Summary{
			Mode: "consume", Runs: len(rps),
			RecordsPerSec: statOf(rps), MBPerSec: statOf(mbps),
		})
	}
}

// WriteTable prints the human-readable summary. With several runs each
// throughput cell is "median (min–max)"; latency cells are medians.
func (r Report) WriteTable(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "topic %s (%d partitions), %d records x %d B per mode, compression %s, %d producer(s), linger %s, %d run(s)\n\n",
		r.Topic, r.Partitions, c.Records, c.RecordSize, c.Compression, c.Producers, c.Linger, c.Runs)
	// Numbers align right; the mode column is pre-padded so that it
	// still reads left-aligned.
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "MODE    \tRECORDS/S\tMB/S\tP50 ms\tP95 ms\tP99 ms\tP99.9 ms\tMAX ms\t")
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "%-8s\t%s\t%s\t", s.Mode,
			cell(s.RecordsPerSec, s.Runs, "%.0f"), cell(s.MBPerSec, s.Runs, "%.2f"))
		if l := s.Latency; l != nil {
			fmt.Fprintf(tw, "%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n",
				l.P50.Median, l.P95.Median, l.P99.Median, l.P999.Median, l.Max.Median)
		} else {
			fmt.Fprint(tw, "-\t-\t-\t-\t-\t\n")
		}
	}
	return tw.Flush()
}

func cell(s Stat, runs int, f string) string {
	if runs <= 1 {
		return fmt.Sprintf(f, s.Median)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.Median, s.Min, s.Max)
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (p ProduceResult) line() string {
	return fmt.Sprintf("%.0f rec/s, %.2f MB/s, p50 %.3f ms, p99 %.3f ms, max %.3f ms",
		p.RecordsPerSec, p.MBPerSec, p.Latency.P50, p.Latency.P99, p.Latency.Max)
}

func (c ConsumeResult) line() string {
	return fmt.Sprintf("%d records, %.0f rec/s, %.2f MB/s", c.Records, c.RecordsPerSec, c.MBPerSec)
}
