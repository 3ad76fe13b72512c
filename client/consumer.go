package client

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/batch"
)

// Consumer reads records, either from partitions it is given (Assign) or as a
// member of a consumer group (Subscribe). All methods are goroutine-safe;
// Poll calls are serialized. Fetching runs in the background, one fetch in
// flight per broker, for partitions whose previous data Poll has drained.
type Consumer struct {
	cfg *config
	cl  *cluster
	tr  *tracing

	pollMu  sync.Mutex // one Poll at a time
	closeMu sync.Mutex

	mu       sync.Mutex
	parts    map[TopicPartition]*cpart
	buffer   []*fetched // partitions with data, in arrival order
	mode     int        // modeNone, modeAssign, modeSubscribe
	closed   bool
	fetchErr error // surfaced by the next Poll (auto.offset.reset=none)

	dataCh     chan struct{} // Poll wakeup: data, errors, group events
	fetchWake  chan struct{}
	wakeup     atomic.Bool // Wakeup with no Poll running
	pollCancel context.CancelCauseFunc
	resetting  atomic.Bool
	inPoll     atomic.Bool
	lastPoll   atomic.Int64 // unix nanos of the last Poll return

	group *group

	quit chan struct{}
	wg   sync.WaitGroup
}

const (
	modeNone = iota
	modeAssign
	modeSubscribe
)

// cpart is an assigned partition's state. Guarded by Consumer.mu.
type cpart struct {
	tp          TopicPartition
	position    int64 // next offset Poll returns; -1 while unknown
	leaderEpoch int32 // epoch of the record before position, for commits
	gen         uint64
	paused      bool
	inflight    bool
	buffered    bool
	needOffset  bool  // position must be resolved
	resetTo     int64 // ListOffsets timestamp: -2 earliest, -1 latest; 0: committed first
	backoff     time.Time
	hw          int64
}

// fetched is one partition's data from one fetch.
type fetched struct {
	tp   TopicPartition
	gen  uint64
	recs []*Record
	next int64 // offset after the last batch, where the next fetch starts
}

// NewConsumer creates a consumer. Call Assign or Subscribe, then Poll.
func NewConsumer(opts ...Option) (*Consumer, error) {
	cfg := newConfig(opts)
	if cfg.maxPollRecords < 1 {
		cfg.maxPollRecords = 1
	}
	cl, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:       cfg,
		cl:        cl,
		tr:        newTracing(cfg, opProcess),
		parts:     make(map[TopicPartition]*cpart),
		dataCh:    make(chan struct{}, 1),
		fetchWake: make(chan struct{}, 1),
		quit:      make(chan struct{}),
	}
	c.lastPoll.Store(time.Now().UnixNano())
	if cfg.groupID != "" {
		c.group = newGroup(c)
	}
	cl.onMeta = func(m *metadata) {
		if c.group != nil {
			c.group.onMetadata(m)
		}
		c.signal(c.fetchWake) // leaders may be known now
	}
	cl.start()
	c.wg.Add(1)
	go c.fetchLoop()
	return c, nil
}

func (c *Consumer) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Assign consumes the given partitions, replacing any previous assignment,
// without group management. With group.id set, positions start from the
// group's committed offsets and commits work (generation -1).
func (c *Consumer) Assign(tps ...TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.mode == modeSubscribe {
		return errors.New("client: Assign after Subscribe (use one or the other)")
	}
	c.mode = modeAssign
	keep := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		keep[tp] = true
	}
	for tp := range c.parts {
		if !keep[tp] {
			c.removeLocked(tp)
		}
	}
	var topics []string
	for _, tp := range tps {
		if c.parts[tp] == nil {
			c.addLocked(tp)
		}
		topics = append(topics, tp.Topic)
	}
	c.cl.setTopics(topics)
	c.cl.triggerRefresh()
	c.signal(c.fetchWake)
	return nil
}

// Subscribe joins group.id consuming topics; partitions are assigned by the
// group. It replaces a previous subscription.
func (c *Consumer) Subscribe(topics ...string) error { return c.subscribe(topics, nil) }

