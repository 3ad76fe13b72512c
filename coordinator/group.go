package coordinator

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// GroupState is a classic group's state, named as Kafka names them in
// DescribeGroups and ListGroups.
type GroupState int8

// The classic group states (Kafka's GroupState).
const (
	// StateEmpty: no members; the group may still hold offsets.
	StateEmpty GroupState = iota
	// StatePreparingRebalance: waiting for members to (re)join.
	StatePreparingRebalance
	// StateCompletingRebalance: the join completed; waiting for the leader's
	// assignment in SyncGroup.
	StateCompletingRebalance
	// StateStable: the assignment is distributed.
	StateStable
	// StateDead: removed (deleted, expired or unloaded).
	StateDead
)

func (s GroupState) String() string {
	switch s {
	case StateEmpty:
		return "Empty"
	case StatePreparingRebalance:
		return "PreparingRebalance"
	case StateCompletingRebalance:
		return "CompletingRebalance"
	case StateStable:
		return "Stable"
	case StateDead:
		return "Dead"
	}
	return "Unknown"
}

// consumerProtocolType is the protocol type of Kafka's consumer groups, whose
// member metadata is a ConsumerMemberMetadata (subscription).
const consumerProtocolType = "consumer"

// Group is one classic consumer group (Kafka's GroupMetadata): members,
// generation, the selected protocol, timers, and committed offsets. It is
// driven through its Coordinator; its exported methods only inspect it.
type Group struct {
	c  *Coordinator
	id string

	state          GroupState
	stateTimestamp int64 // ms of the last transition; -1 unknown (old records)
	generation     int32
	protocolType   string // "" for simple (offsets-only) groups
	protocol       string // "" unless a generation is in progress
	leader         string

	members map[string]*member
	order   []string          // member ids in join order: leader fallback, responses
	static  map[string]string // group.instance.id → member id
	// pending are the member ids handed out with MEMBER_ID_REQUIRED (KIP-394)
	// that have not joined yet, with their expiry.
	pending         map[string]int64
	supported       map[string]int // protocol name → members supporting it
	numAwaitingJoin int
	pendingSync     map[string]bool // members that have not sent SyncGroup this generation
	newMemberAdded  bool            // extends the initial rebalance delay
	subscribed      map[string]bool // consumer groups: topics of this generation; nil unknown

	// The delayed join (Kafka's DelayedJoin/InitialDelayedJoin) and the
	// pending-sync expiration (DelayedSync); 0 = not scheduled.
	joinDeadline       int64
	initialDelay       bool
	initialDelayMs     int64
	initialRemainingMs int64
	syncDeadline       int64
	syncGeneration     int32

	offsets map[topicPartition]offsetEntry
	// pendingOffsets counts writes in flight per partition: they make
	// OffsetFetch(require_stable) answer UNSTABLE_OFFSET_COMMIT and keep the
	// partition from expiring.
	pendingOffsets map[topicPartition]int

	deadline  int64 // earliest timer; 0 none
	heapIndex int
}

type protocol struct {
	name     string
	metadata []byte
}

type member struct {
	id                 string
	instanceID         *string
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
	protocolType       string
	protocols          []protocol // in the member's order of preference
	assignment         []byte

	join *joinWaiter // parked JoinGroup
	sync *syncWaiter // parked SyncGroup

	// isNew: joined but not yet through a completed join; it cannot
	// heartbeat, so it expires after newMemberJoinTimeoutMs instead.
	isNew             bool
	heartbeatDeadline int64 // ms; 0 none
}

func (m *member) metadata(protocolName string) []byte {
	for _, p := range m.protocols {
		if p.name == protocolName {
			return p.metadata
		}
	}
	return nil
}

// matches reports whether the member joined with exactly these protocols.
func (m *member) matches(ps []protocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b protocol) bool {
		return a.name == b.name && bytes.Equal(a.metadata, b.metadata)
	})
}

func (m *member) isStatic() bool { return m.instanceID != nil }

// vote is the member's most preferred protocol among candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.name] {
			return p.name
		}
	}
	return ""
}

