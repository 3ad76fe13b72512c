package coordinator

import (
	"errors"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnState is a transaction's state, numbered as Kafka's TransactionState.
type TxnState = kmsg.TransactionState

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Markers asks for transaction markers in every partition of a transaction.
type Markers struct {
	TransactionalID string
	ProducerID      int64
	Epoch           int16
	Commit          bool
	Partitions      []TopicPartition
}

// TxnConfig configures a TxnCoordinator. Every callback's done must be
// called on the coordinator's goroutine (the actor's), once.
type TxnConfig struct {
	Partition int32 // the __transaction_state partition served
	// MaxTimeout is transaction.max.timeout.ms: InitProducerId with a larger
	// transaction.timeout.ms gets INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// Commit persists __transaction_state records (acks=all).
	Commit CommitFunc
	// WriteMarkers writes the markers to every partition (and
	// __consumer_offsets partition) of the transaction.
	WriteMarkers func(m Markers, done func(error))
	// AllocateProducerID hands out a cluster-unique producer ID.
	AllocateProducerID func(done func(id int64, err error))
	// OffsetsPartition is the __consumer_offsets partition of a group
	// (AddOffsetsToTxn).
	OffsetsPartition func(group string) TopicPartition
	// RetryBackoff spaces retries of marker writes that failed.
	RetryBackoff time.Duration
	// OnStateWrite, if set, is told when a state write for next (coming
	// from state from) starts, and returns what to call when it ends, with
	// its error (tracing follows transactions with it). Both run on the
	// coordinator's goroutine.
	OnStateWrite func(next TxnMeta, from TxnState) (done func(error))
}

// TxnMeta is one transactional ID's state.
type TxnMeta struct {
	TransactionalID string
	ProducerID      int64
	Epoch           int16
	LastProducerID  int64 // before an epoch exhaustion, for KIP-360 retries
	LastEpoch       int16
	TimeoutMs       int32
	State           TxnState
	Partitions      []TopicPartition // sorted
	StartMs         int64            // when the current transaction began
	UpdateMs        int64
	// TV2: the producer ends transactions with EndTxn v5+ (KIP-890 part
	// 2), each ending under a bumped epoch.
	TV2 bool
	// NextProducerID is the producer ID that follows an epoch exhaustion
	// at the end of the current transaction (TV2), -1 if none.
	NextProducerID int64
}

func (m *TxnMeta) has(tp TopicPartition) bool {
	_, ok := slices.BinarySearchFunc(m.Partitions, tp, cmpTP)
	return ok
}

func cmpTP(a, b TopicPartition) int {
	switch {
	case a.Topic < b.Topic:
		return -1
	case a.Topic > b.Topic:
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

type txnEntry struct {
	meta    TxnMeta
	waiting []addWaiter // AddPartitionsWhenFree calls waiting for the entry
	// busy: a state write or the marker phase is in flight; requests get
	// CONCURRENT_TRANSACTIONS until it ends.
	busy    bool
	retryAt int64 // ms; markers to retry (state Prepare*), 0 if none
}

// TxnCoordinator is the transaction coordinator for the transactional IDs
// of one __transaction_state partition. Not safe for concurrent use: every
// method and every callback runs on one goroutine (the actor's).
type TxnCoordinator struct {
	cfg      TxnConfig
	txns     map[string]*txnEntry
	unloaded bool
	now      int64
}

// ErrTxnUnloaded: the coordinator lost its partition's leadership.
var ErrTxnUnloaded = errors.New("coordinator: transaction coordinator unloaded")

// NewTxnCoordinator builds a coordinator from the partition's records, in
// log order. Transactions found between Prepare and Complete resume their
// marker phase at the first Tick.
func NewTxnCoordinator(cfg TxnConfig, records []Record, now time.Time) *TxnCoordinator {
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	c := &TxnCoordinator{cfg: cfg, txns: map[string]*txnEntry{}, now: now.UnixMilli()}
	for _, r := range records {
		id, err := decodeTxnKey(r.Key)
		if err != nil {
			continue // a record type we do not know
		}
		if r.Value == nil {
			delete(c.txns, id)
			continue
		}
		m, err := decodeTxnValue(id, r.Value)
		if err != nil {
			continue
		}
		c.txns[id] = &txnEntry{meta: m}
	}
	for _, e := range c.txns {
		if e.meta.State == kmsg.TransactionStatePrepareCommit || e.meta.State == kmsg.TransactionStatePrepareAbort {
			e.busy, e.retryAt = true, c.now
		}
	}
	return c
}

// Unload ends this coordinator: writes still in flight and waiting adds
// answer NOT_COORDINATOR and nothing more is started.
func (c *TxnCoordinator) Unload() {
	c.unloaded = true
	for _, e := range c.txns {
		e.answerWaiting(kerr.NotCoordinator.Code)
	}
}

// answerWaiting fails the adds waiting for e.
func (e *txnEntry) answerWaiting(code int16) {
	ws := e.waiting
	e.waiting = nil
	for _, w := range ws {
		w.respond(code)
	}
}

func encodeTxnKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.TransactionalID = id
	return k.AppendTo(nil)
}

func decodeTxnKey(b []byte) (string, error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(b); err != nil {
		return "", err
	}
	if k.Version != 0 {
		return "", errors.New("coordinator: unknown __transaction_state key version")
	}
	return k.TransactionalID, nil
}

// encodeTxnValue writes Kafka's TransactionLogValue v1 (v0 plus the tagged
// fields KIP-890 added: previous and next producer ID, client version).
func encodeTxnValue(m *TxnMeta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 1
	v.PreviousProducerID, v.NextProducerID = m.LastProducerID, m.NextProducerID
	if m.TV2 {
		v.ClientTransactionVersion = 2
	}
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = m.ProducerID, m.Epoch, m.TimeoutMs
	v.State, v.LastUpdateTimestamp, v.StartTimestamp = m.State, m.UpdateMs, m.StartMs
	for _, tp := range m.Partitions {
		if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewTxnMetadataValueTopic()
			t.Topic = tp.Topic
			v.Topics = append(v.Topics, t)
		}
		v.Topics[len(v.Topics)-1].Partitions = append(v.Topics[len(v.Topics)-1].Partitions, tp.Partition)
	}
	return v.AppendTo(nil)
}

func decodeTxnValue(id string, b []byte) (TxnMeta, error) {
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(b); err != nil {
		return TxnMeta{}, err
	}
	m := TxnMeta{TransactionalID: id, ProducerID: v.ProducerID, Epoch: v.ProducerEpoch, LastProducerID: -1, LastEpoch: -1,
		TimeoutMs: v.TimeoutMillis, State: v.State, UpdateMs: v.LastUpdateTimestamp, StartMs: v.StartTimestamp,
		NextProducerID: -1}
	if v.Version >= 1 {
		m.LastProducerID, m.NextProducerID, m.TV2 = v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion >= 2
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.Partitions = append(m.Partitions, TopicPartition{t.Topic, p})
		}
	}
	slices.SortFunc(m.Partitions, cmpTP)
	return m, nil
}

