package wire

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/internal/batch"
	"github.com/samsa-io/samsa/partition"
	"github.com/samsa-io/samsa/raftgroup"
	"github.com/samsa-io/samsa/telemetry"
)

// handleFetch reads committed batches straight from the partition logs. When
// fewer than MinBytes are available it parks until data is applied or
// MaxWaitMs passes (a long poll), then reads again.
func handleFetch(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.FetchRequest)
	resp := longPoll(rc, req)
	addFetchLeaderHints(rc.s.b, resp)
	countFetched(rc.s.b, rc.s.metrics, req, resp)
	return resp
}

// longPoll answers a fetch, waiting for MinBytes up to MaxWaitMs.
func longPoll(rc *reqCtx, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	b := rc.s.b
	if req.SessionEpoch > 0 {
		// We never hand out fetch sessions, so an incremental fetch names
		// a session we do not know.
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	var wake chan struct{}
	var watched []*actors.Partition
	defer func() {
		for _, p := range watched {
			p.Unwatch(wake)
		}
	}()
	for {
		resp, n, stop := fetchOnce(rc, b, req)
		if stop || n >= int(req.MinBytes) || !time.Now().Before(deadline) {
			return resp
		}
		if wake == nil {
			wake = make(chan struct{}, 1)
			md := b.Metadata()
			for _, rt := range req.Topics {
				name := rt.Topic
				if req.GetVersion() >= 13 {
					if t := md.TopicByID(rt.TopicID); t != nil {
						name = t.Name
					}
				}
				for _, rp := range rt.Partitions {
					if p := b.Partition(name, rp.Partition); p != nil {
						p.Watch(wake)
						watched = append(watched, p)
					}
				}
			}
			continue // re-read: data may have arrived before we watched
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-wake:
		case <-t.C:
		case <-rc.Done():
		}
		t.Stop()
		if rc.Err() != nil {
			return resp
		}
	}
}

// countFetched adds what a fetch response returns to the topics' bytes
// and records out. Partitions come back in request order; records before
// the fetch offset (the first batch may start earlier) and control records
// are not counted: the consumer never sees them.
func countFetched(b *actors.Broker, m *telemetry.Metrics, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	var md *raftgroup.Metadata
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		var tm *telemetry.TopicMetrics
		for pi := range st.Partitions {
			data := st.Partitions[pi].RecordBatches
			if len(data) == 0 || ti >= len(req.Topics) || pi >= len(req.Topics[ti].Partitions) {
				continue
			}
			if tm == nil {
				name := st.Topic
				if req.GetVersion() >= 13 {
					if md == nil {
						md = b.Metadata()
					}
					t := md.TopicByID(st.TopicID)
					if t == nil {
						break
					}
					name = t.Name
				}
				tm = m.Topic(name)
			}
			tm.BytesOut.Add(float64(len(data)))
			tm.RecordsOut.Add(float64(recordsFrom(data, req.Topics[ti].Partitions[pi].FetchOffset)))
		}
	}
}

// recordsFrom counts the records at or after offset in concatenated
// batches, control batches excluded, reading only batch headers.
func recordsFrom(data []byte, offset int64) int64 {
	var n int64
	for len(data) > 0 {
		_, rest, h, err := batch.Next(data)
		if err != nil {
			break
		}
		data = rest
		switch {
		case h.IsControl() || h.LastOffset() < offset:
		case h.BaseOffset >= offset:
			n += int64(h.NumRecords)
		default:
			// Compaction may leave gaps: never more than the batch holds.
			n += min(h.LastOffset()-offset+1, int64(h.NumRecords))
		}
	}
	return n
}

