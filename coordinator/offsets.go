package coordinator

import (
	"cmp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sortTopicPartitions(tps []topicPartition) {
	slices.SortFunc(tps, func(a, b topicPartition) int {
		if c := cmp.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return cmp.Compare(a.partition, b.partition)
	})
}

// OffsetCommit handles OffsetCommit v0–v9. Members commit with their
// generation; generation -1 with an empty member id is a "simple" commit,
// allowed while the group has no members (and creating the group if need
// be). respond is called once the offsets are written, or at once on errors.
// Checking that the topics exist is the caller's job
// (UNKNOWN_TOPIC_OR_PARTITION), as in Kafka's request handler.
func (c *Coordinator) OffsetCommit(now time.Time, req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	ms := c.observe(now)
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
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
	if req.Version >= 1 {
		generation, memberID = req.Generation, req.MemberID
	}
	var instanceID *string
	if req.Version >= 7 {
		instanceID = req.InstanceID
	}
	g := c.groups[req.Group]
	if g == nil {
		if generation >= 0 {
			// A commit from a generation of a group we do not know.
			fail(kerr.IllegalGeneration.Code)
			return
		}
		g = c.newGroup(req.Group, ms) // not using group management
	}
	if code := g.validateOffsetCommit(generation, memberID, instanceID); code != 0 {
		fail(code)
		return
	}
	switch g.state {
	case StateStable, StatePreparingRebalance:
		// A commit counts as a heartbeat. During PreparingRebalance it is
		// still accepted: the heartbeat response tells the member to rejoin.
		g.scheduleHeartbeat(g.members[memberID], ms, int64(g.members[memberID].sessionTimeoutMs))
		c.touch(g)
	case StateCompletingRebalance:
		// The member has the new generation but no assignment yet.
		fail(kerr.RebalanceInProgress.Code)
		return
	}

	type item struct {
		ti, pi int
		tp     topicPartition
		e      offsetEntry
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
			e := offsetEntry{offset: p.Offset, leaderEpoch: -1, metadata: md, commitTimestamp: ms, expireTimestamp: -1}
			if req.Version >= 6 {
				e.leaderEpoch = p.LeaderEpoch
			}
			if req.Version == 1 && p.Timestamp != -1 {
				e.commitTimestamp = p.Timestamp
			}
			if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
				e.expireTimestamp = ms + req.RetentionTimeMillis
			}
			tp := topicPartition{t.Topic, p.Partition}
			items = append(items, item{ti, pi, tp, e})
			records = append(records, offsetRecord(g.id, tp, e))
			g.pendingOffsets[tp]++
		}
	}
	if len(records) == 0 {
		respond(resp)
		return
	}
	c.append(records, func(err error) {
		for _, it := range items {
			if g.pendingOffsets[it.tp]--; g.pendingOffsets[it.tp] <= 0 {
				delete(g.pendingOffsets, it.tp)
			}
		}
		if err != nil {
			code := storeOffsetsError(err)
			for _, it := range items {
				resp.Topics[it.ti].Partitions[it.pi].ErrorCode = code
			}
		} else if g.state != StateDead {
			for _, it := range items {
				g.offsets[it.tp] = it.e
			}
		}
		respond(resp)
	})
}

