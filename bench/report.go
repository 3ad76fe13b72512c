package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of Run. It marshals to the JSON written by
// `samsa bench --json`; durations are nanoseconds, rates per second, MB is
// 2^20 bytes and latencies are milliseconds.
type Report struct {
	Config   Config          `json:"config"`
	Topics   []TopicInfo     `json:"topics"` // one per replication factor
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished"`
	Produce  []ProduceResult `json:"produce"` // in execution order
	Consume  []ConsumeResult `json:"consume,omitempty"`
	Summary  []Summary       `json:"summary"` // one per cell in matrix order, then "consume" per topic
}

// TopicInfo describes a topic the benchmark used.
type TopicInfo struct {
	Name              string `json:"name"`
	ReplicationFactor int16  `json:"replication_factor"` // as requested; -1 = broker default
	Partitions        int    `json:"partitions"`
	Created           bool   `json:"created"`
}

// ProduceResult is one cell in one run.
type ProduceResult struct {
	Run int `json:"run"`
	Cell
	Records       int64         `json:"records"`
	Bytes         int64         `json:"bytes"` // values only
	Elapsed       time.Duration `json:"elapsed_ns"`
	RecordsPerSec float64       `json:"records_per_sec"`
	MBPerSec      float64       `json:"mb_per_sec"`
	Latency       Latency       `json:"latency_ms"`
	// E2E is the end-to-end latency: send time to arrival at a consumer.
	E2E *Latency `json:"e2e_latency_ms,omitempty"`
	// SendLagMax (fixed-rate mode) is how far, in ms, the producers fell
	// behind the schedule at most: large values mean the client could not
	// keep the rate (buffer full, broker stalled, CPU starved).
	SendLagMax float64 `json:"send_lag_max_ms,omitempty"`
}

// Latency is a latency distribution in milliseconds. For produce latency
// it runs from the send time (the Produce call, or in fixed-rate mode the
// record's scheduled time) until the record's promise fired
// (acknowledged, or for acks=0 written to the socket).
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// ConsumeResult is one run's read of what the run wrote to one topic.
type ConsumeResult struct {
	Run               int           `json:"run"`
	Topic             string        `json:"topic"`
	ReplicationFactor int16         `json:"replication_factor"`
	Records           int64         `json:"records"`
	Bytes             int64         `json:"bytes"`
	Elapsed           time.Duration `json:"elapsed_ns"`
	RecordsPerSec     float64       `json:"records_per_sec"`
	MBPerSec          float64       `json:"mb_per_sec"`
}

// Stat summarises one metric over the runs of a mode.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summary aggregates all runs of one cell (Mode "acks=...") or the
// consume phases of one topic (Mode "consume", only the replication
// factor of Cell set).
type Summary struct {
	Mode string `json:"mode"`
	Cell
	Runs          int           `json:"runs"`
	RecordsPerSec Stat          `json:"records_per_sec"`
	MBPerSec      Stat          `json:"mb_per_sec"`
	Latency       *LatencyStats `json:"latency_ms,omitempty"`     // produce cells only
	E2E           *LatencyStats `json:"e2e_latency_ms,omitempty"` // produce cells with end-to-end measurement
}

// LatencyStats holds, per percentile, the median and spread over runs.
type LatencyStats struct {
	P50  Stat `json:"p50"`
	P95  Stat `json:"p95"`
	P99  Stat `json:"p99"`
	P999 Stat `json:"p99_9"`
	Max  Stat `json:"max"`
}

func ms(us int64) float64 { return float64(us) / 1000 }

