package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/internal/batch"
)

// Producer sends records to Kafka. It is goroutine-safe: Send may be called
// from any number of goroutines. Records are grouped per partition into
// batches that one sender goroutine ships, pipelining up to
// max.in.flight.requests.per.connection requests per broker.
type Producer struct {
	cfg         *config
	cl          *cluster
	partitioner Partitioner
	tr          *tracing

	closeMu     sync.Mutex
	mu          sync.Mutex
	parts       map[TopicPartition]*partBuf
	closed      bool
	flushing    int
	outstanding int           // records sent but not yet called back
	idle        chan struct{} // closed when outstanding drops to 0
	memUsed     int64
	memFreed    chan struct{} // closed (and replaced) when memory is released

	// Producer identity, owned by the sender goroutine except during
	// InitTransactions (which runs with the sender idle).
	pid      int64
	epoch    int16
	resetPID bool // sequences broke: get a new producer ID once idle

	txn txnState

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	cbs  callbackQueue
}

// partBuf is one partition's queue. Guarded by Producer.mu.
type partBuf struct {
	tp       TopicPartition
	batches  []*pbatch // waiting to be sent, oldest first
	failed   []*pbatch // failed retriably, resent once nothing is in flight
	inflight int
	nextSeq  int32 // sequence of the next new batch
	ackedSeq int32 // sequence after the last acknowledged batch
	backoff  time.Time
}

type precord struct {
	rec  *Record
	cb   func(RecordMetadata, error)
	ts   int64 // millis
	size int
	span trace.Span // producer span, ended with the callback; nil if not recording
}

type pbatch struct {
	tp       TopicPartition
	recs     []precord
	bytes    int
	created  time.Time
	deadline time.Time
	sealed   bool // no more appends: full, or taken by the sender
	seq      int32
	attempts int
	txn      bool
}

