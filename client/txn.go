package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type txnPhase int

const (
	txnUninit txnPhase = iota
	txnReady
	txnInTxn
	txnAbortable // a send failed: only AbortTransaction is allowed
	txnFatal     // fenced: the producer must be closed
)

// txnState is the transaction manager. Its fields are guarded by
// Producer.mu; opMu serializes the public transaction calls.
type txnState struct {
	p       *Producer
	opMu    chanMutex
	phase   txnPhase
	err     error
	coord   int32
	added   map[TopicPartition]bool
	pending map[TopicPartition]bool
	started bool // partitions or offsets were added: EndTxn is needed
	seqGap  bool
}

// chanMutex is a mutex whose Lock honours a context.
type chanMutex chan struct{}

func (m *chanMutex) lock(ctx context.Context) error {
	select {
	case *m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (m *chanMutex) unlock() { <-*m }

func (t *txnState) init(p *Producer) {
	t.p = p
	t.opMu = make(chanMutex, 1)
	t.coord = -1
	t.added = make(map[TopicPartition]bool)
	t.pending = make(map[TopicPartition]bool)
}

func (t *txnState) transactional() bool { return t.p.cfg.transactionalID != "" }

func (t *txnState) checkSend() error {
	if !t.transactional() {
		return nil
	}
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	switch t.phase {
	case txnInTxn:
		return nil
	case txnAbortable, txnFatal:
		return fmt.Errorf("%w: %w", ErrTransactionState, t.err)
	}
	return fmt.Errorf("%w: Send outside a transaction (call BeginTransaction)", ErrTransactionState)
}

// noteSend records a partition written in the transaction. Caller holds p.mu.
func (t *txnState) noteSend(tp TopicPartition) {
	if t.transactional() && !t.added[tp] {
		t.pending[tp] = true
	}
}

// noteFailure makes a failed send abort the transaction. Caller holds p.mu.
func (t *txnState) noteFailure(err error) {
	if t.transactional() && t.phase == txnInTxn && !errors.Is(err, ErrClosed) {
		t.phase, t.err = txnAbortable, err
	}
}

func (t *txnState) noteSeqGap() {
	if t.transactional() {
		t.seqGap = true
	}
}

// partitionReady reports whether batches of tp may be sent: in a
// transaction only after AddPartitionsToTxn. Caller holds p.mu.
func (t *txnState) partitionReady(tp TopicPartition) bool {
	return !t.transactional() || t.added[tp]
}

// addPartitions runs AddPartitionsToTxn for partitions written but not yet
// added; called by the sender. It returns false to make the sender back off.
func (t *txnState) addPartitions() bool {
	if !t.transactional() {
		return true
	}
	p := t.p
	p.mu.Lock()
	if len(t.pending) == 0 || t.phase != txnInTxn {
		p.mu.Unlock()
		return true
	}
	var tps []TopicPartition
	for tp := range t.pending {
		tps = append(tps, tp)
	}
	pid, epoch := p.pid, p.epoch
	p.mu.Unlock()

	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID = p.cfg.transactionalID
	req.ProducerID, req.ProducerEpoch = pid, epoch
	idx := map[string]int{}
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			i = len(req.Topics)
			idx[tp.Topic] = i
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, tp.Partition)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.requestTimeout)
	defer cancel()
	resp, err := t.coordRequest(ctx, req)
	if err != nil {
		return false
	}
	var errs []error
	ok := map[TopicPartition]bool{}
	retry := false
	for _, rt := range resp.(*kmsg.AddPartitionsToTxnResponse).Topics {
		for _, rp := range rt.Partitions {
			tp := TopicPartition{rt.Topic, rp.Partition}
			err := ErrorForCode(rp.ErrorCode)
			switch {
			case err == nil:
				ok[tp] = true
			case errors.Is(err, ErrNotCoordinator), errors.Is(err, ErrCoordinatorNotAvailable):
				t.coord = -1
				retry = true
			case IsRetriable(err), errors.Is(err, ErrConcurrentTransactions), errors.Is(err, ErrOperationNotAttempted):
				retry = true
			default:
				errs = append(errs, fmt.Errorf("%s: %w", tp, err))
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for tp := range ok {
		t.added[tp] = true
		delete(t.pending, tp)
		t.started = true
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		if errors.Is(err, ErrProducerFenced) || errors.Is(err, ErrInvalidProducerEpoch) || errors.Is(err, ErrTransactionalIDAuthorizationFailed) {
			t.phase, t.err = txnFatal, err
		} else {
			t.phase, t.err = txnAbortable, err
		}
		// Batches for partitions that cannot join the transaction fail.
		for tp := range t.pending {
			if pb := p.parts[tp]; pb != nil {
				for _, b := range pb.batches {
					p.completeLocked(b, -1, -1, err)
				}
				pb.batches = nil
			}
			delete(t.pending, tp)
		}
	}
	return !retry
}

// coordRequest sends req to the transaction coordinator, finding it first and
// retrying once after NOT_COORDINATOR at the request level.
func (t *txnState) coordRequest(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	p := t.p
	if t.coord < 0 {
		id, err := p.cl.coordinator(ctx, p.cfg.transactionalID, 1)
		if err != nil {
			return nil, err
		}
		t.coord = id
	}
	resp, err := p.cl.request(ctx, t.coord, kindGroup, req)
	if err != nil {
		t.coord = -1
	}
	return resp, err
}

// txnRetry runs fn until it returns a non-retriable result or ctx ends.
// fn returns the Kafka error of the attempt.
func (t *txnState) txnRetry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrNotCoordinator) || errors.Is(err, ErrCoordinatorNotAvailable) {
			t.coord = -1
		}
		if !IsRetriable(err) && !errors.Is(err, ErrConcurrentTransactions) {
			return err
		}
		// CONCURRENT_TRANSACTIONS clears within milliseconds once the
		// previous transaction's markers are written; retry quickly.
		if err := sleepCtx(ctx, min(t.p.cfg.retryBackoff, 20*time.Millisecond)); err != nil {
			return errors.Join(err, fn())
		}
	}
}