// persist writes next as id's state; on success it becomes current and ok
// runs, else fail runs with NOT_COORDINATOR. The entry is busy meanwhile.
func (c *TxnCoordinator) persist(e *txnEntry, next TxnMeta, ok func(), fail func(code int16)) {
	e.busy = true
	next.UpdateMs = c.now
	traced := func(error) {}
	if c.cfg.OnStateWrite != nil {
		traced = c.cfg.OnStateWrite(next, e.meta.State)
	}
	rec := Record{Key: encodeTxnKey(next.TransactionalID), Value: encodeTxnValue(&next)}
	c.cfg.Commit([]Record{rec}, func(err error) {
		if err == nil && c.unloaded {
			err = ErrTxnUnloaded
		}
		traced(err)
		if c.unloaded {
			e.busy = false
			fail(kerr.NotCoordinator.Code)
			return
		}
		if err != nil {
			e.busy = false
			fail(kerr.NotCoordinator.Code)
			c.wake(e)
			return
		}
		e.meta = next
		e.busy = false
		ok()
		c.wake(e)
	})
}

// checkProducer validates a request's producer ID and epoch against id's
// state: the codes Kafka gives a wrong ID and an old (fenced) epoch.
func checkProducer(e *txnEntry, pid int64, epoch int16) int16 {
	switch {
	case e == nil || e.meta.ProducerID != pid:
		return kerr.InvalidProducerIDMapping.Code
	case epoch != e.meta.Epoch:
		return kerr.ProducerFenced.Code
	}
	return 0
}

func preparing(s TxnState) bool {
	return s == kmsg.TransactionStatePrepareCommit || s == kmsg.TransactionStatePrepareAbort
}

