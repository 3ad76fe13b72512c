package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/samsa-io/samsa/bench"
)

// TestBenchMatrixCommand: list flags span the matrix, --rate and
// --linger 0 reach the config, --progress draws the bar on a
// non-terminal, and --json, --svg and --markdown write their files.
func TestBenchMatrixCommand(t *testing.T) {
	b := newCluster(t, kfake.NumBrokers(3))
	dir := t.TempDir()
	jsonPath, svgPath, mdPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg"), filepath.Join(dir, "r.md")
	out, errOut, err := samsa(t, b, "", "bench", "--replication-factor", "1,3", "--size", "64,512", "--compression", "none,zstd",
		"--acks", "1,all", "--records", "200", "--rate", "20000", "--linger", "0", "--partitions", "2", "--topic", "bm",
		"--no-consume", "--progress", "--json", jsonPath, "--svg", svgPath, "--markdown", mdPath)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "topic bm-rf1 (2 partitions), replication factor 1; topic bm-rf3 (2 partitions), replication factor 3") ||
		!strings.Contains(out, "fixed rate 20000 records/s per cell") || !strings.Contains(out, "E2E P99 ms") {
		t.Fatalf("table:\n%s", out)
	}
	if !strings.Contains(errOut, "\r\x1b[K[") {
		t.Fatalf("no progress bar on stderr: %q", errOut)
	}

	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	c := rep.Config
	if !reflect.DeepEqual(c.ReplicationFactors, []int16{1, 3}) || !reflect.DeepEqual(c.RecordSizes, []int{64, 512}) ||
		!reflect.DeepEqual(c.Compressions, []string{"none", "zstd"}) || c.Rate != 20000 || c.Linger >= 0 ||
		len(rep.Produce) != 16 || len(rep.Summary) != 16 {
		t.Fatalf("report config %+v, %d results, %d summaries", c, len(rep.Produce), len(rep.Summary))
	}

	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil || strings.Count(string(svg), `class="panel"`) != 8 {
		t.Fatalf("svg (%v):\n%s", err, svg)
	}
	md, err := os.ReadFile(mdPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| RF | SIZE B | CODEC | MODE | RECORDS/S |") {
		t.Fatalf("markdown:\n%s", md)
	}
}