// InitTransactions registers transactional.id with its coordinator, fencing
// older producers with the same ID and aborting their open transaction. It
// must be called once before BeginTransaction.
func (p *Producer) InitTransactions(ctx context.Context) error {
	t := &p.txn
	if !t.transactional() {
		return ErrNotTransactional
	}
	if err := t.opMu.lock(ctx); err != nil {
		return err
	}
	defer t.opMu.unlock()
	return t.initPID(ctx)
}

func (t *txnState) initPID(ctx context.Context) error {
	p := t.p
	var pid int64
	var epoch int16
	err := t.txnRetry(ctx, func() error {
		req := kmsg.NewPtrInitProducerIDRequest()
		id := p.cfg.transactionalID
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = int32(p.cfg.txnTimeout.Milliseconds())
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := t.coordRequest(ctx, req)
		if err != nil {
			return err
		}
		r := resp.(*kmsg.InitProducerIDResponse)
		pid, epoch = r.ProducerID, r.ProducerEpoch
		return ErrorForCode(r.ErrorCode)
	})
	if err != nil {
		return fmt.Errorf("client: InitTransactions: %w", err)
	}
	p.setProducerID(pid, epoch)
	p.mu.Lock()
	t.phase, t.err, t.seqGap = txnReady, nil, false
	p.mu.Unlock()
	return nil
}