// InitProducerID gives transactional ID id its producer ID and a new epoch,
// fencing older producers of it. An open transaction is aborted first (the
// answer is then CONCURRENT_TRANSACTIONS and the client retries). reqPID
// and reqEpoch (KIP-360, -1 if absent) must name the current or the
// previous producer.
func (c *TxnCoordinator) InitProducerID(id string, timeoutMs int32, reqPID int64, reqEpoch int16, now time.Time,
	respond func(pid int64, epoch int16, code int16)) {
	c.now = now.UnixMilli()
	fail := func(code int16) { respond(-1, -1, code) }
	if c.unloaded {
		fail(kerr.NotCoordinator.Code)
		return
	}
	if timeoutMs <= 0 || (c.cfg.MaxTimeout > 0 && int64(timeoutMs) > c.cfg.MaxTimeout.Milliseconds()) {
		fail(kerr.InvalidTransactionTimeout.Code)
		return
	}
	e := c.txns[id]
	if e == nil {
		e = &txnEntry{meta: TxnMeta{TransactionalID: id, ProducerID: -1, Epoch: -1, LastProducerID: -1, LastEpoch: -1, NextProducerID: -1}}
		c.txns[id] = e
		e.busy = true
		c.cfg.AllocateProducerID(func(pid int64, err error) {
			e.busy = false
			if err != nil || c.unloaded {
				delete(c.txns, id)
				fail(kerr.CoordinatorNotAvailable.Code)
				e.answerWaiting(kerr.CoordinatorNotAvailable.Code)
				return
			}
			next := e.meta
			next.ProducerID, next.Epoch, next.TimeoutMs, next.State = pid, 0, timeoutMs, kmsg.TransactionStateEmpty
			c.persist(e, next, func() { respond(pid, 0, 0) }, func(code int16) {
				delete(c.txns, id)
				fail(code)
			})
		})
		return
	}
	if e.busy || preparing(e.meta.State) {
		fail(kerr.ConcurrentTransactions.Code)
		return
	}
	if reqPID >= 0 {
		cur := reqPID == e.meta.ProducerID && reqEpoch == e.meta.Epoch
		last := reqPID == e.meta.LastProducerID && reqEpoch == e.meta.LastEpoch
		if !cur && !last {
			fail(kerr.ProducerFenced.Code)
			return
		}
	}
	if e.meta.State == kmsg.TransactionStateOngoing {
		// A new producer instance: the old one's transaction is aborted,
		// under a bumped epoch that fences it.
		c.abort(e, true)
		fail(kerr.ConcurrentTransactions.Code)
		return
	}
	bump := func(pid int64, epoch int16) {
		next := e.meta
		if pid != next.ProducerID {
			next.LastProducerID, next.LastEpoch = next.ProducerID, next.Epoch
		}
		next.ProducerID, next.Epoch, next.TimeoutMs = pid, epoch, timeoutMs
		next.State, next.Partitions = kmsg.TransactionStateEmpty, nil
		c.persist(e, next, func() { respond(pid, epoch, 0) }, fail)
	}
	if e.meta.Epoch >= math.MaxInt16-1 {
		// Epochs exhausted: a new producer ID starts again at 0.
		e.busy = true
		c.cfg.AllocateProducerID(func(pid int64, err error) {
			e.busy = false
			if err != nil || c.unloaded {
				fail(kerr.CoordinatorNotAvailable.Code)
				c.wake(e)
				return
			}
			bump(pid, 0)
		})
		return
	}
	bump(e.meta.ProducerID, e.meta.Epoch+1)
}

// AddPartitions adds partitions to id's transaction, beginning it if
// needed. respond gets one code for all of them.
func (c *TxnCoordinator) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition, now time.Time, respond func(code int16)) {
	c.now = now.UnixMilli()
	if c.unloaded {
		respond(kerr.NotCoordinator.Code)
		return
	}
	e := c.txns[id]
	if code := checkProducer(e, pid, epoch); code != 0 {
		respond(code)
		return
	}
	if e.busy || preparing(e.meta.State) {
		respond(kerr.ConcurrentTransactions.Code)
		return
	}
	next := e.meta
	if next.State != kmsg.TransactionStateOngoing {
		next.State, next.StartMs, next.Partitions = kmsg.TransactionStateOngoing, c.now, nil
	} else {
		next.Partitions = slices.Clone(next.Partitions)
	}
	added := false
	for _, tp := range parts {
		if !next.has(tp) {
			next.Partitions = append(next.Partitions, tp)
			slices.SortFunc(next.Partitions, cmpTP)
			added = true
		}
	}
	if !added && next.State == e.meta.State {
		respond(0)
		return
	}
	c.persist(e, next, func() { respond(0) }, respond)
}