// SubscribeRegex subscribes to every topic whose whole name matches re,
// re-evaluated on each metadata refresh (metadata.max.age.ms).
func (c *Consumer) SubscribeRegex(re *regexp.Regexp) error { return c.subscribe(nil, re) }

func (c *Consumer) subscribe(topics []string, re *regexp.Regexp) error {
	if c.group == nil {
		return errors.New("client: Subscribe needs group.id (WithGroupID)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.mode == modeAssign {
		return errors.New("client: Subscribe after Assign (use one or the other)")
	}
	c.mode = modeSubscribe
	c.group.setSubscription(topics, re)
	if re != nil {
		c.cl.wantAll.Store(true)
	} else {
		c.cl.wantAll.Store(false)
		c.cl.setTopics(topics)
	}
	c.cl.triggerRefresh()
	c.signal(c.dataCh)
	return nil
}

// Assignment returns the partitions currently assigned.
func (c *Consumer) Assignment() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TopicPartition, 0, len(c.parts))
	for tp := range c.parts {
		out = append(out, tp)
	}
	slices.SortFunc(out, compareTP)
	return out
}

func (c *Consumer) addLocked(tp TopicPartition) {
	cp := &cpart{tp: tp, position: -1, leaderEpoch: -1, needOffset: true, hw: -1}
	if c.cfg.groupID == "" {
		cp.resetTo = c.resetTimestamp()
	}
	c.parts[tp] = cp
}

func (c *Consumer) removeLocked(tp TopicPartition) {
	delete(c.parts, tp)
	c.buffer = slices.DeleteFunc(c.buffer, func(f *fetched) bool { return f.tp == tp })
}

func (c *Consumer) resetTimestamp() int64 {
	switch c.cfg.offsetReset {
	case ResetEarliest:
		return -2
	case ResetNone:
		return -3
	}
	return -1
}

// Seek sets the next offset Poll returns for tp.
func (c *Consumer) Seek(tp TopicPartition, offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.parts[tp]
	if cp == nil {
		return fmt.Errorf("%w: %s", ErrNotAssigned, tp)
	}
	c.invalidateLocked(cp)
	cp.position, cp.needOffset, cp.leaderEpoch = offset, false, -1
	c.signal(c.fetchWake)
	return nil
}

// SeekToBeginning moves tps (all assigned partitions if none given) to the
// log start offset; it is resolved lazily by the next fetch.
func (c *Consumer) SeekToBeginning(tps ...TopicPartition) error { return c.seekTo(-2, tps) }

// SeekToEnd moves tps (all assigned if none given) to the log end offset.
func (c *Consumer) SeekToEnd(tps ...TopicPartition) error { return c.seekTo(-1, tps) }

func (c *Consumer) seekTo(ts int64, tps []TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(tps) == 0 {
		for tp := range c.parts {
			tps = append(tps, tp)
		}
	}
	for _, tp := range tps {
		cp := c.parts[tp]
		if cp == nil {
			return fmt.Errorf("%w: %s", ErrNotAssigned, tp)
		}
		c.invalidateLocked(cp)
		cp.position, cp.needOffset, cp.resetTo = -1, true, ts
	}
	c.signal(c.fetchWake)
	return nil
}

// invalidateLocked drops buffered and in-flight data of cp.
func (c *Consumer) invalidateLocked(cp *cpart) {
	cp.gen++
	cp.buffered = false
	cp.inflight = false // a late response is dropped by the generation check
	c.buffer = slices.DeleteFunc(c.buffer, func(f *fetched) bool { return f.tp == cp.tp })
}

// Position returns the next offset Poll returns for tp, resolving it (from
// the committed offset or auto.offset.reset) if it is not known yet.
func (c *Consumer) Position(ctx context.Context, tp TopicPartition) (int64, error) {
	for {
		c.mu.Lock()
		cp := c.parts[tp]
		if cp == nil {
			c.mu.Unlock()
			return -1, fmt.Errorf("%w: %s", ErrNotAssigned, tp)
		}
		pos, need := cp.position, cp.needOffset
		c.mu.Unlock()
		if !need && pos >= 0 {
			return pos, nil
		}
		if err := c.resolveCommitted(ctx); err != nil {
			return -1, err
		}
		c.signal(c.fetchWake)
		if err := c.resolveResets(ctx, true); err != nil {
			return -1, err
		}
	}
}

