package coordinator

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnOffsets are offsets committed inside transactions not yet decided:
// producer ID → group → partition → offset.
type txnOffsets map[int64]map[string]map[topicPartition]offsetEntry

func (t txnOffsets) put(pid int64, group string, tp topicPartition, e offsetEntry) {
	gs := t[pid]
	if gs == nil {
		gs = map[string]map[topicPartition]offsetEntry{}
		t[pid] = gs
	}
	if gs[group] == nil {
		gs[group] = map[topicPartition]offsetEntry{}
	}
	gs[group][tp] = e
}

// pendingFor reports whether an open transaction holds an offset of group
// for tp (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT).
func (t txnOffsets) pendingFor(group string, tp topicPartition) bool {
	for _, gs := range t {
		if _, ok := gs[group][tp]; ok {
			return true
		}
	}
	return false
}

// ReplayTxn applies, while loading, an offset record written in producer
// pid's transaction: it waits for that transaction's marker (ReplayMarker).
func (c *Coordinator) ReplayTxn(pid int64, key, value []byte) error {
	if c.status != statusLoading {
		return errors.New("coordinator: ReplayTxn after CompleteLoad")
	}
	k, err := decodeKey(key)
	if err != nil {
		return err
	}
	if k.kind != keyOffset || value == nil {
		return nil // only offsets are written in transactions
	}
	e, err := decodeOffsetValue(value)
	if err != nil {
		return err
	}
	c.load.txn.put(pid, k.group, k.tp, e)
	return nil
}

// ReplayMarker applies, while loading, the marker that ended producer pid's
// transaction: a commit makes its offsets the committed ones.
func (c *Coordinator) ReplayMarker(pid int64, commit bool) {
	if c.status != statusLoading {
		return
	}
	if commit {
		for group, offs := range c.load.txn[pid] {
			m := c.load.offsets[group]
			if m == nil {
				m = make(map[topicPartition]offsetEntry)
				c.load.offsets[group] = m
			}
			for tp, e := range offs {
				m[tp] = e
			}
		}
	}
	delete(c.load.txn, pid)
}

// CompleteTxn applies the marker that ended producer pid's transaction in
// this partition: on commit its offsets become the groups' committed
// offsets, on abort they are dropped.
func (c *Coordinator) CompleteTxn(now time.Time, pid int64, commit bool) {
	ms := c.observe(now)
	if c.status != statusActive {
		return
	}
	if commit {
		for group, offs := range c.txnPending[pid] {
			g := c.groups[group]
			if g == nil {
				g = c.newGroup(group, ms)
			}
			if g.state == StateDead {
				continue
			}
			for tp, e := range offs {
				g.offsets[tp] = e
			}
			c.touch(g)
		}
	}
	delete(c.txnPending, pid)
}

// TxnOffsetCommit handles TxnOffsetCommit v0–v5: offsets committed in
// producer pid's transaction are written at once (as part of it) but take
// effect only when its commit marker arrives (CompleteTxn). A member
// generation (v3+, KIP-447) is checked as OffsetCommit checks it; without
// one the commit is accepted, as Kafka does for older clients.
func (c *Coordinator) TxnOffsetCommit(now time.Time, req *kmsg.TxnOffsetCommitRequest, respond func(*kmsg.TxnOffsetCommitResponse)) {
	ms := c.observe(now)
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	fail := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		respond(resp)
	}
	if code := c.groupError(req.Group, true); code != 0 {
		fail(code)
		return
	}
	generation, memberID := int32(-1), ""
	var instanceID *string
	if req.Version >= 3 {
		generation, memberID, instanceID = req.Generation, req.MemberID, req.InstanceID
	}
	g := c.groups[req.Group]
	if g == nil {
		if generation >= 0 {
			fail(kerr.IllegalGeneration.Code)
			return
		}
		g = c.newGroup(req.Group, ms)
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if code := g.validateOffsetCommit(generation, memberID, instanceID); code != 0 {
			fail(code)
			return
		}
	}
	type item struct {
		tp topicPartition
		e  offsetEntry
	}
	var (
		items   []item
		records []Record
	)
	for ti, t := range req.Topics {
		for pi, p := range t.Partitions {
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if len(md) > c.cfg.metadataMaxBytes {
				resp.Topics[ti].Partitions[pi].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			tp := topicPartition{t.Topic, p.Partition}
			e := offsetEntry{offset: p.Offset, leaderEpoch: p.LeaderEpoch, metadata: md, commitTimestamp: ms, expireTimestamp: -1}
			items = append(items, item{tp, e})
			records = append(records, offsetRecord(g.id, tp, e))
		}
	}
	if len(records) == 0 {
		respond(resp)
		return
	}
	c.appendTxn(req.ProducerID, req.ProducerEpoch, records, func(err error) {
		if err != nil {
			code := storeOffsetsError(err)
			if code == kerr.InvalidProducerEpoch.Code && req.Version >= 2 {
				code = kerr.ProducerFenced.Code
			}
			fail(code)
			return
		}
		for _, it := range items {
			c.txnPending.put(req.ProducerID, g.id, it.tp, it.e)
		}
		respond(resp)
	})
}

// appendTxn is append for records of producer pid's transaction.
func (c *Coordinator) appendTxn(pid int64, epoch int16, records []Record, onDone func(err error)) {
	var commit CommitFunc
	if c.cfg.txnCommit != nil {
		commit = func(rs []Record, done func(error)) { c.cfg.txnCommit(pid, epoch, rs, done) }
	}
	c.appendWith(commit, records, onDone)
}