// addWaiter is an AddPartitionsWhenFree call waiting for its entry.
type addWaiter struct {
	pid     int64
	epoch   int16
	parts   []TopicPartition
	respond func(code int16)
}

// maxWaiting bounds the adds one entry holds; beyond it they are answered
// CONCURRENT_TRANSACTIONS as usual.
const maxWaiting = 10000

// AddPartitionsWhenFree is AddPartitions for a partition leader adding a
// partition on the producer's behalf (KIP-890 part 2). While the entry is
// busy — most often the previous transaction's markers are still being
// written, as EndTxn answers before them — the call waits for it rather
// than being answered CONCURRENT_TRANSACTIONS and retried, and calls that
// waited together are written as one record: a transaction over many
// partitions begins with one write, not one per partition.
func (c *TxnCoordinator) AddPartitionsWhenFree(id string, pid int64, epoch int16, parts []TopicPartition, now time.Time, respond func(code int16)) {
	c.now = now.UnixMilli()
	if e := c.txns[id]; !c.unloaded && e != nil && (e.busy || preparing(e.meta.State)) && len(e.waiting) < maxWaiting {
		e.waiting = append(e.waiting, addWaiter{pid: pid, epoch: epoch, parts: parts, respond: respond})
		return
	}
	c.AddPartitions(id, pid, epoch, parts, now, respond)
}

// wake runs the adds waiting for e once it is free: those of its current
// producer and epoch as one AddPartitions, the others (which then fail the
// producer check) on their own.
func (c *TxnCoordinator) wake(e *txnEntry) {
	if c.unloaded || e.busy || preparing(e.meta.State) || len(e.waiting) == 0 {
		return
	}
	ws := e.waiting
	e.waiting = nil
	now := time.UnixMilli(c.now)
	var parts []TopicPartition
	var same []addWaiter
	for _, w := range ws {
		if w.pid == e.meta.ProducerID && w.epoch == e.meta.Epoch {
			parts = append(parts, w.parts...)
			same = append(same, w)
			continue
		}
		c.AddPartitions(e.meta.TransactionalID, w.pid, w.epoch, w.parts, now, w.respond)
	}
	if len(same) > 0 {
		c.AddPartitions(e.meta.TransactionalID, e.meta.ProducerID, e.meta.Epoch, parts, now, func(code int16) {
			for _, w := range same {
				w.respond(code)
			}
		})
	}
}

// AddOffsets adds group's __consumer_offsets partition to id's transaction
// (AddOffsetsToTxn).
func (c *TxnCoordinator) AddOffsets(id string, pid int64, epoch int16, group string, now time.Time, respond func(code int16)) {
	c.AddPartitions(id, pid, epoch, []TopicPartition{c.cfg.OffsetsPartition(group)}, now, respond)
}

// VerifyPartition reports whether partition tp is in id's open transaction
// under pid and epoch (KIP-890 part 1: a partition leader checks before it
// accepts a transaction's first batch).
func (c *TxnCoordinator) VerifyPartition(id string, pid int64, epoch int16, tp TopicPartition) int16 {
	e := c.txns[id]
	if code := checkProducer(e, pid, epoch); code != 0 {
		return code
	}
	if e.meta.State != kmsg.TransactionStateOngoing || !e.meta.has(tp) {
		return kerr.InvalidTxnState.Code
	}
	return 0
}

// EndTxn commits or aborts id's transaction. It answers once the decision
// (PrepareCommit/PrepareAbort) is durable; the markers follow, and the
// transaction is complete once every partition has its marker.
func (c *TxnCoordinator) EndTxn(id string, pid int64, epoch int16, commit bool, now time.Time, respond func(code int16)) {
	c.endTxn(id, pid, epoch, commit, false, now, func(_ int64, _ int16, code int16) { respond(code) })
}

// EndTxnV2 is EndTxn v5+ (KIP-890 part 2): the transaction ends under the
// next epoch, which its markers carry, so a late batch of it is fenced in
// every partition; respond gets the producer ID and epoch for the next
// transaction (a new producer ID when the epochs run out). Aborting with no
// transaction open is allowed and just bumps the epoch, as clients do when
// every produce of a transaction failed.
func (c *TxnCoordinator) EndTxnV2(id string, pid int64, epoch int16, commit bool, now time.Time, respond func(pid int64, epoch int16, code int16)) {
	c.endTxn(id, pid, epoch, commit, true, now, respond)
}