// fetchOnce builds a fetch response from what is in the logs now. It returns
// the bytes read and whether to answer at once (an error to report).
func fetchOnce(ctx context.Context, b *actors.Broker, req *kmsg.FetchRequest) (*kmsg.FetchResponse, int, bool) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SetVersion(req.GetVersion())
	md := b.Metadata()
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 || req.GetVersion() < 3 {
		maxBytes = 1 << 62
	}
	total, stop := 0, false
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := rt.Topic
		if req.GetVersion() >= 13 {
			name = ""
			if t := md.TopicByID(rt.TopicID); t != nil {
				name = t.Name
			}
		}
		t := md.Topics[name]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			// Never null: librdkafka rejects a null record set.
			sp.RecordBatches = []byte{}
			var span trace.Span
			if tr, ok := telemetry.Recording(ctx); ok {
				_, span = tr.Start(ctx, "partition.read", trace.WithAttributes(telemetry.AttrTopic.String(name),
					telemetry.Partition(rp.Partition), telemetry.AttrOffset.Int64(rp.FetchOffset)))
			}
			code, n := fetchPartition(b, t, name, rp, req.IsolationLevel == 1, maxBytes-total, total == 0, &sp)
			if span != nil {
				span.SetAttributes(telemetry.AttrBytes.Int(n), attribute.Int64("samsa.high_watermark", sp.HighWatermark))
				telemetry.SetErrorCode(span, code)
				span.End()
			}
			if code != 0 {
				sp.ErrorCode = code
				stop = true
				if t == nil && req.GetVersion() >= 13 {
					sp.ErrorCode = kerr.UnknownTopicID.Code
				}
			}
			total += n
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total, stop
}

// fetchPartition reads one partition: up to the high watermark, or for
// read_committed up to the last stable offset, with the aborted transactions
// in the range so the client can drop their records.
func fetchPartition(b *actors.Broker, t *raftgroup.Topic, name string, rp kmsg.FetchRequestTopicPartition, readCommitted bool,
	budget int, minOne bool, sp *kmsg.FetchResponseTopicPartition) (int16, int) {
	p, l, _, code := leaderPartition(b, t, name, rp.Partition, rp.CurrentLeaderEpoch)
	if code != 0 {
		return code, 0
	}
	hw, lso := p.HighWatermark(), p.LastStableOffset()
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, lso, l.StartOffset()
	upTo := hw
	if readCommitted {
		upTo = lso
		sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		for _, a := range p.AbortedTxns(rp.FetchOffset, lso) {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
			sp.AbortedTransactions = append(sp.AbortedTransactions, at)
		}
	}
	limit := int(rp.PartitionMaxBytes)
	if budget < limit {
		limit = budget
	}
	if limit < 0 {
		limit = 0
	}
	data, err := l.Read(rp.FetchOffset, limit, upTo, minOne)
	if errors.Is(err, partition.ErrOffsetOutOfRange) || rp.FetchOffset > hw {
		return kerr.OffsetOutOfRange.Code, 0
	}
	if err != nil {
		return kerr.KafkaStorageError.Code, 0
	}
	if data != nil {
		sp.RecordBatches = data
	}
	return 0, len(data)
}

// checkLeaderEpoch applies KIP-320: an older epoch than ours is fenced, a
// newer one is unknown to us (our metadata is behind). -1 skips the check.
func checkLeaderEpoch(requested, current int32) int16 {
	switch {
	case requested < 0:
		return 0
	case requested < current:
		return kerr.FencedLeaderEpoch.Code
	case requested > current:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

// leaderPartition is the check every partition read (Fetch, ListOffsets,
// OffsetForLeaderEpoch) starts with: the partition exists, this broker leads
// it, the client's leader epoch matches (KIP-320) and the log is open.
func leaderPartition(b *actors.Broker, t *raftgroup.Topic, topic string, partition, currentEpoch int32) (*actors.Partition, *partition.Log, int32, int16) {
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, nil, -1, kerr.UnknownTopicOrPartition.Code
	}
	p := b.Partition(topic, partition)
	if p == nil {
		return nil, nil, -1, kerr.NotLeaderForPartition.Code
	}
	leader, epoch := p.Leader()
	if !leader {
		if leader, epoch = p.Stranded(); !leader {
			return nil, nil, -1, kerr.NotLeaderForPartition.Code
		}
	}
	if code := checkLeaderEpoch(currentEpoch, epoch); code != 0 {
		return nil, nil, -1, code
	}
	l := p.Log()
	if l == nil {
		return nil, nil, -1, kerr.NotLeaderForPartition.Code
	}
	return p, l, epoch, 0
}