// NewProducer creates a producer. It does not contact the cluster until the
// first Send.
func NewProducer(opts ...Option) (*Producer, error) {
	cfg := newConfig(opts)
	if cfg.transactionalID != "" {
		if cfg.idempotenceSet && !cfg.idempotence {
			return nil, errors.New("client: transactional.id requires enable.idempotence")
		}
		cfg.idempotence = true
	}
	if cfg.acks != AcksAll {
		if cfg.idempotenceSet && cfg.idempotence {
			return nil, errors.New("client: enable.idempotence requires acks=all")
		}
		cfg.idempotence = false
	}
	if cfg.idempotence && cfg.maxInFlight > 5 {
		return nil, errors.New("client: enable.idempotence requires max.in.flight.requests.per.connection <= 5")
	}
	if cfg.maxInFlight < 1 {
		cfg.maxInFlight = 1
	}
	if cfg.batchSize < 1 {
		cfg.batchSize = 1
	}
	cl, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	p := &Producer{
		cfg:         cfg,
		cl:          cl,
		partitioner: cfg.partitioner,
		tr:          newTracing(cfg, opSend),
		parts:       make(map[TopicPartition]*partBuf),
		memFreed:    make(chan struct{}),
		pid:         -1,
		epoch:       -1,
		wake:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	if p.partitioner == nil {
		p.partitioner = DefaultPartitioner()
	}
	p.txn.init(p)
	cl.start()
	p.cbs.start()
	go p.sender()
	return p, nil
}

// Send partitions rec and appends it to its partition's batch; it returns
// once the record is buffered. cb (may be nil) is called exactly once with
// the record's offset or its error, from a single callback goroutine in
// order per partition; it should be quick. ctx bounds only the wait for
// metadata and buffer space (itself bounded by max.block.ms), not delivery.
// A Send error means the record was not buffered and cb is not called.
//
// With a tracer provider (WithTracerProvider), Send starts the record's
// producer span as a child of ctx's span and writes its context into the
// record's headers (traceparent); the span ends with the delivery result.
func (p *Producer) Send(ctx context.Context, rec *Record, cb func(RecordMetadata, error)) error {
	for _, ic := range p.cfg.interceptors {
		if r := ic.OnSend(rec); r != nil {
			rec = r
		}
	}
	var span trace.Span
	if rec.Topic != "" {
		span = p.tr.startSend(ctx, rec)
	}
	err := p.send(ctx, rec, cb, span)
	if err != nil {
		if span != nil {
			endSend(span, RecordMetadata{}, err)
		}
		for _, ic := range p.cfg.interceptors {
			ic.OnAcknowledgement(rec, err)
		}
	}
	return err
}

func (p *Producer) send(ctx context.Context, rec *Record, cb func(RecordMetadata, error), span trace.Span) error {
	if rec.Topic == "" {
		return errors.New("client: record has no topic")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.txn.checkSend(); err != nil {
		return err
	}
	// Fast path without a timer: the topic is known and there is room.
	// A context with a deadline per record would cost as much as the rest
	// of Send.
	m := p.cl.meta.Load()
	if tm := m.topics[rec.Topic]; tm == nil || tm.err != nil || len(tm.partitions) == 0 {
		bctx, cancel := context.WithTimeout(ctx, p.cfg.maxBlock)
		var err error
		m, err = p.cl.metadataFor(bctx, rec.Topic)
		cancel()
		if err != nil {
			return fmt.Errorf("client: metadata for %s: %w", rec.Topic, err)
		}
	}
	n := int32(len(m.topics[rec.Topic].partitions))
	part := p.partitioner.Partition(rec, n)
	if part < 0 || part >= n {
		return fmt.Errorf("client: partition %d of %s (%d partitions): %w", part, rec.Topic, n, ErrUnknownTopicOrPartition)
	}
	rec.Partition = part
	size := rec.size()
	if size+batch.HeaderSize > p.cfg.maxRequestSize || int64(size) > p.cfg.bufferMemory {
		return fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, size)
	}
	if err := p.reserve(ctx, size); err != nil {
		return err
	}
	ts := rec.Timestamp
	if ts.IsZero() {
		ts = time.Now()
		rec.Timestamp = ts
	}
	pr := precord{rec: rec, cb: cb, ts: ts.UnixMilli(), size: size, span: span}
	tp := TopicPartition{rec.Topic, part}

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.release(size)
		return ErrClosed
	}
	pb := p.parts[tp]
	if pb == nil {
		pb = &partBuf{tp: tp}
		p.parts[tp] = pb
	}
	var b *pbatch
	if k := len(pb.batches); k > 0 {
		b = pb.batches[k-1]
		if b.sealed || (b.bytes+size > p.cfg.batchSize && len(b.recs) > 0) {
			b = nil
		}
	}
	wake := false
	if b == nil {
		now := time.Now()
		b = &pbatch{tp: tp, created: now, deadline: now.Add(p.cfg.deliveryTimeout), seq: -1, txn: p.cfg.transactionalID != ""}
		pb.batches = append(pb.batches, b)
		wake = true // the sender must arm the linger timer
	}
	b.recs = append(b.recs, pr)
	b.bytes += size
	if b.bytes >= p.cfg.batchSize {
		b.sealed = true
		wake = true
	}
	p.outstanding++
	p.txn.noteSend(tp)
	p.mu.Unlock()
	if o, ok := p.partitioner.(batchObserver); ok {
		o.onAppend(tp.Topic, part, size, p.cfg.batchSize)
	}
	if wake || p.cfg.linger == 0 {
		p.wakeSender()
	}
	return nil
}

// SendSync sends rec and waits for its delivery.
func (p *Producer) SendSync(ctx context.Context, rec *Record) (RecordMetadata, error) {
	type result struct {
		md  RecordMetadata
		err error
	}
	ch := make(chan result, 1)
	if err := p.Send(ctx, rec, func(md RecordMetadata, err error) { ch <- result{md, err} }); err != nil {
		return RecordMetadata{}, err
	}
	// Expedite this record rather than wait out linger.ms.
	p.mu.Lock()
	p.flushing++
	p.mu.Unlock()
	p.wakeSender()
	defer func() {
		p.mu.Lock()
		p.flushing--
		p.mu.Unlock()
	}()
	select {
	case r := <-ch:
		return r.md, r.err
	case <-ctx.Done():
		return RecordMetadata{}, ctx.Err()
	}
}