func (c *TxnCoordinator) endTxn(id string, pid int64, epoch int16, commit, v2 bool, now time.Time, respond func(pid int64, epoch int16, code int16)) {
	c.now = now.UnixMilli()
	fail := func(code int16) { respond(-1, -1, code) }
	if c.unloaded {
		fail(kerr.NotCoordinator.Code)
		return
	}
	e := c.txns[id]
	if v2 && e != nil && e.endedV2(pid, epoch, commit) {
		// A retry of the EndTxn that bumped the epoch.
		m := e.meta
		respond(m.ProducerID, m.Epoch, 0)
		return
	}
	if code := checkProducer(e, pid, epoch); code != 0 {
		fail(code)
		return
	}
	ok := func() { respond(e.meta.ProducerID, e.meta.Epoch, 0) }
	switch s := e.meta.State; {
	case e.busy || preparing(s):
		fail(kerr.ConcurrentTransactions.Code)
		return
	case !v2 && (s == kmsg.TransactionStateCompleteCommit && commit || s == kmsg.TransactionStateCompleteAbort && !commit):
		ok() // a retry of an EndTxn that already completed
		return
	case s != kmsg.TransactionStateOngoing && v2 && !commit:
		c.bumpIdle(e, ok, fail)
		return
	case s != kmsg.TransactionStateOngoing:
		fail(kerr.InvalidTxnState.Code)
		return
	}
	if !v2 {
		c.prepare(e, commit, e.meta.Epoch, nil, ok, fail)
		return
	}
	c.withNextProducerID(e, func(next int64) {
		c.prepare(e, commit, e.meta.Epoch+1, func(m *TxnMeta) { m.TV2, m.NextProducerID = true, next }, func() {
			if next >= 0 {
				respond(next, 0, 0)
				return
			}
			ok()
		}, fail)
	}, fail)
}

// endedV2 reports whether pid and epoch are those a TV2 transaction ended
// under, before the bump of its EndTxn, with the same outcome.
func (e *txnEntry) endedV2(pid int64, epoch int16, commit bool) bool {
	m := &e.meta
	if !m.TV2 {
		return false
	}
	s := m.State
	same := commit && (s == kmsg.TransactionStatePrepareCommit || s == kmsg.TransactionStateCompleteCommit) ||
		!commit && (s == kmsg.TransactionStatePrepareAbort || s == kmsg.TransactionStateCompleteAbort)
	switch {
	case !same:
		return false
	case pid == m.ProducerID:
		return epoch == m.Epoch-1
	case pid == m.LastProducerID && m.Epoch == 0: // after an exhaustion
		return epoch == math.MaxInt16-1
	}
	return false
}

// withNextProducerID calls then with the producer ID that must follow e's
// current transaction: -1 while e's epoch can still be bumped, else a new
// one (epoch exhaustion).
func (c *TxnCoordinator) withNextProducerID(e *txnEntry, then func(int64), fail func(int16)) {
	if e.meta.Epoch < math.MaxInt16-1 {
		then(-1)
		return
	}
	e.busy = true
	c.cfg.AllocateProducerID(func(pid int64, err error) {
		e.busy = false
		if err != nil || c.unloaded {
			fail(kerr.CoordinatorNotAvailable.Code)
			c.wake(e)
			return
		}
		then(pid)
	})
}

// bumpIdle is a TV2 abort with no transaction open: only the epoch moves.
func (c *TxnCoordinator) bumpIdle(e *txnEntry, ok func(), fail func(int16)) {
	c.withNextProducerID(e, func(nextPID int64) {
		next := e.meta
		next.TV2, next.NextProducerID = true, -1
		next.LastProducerID, next.LastEpoch = next.ProducerID, next.Epoch
		if nextPID >= 0 {
			next.ProducerID, next.Epoch = nextPID, 0
		} else {
			next.Epoch++
		}
		next.State, next.Partitions = kmsg.TransactionStateCompleteAbort, nil
		c.persist(e, next, ok, fail)
	}, fail)
}