// Pause stops fetching tps; Poll returns nothing for them until Resume.
// Pausing does not affect group membership.
func (c *Consumer) Pause(tps ...TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		if cp := c.parts[tp]; cp != nil {
			cp.paused = true
		}
	}
}

// Resume restarts fetching paused partitions.
func (c *Consumer) Resume(tps ...TopicPartition) {
	c.mu.Lock()
	for _, tp := range tps {
		if cp := c.parts[tp]; cp != nil {
			cp.paused = false
		}
	}
	c.mu.Unlock()
	c.signal(c.fetchWake)
	c.signal(c.dataCh)
}

// Paused returns the paused partitions.
func (c *Consumer) Paused() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []TopicPartition
	for tp, cp := range c.parts {
		if cp.paused {
			out = append(out, tp)
		}
	}
	slices.SortFunc(out, compareTP)
	return out
}

// pollIdle is how long the application has gone without polling.
func (c *Consumer) pollIdle() time.Duration {
	if c.inPoll.Load() {
		return 0
	}
	return time.Since(time.Unix(0, c.lastPoll.Load()))
}

// errWokenUp is the cancel cause Wakeup gives a Poll's context.
var errWokenUp = errors.New("woken up")

// Wakeup makes a Poll blocked in another goroutine (even inside a rebalance)
// return ErrWakeup; if none is running, the next Poll does.
func (c *Consumer) Wakeup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pollCancel != nil {
		c.pollCancel(errWokenUp)
		return
	}
	c.wakeup.Store(true)
}

// Poll returns the next records, at most max.poll.records, waiting until
// some arrive, ctx ends (ctx.Err()) or Wakeup is called (ErrWakeup). In a
// group it also runs rebalances (calling the rebalance listener on this
// goroutine) and auto commits, so call it at least every max.poll.interval.ms.
// With a tracer provider (WithTracerProvider), each record returned has a
// consumer span, a child of ctx's span linked to the producer's: pass
// RecordContext(ctx, rec) to the record's processing.
func (c *Consumer) Poll(ctx context.Context) ([]*Record, error) {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	c.inPoll.Store(true)
	defer func() {
		c.lastPoll.Store(time.Now().UnixNano())
		c.inPoll.Store(false)
	}()
	ctx, cancel := context.WithCancelCause(ctx)
	c.mu.Lock()
	c.pollCancel = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.pollCancel = nil
		c.mu.Unlock()
		cancel(nil)
	}()
	recs, err := c.poll(ctx)
	if err != nil && errors.Is(context.Cause(ctx), errWokenUp) {
		return nil, ErrWakeup
	}
	return recs, err
}

func (c *Consumer) poll(ctx context.Context) ([]*Record, error) {
	for {
		if c.wakeup.CompareAndSwap(true, false) {
			return nil, ErrWakeup
		}
		c.mu.Lock()
		closed, ferr := c.closed, c.fetchErr
		c.fetchErr = nil
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if ferr != nil {
			return nil, ferr
		}
		if c.group != nil {
			if err := c.group.poll(ctx); err != nil {
				return nil, err
			}
		}
		if err := c.resolveCommitted(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if recs := c.take(); len(recs) > 0 {
			for _, ic := range c.cfg.consumerIntercepts {
				recs = ic.OnConsume(recs)
			}
			c.tr.processSpans(ctx, recs)
			return recs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.dataCh:
		}
	}
}

// take removes up to max.poll.records records from the buffer and advances
// positions.
func (c *Consumer) take() []*Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Record
	room := c.cfg.maxPollRecords
	kept := c.buffer[:0]
	refetch := false
	for _, f := range c.buffer {
		cp := c.parts[f.tp]
		if cp == nil || cp.gen != f.gen {
			continue
		}
		if room == 0 || cp.paused {
			kept = append(kept, f)
			continue
		}
		n := min(room, len(f.recs))
		out = append(out, f.recs[:n]...)
		room -= n
		if n > 0 {
			last := f.recs[n-1]
			cp.position, cp.leaderEpoch = last.Offset+1, last.LeaderEpoch
		}
		f.recs = f.recs[n:]
		if len(f.recs) > 0 {
			kept = append(kept, f)
			continue
		}
		cp.position = max(cp.position, f.next)
		cp.buffered = false
		refetch = true
	}
	clear(c.buffer[len(kept):])
	c.buffer = kept
	if refetch {
		c.signal(c.fetchWake)
	}
	return out
}

