package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress writes the per-phase lines to Config.Progress and, if asked,
// a bar on the line below them that a ticker redraws in place (records
// acknowledged of the total over all runs, rate, ETA, current phase).
// All methods work on a nil writer, doing nothing but count.
type progress struct {
	w     io.Writer
	total int64
	start time.Time
	done  atomic.Int64

	mu    sync.Mutex // serialises writes to w and guards label
	label string
	bar   bool
	stop  chan struct{}
	ended chan struct{}
}

// barInterval is how often the bar is redrawn.
const barInterval = 250 * time.Millisecond

func newProgress(w io.Writer, bar bool, total int64) *progress {
	p := &progress{w: w, total: total, start: time.Now(), bar: bar && w != nil}
	if p.bar {
		p.stop, p.ended = make(chan struct{}), make(chan struct{})
		go p.tick()
	}
	return p
}

func (p *progress) tick() {
	defer close(p.ended)
	t := time.NewTicker(barInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw redraws the bar; callers hold mu. \r and erase-line (ESC [K)
// overwrite the previous bar.
func (p *progress) draw() {
	fmt.Fprintf(p.w, "\r\x1b[K%s", barLine(p.done.Load(), p.total, time.Since(p.start), p.label))
}

func (p *progress) add(n int64) { p.done.Add(n) }

// phase names what runs now, for the bar.
func (p *progress) phase(label string) {
	p.mu.Lock()
	p.label = label
	p.mu.Unlock()
}

// linef prints a line above the bar.
func (p *progress) linef(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar {
		io.WriteString(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
	if p.bar {
		p.draw()
	}
}

// close stops the bar and erases it.
func (p *progress) close() {
	if !p.bar {
		return
	}
	close(p.stop)
	<-p.ended
	p.mu.Lock()
	io.WriteString(p.w, "\r\x1b[K")
	p.mu.Unlock()
}

// barLine renders e.g.
//
//	[########------------]  40%  1.2M/3.0M records  850k rec/s  ETA 2m7s  run 1/3 rf=3 100B lz4 acks=all
//
// The rate is the average since the start (setup and consume phases
// included), which makes the ETA an estimate of the remaining wall time.
func barLine(done, total int64, elapsed time.Duration, label string) string {
	const width = 20
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	filled := int(frac * width)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("[%s%s] %3.0f%%  %s/%s records  %s rec/s  ETA %s  %s",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), frac*100,
		si(float64(done)), si(float64(total)), si(rate), eta, label)
}

// si abbreviates a count: 950, 12.3k, 4.5M.
func si(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.1fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
