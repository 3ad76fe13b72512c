package coordinator

import (
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type status int8

const (
	statusLoading status = iota
	statusActive
	statusUnloaded
)

// Coordinator is the group coordinator for the groups of one
// __consumer_offsets partition: it routes requests by group id, owns the
// groups' timers and orders the writes to the partition.
//
// It is not safe for concurrent use: every method, every done of its
// CommitFunc, must be called from one goroutine (the actor's). Response
// callbacks (respond) are called from within those calls, synchronously or
// later, exactly once each; they must not call back into the Coordinator.
type Coordinator struct {
	cfg    settings
	status status
	groups map[string]*Group
	timers groupHeap // groups with a pending deadline, earliest first

	writes   []*write // in flight, in append order
	draining bool

	now             int64 // latest time seen, for work done on write completion
	memberIDCounter uint64
	nextExpiryCheck int64 // ms; offsets retention check

	load *loadState // while loading

	// txnPending holds offsets committed in open transactions, by
	// producer ID: applied by a commit marker, dropped by an abort.
	txnPending txnOffsets
}

// NewCoordinator returns a coordinator in the loading state: feed it the
// partition's records with Replay, then call CompleteLoad. Until then
// requests are answered with COORDINATOR_LOAD_IN_PROGRESS.
func NewCoordinator(cfg Config) *Coordinator {
	return &Coordinator{
		cfg:        cfg.settings(),
		status:     statusLoading,
		groups:     make(map[string]*Group),
		load:       newLoadState(),
		txnPending: txnOffsets{},
	}
}

// Load builds an active coordinator from the records of a __consumer_offsets
// partition, in log order.
func Load(cfg Config, now time.Time, records []Record) (*Coordinator, error) {
	c := NewCoordinator(cfg)
	for i, r := range records {
		if err := c.Replay(r.Key, r.Value); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	c.CompleteLoad(now)
	return c, nil
}

// Group returns the group with this id, or nil.
func (c *Coordinator) Group(groupID string) *Group { return c.groups[groupID] }

// GroupIDs returns the ids of all groups, sorted.
func (c *Coordinator) GroupIDs() []string {
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// GroupsSubscribedTo returns the ids of the consumer groups whose current
// generation subscribes to topic, sorted: the groups to TriggerRebalance
// when the topic gains partitions.
func (c *Coordinator) GroupsSubscribedTo(topic string) []string {
	var ids []string
	for id, g := range c.groups {
		if g.IsSubscribedToTopic(topic) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// TriggerRebalance starts a rebalance of a Stable or CompletingRebalance
// group, so that its leader assigns again (for example after a subscribed
// topic gained partitions). It reports whether a rebalance started.
func (c *Coordinator) TriggerRebalance(now time.Time, groupID string) bool {
	ms := c.observe(now)
	g := c.groups[groupID]
	if c.status != statusActive || g == nil {
		return false
	}
	defer c.touch(g)
	if g.state != StateStable && g.state != StateCompletingRebalance {
		return false
	}
	g.prepareRebalance(ms)
	return true
}

// observe records the caller's clock and returns it in milliseconds. Time
// never goes backwards for the coordinator, so a late Tick cannot reorder
// deadlines.
func (c *Coordinator) observe(now time.Time) int64 {
	ms := now.UnixMilli()
	if ms > c.now {
		c.now = ms
	}
	return c.now
}

// groupError is the coordinator-level check Kafka's validateGroupStatus does
// before looking at a group. allowEmptyID is true for the APIs that accept
// the empty group id (OffsetCommit/Fetch, DescribeGroups, DeleteGroups).
func (c *Coordinator) groupError(groupID string, allowEmptyID bool) int16 {
	switch {
	case groupID == "" && !allowEmptyID:
		return kerr.InvalidGroupID.Code
	case c.status == statusUnloaded:
		return kerr.NotCoordinator.Code
	case c.cfg.partitions > 0 && PartitionFor(groupID, c.cfg.partitions) != c.cfg.partition:
		return kerr.NotCoordinator.Code
	case c.status == statusLoading:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

// newGroup creates and registers an Empty group.
func (c *Coordinator) newGroup(id string, now int64) *Group {
	g := newGroup(c, id, now)
	c.groups[id] = g
	return g
}

// removeGroup makes g Dead and forgets it.
func (c *Coordinator) removeGroup(g *Group, now int64) {
	g.transition(StateDead, now)
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	if g.heapIndex >= 0 {
		heap.Remove(&c.timers, g.heapIndex)
	}
}

// newMemberID builds a member id as Kafka does, prefix + "-" + a unique
// suffix, skipping ids the group already knows.
func (c *Coordinator) newMemberID(g *Group, prefix string) string {
	for {
		var suffix string
		if c.cfg.memberIDSuffix != nil {
			suffix = c.cfg.memberIDSuffix()
		} else {
			c.memberIDCounter++
			suffix = strconv.FormatUint(c.memberIDCounter, 10)
		}
		id := prefix + "-" + suffix
		if _, ok := g.members[id]; ok {
			continue
		}
		if _, ok := g.pending[id]; ok {
			continue
		}
		return id
	}
}

// ---- writes ----

type write struct {
	finished  bool
	delivered bool
	err       error
	onDone    func(err error)
}

// errUnloaded completes writes still in flight when the coordinator unloads.
var errUnloaded = kerr.NotCoordinator

// append hands records to the CommitFunc; onDone runs once the write and all
// earlier ones have completed, so effects apply in log order.
func (c *Coordinator) append(records []Record, onDone func(err error)) {
	c.appendWith(c.cfg.commit, records, onDone)
}

// appendWith is append through a given commit function (nil: in memory).
func (c *Coordinator) appendWith(commit CommitFunc, records []Record, onDone func(err error)) {
	if c.status == statusUnloaded {
		onDone(errUnloaded)
		return
	}
	w := &write{onDone: onDone}
	c.writes = append(c.writes, w)
	done := func(err error) {
		if w.finished || c.status == statusUnloaded {
			return
		}
		w.finished, w.err = true, err
		c.drain()
	}
	if commit == nil {
		done(nil)
		return
	}
	commit(records, done)
}

// drain delivers completed writes at the head of the queue. It is not
// re-entered: a write completed by an onDone is delivered by the running loop.
func (c *Coordinator) drain() {
	if c.draining {
		return
	}
	c.draining = true
	for len(c.writes) > 0 && c.writes[0].finished {
		w := c.writes[0]
		c.writes[0] = nil
		c.writes = c.writes[1:]
		w.delivered = true
		w.onDone(w.err)
	}
	c.draining = false
}

// storeGroupError translates a failed group metadata write into the response
// error, as Kafka's GroupMetadataManager.storeGroup does.
func storeGroupError(err error) int16 {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.CoordinatorNotAvailable.Code
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator.Code
	case kerr.RequestTimedOut:
		return kerr.RebalanceInProgress.Code
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		return kerr.UnknownServerError.Code
	}
	return ke.Code
}

// storeOffsetsError translates a failed offset commit write, as Kafka's
// GroupMetadataManager.storeOffsets does.
func storeOffsetsError(err error) int16 {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.CoordinatorNotAvailable.Code
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		return kerr.InvalidCommitOffsetSize.Code
	}
	return ke.Code
}

// ---- timers ----

// Tick fires every deadline that is due at now: session timeouts, the
// rebalance and initial rebalance delays, pending-sync and MEMBER_ID_REQUIRED
// expirations, and the periodic offsets retention check. Call it at (or
// after) NextDeadline.
func (c *Coordinator) Tick(now time.Time) {
	ms := c.observe(now)
	if c.status != statusActive {
		return
	}
	// Fire each due group once per Tick; deadlines that handlers set at or
	// before now (zero timeouts) wait for the next Tick instead of looping.
	var due []*Group
	for c.timers.Len() > 0 && c.timers[0].deadline <= ms {
		due = append(due, heap.Pop(&c.timers).(*Group))
	}
	for _, g := range due {
		if c.groups[g.id] != g {
			continue
		}
		g.fireTimers(ms)
		c.touch(g)
	}
	if c.nextExpiryCheck <= ms {
		c.nextExpiryCheck = ms + c.cfg.retentionCheckMs
		c.cleanupGroups(ms)
	}
}

// NextDeadline returns when Tick should next be called; the zero Time if
// nothing is scheduled (loading or unloaded).
func (c *Coordinator) NextDeadline() time.Time {
	if c.status != statusActive {
		return time.Time{}
	}
	next := c.nextExpiryCheck
	if c.timers.Len() > 0 && c.timers[0].deadline < next {
		next = c.timers[0].deadline
	}
	return time.UnixMilli(next)
}

// touch recomputes g's next deadline after it changed.
func (c *Coordinator) touch(g *Group) {
	if c.groups[g.id] != g {
		return
	}
	g.deadline = g.nextDeadline()
	switch {
	case g.deadline == 0 && g.heapIndex >= 0:
		heap.Remove(&c.timers, g.heapIndex)
	case g.deadline != 0 && g.heapIndex >= 0:
		heap.Fix(&c.timers, g.heapIndex)
	case g.deadline != 0:
		heap.Push(&c.timers, g)
	}
}

type groupHeap []*Group

func (h groupHeap) Len() int { return len(h) }
func (h groupHeap) Less(i, j int) bool {
	if h[i].deadline != h[j].deadline {
		return h[i].deadline < h[j].deadline
	}
	return h[i].id < h[j].id
}
func (h groupHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}
func (h *groupHeap) Push(x any) {
	g := x.(*Group)
	g.heapIndex = len(*h)
	*h = append(*h, g)
}
func (h *groupHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	g.heapIndex = -1
	return g
}

// ---- loading and unloading ----

type loadState struct {
	metadata map[string]*kmsg.GroupMetadataValue
	offsets  map[string]map[topicPartition]offsetEntry
	txn      txnOffsets // open transactions' offsets met while replaying
}

func newLoadState() *loadState {
	return &loadState{
		metadata: make(map[string]*kmsg.GroupMetadataValue),
		offsets:  make(map[string]map[topicPartition]offsetEntry),
		txn:      txnOffsets{},
	}
}

// Replay applies one record of the partition, in log order, while loading:
// the latest record of a key wins and a tombstone (nil value) deletes it.
// Records of newer group types (KIP-848 and later key versions) are skipped.
// Do not replay the coordinator's own writes after CompleteLoad: its state
// already includes them.
func (c *Coordinator) Replay(key, value []byte) error {
	if c.status != statusLoading {
		return errors.New("coordinator: Replay after CompleteLoad")
	}
	k, err := decodeKey(key)
	if err != nil {
		return err
	}
	switch k.kind {
	case keyOffset:
		if value == nil {
			delete(c.load.offsets[k.group], k.tp)
			return nil
		}
		e, err := decodeOffsetValue(value)
		if err != nil {
			return err
		}
		m := c.load.offsets[k.group]
		if m == nil {
			m = make(map[topicPartition]offsetEntry)
			c.load.offsets[k.group] = m
		}
		m[k.tp] = e
	case keyGroup:
		if value == nil {
			delete(c.load.metadata, k.group)
			return nil
		}
		v, err := decodeGroupValue(value)
		if err != nil {
			return err
		}
		c.load.metadata[k.group] = v
	}
	return nil
}

// CompleteLoad ends loading: groups are rebuilt from the replayed records
// (Stable if they have members, else Empty; groups with only offsets are
// simple Empty groups) and start serving. Loaded members must heartbeat
// within their session timeout from now.
func (c *Coordinator) CompleteLoad(now time.Time) {
	ms := c.observe(now)
	if c.status != statusLoading {
		return
	}
	ids := make([]string, 0, len(c.load.metadata)+len(c.load.offsets))
	for id := range c.load.metadata {
		ids = append(ids, id)
	}
	for id, offs := range c.load.offsets {
		if _, ok := c.load.metadata[id]; !ok && len(offs) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	c.status = statusActive
	for _, id := range ids {
		g := c.newGroup(id, ms)
		if offs := c.load.offsets[id]; len(offs) > 0 {
			g.offsets = offs
		}
		if md := c.load.metadata[id]; md != nil {
			g.loadMetadata(md, ms)
		}
		c.touch(g)
	}
	c.txnPending = c.load.txn
	c.load = nil
	c.nextExpiryCheck = ms // Kafka runs the first cleanup at startup
}

// Unload gives the partition up (leadership moved, broker stopping): every
// parked JoinGroup/SyncGroup and every response waiting for a write is
// answered with NOT_COORDINATOR, and later requests get NOT_COORDINATOR.
// Results of writes still in flight are ignored.
func (c *Coordinator) Unload() {
	if c.status == statusUnloaded {
		return
	}
	c.status = statusUnloaded
	for _, id := range c.GroupIDs() {
		c.groups[id].unload(c.now)
	}
	writes := c.writes
	c.writes = nil
	c.groups = make(map[string]*Group)
	c.timers = nil
	c.load = nil
	for _, w := range writes {
		if !w.delivered {
			w.finished, w.delivered = true, true
			w.onDone(errUnloaded)
		}
	}
}

// ---- admin APIs ----

// ListGroups answers ListGroups (v0–v5) with this coordinator's groups,
// sorted by id. A broker merges the answers of all its coordinators.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	switch c.status {
	case statusLoading:
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	case statusUnloaded:
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	}
	var states, types []string
	if req.Version >= 4 {
		states = req.StatesFilter
	}
	if req.Version >= 5 {
		types = req.TypesFilter
	}
	if len(types) > 0 && !slices.ContainsFunc(types, func(t string) bool { return strings.EqualFold(t, "classic") }) {
		return resp
	}
	for _, id := range c.GroupIDs() {
		g := c.groups[id]
		state := g.state.String()
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, state) }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = id
		lg.ProtocolType = g.protocolType
		lg.GroupState = state
		lg.GroupType = "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DescribeGroups answers DescribeGroups (v0–v5) for groups of this
// coordinator. For requests spanning coordinators, call DescribeGroup per
// group.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, c.DescribeGroup(id, req.IncludeAuthorizedOperations))
	}
	return resp
}

// groupAuthorizedOperations is what an unrestricted principal may do on a
// group (KIP-430 bit field): READ, DELETE, DESCRIBE.
const groupAuthorizedOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroup describes one group. An unknown group is reported as Dead
// without error, as Kafka does up to DescribeGroups v5. Member metadata and
// assignments are only included while the group is Stable.
func (c *Coordinator) DescribeGroup(groupID string, includeAuthorizedOperations bool) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = groupID
	if code := c.groupError(groupID, true); code != 0 {
		dg.ErrorCode = code
		return dg
	}
	if includeAuthorizedOperations {
		dg.AuthorizedOperations = groupAuthorizedOperations
	}
	g := c.groups[groupID]
	if g == nil {
		dg.State = StateDead.String()
		return dg
	}
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == StateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, id := range g.order {
		m := g.members[id]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		if stable {
			dm.ProtocolMetadata = m.metadata(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// DeleteGroups answers DeleteGroups (v0–v2) for groups of this coordinator:
// Empty groups are removed (tombstones for the group and its offsets), others
// get NON_EMPTY_GROUP, unknown ones GROUP_ID_NOT_FOUND. respond is called
// once the tombstones are written.
func (c *Coordinator) DeleteGroups(now time.Time, req *kmsg.DeleteGroupsRequest, respond func(*kmsg.DeleteGroupsResponse)) {
	ms := c.observe(now)
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	var (
		records []Record
		deleted []int // indexes into resp.Groups
		seen    = make(map[string]bool)
	)
	for _, id := range req.Groups {
		if seen[id] { // Kafka answers the set of requested ids
			continue
		}
		seen[id] = true
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		if code := c.groupError(id, true); code != 0 {
			rg.ErrorCode = code
		} else if g := c.groups[id]; g == nil {
			rg.ErrorCode = kerr.GroupIDNotFound.Code
		} else if g.state != StateEmpty {
			rg.ErrorCode = kerr.NonEmptyGroup.Code
		} else {
			records = append(records, g.deletionRecords()...)
			c.removeGroup(g, ms)
			deleted = append(deleted, len(resp.Groups))
		}
		resp.Groups = append(resp.Groups, rg)
	}
	if len(records) == 0 {
		respond(resp)
		return
	}
	c.append(records, func(err error) {
		if err != nil {
			code := storeGroupError(err)
			for _, i := range deleted {
				resp.Groups[i].ErrorCode = code
			}
		}
		respond(resp)
	})
}