// fetchLoop keeps one fetch in flight per broker for partitions that have a
// position, are not paused and have no undrained data.
func (c *Consumer) fetchLoop() {
	defer c.wg.Done()
	type result struct {
		node int32
		req  map[TopicPartition]fetchPos
		resp kmsg.Response
		dec  map[TopicPartition]decoded
		err  error
	}
	respCh := make(chan result, 16)
	inflight := make(map[int32]bool)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		next := time.Time{}
		m := c.cl.meta.Load()
		byNode := make(map[int32][]*cpart)
		needMeta, needReset := false, false
		c.mu.Lock()
		for _, cp := range c.parts {
			if cp.needOffset {
				if cp.resetTo != 0 {
					needReset = true
				}
				continue
			}
			if cp.paused || cp.buffered || cp.inflight {
				continue
			}
			if cp.backoff.After(now) {
				next = earliest(next, cp.backoff)
				continue
			}
			leader, _, ok := m.leader(cp.tp)
			if !ok {
				needMeta = true
				next = earliest(next, now.Add(c.cfg.retryBackoff))
				continue
			}
			if inflight[leader] {
				continue
			}
			byNode[leader] = append(byNode[leader], cp)
		}
		reqs := make(map[int32]*kmsg.FetchRequest)
		gens := make(map[int32]map[TopicPartition]fetchPos)
		for node, cps := range byNode {
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID = -1
			req.MaxWaitMillis = int32(c.cfg.fetchMaxWait.Milliseconds())
			req.MinBytes = c.cfg.fetchMinBytes
			req.MaxBytes = c.cfg.fetchMaxBytes
			req.IsolationLevel = int8(c.cfg.isolation)
			req.SessionEpoch = -1 // no fetch session: every fetch is full
			g := make(map[TopicPartition]fetchPos, len(cps))
			idx := map[string]int{}
			slices.SortFunc(cps, func(a, b *cpart) int { return compareTP(a.tp, b.tp) })
			for _, cp := range cps {
				i, ok := idx[cp.tp.Topic]
				if !ok {
					i = len(req.Topics)
					idx[cp.tp.Topic] = i
					t := kmsg.NewFetchRequestTopic()
					t.Topic = cp.tp.Topic
					req.Topics = append(req.Topics, t)
				}
				_, epoch, _ := m.leader(cp.tp)
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition = cp.tp.Partition
				rp.FetchOffset = cp.position
				rp.CurrentLeaderEpoch = epoch
				rp.LastFetchedEpoch = -1
				rp.LogStartOffset = -1
				rp.PartitionMaxBytes = c.cfg.partitionFetchMax
				req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
				cp.inflight = true
				g[cp.tp] = fetchPos{cp.gen, cp.position}
			}
			reqs[node] = req
			gens[node] = g
			inflight[node] = true
		}
		c.mu.Unlock()
		if needMeta {
			c.cl.triggerRefresh()
		}
		for node, req := range reqs {
			node, g := node, gens[node]
			conn, err := c.cl.connTo(context.Background(), node, kindFetch)
			if err != nil {
				go func() { respCh <- result{node: node, req: g, err: err} }() // this loop reads respCh
				continue
			}
			conn.send(context.Background(), req, c.cfg.requestTimeout+c.cfg.fetchMaxWait, func(resp kmsg.Response, err error) {
				// Decode here, on the connection's reader goroutine and
				// outside c.mu, so Poll never waits for decompression.
				var dec map[TopicPartition]decoded
				if err == nil {
					dec = c.decodeAll(resp.(*kmsg.FetchResponse), g)
				}
				r := result{node, g, resp, dec, err}
				select { // may run inline on the loop, respCh's reader
				case respCh <- r:
				default:
					go func() { respCh <- r }()
				}
			})
		}
		if needReset && c.resetting.CompareAndSwap(false, true) {
			// Resolve auto.offset.reset and seeks in the background.
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), c.cfg.requestTimeout)
				go func() {
					select {
					case <-c.quit:
						cancel()
					case <-ctx.Done():
					}
				}()
				if err := c.resolveResets(ctx, false); err != nil {
					c.cfg.logger.Debug("resolving offsets", "err", err)
				}
				cancel()
				c.resetting.Store(false) // before the wakeup, so the loop may start another
				c.signal(c.fetchWake)
			}()
		}
		if needReset {
			// Recheck soon: the leader may be unknown yet.
			next = earliest(next, now.Add(c.cfg.retryBackoff))
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-c.quit:
			for n, in := range inflight {
				if in {
					<-respCh
					delete(inflight, n)
				}
			}
			return
		case r := <-respCh:
			inflight[r.node] = false
			c.handleFetch(r.req, r.resp, r.dec, r.err)
		case <-c.fetchWake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// handleFetch stores a fetch response's data for Poll.
func (c *Consumer) handleFetch(gens map[TopicPartition]fetchPos, resp kmsg.Response, dec map[TopicPartition]decoded, err error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	release := func() {
		for tp, g := range gens {
			if cp := c.parts[tp]; cp != nil && cp.gen == g.gen {
				cp.inflight = false
			}
		}
	}
	if err == nil {
		err = ErrorForCode(resp.(*kmsg.FetchResponse).ErrorCode)
	}
	if err != nil {
		release()
		for tp, g := range gens {
			if cp := c.parts[tp]; cp != nil && cp.gen == g.gen {
				cp.backoff = now.Add(c.cfg.retryBackoff)
			}
		}
		c.cl.triggerRefresh()
		return
	}
	got := false
	for _, t := range resp.(*kmsg.FetchResponse).Topics {
		for i := range t.Partitions {
			rp := &t.Partitions[i]
			tp := TopicPartition{t.Topic, rp.Partition}
			cp := c.parts[tp]
			if cp == nil || cp.gen != gens[tp].gen || cp.position != gens[tp].offset {
				continue
			}
			cp.inflight = false
			if err := ErrorForCode(rp.ErrorCode); err != nil {
				switch {
				case errors.Is(err, ErrOffsetOutOfRange):
					cp.position, cp.needOffset, cp.resetTo = -1, true, c.resetTimestamp()
					cp.gen++
				default:
					cp.backoff = now.Add(c.cfg.retryBackoff)
					c.cl.triggerRefresh()
				}
				continue
			}
			cp.hw = rp.HighWatermark
			d := dec[tp]
			recs, next, derr := d.recs, d.next, d.err
			if derr != nil {
				c.fetchErr = fmt.Errorf("client: fetch %s at %d: %w", tp, cp.position, derr)
				cp.backoff = now.Add(c.cfg.retryBackoff)
				got = true
				continue
			}
			if len(recs) == 0 {
				// Only control or aborted records: skip past them.
				cp.position = max(cp.position, next)
				continue
			}
			cp.buffered = true
			c.buffer = append(c.buffer, &fetched{tp: tp, gen: cp.gen, recs: recs, next: next})
			got = true
		}
	}
	release()
	if got {
		c.signal(c.dataCh)
	}
}

type fetchPos struct {
	gen    uint64
	offset int64
}

type decoded struct {
	recs []*Record
	next int64
	err  error
}

// decodeAll decodes every partition of a fetch response that was asked for.
func (c *Consumer) decodeAll(r *kmsg.FetchResponse, asked map[TopicPartition]fetchPos) map[TopicPartition]decoded {
	out := make(map[TopicPartition]decoded, len(asked))
	for _, t := range r.Topics {
		for i := range t.Partitions {
			rp := &t.Partitions[i]
			tp := TopicPartition{t.Topic, rp.Partition}
			pos, ok := asked[tp]
			if !ok || rp.ErrorCode != 0 {
				continue
			}
			recs, next, err := decodeFetch(tp, pos.offset, rp, c.cfg.isolation == ReadCommitted)
			out[tp] = decoded{recs, next, err}
		}
	}
	return out
}

// decodeFetch decodes one partition's record batches from offset on. A
// truncated last batch (the broker cuts at max bytes) is dropped. With
// readCommitted, aborted transactions' records are skipped.
func decodeFetch(tp TopicPartition, offset int64, rp *kmsg.FetchResponseTopicPartition, readCommitted bool) ([]*Record, int64, error) {
	data := rp.RecordBatches
	next := offset
	var out []*Record
	var aborted []kmsg.FetchResponseTopicPartitionAbortedTransaction
	activeAborts := map[int64]bool{}
	if readCommitted {
		aborted = slices.Clone(rp.AbortedTransactions)
		slices.SortFunc(aborted, func(a, b kmsg.FetchResponseTopicPartitionAbortedTransaction) int {
			return int(a.FirstOffset - b.FirstOffset)
		})
	}
	for len(data) > 0 {
		b, rest, h, err := batch.Next(data)
		if err != nil {
			if errors.Is(err, batch.ErrTruncated) {
				break
			}
			if len(out) > 0 {
				break // return what decoded; the error recurs on the next fetch
			}
			return nil, next, err
		}
		data = rest
		if h.LastOffset() < offset {
			continue
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= h.LastOffset() {
			activeAborts[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		_, recs, err := batch.Records(b)
		if err != nil {
			if len(out) > 0 {
				break
			}
			return nil, next, err
		}
		next = h.LastOffset() + 1
		if h.IsControl() {
			if readCommitted && len(recs) > 0 && len(recs[0].Key) >= 4 && recs[0].Key[3] == 0 {
				delete(activeAborts, h.ProducerID) // abort marker ends the transaction
			}
			continue
		}
		if readCommitted && h.IsTransactional() && activeAborts[h.ProducerID] {
			continue
		}
		base := time.UnixMilli(h.FirstTimestamp)
		slab := make([]Record, len(recs)) // one allocation per batch, not per record
		for i := range recs {
			r := &recs[i]
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off < offset {
				continue
			}
			rec := &slab[i]
			*rec = Record{
				Topic: tp.Topic, Partition: tp.Partition, Offset: off,
				Key: r.Key, Value: r.Value, LeaderEpoch: h.PartitionLeaderEpoch,
			}
			if h.LogAppendTime() {
				rec.Timestamp = time.UnixMilli(h.MaxTimestamp)
			} else {
				rec.Timestamp = base.Add(time.Duration(r.TimestampDelta) * time.Millisecond)
			}
			if len(r.Headers) > 0 {
				rec.Headers = make([]Header, len(r.Headers))
				for j, hd := range r.Headers {
					rec.Headers[j] = Header{Key: hd.Key, Value: hd.Value}
				}
			}
			out = append(out, rec)
		}
	}
	return out, next, nil
}

// resolveResets runs ListOffsets for partitions waiting on
// auto.offset.reset or a SeekToBeginning/End. With wait, errors are returned.
func (c *Consumer) resolveResets(ctx context.Context, wait bool) error {
	m := c.cl.meta.Load()
	type want struct {
		tp  TopicPartition
		ts  int64
		gen uint64
	}
	byNode := map[int32][]want{}
	c.mu.Lock()
	noneErr := error(nil)
	for _, cp := range c.parts {
		if !cp.needOffset || cp.resetTo == 0 {
			continue
		}
		if cp.resetTo == -3 {
			noneErr = fmt.Errorf("%w: %s", ErrNoOffsetForPartition, cp.tp)
			continue
		}
		leader, _, ok := m.leader(cp.tp)
		if !ok {
			c.cl.triggerRefresh()
			continue
		}
		byNode[leader] = append(byNode[leader], want{cp.tp, cp.resetTo, cp.gen})
	}
	if noneErr != nil && c.fetchErr == nil {
		c.fetchErr = noneErr
		c.signal(c.dataCh)
	}
	c.mu.Unlock()
	if len(byNode) == 0 {
		if wait {
			if noneErr != nil {
				return noneErr
			}
			return sleepCtx(ctx, c.cfg.retryBackoff)
		}
		return nil
	}
	var errs []error
	for node, ws := range byNode {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		req.IsolationLevel = int8(c.cfg.isolation)
		idx := map[string]int{}
		for _, w := range ws {
			i, ok := idx[w.tp.Topic]
			if !ok {
				i = len(req.Topics)
				idx[w.tp.Topic] = i
				t := kmsg.NewListOffsetsRequestTopic()
				t.Topic = w.tp.Topic
				req.Topics = append(req.Topics, t)
			}
			p := kmsg.NewListOffsetsRequestTopicPartition()
			p.Partition, p.Timestamp, p.CurrentLeaderEpoch = w.tp.Partition, w.ts, -1
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
		}
		resp, err := c.cl.request(ctx, node, kindGroup, req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		asked := make(map[TopicPartition]want, len(ws))
		for _, w := range ws {
			asked[w.tp] = w
		}
		c.mu.Lock()
		for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				tp := TopicPartition{t.Topic, p.Partition}
				cp := c.parts[tp]
				// A seek since the request makes its answer stale.
				if w, ok := asked[tp]; cp == nil || !cp.needOffset || !ok || cp.gen != w.gen || cp.resetTo != w.ts {
					continue
				}
				if err := ErrorForCode(p.ErrorCode); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", tp, err))
					c.cl.triggerRefresh()
					continue
				}
				cp.position, cp.needOffset, cp.leaderEpoch = p.Offset, false, -1
			}
		}
		c.mu.Unlock()
	}
	c.signal(c.fetchWake)
	return errors.Join(errs...)
}

// resolveCommitted looks up committed offsets for partitions that start from
// them (group members and assigned consumers with group.id).
func (c *Consumer) resolveCommitted(ctx context.Context) error {
	if c.cfg.groupID == "" {
		return nil
	}
	c.mu.Lock()
	var tps []TopicPartition
	for _, cp := range c.parts {
		if cp.needOffset && cp.resetTo == 0 {
			tps = append(tps, cp.tp)
		}
	}
	c.mu.Unlock()
	if len(tps) == 0 {
		return nil
	}
	offs, err := c.committed(ctx, tps)
	if err != nil {
		return err
	}
	c.mu.Lock()
	for _, tp := range tps {
		cp := c.parts[tp]
		if cp == nil || !cp.needOffset || cp.resetTo != 0 {
			continue
		}
		if o, ok := offs[tp]; ok && o.Offset >= 0 {
			cp.position, cp.leaderEpoch, cp.needOffset = o.Offset, o.LeaderEpoch, false
		} else {
			cp.resetTo = c.resetTimestamp()
		}
	}
	c.mu.Unlock()
	c.signal(c.fetchWake)
	return nil
}

// Close leaves the group (committing first with auto commit; static members
// stay in the group until their session times out), stops fetching and closes
// connections. Records not yet returned by Poll are dropped.
func (c *Consumer) Close(ctx context.Context) error {
	c.closeMu.Lock() // a concurrent Close waits for this one
	defer c.closeMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.Wakeup() // unblock a Poll so we can take pollMu
	c.pollMu.Lock()
	c.wakeup.Store(false)
	var err error
	if c.group != nil {
		err = c.group.leave(ctx)
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.pollMu.Unlock()
	close(c.quit)
	c.cl.close() // fails in-flight fetches so fetchLoop can exit
	c.wg.Wait()
	return err
}