// BeginTransaction starts a transaction; records sent until
// CommitTransaction or AbortTransaction belong to it.
func (p *Producer) BeginTransaction() error {
	t := &p.txn
	if !t.transactional() {
		return ErrNotTransactional
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.phase != txnReady {
		return fmt.Errorf("%w: BeginTransaction needs InitTransactions and no open transaction", ErrTransactionState)
	}
	t.phase = txnInTxn
	clear(t.added)
	clear(t.pending)
	t.started = false
	return nil
}

// GroupMetadata identifies a consumer group member for
// SendOffsetsToTransaction, so the coordinator can fence zombie members.
type GroupMetadata struct {
	GroupID    string
	Generation int32
	MemberID   string
	InstanceID *string
}

// SendOffsetsToTransaction adds consumed offsets (the next offsets to read)
// to the transaction: they are committed for the group if and only if the
// transaction commits (consume-transform-produce).
func (p *Producer) SendOffsetsToTransaction(ctx context.Context, offsets map[TopicPartition]int64, g GroupMetadata) error {
	t := &p.txn
	if !t.transactional() {
		return ErrNotTransactional
	}
	if err := t.opMu.lock(ctx); err != nil {
		return err
	}
	defer t.opMu.unlock()
	p.mu.Lock()
	phase, pid, epoch := t.phase, p.pid, p.epoch
	p.mu.Unlock()
	if phase != txnInTxn {
		return fmt.Errorf("%w: SendOffsetsToTransaction outside a transaction", ErrTransactionState)
	}
	err := t.txnRetry(ctx, func() error {
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID = p.cfg.transactionalID
		req.ProducerID, req.ProducerEpoch = pid, epoch
		req.Group = g.GroupID
		resp, err := t.coordRequest(ctx, req)
		if err != nil {
			return err
		}
		return ErrorForCode(resp.(*kmsg.AddOffsetsToTxnResponse).ErrorCode)
	})
	if err != nil {
		return t.abortable(fmt.Errorf("client: AddOffsetsToTxn: %w", err))
	}
	p.mu.Lock()
	t.started = true
	p.mu.Unlock()
	groupCoord := int32(-1)
	err = t.txnRetry(ctx, func() error {
		if groupCoord < 0 {
			id, err := p.cl.coordinator(ctx, g.GroupID, 0)
			if err != nil {
				return err
			}
			groupCoord = id
		}
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID = p.cfg.transactionalID
		req.Group = g.GroupID
		req.ProducerID, req.ProducerEpoch = pid, epoch
		req.Generation, req.MemberID, req.InstanceID = g.Generation, g.MemberID, g.InstanceID
		if req.MemberID == "" {
			req.Generation = -1
		}
		byTopic := map[string][]kmsg.TxnOffsetCommitRequestTopicPartition{}
		for tp, off := range offsets {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = tp.Partition, off, -1
			byTopic[tp.Topic] = append(byTopic[tp.Topic], rp)
		}
		for topic, ps := range byTopic {
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic, rt.Partitions = topic, ps
			req.Topics = append(req.Topics, rt)
		}
		resp, err := p.cl.request(ctx, groupCoord, kindGroup, req)
		if err != nil {
			groupCoord = -1
			return err
		}
		for _, rt := range resp.(*kmsg.TxnOffsetCommitResponse).Topics {
			for _, rp := range rt.Partitions {
				if err := ErrorForCode(rp.ErrorCode); err != nil {
					if errors.Is(err, ErrNotCoordinator) || errors.Is(err, ErrCoordinatorNotAvailable) {
						groupCoord = -1
					}
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return t.abortable(fmt.Errorf("client: TxnOffsetCommit: %w", err))
	}
	return nil
}

func (t *txnState) abortable(err error) error {
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	if t.phase == txnInTxn {
		if errors.Is(err, ErrProducerFenced) || errors.Is(err, ErrInvalidProducerEpoch) {
			t.phase = txnFatal
		} else {
			t.phase = txnAbortable
		}
		t.err = err
	}
	return err
}

// CommitTransaction flushes the transaction's records and commits it. If a
// record failed, it returns that error and the transaction must be aborted.
func (p *Producer) CommitTransaction(ctx context.Context) error {
	return p.endTxn(ctx, true)
}

// AbortTransaction drops records not yet sent, waits for those in flight
// and aborts the transaction: read_committed consumers never see its records.
func (p *Producer) AbortTransaction(ctx context.Context) error {
	return p.endTxn(ctx, false)
}

func (p *Producer) endTxn(ctx context.Context, commit bool) error {
	t := &p.txn
	if !t.transactional() {
		return ErrNotTransactional
	}
	if err := t.opMu.lock(ctx); err != nil {
		return err
	}
	defer t.opMu.unlock()
	p.mu.Lock()
	phase := t.phase
	if phase == txnFatal || phase != txnInTxn && (commit || phase != txnAbortable) {
		err := t.err
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTransactionState, err)
		}
		return fmt.Errorf("%w: no open transaction", ErrTransactionState)
	}
	if !commit {
		// Unsent records are failed rather than written and aborted.
		abortErr := fmt.Errorf("client: %w", ErrTransactionAborted)
		for _, pb := range p.parts {
			keep := pb.batches[:0]
			for _, b := range pb.batches {
				if b.seq >= 0 {
					keep = append(keep, b) // already has a sequence: must go
					continue
				}
				p.completeLocked(b, -1, -1, abortErr)
			}
			pb.batches = keep
		}
		clear(t.pending)
	}
	p.mu.Unlock()
	if err := p.Flush(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	phase, started, pid, epoch := t.phase, t.started, p.pid, p.epoch
	if commit && phase != txnInTxn {
		err := t.err
		p.mu.Unlock()
		return fmt.Errorf("client: CommitTransaction: a record failed, abort the transaction: %w", err)
	}
	p.mu.Unlock()
	if started {
		err := t.txnRetry(ctx, func() error {
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID = p.cfg.transactionalID
			req.ProducerID, req.ProducerEpoch = pid, epoch
			req.Commit = commit
			resp, err := t.coordRequest(ctx, req)
			if err != nil {
				return err
			}
			return ErrorForCode(resp.(*kmsg.EndTxnResponse).ErrorCode)
		})
		if err != nil {
			if commit {
				return t.abortable(fmt.Errorf("client: EndTxn: %w", err))
			}
			return fmt.Errorf("client: EndTxn: %w", err)
		}
	}
	p.mu.Lock()
	t.phase, t.err = txnReady, nil
	gap := t.seqGap
	p.mu.Unlock()
	if gap {
		// A failed batch left a sequence hole: bump the epoch.
		return t.initPID(ctx)
	}
	return nil
}
