package bench

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart geometry in pixels.
const (
	svgPanelW = 400
	svgPanelH = 300
	svgLeft   = 64 // room for the y labels inside a panel
	svgRight  = 16
	svgTop    = 36 // panel title
	svgBottom = 44 // x labels
	svgHeader = 76 // chart title, subtitle and legend
	svgCols   = 3
)

// modeColors are fixed per acks mode so charts compare at a glance.
var modeColors = map[string]string{"0": "#1b9e77", "1": "#d95f02", "all": "#7570b3", "all-noidem": "#e7298a"}

var percentileNames = []string{"p50", "p95", "p99", "p99.9", "max"}

// WriteSVG draws latency percentiles (p50, p95, p99, p99.9, max; log-scale
// y, shared by all panels) with one panel per replication factor, size and
// codec and, in each, one series per acks mode: produce latency solid,
// end-to-end latency dashed, points at the median over runs and whiskers
// spanning min–max.
func (r Report) WriteSVG(w io.Writer) error {
	var groups []Cell
	panels := map[Cell][]Summary{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range r.Summary {
		if s.Latency == nil {
			continue
		}
		g := s.group()
		if _, ok := panels[g]; !ok {
			groups = append(groups, g)
		}
		panels[g] = append(panels[g], s)
		for _, l := range []*LatencyStats{s.Latency, s.E2E} {
			for _, st := range l.points() {
				lo, hi = math.Min(lo, math.Min(st.Min, st.Median)), math.Max(hi, st.Max)
			}
		}
	}
	if len(groups) == 0 {
		return fmt.Errorf("bench: no produce latencies to chart")
	}
	// Decades bracketing the data; 1 µs is the histogram's resolution.
	y := logScale{lo: math.Floor(math.Log10(math.Max(lo, 0.001))), hi: math.Ceil(math.Log10(math.Max(hi, 0.001)))}
	if y.hi <= y.lo {
		y.hi = y.lo + 1
	}

	var legend strings.Builder
	legendW := r.svgLegend(&legend)
	cols := min(svgCols, len(groups))
	rows := (len(groups) + cols - 1) / cols
	// Panels widen when few, so the legend fits above them.
	panelW := max(svgPanelW, (legendW+cols-1)/cols)
	width, height := cols*panelW+20, svgHeader+rows*svgPanelH+10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	load := "max throughput"
	if r.Config.Rate > 0 {
		load = fmt.Sprintf("fixed rate %g records/s per cell", r.Config.Rate)
	}
	b.WriteString(`<text x="10" y="22" font-size="15" font-weight="bold">Latency percentiles (ms, log scale)</text>` + "\n")
	fmt.Fprintf(&b, `<text x="10" y="40">%s</text>`+"\n",
		esc(fmt.Sprintf("%s; points: median of %d run(s), whiskers: min–max", load, r.Config.Runs)))
	b.WriteString(legend.String())
	for i, g := range groups {
		x0, y0 := 10+(i%cols)*panelW, svgHeader+(i/cols)*svgPanelH
		svgPanel(&b, x0, y0, panelW, g, panels[g], y)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// points are the plotted percentiles in percentileNames order.
func (l *LatencyStats) points() []Stat {
	if l == nil {
		return nil
	}
	return []Stat{l.P50, l.P95, l.P99, l.P999, l.Max}
}

type logScale struct{ lo, hi float64 } // decades (log10 of ms)

// at maps v (ms) to a fraction of the axis height from the top.
func (s logScale) at(v float64) float64 {
	l := math.Log10(math.Max(v, math.Pow(10, s.lo)))
	return (s.hi - l) / (s.hi - s.lo)
}

// svgLegend draws the legend (a colour per acks mode, a dash per kind)
// and returns how wide it is.
func (r Report) svgLegend(b *strings.Builder) int {
	x := 10
	item := func(color, dash, label string) {
		fmt.Fprintf(b, `<line x1="%d" y1="58" x2="%d" y2="58" stroke="%s" stroke-width="2.5"%s/>`, x, x+28, color, dash)
		fmt.Fprintf(b, `<text x="%d" y="62">%s</text>`+"\n", x+34, esc(label))
		x += 44 + 7*len(label)
	}
	for i, a := range r.Config.Acks {
		item(modeColor(a, i), "", "acks="+a)
	}
	item("#444", "", "produce")
	item("#444", ` stroke-dasharray="6 4"`, "end-to-end")
	return x
}

func modeColor(acks string, i int) string {
	if c, ok := modeColors[acks]; ok {
		return c
	}
	fallback := []string{"#66a61e", "#e6ab02", "#a6761d", "#666666"}
	return fallback[i%len(fallback)]
}

func svgPanel(b *strings.Builder, x0, y0, panelW int, g Cell, series []Summary, y logScale) {
	pl, pt := float64(x0+svgLeft), float64(y0+svgTop)
	pw, ph := float64(panelW-svgLeft-svgRight), float64(svgPanelH-svgTop-svgBottom)
	fmt.Fprintf(b, `<g class="panel" data-cell="%s">`+"\n", esc(fmt.Sprintf("rf=%s size=%d compression=%s", rfName(g.ReplicationFactor), g.RecordSize, g.Compression)))
	fmt.Fprintf(b, `<text x="%.1f" y="%d" font-weight="bold">%s</text>`+"\n", pl, y0+22,
		esc(fmt.Sprintf("replication factor %s, %d B records, %s", rfName(g.ReplicationFactor), g.RecordSize, g.Compression)))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", pl, pt, pw, ph)
	// Gridlines: labelled decades, faint 2× and 5× lines between them.
	for d := y.lo; d <= y.hi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > y.hi+1e-9 {
				break
			}
			yy := pt + y.at(v)*ph
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
				fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, pl-6, yy+4, strconv.FormatFloat(v, 'f', -1, 64))
			}
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", pl, yy, pl+pw, yy, stroke)
		}
	}
	xAt := func(i int) float64 { return pl + pw*(float64(i)+0.5)/float64(len(percentileNames)) }
	for i, name := range percentileNames {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, xAt(i), pt+ph+18, name)
	}
	fmt.Fprintf(b, `<text transform="translate(%d %.1f) rotate(-90)" text-anchor="middle" fill="#666">latency, ms</text>`+"\n", x0+14, pt+ph/2)
	for k, s := range series {
		color := modeColor(s.Acks, k)
		// Series sit slightly apart so whiskers do not hide each other.
		dx := (float64(k) - float64(len(series)-1)/2) * 5
		for _, kind := range []struct {
			name, dash string
			l          *LatencyStats
			dx         float64
		}{{"produce", "", s.Latency, dx}, {"e2e", ` stroke-dasharray="6 4"`, s.E2E, dx + 2}} {
			if kind.l == nil {
				continue
			}
			fmt.Fprintf(b, `<g class="series" data-mode="%s" data-kind="%s">`, esc(s.Mode), kind.name)
			var pts []string
			for i, st := range kind.l.points() {
				x := xAt(i) + kind.dx
				yy := pt + y.at(st.Median)*ph
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, yy))
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`, x, yy, color)
				if st.Max > st.Min {
					fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-opacity="0.5"/>`,
						x, pt+y.at(st.Min)*ph, x, pt+y.at(st.Max)*ph, color)
				}
			}
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s>`, strings.Join(pts, " "), color, kind.dash)
			fmt.Fprintf(b, `<title>%s</title></polyline>`, esc(fmt.Sprintf("%s %s: %s", s.Mode, kind.name, pointsTitle(kind.l))))
			b.WriteString("</g>\n")
		}
	}
	b.WriteString("</g>\n")
}

// pointsTitle is the hover text of a series: each percentile's median.
func pointsTitle(l *LatencyStats) string {
	var parts []string
	for i, st := range l.points() {
		parts = append(parts, fmt.Sprintf("%s %.3g ms", percentileNames[i], st.Median))
	}
	return strings.Join(parts, ", ")
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
