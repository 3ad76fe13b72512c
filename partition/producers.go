package partition

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/batch"
)

// producerBatchesKept is how many recent batches per producer are remembered
// for duplicate detection; Kafka keeps five (max.in.flight.requests).
const producerBatchesKept = 5

// DefaultProducerIDExpirationMs is producer.id.expiration.ms's default (1 day).
const DefaultProducerIDExpirationMs = 24 * 60 * 60 * 1000

// batchMeta is what is remembered of a recently written idempotent batch.
type batchMeta struct {
	FirstSeq    int32 `json:"fs"`
	LastSeq     int32 `json:"ls"`
	FirstOffset int64 `json:"fo"`
	Timestamp   int64 `json:"ts"`
}

// producerEntry is one producer ID's state in one partition.
type producerEntry struct {
	Epoch         int16       `json:"e"`
	Batches       []batchMeta `json:"b"`
	LastTimestamp int64       `json:"t"` // append time of the last batch, for expiration
	// InTxn: a transaction of this producer is open in the partition,
	// begun at TxnFirst; its marker closes it.
	InTxn    bool  `json:"it,omitempty"`
	TxnFirst int64 `json:"tf,omitempty"`
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

// producerState is the idempotence state of a partition: part of the
// replicated state machine, so every replica decides duplicates identically.
type producerState struct {
	m       map[int64]*producerEntry
	ongoing map[int64]int64 // producer ID → first offset of its open transaction
}

func newProducerState() *producerState {
	return &producerState{m: make(map[int64]*producerEntry), ongoing: map[int64]int64{}}
}

// load replaces the state with m (from a checkpoint or a snapshot).
func (ps *producerState) load(m map[int64]*producerEntry) {
	if m == nil {
		m = make(map[int64]*producerEntry)
	}
	ps.m, ps.ongoing = m, map[int64]int64{}
	for id, e := range m {
		if e.InTxn {
			ps.ongoing[id] = e.TxnFirst
		}
	}
}

// firstUnstable is the first offset of the earliest open transaction: the
// last stable offset. ok is false when no transaction is open.
func (ps *producerState) firstUnstable() (int64, bool) {
	first, ok := int64(0), false
	for _, f := range ps.ongoing {
		if !ok || f < first {
			first, ok = f, true
		}
	}
	return first, ok
}

// nextSeq is the sequence expected after last, wrapping at MaxInt32 as Kafka does.
func nextSeq(last int32) int32 {
	if last == 0x7fffffff {
		return 0
	}
	return last + 1
}

// check decides whether the batch may be appended. A duplicate of one of the
// producer's recent batches returns dup=true and that batch's first offset.
func (ps *producerState) check(h *batch.Header) (dup bool, dupOffset int64, code int16) {
	if h.ProducerID < 0 {
		return false, 0, 0
	}
	e := ps.m[h.ProducerID]
	if h.IsControl() {
		// A transaction marker carries no sequence; the coordinator may
		// write it with a bumped epoch (an abort that fences the producer),
		// never an older one.
		if e != nil && h.ProducerEpoch < e.Epoch {
			return false, 0, kerr.InvalidProducerEpoch.Code
		}
		return false, 0, 0
	}
	if e == nil {
		// Unknown producer (new, or its state expired): accept any sequence,
		// as Kafka does since KIP-360.
		return false, 0, 0
	}
	switch {
	case h.ProducerEpoch < e.Epoch:
		return false, 0, kerr.InvalidProducerEpoch.Code
	case h.ProducerEpoch > e.Epoch:
		// A new epoch starts at sequence 0; batches without sequences
		// (transactional offset commits) are not checked.
		if h.BaseSequence > 0 {
			return false, 0, kerr.OutOfOrderSequenceNumber.Code
		}
		return false, 0, 0
	}
	if h.BaseSequence < 0 {
		return false, 0, 0
	}
	last := h.LastSequence()
	for _, b := range e.Batches {
		if b.FirstSeq == h.BaseSequence && b.LastSeq == last {
			return true, b.FirstOffset, 0
		}
	}
	if h.BaseSequence != nextSeq(e.lastSeq()) {
		return false, 0, kerr.OutOfOrderSequenceNumber.Code
	}
	return false, 0, 0
}

// record notes an appended batch. A marker that closes an open transaction
// returns where that transaction began.
func (ps *producerState) record(h *batch.Header, firstOffset, nowMs int64) (txnFirst int64, txnEnded bool) {
	if h.ProducerID < 0 {
		return 0, false
	}
	e := ps.m[h.ProducerID]
	if e == nil {
		e = &producerEntry{Epoch: h.ProducerEpoch}
		ps.m[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.Epoch {
		e.Epoch = h.ProducerEpoch
		e.Batches = e.Batches[:0]
	}
	e.LastTimestamp = nowMs
	if h.IsControl() {
		if e.InTxn {
			txnFirst, txnEnded = e.TxnFirst, true
			e.InTxn, e.TxnFirst = false, 0
			delete(ps.ongoing, h.ProducerID)
		}
		return txnFirst, txnEnded
	}
	if h.IsTransactional() && !e.InTxn {
		e.InTxn, e.TxnFirst = true, firstOffset
		ps.ongoing[h.ProducerID] = firstOffset
	}
	if h.BaseSequence < 0 {
		return 0, false
	}
	if len(e.Batches) == producerBatchesKept {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:producerBatchesKept-1]
	}
	e.Batches = append(e.Batches, batchMeta{
		FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(), FirstOffset: firstOffset, Timestamp: nowMs,
	})
	return 0, false
}

// expire drops producers idle for longer than expirationMs. It runs at apply
// time with the proposal's timestamp, so all replicas expire identically.
func (ps *producerState) expire(nowMs, expirationMs int64) {
	if expirationMs <= 0 {
		return
	}
	for id, e := range ps.m {
		// A producer with an open transaction stays until its marker.
		if nowMs-e.LastTimestamp > expirationMs && !e.InTxn {
			delete(ps.m, id)
		}
	}
}

// ProducerInfo describes one producer's state, for DescribeProducers and tests.
type ProducerInfo struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32
	LastTimestamp int64
	// TxnStartOffset is where its open transaction began, -1 if none.
	TxnStartOffset int64
}

func (ps *producerState) list() []ProducerInfo {
	out := make([]ProducerInfo, 0, len(ps.m))
	for id, e := range ps.m {
		start := int64(-1)
		if e.InTxn {
			start = e.TxnFirst
		}
		out = append(out, ProducerInfo{ProducerID: id, Epoch: e.Epoch, LastSequence: e.lastSeq(), LastTimestamp: e.LastTimestamp, TxnStartOffset: start})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

func (ps *producerState) clone() map[int64]*producerEntry {
	m := make(map[int64]*producerEntry, len(ps.m))
	for id, e := range ps.m {
		c := *e
		c.Batches = append([]batchMeta(nil), e.Batches...)
		m[id] = &c
	}
	return m
}

// decision is the outcome of decide.
type decision struct {
	offset   int64 // where the batch goes, or the original offset of a retry
	appended bool
	code     int16 // refused
	// txnEnded: the batch is a marker closing a transaction begun at txnFirst.
	txnEnded bool
	txnFirst int64
}

// decide is the one idempotence decision, shared by the state machine and
// the leader's Decider so both reach the same answer: the batch is refused
// (code), is a retry of a recent batch (its first offset, not appended), or
// is appended at next and recorded.
func (ps *producerState) decide(h *batch.Header, next, nowMs int64) decision {
	dup, dupOffset, code := ps.check(h)
	if code != 0 {
		return decision{code: code}
	}
	if dup {
		return decision{offset: dupOffset}
	}
	first, ended := ps.record(h, next, nowMs)
	return decision{offset: next, appended: true, txnEnded: ended, txnFirst: first}
}

// Decider predicts, on the partition leader, what the state machine will
// decide for each batch it is about to propose: the offset it will get, or
// that it is a duplicate or refused. acks=1 answers with the prediction as
// soon as the leader's own log has the entry. The prediction is exact while
// the leader's proposals apply in order, which Raft guarantees for a leader
// that keeps its term; a leader that loses its term loses the prediction
// with it, as a Kafka leader's acks=1 writes are lost when it fails.
type Decider struct {
	next         int64
	ps           *producerState
	expirationMs int64
}

// Decide returns the batch's predicted offset and whether it will be appended.
func (d *Decider) Decide(h *batch.Header, nowMs int64) (offset int64, appended bool, code int16) {
	dec := d.ps.decide(h, d.next, nowMs)
	if dec.appended {
		d.next += int64(h.LastOffsetDelta) + 1
	}
	return dec.offset, dec.appended, dec.code
}

// EndEntry mirrors the state machine's per-entry producer expiry.
func (d *Decider) EndEntry(nowMs int64) { d.ps.expire(nowMs, d.expirationMs) }

// Next is the offset the next appended batch will get.
func (d *Decider) Next() int64 { return d.next }

// InTxn reports whether producer pid has a transaction open in the partition
// under epoch: its batches need no verification with the transaction
// coordinator (KIP-890), the first batch of the transaction having had it.
func (d *Decider) InTxn(pid int64, epoch int16) bool {
	e := d.ps.m[pid]
	return e != nil && e.InTxn && e.Epoch == epoch
}