// PartitionsFor returns topic's partitions from fresh metadata, waiting up
// to max.block.ms (or until ctx ends) while the topic is being created; with
// WithAllowAutoTopicCreation the request asks the broker to create a missing
// topic. Unlike the Java producer's partitionsFor, which waits for an
// unknown topic to appear, a topic the broker reports as unknown fails at
// once, with a *TopicError wrapping ErrUnknownTopicOrPartition: a mistyped
// name should not cost max.block.ms.
func (p *Producer) PartitionsFor(ctx context.Context, topic string) ([]PartitionInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.maxBlock)
	defer cancel()
	p.cl.addTopics(topic)
	for {
		if err := p.cl.refresh(ctx, time.Now()); err != nil {
			return nil, fmt.Errorf("client: PartitionsFor %s: %w", topic, err)
		}
		tm := p.cl.meta.Load().topics[topic]
		var err error
		switch {
		case tm == nil:
			err = ErrUnknownTopicOrPartition
		case tm.err == nil && len(tm.partitions) > 0:
			out := make([]PartitionInfo, len(tm.partitions))
			for i, pm := range tm.partitions {
				out[i] = PartitionInfo{
					Partition: int32(i), Leader: pm.leader, LeaderEpoch: pm.leaderEpoch,
					Replicas: pm.replicas, ISR: pm.isr, Offline: pm.offline, Err: pm.err,
				}
			}
			return out, nil
		case errors.Is(tm.err, ErrUnknownTopicOrPartition) || !IsRetriable(tm.err):
			err = tm.err
		}
		if err != nil {
			return nil, fmt.Errorf("client: PartitionsFor: %w", &TopicError{Topic: topic, Err: err})
		}
		// Being created (LEADER_NOT_AVAILABLE, or no partitions yet).
		if err := sleepCtx(ctx, p.cfg.retryBackoff); err != nil {
			return nil, fmt.Errorf("client: PartitionsFor %s: %w", topic, errors.Join(err, tm.err))
		}
	}
}

// reserve takes size bytes of buffer.memory, waiting up to max.block.ms
// while it is full.
func (p *Producer) reserve(ctx context.Context, size int) error {
	p.mu.Lock()
	if !p.closed && p.memUsed+int64(size) <= p.cfg.bufferMemory {
		p.memUsed += int64(size)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.maxBlock)
	defer cancel()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		if p.memUsed+int64(size) <= p.cfg.bufferMemory {
			p.memUsed += int64(size)
			p.mu.Unlock()
			return nil
		}
		ch := p.memFreed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return ErrBufferFull
			}
			return ctx.Err()
		}
	}
}

func (p *Producer) release(size int) {
	p.mu.Lock()
	p.releaseLocked(size)
	p.mu.Unlock()
}

func (p *Producer) releaseLocked(size int) {
	p.memUsed -= int64(size)
	close(p.memFreed)
	p.memFreed = make(chan struct{})
}

func (p *Producer) wakeSender() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush sends everything buffered now, ignoring linger.ms, and waits until
// every record sent before the call has been called back.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	p.flushing++
	ch := p.idleChLocked()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.flushing--
		p.mu.Unlock()
	}()
	p.wakeSender()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Producer) idleChLocked() chan struct{} {
	if p.outstanding == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	return p.idle
}

// Close delivers what is buffered (waiting until ctx ends), then fails what
// is left with ErrClosed, stops the sender and closes connections. Sends after
// Close fail with ErrClosed.
func (p *Producer) Close(ctx context.Context) error {
	p.closeMu.Lock() // a concurrent Close waits for this one
	defer p.closeMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	err := p.Flush(ctx)
	if err != nil {
		// Out of time: kill connections so in-flight requests fail now
		// instead of at request.timeout.ms.
		p.cl.close()
	}
	p.mu.Lock()
	p.closed = true
	close(p.memFreed) // wake blocked Sends so they see closed
	p.memFreed = make(chan struct{})
	p.mu.Unlock()
	close(p.quit)
	<-p.done
	// Anything still buffered or in flight is failed.
	p.mu.Lock()
	var left []*pbatch
	for _, pb := range p.parts {
		left = append(left, pb.failed...)
		left = append(left, pb.batches...)
		pb.failed, pb.batches = nil, nil
	}
	for _, b := range left {
		p.completeLocked(b, -1, -1, ErrClosed)
	}
	p.mu.Unlock()
	p.cl.close()
	p.cbs.stop()
	return err
}