func newGroup(c *Coordinator, id string, now int64) *Group {
	return &Group{
		c:              c,
		id:             id,
		state:          StateEmpty,
		stateTimestamp: now,
		members:        make(map[string]*member),
		static:         make(map[string]string),
		pending:        make(map[string]int64),
		supported:      make(map[string]int),
		pendingSync:    make(map[string]bool),
		offsets:        make(map[topicPartition]offsetEntry),
		pendingOffsets: make(map[topicPartition]int),
		heapIndex:      -1,
	}
}

// ---- inspection ----

// ID is the group id.
func (g *Group) ID() string { return g.id }

// State is the group's state.
func (g *Group) State() GroupState { return g.state }

// Generation is the current generation id (0 for a new group).
func (g *Group) Generation() int32 { return g.generation }

// ProtocolType is the members' protocol type ("consumer", "connect"...),
// empty for a group only used to store offsets.
func (g *Group) ProtocolType() string { return g.protocolType }

// Protocol is the protocol (assignor) selected for the current generation.
func (g *Group) Protocol() string { return g.protocol }

// Leader is the member id of the leader, empty without members.
func (g *Group) Leader() string { return g.leader }

// MemberIDs returns the member ids in join order.
func (g *Group) MemberIDs() []string { return slices.Clone(g.order) }

// Assignment returns a member's assignment from the last completed SyncGroup.
func (g *Group) Assignment(memberID string) []byte {
	if m := g.members[memberID]; m != nil {
		return m.assignment
	}
	return nil
}

// IsSubscribedToTopic reports whether a consumer group's current generation
// subscribes to topic (decoded from the members' ConsumerMemberMetadata).
func (g *Group) IsSubscribedToTopic(topic string) bool { return g.subscribed[topic] }

// ---- membership bookkeeping (Kafka's GroupMetadata) ----

func (g *Group) transition(s GroupState, now int64) {
	from := g.state
	g.state = s
	g.stateTimestamp = now
	if h := g.c.cfg.onGroupState; h != nil && from != s {
		h(g.id, from, s, g.generation)
	}
}

func (g *Group) canRebalance() bool {
	return g.state == StateStable || g.state == StateCompletingRebalance || g.state == StateEmpty
}

func (g *Group) addMember(m *member, w *joinWaiter) {
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	for _, p := range m.protocols {
		g.supported[p.name]++
	}
	g.setJoinWaiter(m, w)
	delete(g.pending, m.id)
}

// removeMember forgets a member. Parked requests of the member are answered
// with UNKNOWN_MEMBER_ID so that no callback is lost.
func (g *Group) removeMember(id string) {
	if m := g.members[id]; m != nil {
		g.invokeJoin(m, joinError("", kerr.UnknownMemberID.Code))
		g.invokeSync(m, syncError(kerr.UnknownMemberID.Code))
		for _, p := range m.protocols {
			g.supported[p.name]--
			if g.supported[p.name] == 0 {
				delete(g.supported, p.name)
			}
		}
		if m.instanceID != nil && g.static[*m.instanceID] == id {
			delete(g.static, *m.instanceID)
		}
		delete(g.members, id)
		g.order = slices.DeleteFunc(g.order, func(s string) bool { return s == id })
	}
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	delete(g.pending, id)
	delete(g.pendingSync, id)
}

// updateMember replaces a member's protocols and timeouts and parks w
// (nil: none) as its JoinGroup.
func (g *Group) updateMember(m *member, ps []protocol, rebalanceTimeoutMs, sessionTimeoutMs int32, w *joinWaiter) {
	for _, p := range m.protocols {
		g.supported[p.name]--
		if g.supported[p.name] == 0 {
			delete(g.supported, p.name)
		}
	}
	m.protocols = ps
	for _, p := range ps {
		g.supported[p.name]++
	}
	m.rebalanceTimeoutMs = rebalanceTimeoutMs
	m.sessionTimeoutMs = sessionTimeoutMs
	g.setJoinWaiter(m, w)
}

// setJoinWaiter parks w as m's JoinGroup. A JoinGroup already parked for the
// member is superseded (the client retried): it is answered with
// REBALANCE_IN_PROGRESS rather than dropped.
func (g *Group) setJoinWaiter(m *member, w *joinWaiter) {
	old := m.join
	m.join = w
	switch {
	case old == nil && w != nil:
		g.numAwaitingJoin++
	case old != nil && w == nil:
		g.numAwaitingJoin--
	}
	if old != nil && w != nil {
		old.respond(joinError(m.id, kerr.RebalanceInProgress.Code))
	}
}