func latencyOf(h *hdrhistogram.Histogram) Latency {
	return Latency{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P95:   ms(h.ValueAtQuantile(95)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
		Mean:  h.Mean() / 1000,
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

// statBy is statOf over one field of each element.
func statBy[T any](xs []T, f func(T) float64) Stat {
	vals := make([]float64, len(xs))
	for i, x := range xs {
		vals[i] = f(x)
	}
	return statOf(vals)
}

func latencyStats(ls []Latency) *LatencyStats {
	if len(ls) == 0 {
		return nil
	}
	return &LatencyStats{
		P50:  statBy(ls, func(l Latency) float64 { return l.P50 }),
		P95:  statBy(ls, func(l Latency) float64 { return l.P95 }),
		P99:  statBy(ls, func(l Latency) float64 { return l.P99 }),
		P999: statBy(ls, func(l Latency) float64 { return l.P999 }),
		Max:  statBy(ls, func(l Latency) float64 { return l.Max }),
	}
}

// finish stamps the end time and computes the summaries.
func (r *Report) finish() {
	r.Finished = time.Now()
	r.Summary = r.Summary[:0]
	for _, c := range r.Config.Cells() {
		var lats, e2es []Latency
		var runs []ProduceResult
		for _, p := range r.Produce {
			if p.Cell != c {
				continue
			}
			runs = append(runs, p)
			lats = append(lats, p.Latency)
			if p.E2E != nil {
				e2es = append(e2es, *p.E2E)
			}
		}
		if len(runs) == 0 {
			continue
		}
		s := Summary{
			Mode: "acks=" + c.Acks, Cell: c, Runs: len(runs),
			RecordsPerSec: statBy(runs, func(p ProduceResult) float64 { return p.RecordsPerSec }),
			MBPerSec:      statBy(runs, func(p ProduceResult) float64 { return p.MBPerSec }),
			Latency:       latencyStats(lats),
		}
		if len(e2es) == len(runs) {
			s.E2E = latencyStats(e2es)
		}
		r.Summary = append(r.Summary, s)
	}
	for _, t := range r.Topics {
		var runs []ConsumeResult
		for _, c := range r.Consume {
			if c.Topic == t.Name {
				runs = append(runs, c)
			}
		}
		if len(runs) == 0 {
			continue
		}
		r.Summary = append(r.Summary, Summary{
			Mode: "consume", Cell: Cell{ReplicationFactor: t.ReplicationFactor}, Runs: len(runs),
			RecordsPerSec: statBy(runs, func(c ConsumeResult) float64 { return c.RecordsPerSec }),
			MBPerSec:      statBy(runs, func(c ConsumeResult) float64 { return c.MBPerSec }),
		})
	}
}

// Describe is the report's setup in a few lines: topics, then what each
// cell did.
func (r Report) Describe() string {
	c := r.Config
	var b strings.Builder
	for i, t := range r.Topics {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "topic %s (%d partitions), replication factor %s", t.Name, t.Partitions, rfName(t.ReplicationFactor))
	}
	b.WriteString(".\n")
	d := c.dims()
	fmt.Fprintf(&b, "%d records per cell", c.Records)
	if c.MaxCellBytes > 0 {
		fmt.Fprintf(&b, " (at most %d value bytes)", c.MaxCellBytes)
	}
	if !d.size {
		fmt.Fprintf(&b, " x %d B", c.RecordSizes[0])
	}
	if !d.codec {
		fmt.Fprintf(&b, ", compression %s", c.Compressions[0])
	}
	fmt.Fprintf(&b, ", %d producer(s), linger %s, ", c.Producers, max(c.Linger, 0))
	if c.Rate > 0 {
		fmt.Fprintf(&b, "fixed rate %g records/s per cell (latency from scheduled send time)", c.Rate)
	} else {
		b.WriteString("max throughput")
	}
	fmt.Fprintf(&b, ", %d run(s).", c.Runs)
	return b.String()
}

// table is a header and rows, rendered as aligned text or markdown.
type table struct {
	head []string
	rows [][]string
}

// dimCells returns the matrix columns that vary, for the header (s is
// nil) or for one summary row.
func (r Report) dimCells(s *Summary) []string {
	d := r.Config.dims()
	var out []string
	add := func(on bool, head, val string) {
		if !on {
			return
		}
		if s == nil {
			out = append(out, head)
		} else {
			out = append(out, val)
		}
	}
	var size, codec, rf string
	if s != nil {
		size, codec, rf = "-", "-", rfName(s.ReplicationFactor)
		if s.Latency != nil {
			size, codec = strconv.Itoa(s.RecordSize), s.Compression
		}
	}
	add(d.rf, "RF", rf)
	add(d.size, "SIZE B", size)
	add(d.codec, "CODEC", codec)
	return out
}

// produceTable has one row per cell, then the consume rows: throughput as
// "median (min–max)" with several runs, latency percentiles as medians.
func (r Report) produceTable() table {
	t := table{head: append(r.dimCells(nil), "MODE", "RECORDS/S", "MB/S", "P50 ms", "P95 ms", "P99 ms", "P99.9 ms", "MAX ms")}
	for _, s := range r.Summary {
		row := append(r.dimCells(&s), s.Mode, cell(s.RecordsPerSec, s.Runs, "%.0f"), cell(s.MBPerSec, s.Runs, "%.2f"))
		t.rows = append(t.rows, append(row, latencyCells(s.Latency)...))
	}
	return t
}

// e2eTable has one row per cell with end-to-end latency medians; it is
// empty without end-to-end measurements.
func (r Report) e2eTable() table {
	t := table{head: append(r.dimCells(nil), "MODE", "E2E P50 ms", "E2E P95 ms", "E2E P99 ms", "E2E P99.9 ms", "E2E MAX ms")}
	for _, s := range r.Summary {
		if s.E2E != nil {
			t.rows = append(t.rows, append(append(r.dimCells(&s), s.Mode), latencyCells(s.E2E)...))
		}
	}
	return t
}

func latencyCells(l *LatencyStats) []string {
	if l == nil {
		return []string{"-", "-", "-", "-", "-"}
	}
	f := func(s Stat) string { return strconv.FormatFloat(s.Median, 'f', 3, 64) }
	return []string{f(l.P50), f(l.P95), f(l.P99), f(l.P999), f(l.Max)}
}

func cell(s Stat, runs int, f string) string {
	if runs <= 1 {
		return fmt.Sprintf(f, s.Median)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.Median, s.Min, s.Max)
}

// writeText aligns the columns right (numbers line up).
func (t table) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, row := range append([][]string{t.head}, t.rows...) {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

func (t table) writeMarkdown(w io.Writer) error {
	line := func(cells []string) string { return "| " + strings.Join(cells, " | ") + " |\n" }
	var b strings.Builder
	b.WriteString(line(t.head))
	b.WriteString(strings.Repeat("|---", len(t.head)) + "|\n")
	for _, row := range t.rows {
		b.WriteString(line(row))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTable prints the human-readable summary: the produce (and consume)
// table, then end-to-end latency if measured. With several runs each
// throughput cell is "median (min–max)"; latency cells are medians (the
// spreads are in the JSON and the chart).
func (r Report) WriteTable(w io.Writer) error {
	return r.write(w, table.writeText, "%s\n\n", "\nend-to-end latency (send to consumer):\n")
}

// WriteMarkdown writes the summary as markdown tables (for docs).
func (r Report) WriteMarkdown(w io.Writer) error {
	return r.write(w, table.writeMarkdown, "%s\n\n", "\nEnd-to-end latency (send to consumer), medians:\n\n")
}

func (r Report) write(w io.Writer, render func(table, io.Writer) error, headFormat, e2eHeading string) error {
	if _, err := fmt.Fprintf(w, headFormat, r.Describe()); err != nil {
		return err
	}
	if err := render(r.produceTable(), w); err != nil {
		return err
	}
	e2e := r.e2eTable()
	if len(e2e.rows) == 0 {
		return nil
	}
	if _, err := io.WriteString(w, e2eHeading); err != nil {
		return err
	}
	return render(e2e, w)
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (p ProduceResult) line() string {
	s := fmt.Sprintf("%.0f rec/s, %.2f MB/s, p50 %.3f ms, p99 %.3f ms, max %.3f ms",
		p.RecordsPerSec, p.MBPerSec, p.Latency.P50, p.Latency.P99, p.Latency.Max)
	if p.E2E != nil {
		s += fmt.Sprintf("; e2e p50 %.3f ms, p99 %.3f ms", p.E2E.P50, p.E2E.P99)
	}
	return s
}

func (c ConsumeResult) line() string {
	return fmt.Sprintf("%d records, %.0f rec/s, %.2f MB/s", c.Records, c.RecordsPerSec, c.MBPerSec)
}