// completeLocked finishes a batch: memory back, callbacks queued.
func (p *Producer) completeLocked(b *pbatch, base int64, appendTime int64, err error) {
	size := 0
	for i := range b.recs {
		size += b.recs[i].size
	}
	p.releaseLocked(size)
	if err != nil {
		p.txn.noteFailure(err)
	}
	recs := b.recs
	b.recs = nil
	p.cbs.push(func() {
		for i := range recs {
			pr := &recs[i]
			md := RecordMetadata{Topic: b.tp.Topic, Partition: b.tp.Partition, Offset: -1, Timestamp: pr.rec.Timestamp}
			if err == nil {
				if base >= 0 {
					md.Offset = base + int64(i)
				}
				if appendTime >= 0 {
					md.Timestamp = time.UnixMilli(appendTime)
				}
				pr.rec.Offset = md.Offset
				pr.rec.Timestamp = md.Timestamp
			}
			if pr.span != nil {
				endSend(pr.span, md, err)
			}
			for _, ic := range p.cfg.interceptors {
				ic.OnAcknowledgement(pr.rec, err)
			}
			if pr.cb != nil {
				pr.cb(md, err)
			}
		}
		p.mu.Lock()
		p.outstanding -= len(recs)
		if p.outstanding == 0 && p.idle != nil {
			close(p.idle)
			p.idle = nil
		}
		p.mu.Unlock()
	})
}

// inflightReq is one produce request on the wire.
type inflightReq struct {
	node    int32
	batches []*pbatch
	resp    kmsg.Response
	err     error
}

// sender is the one goroutine that drains batches into requests and handles
// their responses, so in-flight state needs no lock beyond Producer.mu.
func (p *Producer) sender() {
	defer close(p.done)
	respCh := make(chan *inflightReq, 64)
	nodeInflight := make(map[int32]int)
	total := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if p.needsProducerID() && total == 0 {
			if err := p.initProducerID(); err != nil {
				p.failAll(err)
				if !p.waitOrQuit(p.cfg.retryBackoff) {
					return
				}
				continue
			}
		}
		if !p.txn.addPartitions() {
			if !p.waitOrQuit(p.cfg.retryBackoff) {
				return
			}
			continue
		}
		reqs, next := p.drain(nodeInflight)
		for node, bs := range reqs {
			nodeInflight[node]++
			total++
			p.produce(node, bs, respCh)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-p.quit:
			// Drain responses of requests in flight so nothing leaks.
			for total > 0 {
				r := <-respCh
				total--
				p.handle(r)
			}
			return
		case <-p.wake:
		case <-timer.C:
		case r := <-respCh:
			nodeInflight[r.node]--
			total--
			p.handle(r)
		}
		// Handle all ready responses before draining again.
		for more := true; more; {
			select {
			case r := <-respCh:
				nodeInflight[r.node]--
				total--
				p.handle(r)
			default:
				more = false
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (p *Producer) waitOrQuit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.quit:
		return false
	case <-t.C:
		return true
	case <-p.wake:
		return true
	}
}

func (p *Producer) needsProducerID() bool {
	if !p.cfg.idempotence {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.transactionalID != "" {
		// Transactional producers get their ID in InitTransactions; a
		// broken sequence is repaired by the abort.
		return false
	}
	if p.resetPID {
		return !p.anyInflightLocked()
	}
	return p.pid < 0 && len(p.parts) > 0
}

func (p *Producer) anyInflightLocked() bool {
	for _, pb := range p.parts {
		if pb.inflight > 0 {
			return true
		}
	}
	return false
}

// initProducerID gets a fresh idempotent producer ID and restarts every
// partition's sequence at 0.
func (p *Producer) initProducerID() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.requestTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionTimeoutMillis = -1
		req.ProducerID = -1
		req.ProducerEpoch = -1
		resp, err := p.cl.requestAny(ctx, req)
		if err == nil {
			r := resp.(*kmsg.InitProducerIDResponse)
			err = ErrorForCode(r.ErrorCode)
			if err == nil {
				p.setProducerID(r.ProducerID, r.ProducerEpoch)
				return nil
			}
		}
		if !IsRetriable(err) {
			return fmt.Errorf("client: InitProducerId: %w", err)
		}
		if err := sleepCtx(ctx, p.cfg.retryBackoff); err != nil {
			return fmt.Errorf("client: InitProducerId: %w", err)
		}
	}
}