func (g *Group) setSyncWaiter(m *member, w *syncWaiter) {
	old := m.sync
	m.sync = w
	if old != nil {
		old.respond(syncError(kerr.RebalanceInProgress.Code))
	}
}

// invokeJoin answers m's parked JoinGroup, if any.
func (g *Group) invokeJoin(m *member, r joinResult) bool {
	w := m.join
	if w == nil {
		return false
	}
	m.join = nil
	g.numAwaitingJoin--
	w.respond(r)
	return true
}

// invokeSync answers m's parked SyncGroup, if any.
func (g *Group) invokeSync(m *member, r syncResult) bool {
	w := m.sync
	if w == nil {
		return false
	}
	m.sync = nil
	w.respond(r)
	return true
}

func (g *Group) isStaticMemberFenced(instanceID *string, memberID string) bool {
	if instanceID == nil {
		return false
	}
	cur, ok := g.static[*instanceID]
	return ok && cur != memberID
}

func (g *Group) hasAllMembersJoined() bool {
	return len(g.members) == g.numAwaitingJoin && len(g.pending) == 0
}

// rebalanceTimeoutMs is the longest rebalance timeout of the members.
func (g *Group) rebalanceTimeoutMs() int64 {
	var t int32
	for _, m := range g.members {
		t = max(t, m.rebalanceTimeoutMs)
	}
	return int64(t)
}