// abort aborts e's open transaction under a bumped epoch: a timeout
// (fenced is false: a TV2 producer may still end it with EndTxn abort, as a
// retry) or a new instance of the transactional ID (fenced: the old one
// cannot).
func (c *TxnCoordinator) abort(e *txnEntry, fenced bool) {
	epoch := e.meta.Epoch
	if epoch < math.MaxInt16-1 {
		epoch++
	}
	// TV2 marks the abort as one an EndTxn v5 abort under the old epoch
	// may take for its own.
	c.prepare(e, false, epoch, func(m *TxnMeta) { m.TV2 = !fenced }, func() {}, func(int16) {})
}

// prepare records the decision (with edit's changes, if any), then runs
// the marker phase.
func (c *TxnCoordinator) prepare(e *txnEntry, commit bool, epoch int16, edit func(*TxnMeta), ok func(), fail func(int16)) {
	next := e.meta
	if edit != nil {
		edit(&next)
	}
	if epoch != next.Epoch {
		// The fenced producer may still recover with KIP-360.
		next.LastProducerID, next.LastEpoch = next.ProducerID, next.Epoch
	}
	next.Epoch = epoch
	next.State = kmsg.TransactionStatePrepareAbort
	if commit {
		next.State = kmsg.TransactionStatePrepareCommit
	}
	c.persist(e, next, func() {
		ok()
		c.sendMarkers(e)
	}, fail)
}

// sendMarkers writes e's markers; on failure the next Tick after
// RetryBackoff tries again, as long as this coordinator is loaded.
func (c *TxnCoordinator) sendMarkers(e *txnEntry) {
	if c.unloaded {
		return
	}
	e.busy, e.retryAt = true, 0
	m := e.meta
	c.cfg.WriteMarkers(Markers{TransactionalID: m.TransactionalID, ProducerID: m.ProducerID, Epoch: m.Epoch,
		Commit: m.State == kmsg.TransactionStatePrepareCommit, Partitions: m.Partitions}, func(err error) {
		if c.unloaded {
			return
		}
		if err != nil {
			e.retryAt = c.now + c.cfg.RetryBackoff.Milliseconds()
			return
		}
		c.complete(e)
	})
}

func (c *TxnCoordinator) complete(e *txnEntry) {
	next := e.meta
	next.State = kmsg.TransactionStateCompleteAbort
	if e.meta.State == kmsg.TransactionStatePrepareCommit {
		next.State = kmsg.TransactionStateCompleteCommit
	}
	next.Partitions = nil
	if next.NextProducerID >= 0 {
		// The epochs ran out (TV2): the next transaction uses a new ID.
		next.LastProducerID, next.LastEpoch = next.ProducerID, next.Epoch
		next.ProducerID, next.Epoch, next.NextProducerID = next.NextProducerID, 0, -1
	}
	c.persist(e, next, func() {}, func(int16) {
		// Markers are written; only the completion record failed. Write
		// the markers again later (harmless) and complete then.
		e.busy, e.retryAt = true, c.now+c.cfg.RetryBackoff.Milliseconds()
	})
}

// Tick aborts transactions open longer than their timeout and retries
// marker phases that failed.
func (c *TxnCoordinator) Tick(now time.Time) {
	c.now = now.UnixMilli()
	if c.unloaded {
		return
	}
	for _, e := range c.txns {
		switch {
		case e.retryAt > 0 && c.now >= e.retryAt:
			c.sendMarkers(e)
		case !e.busy && e.meta.State == kmsg.TransactionStateOngoing && c.now-e.meta.StartMs > int64(e.meta.TimeoutMs):
			c.abort(e, false)
		}
	}
}

// NextDeadline is when Tick next has work: a timeout or a retry.
func (c *TxnCoordinator) NextDeadline() time.Time {
	next := int64(0)
	for _, e := range c.txns {
		d := int64(0)
		switch {
		case e.retryAt > 0:
			d = e.retryAt
		case !e.busy && e.meta.State == kmsg.TransactionStateOngoing:
			d = e.meta.StartMs + int64(e.meta.TimeoutMs) + 1
		}
		if d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	if next == 0 {
		return time.Time{}
	}
	return time.UnixMilli(next)
}

// Describe returns id's state.
func (c *TxnCoordinator) Describe(id string) (TxnMeta, bool) {
	e, ok := c.txns[id]
	if !ok {
		return TxnMeta{}, false
	}
	m := e.meta
	m.Partitions = slices.Clone(m.Partitions)
	return m, true
}

// List returns every transactional ID's state, by ID.
func (c *TxnCoordinator) List() []TxnMeta {
	out := make([]TxnMeta, 0, len(c.txns))
	for id := range c.txns {
		m, _ := c.Describe(id)
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out
}