func (p *Producer) setProducerID(pid int64, epoch int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pid, p.epoch, p.resetPID = pid, epoch, false
	for _, pb := range p.parts {
		pb.nextSeq, pb.ackedSeq = 0, 0
		for _, b := range pb.batches {
			b.seq = -1
		}
		for _, b := range pb.failed {
			b.seq = -1
		}
	}
}

// failAll fails every buffered batch (InitProducerId failed for good).
func (p *Producer) failAll(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pb := range p.parts {
		for _, b := range pb.batches {
			p.completeLocked(b, -1, -1, err)
		}
		pb.batches = nil
	}
}

// drain picks, per broker, the ready head batch of each partition it leads,
// within max.request.size and the in-flight limits. It returns the next time
// a lingering batch becomes ready.
func (p *Producer) drain(nodeInflight map[int32]int) (map[int32][]*pbatch, time.Time) {
	now := time.Now()
	m := p.cl.meta.Load()
	var next time.Time
	reqs := make(map[int32][]*pbatch)
	reqBytes := make(map[int32]int)
	needMeta := false
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.idempotence && (p.pid < 0 || p.resetPID) {
		// Wait for a producer ID; expired batches still time out.
		for _, pb := range p.parts {
			p.expireLocked(pb, now)
		}
		return reqs, now.Add(p.cfg.retryBackoff)
	}
	flushing := p.flushing > 0 || p.closed
	for _, pb := range p.parts {
		p.expireLocked(pb, now)
		if len(pb.failed) > 0 && pb.inflight == 0 {
			// Every in-flight batch has come back: resend the failed
			// ones first, in sequence order.
			slices.SortFunc(pb.failed, func(a, b *pbatch) int { return int(a.seq - b.seq) })
			pb.batches = append(pb.failed, pb.batches...)
			pb.failed = nil
			pb.backoff = now.Add(p.cfg.retryBackoff)
		}
		if len(pb.batches) == 0 || len(pb.failed) > 0 {
			continue
		}
		if !p.txn.partitionReady(pb.tp) {
			continue
		}
		if pb.backoff.After(now) {
			next = earliest(next, pb.backoff)
			continue
		}
		if pb.inflight >= p.cfg.maxInFlight {
			continue
		}
		b := pb.batches[0]
		ready := b.sealed || len(pb.batches) > 1 || flushing || !b.created.Add(p.cfg.linger).After(now)
		if !ready {
			next = earliest(next, b.created.Add(p.cfg.linger))
			continue
		}
		leader, _, ok := m.leader(pb.tp)
		if !ok {
			needMeta = true
			next = earliest(next, now.Add(p.cfg.retryBackoff))
			continue
		}
		if nodeInflight[leader] >= p.cfg.maxInFlight {
			continue
		}
		if len(reqs[leader]) > 0 && reqBytes[leader]+b.bytes > p.cfg.maxRequestSize {
			next = earliest(next, now)
			continue
		}
		pb.batches = pb.batches[1:]
		b.sealed = true
		if p.cfg.idempotence && b.seq < 0 {
			b.seq = pb.nextSeq
			pb.nextSeq = addSeq(pb.nextSeq, int32(len(b.recs)))
		}
		b.attempts++
		pb.inflight++
		reqs[leader] = append(reqs[leader], b)
		reqBytes[leader] += b.bytes
		if len(pb.batches) > 0 {
			next = earliest(next, now) // more to send once in-flight room allows
		}
	}
	if needMeta {
		for _, pb := range p.parts {
			if len(pb.batches) > 0 {
				p.cl.addTopics(pb.tp.Topic)
			}
		}
		p.cl.triggerRefresh()
	}
	return reqs, next
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// addSeq adds to a sequence number, wrapping at MaxInt32 as Kafka does.
func addSeq(s, n int32) int32 {
	v := int64(s) + int64(n)
	if v > 0x7fffffff {
		v -= 0x80000000
	}
	return int32(v)
}

// expireLocked fails waiting batches past delivery.timeout.ms.
func (p *Producer) expireLocked(pb *partBuf, now time.Time) {
	keep := pb.batches[:0]
	for _, b := range pb.batches {
		if now.After(b.deadline) {
			if b.seq >= 0 {
				p.resetPID = true // the broker may expect this sequence
			}
			p.completeLocked(b, -1, -1, fmt.Errorf("%w: %d records for %s", ErrDeliveryTimeout, len(b.recs), pb.tp))
			continue
		}
		keep = append(keep, b)
	}
	clear(pb.batches[len(keep):])
	pb.batches = keep
}

// produce encodes and sends one request; the response comes back on ch.
func (p *Producer) produce(node int32, bs []*pbatch, ch chan<- *inflightReq) {
	ir := &inflightReq{node: node, batches: bs}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = int16(p.cfg.acks)
	req.TimeoutMillis = int32(p.cfg.requestTimeout.Milliseconds())
	if id := p.cfg.transactionalID; id != "" {
		req.TransactionID = &id
	}
	topicIdx := make(map[string]int)
	for _, b := range bs {
		raw, err := p.encode(b)
		if err != nil {
			// Encoding fails only for impossible sizes; fail the request.
			ir.err = err
			go func() { ch <- ir }() // not inline: the sender itself reads ch
			return
		}
		i, ok := topicIdx[b.tp.Topic]
		if !ok {
			i = len(req.Topics)
			topicIdx[b.tp.Topic] = i
			t := kmsg.NewProduceRequestTopic()
			t.Topic = b.tp.Topic
			req.Topics = append(req.Topics, t)
		}
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Partition = b.tp.Partition
		pp.Records = raw
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, pp)
	}
	ctx := context.Background()
	c, err := p.cl.connTo(ctx, node, kindProduce)
	if err != nil {
		ir.err = err
		go func() { ch <- ir }()
		return
	}
	c.send(ctx, req, p.cfg.requestTimeout+time.Second, func(resp kmsg.Response, err error) {
		ir.resp, ir.err = resp, err
		// send may call back inline (dead connection) on the sender,
		// which is ch's reader: never block here.
		select {
		case ch <- ir:
		default:
			go func() { ch <- ir }()
		}
	})
}