// supportsProtocols is Kafka's GroupMetadata.supportsProtocols: an Empty
// group takes any non-empty protocol type and list; otherwise the type must
// match and one protocol must be supported by every current member.
func (g *Group) supportsProtocols(protocolType string, ps []protocol) bool {
	if g.state == StateEmpty {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		if g.supported[p.name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol for the next generation as Kafka does:
// the candidates are the protocols every member supports, each member votes
// for its most preferred candidate, and the most votes win. Kafka breaks ties
// by hash order; we break them by the leader's preference so the outcome is
// deterministic.
func (g *Group) selectProtocol() string {
	candidates := make(map[string]bool)
	for name, n := range g.supported {
		if n == len(g.members) {
			candidates[name] = true
		}
	}
	votes := make(map[string]int)
	for _, id := range g.order {
		if v := g.members[id].vote(candidates); v != "" {
			votes[v]++
		}
	}
	best, bestVotes := "", 0
	consider := func(name string) {
		if n := votes[name]; n > bestVotes {
			best, bestVotes = name, n
		}
	}
	if l := g.members[g.leader]; l != nil {
		for _, p := range l.protocols {
			consider(p.name)
		}
	}
	names := make([]string, 0, len(votes))
	for name := range votes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		consider(name)
	}
	return best
}

// computeSubscribedTopics decodes the consumer subscriptions of a consumer
// group; nil when unknown. Like Kafka it parses only the version-0 prefix
// (topics), which every consumer protocol version starts with.
func (g *Group) computeSubscribedTopics() map[string]bool {
	if g.protocolType != consumerProtocolType || len(g.members) == 0 || g.protocol == "" {
		return nil
	}
	topics := make(map[string]bool)
	for _, id := range g.order {
		raw := g.members[id].metadata(g.protocol)
		if len(raw) < 2 {
			return nil
		}
		v0 := append([]byte{0, 0}, raw[2:]...)
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(v0); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics
}

func (g *Group) scheduleHeartbeat(m *member, now int64, timeoutMs int64) {
	m.heartbeatDeadline = now + max(timeoutMs, 1)
}

// ---- records ----

// metadataValue is the GroupMetadataValue Kafka stores for the group, with
// these assignments.
func (g *Group) metadataValue(assignment map[string][]byte) *kmsg.GroupMetadataValue {
	v := new(kmsg.GroupMetadataValue)
	v.Default()
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTimestamp
	for _, id := range g.order {
		m := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = m.rebalanceTimeoutMs
		vm.SessionTimeoutMillis = m.sessionTimeoutMs
		vm.Subscription = m.metadata(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		vm.Assignment = assignment[m.id]
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v
}

func (g *Group) metadataRecord(assignment map[string][]byte) Record {
	return Record{Key: encodeGroupKey(g.id), Value: encodeGroupValue(g.metadataValue(assignment))}
}

func (g *Group) currentAssignment() map[string][]byte {
	a := make(map[string][]byte, len(g.members))
	for id, m := range g.members {
		a[id] = m.assignment
	}
	return a
}

// storeGroup writes the group's metadata; onDone may be nil when nobody
// waits on the result (Kafka only logs such failures).
func (g *Group) storeGroup(assignment map[string][]byte, onDone func(err error)) {
	if onDone == nil {
		onDone = func(error) {}
	}
	g.c.append([]Record{g.metadataRecord(assignment)}, onDone)
}

// deletionRecords are the tombstones of a deleted group: every offset,
// including those still being written, and the group metadata unless the
// group never had a generation (Kafka writes no metadata for simple groups).
func (g *Group) deletionRecords() []Record {
	tps := make([]topicPartition, 0, len(g.offsets)+len(g.pendingOffsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	for tp := range g.pendingOffsets {
		if _, ok := g.offsets[tp]; !ok {
			tps = append(tps, tp)
		}
	}
	sortTopicPartitions(tps)
	var records []Record
	for _, tp := range tps {
		records = append(records, offsetTombstone(g.id, tp))
	}
	if g.generation > 0 {
		records = append(records, groupTombstone(g.id))
	}
	return records
}

// loadMetadata restores the group from its last GroupMetadataValue record.
func (g *Group) loadMetadata(v *kmsg.GroupMetadataValue, now int64) {
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.CurrentStateTimestamp >= 0 {
		g.stateTimestamp = v.CurrentStateTimestamp
	} else {
		g.stateTimestamp = -1
	}
	for _, vm := range v.Members {
		m := &member{
			id:                 vm.MemberID,
			instanceID:         vm.InstanceID,
			clientID:           vm.ClientID,
			clientHost:         vm.ClientHost,
			rebalanceTimeoutMs: vm.RebalanceTimeoutMillis,
			sessionTimeoutMs:   vm.SessionTimeoutMillis,
			protocolType:       v.ProtocolType,
			protocols:          []protocol{{name: g.protocol, metadata: vm.Subscription}},
			assignment:         vm.Assignment,
		}
		if m.rebalanceTimeoutMs <= 0 { // value v0 predates rebalance timeouts
			m.rebalanceTimeoutMs = m.sessionTimeoutMs
		}
		g.addMember(m, nil)
		g.scheduleHeartbeat(m, now, int64(m.sessionTimeoutMs))
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	}
	if len(g.members) > 0 {
		g.state = StateStable
	}
	g.subscribed = g.computeSubscribedTopics()
	if len(g.members) > g.c.cfg.maxGroupSize {
		// Kafka rebalances an over-capacity group so that the members that
		// do not fit are dropped, after they could commit their offsets.
		g.prepareRebalance(now)
	}
}

// unload answers every parked request with NOT_COORDINATOR and kills the group.
func (g *Group) unload(now int64) {
	for _, id := range slices.Clone(g.order) {
		m := g.members[id]
		g.invokeJoin(m, joinError(m.id, kerr.NotCoordinator.Code))
		g.invokeSync(m, syncError(kerr.NotCoordinator.Code))
	}
	g.joinDeadline, g.syncDeadline = 0, 0
	g.transition(StateDead, now)
}

// ---- timers ----

func (g *Group) nextDeadline() int64 {
	var next int64
	consider := func(d int64) {
		if d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	for _, d := range g.pending {
		consider(d)
	}
	for _, m := range g.members {
		consider(m.heartbeatDeadline)
	}
	consider(g.joinDeadline)
	consider(g.syncDeadline)
	return next
}

type timerKind int8

const (
	timerPending timerKind = iota
	timerHeartbeat
	timerJoin
	timerSync
)

type timerEvent struct {
	at   int64
	kind timerKind
	id   string
}

// fireTimers runs the timers due at now in deadline order. Each is checked
// again before it fires, since an earlier one may have changed the group.
func (g *Group) fireTimers(now int64) {
	var due []timerEvent
	for id, d := range g.pending {
		if d <= now {
			due = append(due, timerEvent{d, timerPending, id})
		}
	}
	for _, id := range g.order {
		if d := g.members[id].heartbeatDeadline; d != 0 && d <= now {
			due = append(due, timerEvent{d, timerHeartbeat, id})
		}
	}
	if g.joinDeadline != 0 && g.joinDeadline <= now {
		due = append(due, timerEvent{g.joinDeadline, timerJoin, ""})
	}
	if g.syncDeadline != 0 && g.syncDeadline <= now {
		due = append(due, timerEvent{g.syncDeadline, timerSync, ""})
	}
	// Stable: members' heartbeats keep join order at equal deadlines.
	slices.SortStableFunc(due, func(a, b timerEvent) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.kind, b.kind)
	})
	for _, ev := range due {
		if g.state == StateDead {
			return
		}
		switch ev.kind {
		case timerPending:
			if d, ok := g.pending[ev.id]; ok && d == ev.at {
				g.removePendingMemberAndUpdateGroup(now, ev.id)
			}
		case timerHeartbeat:
			if m := g.members[ev.id]; m != nil && m.heartbeatDeadline == ev.at {
				g.onExpireHeartbeat(now, m)
			}
		case timerJoin:
			if g.joinDeadline == ev.at {
				g.onExpireJoin(now)
			}
		case timerSync:
			if g.syncDeadline == ev.at {
				g.onExpirePendingSync(now)
			}
		}
	}
}

// onExpireHeartbeat: the session timeout passed without a heartbeat. Members
// parked in JoinGroup or SyncGroup are covered by the rebalance timeout
// instead, except new members, which cannot heartbeat at all.
func (g *Group) onExpireHeartbeat(now int64, m *member) {
	m.heartbeatDeadline = 0
	if !m.isNew && (m.join != nil || m.sync != nil) {
		return
	}
	g.removeMemberAndUpdateGroup(now, m)
}

func (g *Group) onExpireJoin(now int64) {
	g.joinDeadline = 0
	if g.state != StatePreparingRebalance {
		return
	}
	if g.initialDelay && g.newMemberAdded && g.initialRemainingMs != 0 {
		// Members keep arriving: wait another delay, within the rebalance
		// timeout of the first member (Kafka's InitialDelayedJoin).
		g.newMemberAdded = false
		delay := min(g.c.cfg.initialDelayMs, g.initialRemainingMs)
		remaining := max(g.initialRemainingMs-g.initialDelayMs, 0)
		g.initialDelayMs, g.initialRemainingMs = delay, remaining
		g.joinDeadline = now + max(delay, 1)
		return
	}
	g.initialDelay = false
	g.onCompleteJoin(now)
}

// onExpirePendingSync: members that received the join response but did not
// send SyncGroup within the rebalance timeout are removed.
func (g *Group) onExpirePendingSync(now int64) {
	g.syncDeadline = 0
	if g.generation != g.syncGeneration {
		return
	}
	if g.state != StateCompletingRebalance && g.state != StateStable {
		return
	}
	if len(g.pendingSync) == 0 {
		return
	}
	for _, id := range slices.Clone(g.order) {
		if g.pendingSync[id] {
			g.removeMember(id)
		}
	}
	g.prepareRebalance(now)
}

// ---- rebalance ----

func (g *Group) maybePrepareRebalance(now int64) {
	if g.canRebalance() {
		g.prepareRebalance(now)
	}
}

func (g *Group) prepareRebalance(now int64) {
	if g.state == StateCompletingRebalance {
		g.resetAndPropagateAssignmentError(now, kerr.RebalanceInProgress.Code)
	}
	g.syncDeadline = 0
	if g.state == StateEmpty && g.c.cfg.initialDelayMs > 0 {
		// The first members of an empty group come in a burst (a deploy):
		// wait for more rather than rebalancing once per member.
		delay := g.c.cfg.initialDelayMs
		g.initialDelay = true
		g.initialDelayMs = delay
		g.initialRemainingMs = max(g.rebalanceTimeoutMs()-delay, 0)
		g.joinDeadline = now + delay
	} else {
		g.initialDelay = false
		g.joinDeadline = now + max(g.rebalanceTimeoutMs(), 1)
	}
	g.transition(StatePreparingRebalance, now)
	g.tryCompleteJoin(now)
}

// tryCompleteJoin completes the join once every member has rejoined (never
// during the initial delay).
func (g *Group) tryCompleteJoin(now int64) {
	if g.state == StatePreparingRebalance && !g.initialDelay && g.hasAllMembersJoined() {
		g.onCompleteJoin(now)
	}
}

func (g *Group) onCompleteJoin(now int64) {
	g.joinDeadline = 0
	g.initialDelay = false
	// Dynamic members that did not rejoin in time are gone; static members
	// stay until their session expires (KIP-345).
	for _, id := range slices.Clone(g.order) {
		if m := g.members[id]; m.join == nil && !m.isStatic() {
			g.removeMember(id)
		}
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait another
		// rebalance timeout for them or for their sessions to expire.
		g.joinDeadline = now + max(g.rebalanceTimeoutMs(), 1)
		return
	}
	g.initNextGeneration(now)
	if g.state == StateEmpty {
		g.storeGroup(nil, nil)
		return
	}
	for _, id := range g.order {
		m := g.members[id]
		r := g.joinSuccess(m.id)
		if m.id == g.leader {
			r.members = g.currentMemberMetadata()
		}
		g.invokeJoin(m, r)
		g.scheduleHeartbeat(m, now, int64(m.sessionTimeoutMs))
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	g.syncDeadline = now + max(g.rebalanceTimeoutMs(), 1)
	g.syncGeneration = g.generation
}

// maybeElectNewJoinedLeader keeps the leader if it rejoined, else picks a
// member that did; false if none did.
func (g *Group) maybeElectNewJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if g.members[g.leader].join != nil {
		return true
	}
	for _, id := range g.order {
		if g.members[id].join != nil {
			g.leader = id
			return true
		}
	}
	return false
}

func (g *Group) initNextGeneration(now int64) {
	g.generation++
	if len(g.members) > 0 {
		g.protocol = g.selectProtocol()
		g.subscribed = g.computeSubscribedTopics()
		g.transition(StateCompletingRebalance, now)
	} else {
		g.protocol = ""
		g.subscribed = nil
		g.transition(StateEmpty, now)
	}
	g.pendingSync = make(map[string]bool)
}

func (g *Group) currentMemberMetadata() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.order))
	for _, id := range g.order {
		m := g.members[id]
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadata(g.protocol)
		out = append(out, jm)
	}
	return out
}

func (g *Group) joinSuccess(memberID string) joinResult {
	return joinResult{
		memberID:     memberID,
		generation:   g.generation,
		protocolType: strPtr(g.protocolType),
		protocol:     strPtr(g.protocol),
		leader:       g.leader,
	}
}

func (g *Group) resetAndPropagateAssignmentError(now int64, code int16) {
	for _, m := range g.members {
		m.assignment = nil
	}
	g.propagateAssignment(now, code)
}

func (g *Group) setAndPropagateAssignment(now int64, assignment map[string][]byte) {
	for id, m := range g.members {
		m.assignment = assignment[id]
	}
	g.propagateAssignment(now, 0)
}

func (g *Group) propagateAssignment(now int64, code int16) {
	for _, id := range g.order {
		m := g.members[id]
		r := syncResult{err: code, assignment: m.assignment}
		if code == 0 {
			r.protocolType, r.protocol = strPtr(g.protocolType), strPtr(g.protocol)
		}
		if g.invokeSync(m, r) {
			// A session that expired while the member waited was ignored;
			// start a fresh one now that it has its answer.
			g.scheduleHeartbeat(m, now, int64(m.sessionTimeoutMs))
		}
	}
}

// removeMemberAndUpdateGroup removes a member and moves the rebalance along.
func (g *Group) removeMemberAndUpdateGroup(now int64, m *member) {
	g.invokeJoin(m, joinError("", kerr.UnknownMemberID.Code))
	g.removeMember(m.id)
	switch g.state {
	case StateStable, StateCompletingRebalance:
		g.maybePrepareRebalance(now)
	case StatePreparingRebalance:
		g.tryCompleteJoin(now)
	}
}

func (g *Group) removePendingMemberAndUpdateGroup(now int64, id string) {
	g.removeMember(id)
	if g.state == StatePreparingRebalance {
		g.tryCompleteJoin(now)
	}
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
