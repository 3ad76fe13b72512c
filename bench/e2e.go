package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// e2eConsumer reads one cell's records while they are produced and
// records, per record, the time from its send time (stamped in the value;
// the due time in fixed-rate mode) to its arrival at the consumer. The
// stamp is in the value rather than the record timestamp because the
// latter has only millisecond resolution on the wire.
type e2eConsumer struct {
	cl     *kgo.Client
	hist   *hdrhistogram.Histogram
	cancel context.CancelFunc
	warm   chan struct{} // closed once all warm-up records arrived
	done   chan struct{} // closed when the loop ends; then err is set
	err    error
}

// startE2E starts consuming the topic at its current end offsets. It
// counts the warm-up records carrying nonce (warmups of them), then
// measures records until it has want of them. Values stamped before nonce
// are stragglers of an earlier cell (acks=0 records still in flight when
// the offsets were listed) and are skipped.
func startE2E(ctx context.Context, cfg Config, adm *kadm.Client, topic string, nonce time.Time, want int64, warmups int) (*e2eConsumer, error) {
	ends, err := listOffsets(ctx, adm.ListEndOffsets, topic)
	if err != nil {
		return nil, err
	}
	at := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { at[o.Partition] = kgo.NewOffset().At(o.Offset) })
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("samsa-bench-e2e"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}),
	)
	if err != nil {
		return nil, fmt.Errorf("bench: end-to-end consumer: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	e := &e2eConsumer{cl: cl, hist: latencyHist(), cancel: cancel, warm: make(chan struct{}), done: make(chan struct{})}
	go e.loop(ctx, stamp(nonce), nonce.UnixNano(), want, warmups)
	return e, nil
}

func (e *e2eConsumer) loop(ctx context.Context, nonce []byte, notBefore, want int64, warmups int) {
	defer close(e.done)
	var got int64
	e.err = pollUntil(ctx, e.cl, func(p kgo.FetchTopicPartition) {
		now := time.Now()
		for _, r := range p.Records {
			if len(r.Headers) > 0 {
				if h := r.Headers[0]; h.Key == warmupHeader && bytes.Equal(h.Value, nonce) {
					if warmups--; warmups == 0 {
						close(e.warm)
					}
				}
				continue
			}
			if len(r.Value) < stampSize {
				continue
			}
			sent := int64(binary.BigEndian.Uint64(r.Value))
			if sent < notBefore {
				continue
			}
			recordLatency(e.hist, now.Sub(time.Unix(0, sent)))
			got++
		}
	}, func() bool { return got >= want }, func() int64 { return got })
}

// waitWarm returns once the consumer has seen every warm-up record.
func (e *e2eConsumer) waitWarm(ctx context.Context) error {
	select {
	case <-e.warm:
		return nil
	case <-e.done:
		return fmt.Errorf("bench: end-to-end consumer ended before the warm-up records: %w", e.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns the latencies once all records arrived.
func (e *e2eConsumer) wait(ctx context.Context) (*hdrhistogram.Histogram, error) {
	select {
	case <-e.done:
		if e.err != nil {
			return nil, fmt.Errorf("end-to-end consumer: %w", e.err)
		}
		return e.hist, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *e2eConsumer) close() {
	e.cancel()
	<-e.done
	e.cl.Close()
}
