package integration

import (
	"context"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/metricstest"
)

// metricSums scrapes each broker's /metrics and adds up the given series
// over them (a series a broker does not expose counts 0).
func metricSums(ctx context.Context, procs []*proc, keys ...string) (map[string]float64, error) {
	sums := map[string]float64{}
	for _, p := range procs {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := metricstest.Scrape(sctx, "http://"+p.admin+"/metrics")
		cancel()
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			sums[k] += m[k]
		}
	}
	return sums, nil
}

// waitMetrics polls the series summed over procs until ok accepts them,
// failing the test with the last values if ctx ends first.
func waitMetrics(t *testing.T, ctx context.Context, procs []*proc, what string, ok func(map[string]float64) bool, keys ...string) {
	t.Helper()
	for {
		sums, err := metricSums(ctx, procs, keys...)
		if err == nil && ok(sums) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s: last %v (%v)", what, sums, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