// validateOffsetCommit is Kafka's validateOffsetCommit for non-transactional
// commits.
func (g *Group) validateOffsetCommit(generation int32, memberID string, instanceID *string) int16 {
	if generation >= 0 || memberID != "" || instanceID != nil {
		switch {
		case g.isStaticMemberFenced(instanceID, memberID):
			return kerr.FencedInstanceID.Code
		case g.members[memberID] == nil:
			return kerr.UnknownMemberID.Code
		case generation != g.generation:
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	if g.state != StateEmpty {
		// Only members may commit while the group has members.
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// OffsetFetch handles OffsetFetch v0–v9 for groups of this coordinator. For
// a v8+ request whose groups live on several coordinators, call FetchOffsets
// per group instead.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	requireStable := req.Version >= 7 && req.RequireStable
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			resp.Groups = append(resp.Groups, c.FetchOffsets(rg.Group, rg.Topics, requireStable))
		}
		return resp
	}
	var topics []kmsg.OffsetFetchRequestGroupTopic
	if req.Topics != nil || req.Version < 2 { // null (v2+) means all
		topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			gt := kmsg.NewOffsetFetchRequestGroupTopic()
			gt.Topic = t.Topic
			gt.Partitions = t.Partitions
			topics = append(topics, gt)
		}
	}
	rg := c.FetchOffsets(req.Group, topics, requireStable)
	if rg.ErrorCode != 0 {
		if req.Version >= 2 {
			resp.ErrorCode = rg.ErrorCode
			return resp
		}
		// v0–v1 have no group-level error: report it per partition.
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition = p
				rp.Offset = -1
				rp.LeaderEpoch = -1
				rp.ErrorCode = rg.ErrorCode
				md := ""
				rp.Metadata = &md
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, gt := range rg.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = gt.Topic
		for _, gp := range gt.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition = gp.Partition
			rp.Offset = gp.Offset
			rp.LeaderEpoch = gp.LeaderEpoch
			rp.Metadata = gp.Metadata
			rp.ErrorCode = gp.ErrorCode
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// FetchOffsets returns one group's committed offsets, in the form of an
// OffsetFetch v8+ response group. topics nil means every committed offset.
// An unknown group has no offsets: each requested partition gets offset -1
// without error, so that a consumer falls back to auto.offset.reset.
func (c *Coordinator) FetchOffsets(groupID string, topics []kmsg.OffsetFetchRequestGroupTopic, requireStable bool) kmsg.OffsetFetchResponseGroup {
	rg := kmsg.NewOffsetFetchResponseGroup()
	rg.Group = groupID
	if code := c.groupError(groupID, true); code != 0 {
		rg.ErrorCode = code
		return rg
	}
	g := c.groups[groupID]
	partition := func(tp topicPartition) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition = tp.partition
		rp.Offset = -1
		rp.LeaderEpoch = -1
		md := ""
		if g != nil {
			if requireStable && (g.pendingOffsets[tp] > 0 || c.txnPending.pendingFor(groupID, tp)) {
				rp.ErrorCode = kerr.UnstableOffsetCommit.Code
			} else if e, ok := g.offsets[tp]; ok {
				rp.Offset, rp.LeaderEpoch, md = e.offset, e.leaderEpoch, e.metadata
			}
		}
		rp.Metadata = &md
		return rp
	}
	if topics != nil {
		for _, t := range topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.Topic
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, partition(topicPartition{t.Topic, p}))
			}
			rg.Topics = append(rg.Topics, rt)
		}
		return rg
	}
	if g == nil {
		return rg
	}
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	sortTopicPartitions(tps)
	for _, tp := range tps {
		if n := len(rg.Topics); n == 0 || rg.Topics[n-1].Topic != tp.topic {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = tp.topic
			rg.Topics = append(rg.Topics, rt)
		}
		rt := &rg.Topics[len(rg.Topics)-1]
		rt.Partitions = append(rt.Partitions, partition(tp))
	}
	return rg
}

