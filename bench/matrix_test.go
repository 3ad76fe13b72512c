package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestCellsOrder(t *testing.T) {
	cfg := Config{
		ReplicationFactors: []int16{1, 3},
		RecordSizes:        []int{100, 10240},
		Compressions:       []string{"none", "LZ4"},
		Acks:               []string{"1", "-1"},
	}
	var got []string
	for _, c := range cfg.Cells() {
		got = append(got, c.String())
	}
	want := []string{
		"rf=1 100B none acks=1", "rf=1 100B none acks=all", "rf=1 100B lz4 acks=1", "rf=1 100B lz4 acks=all",
		"rf=1 10240B none acks=1", "rf=1 10240B none acks=all", "rf=1 10240B lz4 acks=1", "rf=1 10240B lz4 acks=all",
		"rf=3 100B none acks=1", "rf=3 100B none acks=all", "rf=3 100B lz4 acks=1", "rf=3 100B lz4 acks=all",
		"rf=3 10240B none acks=1", "rf=3 10240B none acks=all", "rf=3 10240B lz4 acks=1", "rf=3 10240B lz4 acks=all",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cells\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Defaults: one cell per default acks mode at the broker's factor.
	if got := (Config{}).Cells(); len(got) != 3 || got[0] != (Cell{ReplicationFactor: -1, RecordSize: 100, Compression: "none", Acks: "0"}) {
		t.Fatalf("default cells %+v", got)
	}

	cfg = Config{Records: 1000, MaxCellBytes: 50_000, Producers: 2}
	for size, want := range map[int]int{10: 1000, 100: 500, 10240: 4, 1 << 20: 2} {
		if got := cfg.CellRecords(size); got != want {
			t.Errorf("CellRecords(%d) = %d, want %d", size, got, want)
		}
	}
}

// TestMatrixAgainstFake runs a small matrix on a three-broker fake: every
// cell runs once per run in matrix order, each replication factor gets its
// topic, every cell has end-to-end latency for all its records, and the
// table has one row per cell with the varying dimensions as columns.
func TestMatrixAgainstFake(t *testing.T) {
	c, ctx := fakeCluster(t, 3)

	var progress bytes.Buffer
	cfg := Config{
		Brokers:            c.ListenAddrs(),
		Topic:              "matrix",
		Partitions:         2,
		ReplicationFactors: []int16{1, 3},
		RecordSizes:        []int{100, 4096},
		Compressions:       []string{"none", "lz4", "zstd"},
		Acks:               []string{"1", "all", "all-noidem"},
		Records:            400,
		MaxCellBytes:       400 * 1024, // 4 KiB records: 100 per cell
		Runs:               2,
		DeleteTopic:        true,
		Progress:           &progress,
		ProgressBar:        true,
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	cells := cfg.Cells()
	if len(cells) != 2*2*3*3 || len(rep.Produce) != 2*len(cells) {
		t.Fatalf("%d cells, %d results", len(cells), len(rep.Produce))
	}
	for i, p := range rep.Produce {
		if want := cells[i%len(cells)]; p.Cell != want || p.Run != 1+i/len(cells) {
			t.Fatalf("result %d is run %d %s, want run %d %s", i, p.Run, p.Cell, 1+i/len(cells), want)
		}
		n := int64(cfg.CellRecords(p.RecordSize))
		if p.Records != n || p.Bytes != n*int64(p.RecordSize) || !plausible(p.Latency, n) || p.E2E == nil || !plausible(*p.E2E, n) {
			t.Fatalf("implausible %s: %+v e2e %+v", p.Cell, p, p.E2E)
		}
	}
	if len(rep.Topics) != 2 || rep.Topics[0].Name != "matrix-rf1" || rep.Topics[1].Name != "matrix-rf3" ||
		rep.Topics[1].ReplicationFactor != 3 || !rep.Topics[1].Created {
		t.Fatalf("topics %+v", rep.Topics)
	}
	// Consume reads each run's records of the topic: per size and codec
	// three acks modes, each with its timed records and one warm-up.
	perRun := int64(3 * 3 * ((400 + 1) + (100 + 1)))
	if len(rep.Consume) != 4 {
		t.Fatalf("consume %+v", rep.Consume)
	}
	for i, cr := range rep.Consume {
		if cr.Records != perRun || cr.Topic != rep.Topics[i%2].Name || cr.Run != 1+i/2 {
			t.Fatalf("consume %d: %+v, want %d records", i, cr, perRun)
		}
	}
	if len(rep.Summary) != len(cells)+2 || rep.Summary[len(cells)].Mode != "consume" || rep.Summary[len(cells)+1].ReplicationFactor != 3 {
		t.Fatalf("summary %+v", rep.Summary)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	head := strings.Fields(lines[3])
	if !reflect.DeepEqual(head[:5], []string{"RF", "SIZE", "B", "CODEC", "MODE"}) {
		t.Fatalf("header %q", lines[3])
	}
	// Header + a row per cell + consume rows, a blank line, the e2e
	// heading, header + a row per cell.
	if want := 3 + 1 + len(cells) + 2 + 2 + 1 + len(cells); len(lines) != want {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), want, table.String())
	}
	if row := strings.Fields(lines[4]); !reflect.DeepEqual(row[:4], []string{"1", "100", "none", "acks=1"}) {
		t.Fatalf("first row %q", lines[4])
	}

	// The progress bar was drawn over the phase lines and erased at the end.
	out := progress.String()
	if !strings.Contains(out, "\r\x1b[K[") || !strings.HasSuffix(out, "\r\x1b[K") ||
		strings.Count(out, " produce: ") != len(rep.Produce) {
		t.Fatalf("progress output %q", out[max(0, len(out)-500):])
	}

	// DeleteTopic removed both topics the benchmark created.
	adm := kadm.NewClient(mustClient(t, c))
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range rep.Topics {
		if _, ok := tds[tp.Name]; ok {
			t.Errorf("topic %s not deleted", tp.Name)
		}
	}
	t.Logf("\n%s", table.String())
}

// TestReportOutputs checks the SVG, JSON and markdown forms of a real
// report with two runs, two sizes and four acks modes.
func TestReportOutputs(t *testing.T) {
	c, ctx := fakeCluster(t, 1)
	rep, err := Run(ctx, Config{
		Brokers: c.ListenAddrs(), Partitions: 2, RecordSizes: []int{100, 1000},
		Acks: []string{"0", "1", "all", "all-noidem"}, Records: 300, Runs: 2,
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("svg", func(t *testing.T) {
		var buf bytes.Buffer
		if err := rep.WriteSVG(&buf); err != nil {
			t.Fatal(err)
		}
		series := svgSeries(t, buf.Bytes())
		// One panel per size, each with a produce and an e2e series per mode.
		for _, size := range []string{"100", "1000"} {
			for _, mode := range []string{"acks=0", "acks=1", "acks=all", "acks=all-noidem"} {
				for _, kind := range []string{"produce", "e2e"} {
					key := "rf=default size=" + size + " compression=none/" + mode + "/" + kind
					if n, ok := series[key]; !ok || n != len(percentileNames) {
						t.Errorf("series %s: %d points (present %v)", key, n, ok)
					}
				}
			}
		}
		if len(series) != 2*4*2 {
			t.Errorf("%d series: %v", len(series), series)
		}
	})

	t.Run("json", func(t *testing.T) {
		raw, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, again) {
			t.Fatalf("JSON does not round-trip:\n%s\n%s", raw, again)
		}
		if !reflect.DeepEqual(back.Summary, rep.Summary) || !reflect.DeepEqual(back.Produce, rep.Produce) ||
			!reflect.DeepEqual(back.Config.Cells(), rep.Config.Cells()) || !back.Started.Equal(rep.Started) {
			t.Fatal("decoded report differs")
		}
		// The cell's fields sit at the top level of each result.
		var generic struct {
			Produce []map[string]any `json:"produce"`
		}
		if err := json.Unmarshal(raw, &generic); err != nil {
			t.Fatal(err)
		}
		p := generic.Produce[0]
		if p["acks"] != "0" || p["record_size"] != 100.0 || p["compression"] != "none" || p["e2e_latency_ms"] == nil {
			t.Fatalf("produce JSON %v", p)
		}
		// A chart can be drawn from the decoded report alone.
		if err := back.WriteSVG(io.Discard); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("markdown", func(t *testing.T) {
		var buf bytes.Buffer
		if err := rep.WriteMarkdown(&buf); err != nil {
			t.Fatal(err)
		}
		md := buf.String()
		// Two tables (blank-line separated blocks of "|" lines), every
		// row as wide as its header: 8 cells and the consume row, then
		// the 8 cells' end-to-end latency.
		var rows []int
		for _, block := range strings.Split(md, "\n\n") {
			lines := strings.Split(strings.TrimSpace(block), "\n")
			if !strings.HasPrefix(lines[0], "| SIZE B | MODE |") {
				continue
			}
			for _, l := range lines {
				if strings.Count(l, "|") != strings.Count(lines[0], "|") {
					t.Fatalf("ragged row %q in\n%s", l, block)
				}
			}
			rows = append(rows, len(lines)-2)
		}
		if !reflect.DeepEqual(rows, []int{8 + 1, 8}) {
			t.Fatalf("table rows %v:\n%s", rows, md)
		}
	})
}

// svgSeries parses an SVG with encoding/xml and returns, per
// "panel/mode/kind", the number of points of the series' polyline.
func svgSeries(t *testing.T, svg []byte) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	out := map[string]int{}
	var panel, series string
	root := true
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root {
			if se.Name.Local != "svg" || se.Name.Space != "http://www.w3.org/2000/svg" {
				t.Fatalf("root element %v", se.Name)
			}
			root = false
		}
		attr := map[string]string{}
		for _, a := range se.Attr {
			attr[a.Name.Local] = a.Value
		}
		switch {
		case se.Name.Local == "g" && attr["class"] == "panel":
			panel = attr["data-cell"]
		case se.Name.Local == "g" && attr["class"] == "series":
			series = panel + "/" + attr["data-mode"] + "/" + attr["data-kind"]
		case se.Name.Local == "polyline":
			out[series] = len(strings.Fields(attr["points"]))
		}
	}
	return out
}