func (p *Producer) encode(b *pbatch) ([]byte, error) {
	first := b.recs[0].ts
	maxTS := first
	recs := make([]batch.Record, len(b.recs))
	for i := range b.recs {
		pr := &b.recs[i]
		maxTS = max(maxTS, pr.ts)
		r := &recs[i]
		r.TimestampDelta = pr.ts - first
		r.OffsetDelta = int32(i)
		r.Key = pr.rec.Key
		r.Value = pr.rec.Value
		if len(pr.rec.Headers) > 0 {
			r.Headers = make([]batch.RecordHeader, len(pr.rec.Headers))
			for j, h := range pr.rec.Headers {
				r.Headers[j] = batch.RecordHeader{Key: h.Key, Value: h.Value}
			}
		}
	}
	h := batch.Header{
		PartitionLeaderEpoch: -1,
		Attributes:           int16(p.cfg.compression) & batch.AttrCompressionMask,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       first,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
	}
	if p.cfg.idempotence {
		p.mu.Lock()
		h.ProducerID, h.ProducerEpoch = p.pid, p.epoch
		p.mu.Unlock()
		h.BaseSequence = b.seq
	}
	if b.txn {
		h.Attributes |= batch.AttrTransactional
	}
	return batch.Build(h, recs)
}

// handle processes one produce response (or its failure).
func (p *Producer) handle(ir *inflightReq) {
	type result struct {
		code    int16
		msg     *string
		base    int64
		appendT int64
	}
	results := make(map[TopicPartition]result)
	if ir.err == nil && ir.resp != nil {
		for _, t := range ir.resp.(*kmsg.ProduceResponse).Topics {
			for _, pp := range t.Partitions {
				results[TopicPartition{t.Topic, pp.Partition}] = result{pp.ErrorCode, pp.ErrorMessage, pp.BaseOffset, pp.LogAppendTime}
			}
		}
	}
	now := time.Now()
	refresh := false
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range ir.batches {
		pb := p.parts[b.tp]
		pb.inflight--
		var err error
		res := result{base: -1, appendT: -1}
		switch {
		case ir.err != nil:
			err = ir.err
		case ir.resp == nil: // acks=0
		default:
			r, ok := results[b.tp]
			if !ok {
				err = fmt.Errorf("client: no produce response for %s: %w", b.tp, ErrUnknownServerError)
			} else {
				res = r
				err = codeErr(r.code, r.msg)
			}
		}
		if errors.Is(err, ErrDuplicateSequenceNumber) {
			err = nil // already written by an earlier attempt
			res.base = -1
		}
		if err == nil {
			if b.seq >= 0 {
				pb.ackedSeq = addSeq(b.seq, int32(len(b.recs)))
			}
			p.completeLocked(b, res.base, res.appendT, nil)
			continue
		}
		retriable := IsRetriable(err)
		switch {
		case errors.Is(err, ErrOutOfOrderSequenceNumber):
			// Retriable only behind an earlier batch that failed too.
			retriable = b.seq != pb.ackedSeq
		case errors.Is(err, ErrUnknownProducerID), errors.Is(err, ErrInvalidProducerEpoch):
			if p.cfg.transactionalID == "" {
				p.resetPID = true
				retriable = true
			}
		}
		if errors.Is(err, ErrNotLeaderOrFollower) || errors.Is(err, ErrUnknownTopicOrPartition) ||
			errors.Is(err, ErrLeaderNotAvailable) || errors.Is(err, ErrFencedLeaderEpoch) || IsRetriable(err) && !isKafkaErr(err) {
			refresh = true
		}
		if retriable && b.attempts <= p.cfg.retries && now.Before(b.deadline) {
			p.cfg.logger.Debug("produce failed, retrying", "partition", b.tp.String(), "attempt", b.attempts, "err", err)
			pb.failed = append(pb.failed, b)
			continue
		}
		if retriable && !now.Before(b.deadline) {
			err = fmt.Errorf("%w: %w", ErrDeliveryTimeout, err)
		}
		if b.seq >= 0 && p.cfg.idempotence {
			// A failed batch leaves a hole in the sequence the broker
			// would wait on forever; start over with a new producer ID.
			p.resetPID = true
			p.txn.noteSeqGap()
		}
		p.completeLocked(b, -1, -1, fmt.Errorf("client: producing to %s: %w", b.tp, err))
	}
	if p.resetPID && p.cfg.transactionalID == "" {
		// Batches waiting for resend get new sequences after the reset.
		for _, pb := range p.parts {
			if pb.inflight == 0 && len(pb.failed) > 0 {
				pb.batches = append(pb.failed, pb.batches...)
				pb.failed = nil
			}
		}
	}
	if refresh {
		p.cl.triggerRefresh()
	}
}

func isKafkaErr(err error) bool {
	var ke *Error
	return errors.As(err, &ke)
}

// callbackQueue runs callbacks in order on one goroutine, so a slow callback
// never blocks the sender and callbacks may call Send.
type callbackQueue struct {
	mu      sync.Mutex
	q       []func()
	more    chan struct{}
	stopped chan struct{}
	quit    bool
}

func (c *callbackQueue) start() {
	c.more = make(chan struct{}, 1)
	c.stopped = make(chan struct{})
	go c.run()
}

func (c *callbackQueue) push(f func()) {
	c.mu.Lock()
	c.q = append(c.q, f)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *callbackQueue) run() {
	defer close(c.stopped)
	for {
		c.mu.Lock()
		q := c.q
		c.q = nil
		quit := c.quit
		c.mu.Unlock()
		for _, f := range q {
			f()
		}
		if len(q) > 0 {
			continue
		}
		if quit {
			return
		}
		<-c.more
	}
}

// stop runs what is queued, then ends the goroutine.
func (c *callbackQueue) stop() {
	c.mu.Lock()
	c.quit = true
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
	<-c.stopped
}