// OffsetDelete handles OffsetDelete v0: an Empty group's offsets can all be
// deleted; a consumer group with members keeps the offsets of topics it
// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC); other groups with members get
// NON_EMPTY_GROUP. respond is called once the tombstones are written.
func (c *Coordinator) OffsetDelete(now time.Time, req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse)) {
	c.observe(now)
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	if code := c.groupError(req.Group, false); code != 0 {
		resp.ErrorCode = code
		respond(resp)
		return
	}
	g := c.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		respond(resp)
		return
	}
	if g.state != StateEmpty && g.protocolType != consumerProtocolType {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		respond(resp)
		return
	}
	var (
		tps     []topicPartition
		records []Record
	)
	for _, t := range req.Topics {
		rt := kmsg.OffsetDeleteResponseTopic{Topic: t.Topic}
		subscribed := g.state != StateEmpty && g.IsSubscribedToTopic(t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.OffsetDeleteResponseTopicPartition{Partition: p.Partition}
			tp := topicPartition{t.Topic, p.Partition}
			_, committed := g.offsets[tp]
			switch {
			case subscribed:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			case committed || g.pendingOffsets[tp] > 0:
				tps = append(tps, tp)
				records = append(records, offsetTombstone(g.id, tp))
				g.pendingOffsets[tp]++
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(records) == 0 {
		respond(resp)
		return
	}
	// Applied when written, in log order with the commits around it.
	c.append(records, func(err error) {
		for _, tp := range tps {
			if g.pendingOffsets[tp]--; g.pendingOffsets[tp] <= 0 {
				delete(g.pendingOffsets, tp)
			}
		}
		if err != nil {
			resp.ErrorCode = storeOffsetsError(err)
			resp.Topics = nil // Kafka sends no partitions with a group error
		} else if g.state != StateDead {
			for _, tp := range tps {
				delete(g.offsets, tp)
			}
			g.c.maybeRemoveEmptyGroup(g, g.c.now)
		}
		respond(resp)
	})
}

// maybeRemoveEmptyGroup removes an Empty group left without offsets, as
// Kafka's cleanupGroupMetadata does, writing its tombstone if it ever had
// a generation. Groups still handing out member ids are kept.
func (c *Coordinator) maybeRemoveEmptyGroup(g *Group, now int64) {
	if !g.unused() {
		return
	}
	gen := g.generation
	c.removeGroup(g, now)
	if gen > 0 {
		c.append([]Record{groupTombstone(g.id)}, func(error) {})
	}
}

// unused: Empty, no offsets, none being written, no member ids handed out.
func (g *Group) unused() bool {
	return g.state == StateEmpty && len(g.offsets) == 0 && len(g.pendingOffsets) == 0 && len(g.pending) == 0
}

// expiredOffsets are the offsets past offsets.retention.minutes, by Kafka's
// rules: an Empty group's offsets expire retention after it became empty; a
// Stable consumer group's offsets of topics it no longer subscribes to expire
// retention after their commit; a simple group's expire retention after
// their commit. Offsets written by old clients carry their own expiry.
func (g *Group) expiredOffsets(now, retentionMs int64) []topicPartition {
	var (
		base           func(offsetEntry) int64
		skipSubscribed bool
	)
	commitTime := func(e offsetEntry) int64 { return e.commitTimestamp }
	switch {
	case g.protocolType != "" && g.state == StateEmpty:
		base = commitTime
		if g.stateTimestamp >= 0 {
			base = func(offsetEntry) int64 { return g.stateTimestamp }
		}
	case g.protocolType == consumerProtocolType && g.subscribed != nil && g.state == StateStable:
		base, skipSubscribed = commitTime, true
	case g.protocolType == "":
		base = commitTime
	default:
		return nil
	}
	var out []topicPartition
	for tp, e := range g.offsets {
		if (skipSubscribed && g.subscribed[tp.topic]) || g.pendingOffsets[tp] > 0 {
			continue
		}
		if e.expireTimestamp >= 0 {
			if now >= e.expireTimestamp {
				out = append(out, tp)
			}
		} else if now-base(e) >= retentionMs {
			out = append(out, tp)
		}
	}
	sortTopicPartitions(out)
	return out
}

// cleanupGroups is the periodic offsets retention check: expired offsets
// are deleted, then Empty groups without offsets.
func (c *Coordinator) cleanupGroups(now int64) {
	var records []Record
	for _, id := range c.GroupIDs() {
		g := c.groups[id]
		for _, tp := range g.expiredOffsets(now, c.cfg.retentionMs) {
			delete(g.offsets, tp)
			records = append(records, offsetTombstone(g.id, tp))
		}
		if g.unused() {
			if g.generation > 0 {
				records = append(records, groupTombstone(g.id))
			}
			c.removeGroup(g, now)
		}
	}
	if len(records) > 0 {
		// Kafka does not retry: an offset that survives a failed write
		// expires again at the next check on whichever broker then leads.
		c.append(records, func(error) {})
	}
}
