package coordinator

import (
	"bytes"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// joinResult is Kafka's JoinGroupResult, independent of the response version.
type joinResult struct {
	err          int16
	memberID     string
	generation   int32
	protocolType *string
	protocol     *string
	leader       string
	members      []kmsg.JoinGroupResponseMember
}

func joinError(memberID string, code int16) joinResult {
	return joinResult{err: code, memberID: memberID, generation: -1}
}

// joinWaiter is a JoinGroup waiting for its response.
type joinWaiter struct {
	version int16
	fn      func(*kmsg.JoinGroupResponse)
}

func (w *joinWaiter) respond(r joinResult) {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = w.version
	resp.ErrorCode = r.err
	resp.Generation = r.generation
	resp.ProtocolType = r.protocolType
	resp.Protocol = r.protocol // kmsg writes nil as "" before v7
	resp.LeaderID = r.leader
	resp.MemberID = r.memberID
	resp.Members = r.members
	// SkipAssignment (v9) stays false: a rejoining static leader is told the
	// previous leader id instead, as for older versions.
	w.fn(resp)
}

// syncResult is Kafka's SyncGroupResult.
type syncResult struct {
	err          int16
	protocolType *string
	protocol     *string
	assignment   []byte
}

func syncError(code int16) syncResult { return syncResult{err: code} }

// syncWaiter is a SyncGroup waiting for its response.
type syncWaiter struct {
	version int16
	fn      func(*kmsg.SyncGroupResponse)
}

func (w *syncWaiter) respond(r syncResult) {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = w.version
	resp.ErrorCode = r.err
	resp.ProtocolType = r.protocolType
	resp.Protocol = r.protocol
	resp.MemberAssignment = r.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	w.fn(resp)
}

// joinRequest is a JoinGroup normalized across versions.
type joinRequest struct {
	memberID             string
	instanceID           *string
	clientID, clientHost string
	protocolType         string
	protocols            []protocol
	sessionTimeoutMs     int32
	rebalanceTimeoutMs   int32
	requireKnownMemberID bool
}

func cloneStr(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}

// JoinGroup handles JoinGroup v0–v9. respond is called exactly once: at once
// for errors and for members that need no rebalance, otherwise when the
// rebalance's join phase completes (all members rejoined, rebalance timeout,
// initial delay), or with NOT_COORDINATOR on Unload.
func (c *Coordinator) JoinGroup(now time.Time, req *kmsg.JoinGroupRequest, clientID, clientHost string, respond func(*kmsg.JoinGroupResponse)) {
	ms := c.observe(now)
	w := &joinWaiter{version: req.Version, fn: respond}
	if code := c.groupError(req.Group, false); code != 0 {
		w.respond(joinError(req.MemberID, code))
		return
	}
	if int64(req.SessionTimeoutMillis) < c.cfg.minSessionMs || int64(req.SessionTimeoutMillis) > c.cfg.maxSessionMs {
		w.respond(joinError(req.MemberID, kerr.InvalidSessionTimeout.Code))
		return
	}
	r := &joinRequest{
		memberID:           req.MemberID,
		clientID:           clientID,
		clientHost:         clientHost,
		protocolType:       req.ProtocolType,
		sessionTimeoutMs:   req.SessionTimeoutMillis,
		rebalanceTimeoutMs: req.RebalanceTimeoutMillis,
	}
	if req.Version == 0 { // v0 has a single timeout for both
		r.rebalanceTimeoutMs = req.SessionTimeoutMillis
	}
	if req.Version >= 5 {
		r.instanceID = cloneStr(req.InstanceID)
	}
	r.requireKnownMemberID = req.Version >= 4 && r.instanceID == nil
	for _, p := range req.Protocols {
		// Copy: the request may alias a connection buffer that is reused.
		r.protocols = append(r.protocols, protocol{name: p.Name, metadata: bytes.Clone(p.Metadata)})
	}

	g := c.groups[req.Group]
	if g == nil {
		if r.memberID != "" {
			w.respond(joinError(r.memberID, kerr.UnknownMemberID.Code))
			return
		}
		g = c.newGroup(req.Group, ms)
	}
	g.join(ms, r, w)
	c.touch(g)
}

func (g *Group) join(now int64, r *joinRequest, w *joinWaiter) {
	switch {
	case !g.acceptJoiningMember(r.memberID):
		g.removeMember(r.memberID)
		w.respond(joinError("", kerr.GroupMaxSizeReached.Code))
	case r.memberID == "":
		g.newMemberJoin(now, r, w)
	default:
		g.currentMemberJoin(now, r, w)
	}
	if g.state == StatePreparingRebalance {
		g.tryCompleteJoin(now)
	}
}

// acceptJoiningMember enforces group.max.size as Kafka does. While preparing
// a rebalance it counts members that have rejoined, so that the members that
// rejoin last are the ones left out when the group is over capacity.
func (g *Group) acceptJoiningMember(memberID string) bool {
	max := g.c.cfg.maxGroupSize
	switch g.state {
	case StateEmpty, StateDead:
		return true
	case StatePreparingRebalance:
		if m := g.members[memberID]; m != nil && m.join != nil {
			return true
		}
		return g.numAwaitingJoin < max
	default:
		return g.members[memberID] != nil || len(g.members) < max
	}
}

func (g *Group) newMemberJoin(now int64, r *joinRequest, w *joinWaiter) {
	if !g.supportsProtocols(r.protocolType, r.protocols) {
		w.respond(joinError("", kerr.InconsistentGroupProtocol.Code))
		return
	}
	prefix := r.clientID
	if r.instanceID != nil {
		prefix = *r.instanceID
	}
	newID := g.c.newMemberID(g, prefix)
	switch {
	case r.instanceID != nil:
		if oldID, ok := g.static[*r.instanceID]; ok {
			g.updateStaticMemberAndRebalance(now, oldID, newID, r, w)
		} else {
			g.addMemberAndRebalance(now, r, newID, w)
		}
	case r.requireKnownMemberID:
		// KIP-394: hand out the id first, so a client that times out and
		// retries rejoins as the same member instead of piling up new ones.
		g.pending[newID] = now + max(int64(r.sessionTimeoutMs), 1)
		w.respond(joinError(newID, kerr.MemberIDRequired.Code))
	default:
		g.addMemberAndRebalance(now, r, newID, w)
	}
}

func (g *Group) currentMemberJoin(now int64, r *joinRequest, w *joinWaiter) {
	if !g.supportsProtocols(r.protocolType, r.protocols) {
		w.respond(joinError(r.memberID, kerr.InconsistentGroupProtocol.Code))
		return
	}
	if _, ok := g.pending[r.memberID]; ok {
		if r.instanceID != nil { // static members are never made pending
			w.respond(joinError(r.memberID, kerr.UnknownMemberID.Code))
			return
		}
		g.addMemberAndRebalance(now, r, r.memberID, w)
		return
	}
	if g.isStaticMemberFenced(r.instanceID, r.memberID) {
		w.respond(joinError(r.memberID, kerr.FencedInstanceID.Code))
		return
	}
	m := g.members[r.memberID]
	instanceUnknown := false
	if r.instanceID != nil {
		_, ok := g.static[*r.instanceID]
		instanceUnknown = !ok
	}
	if m == nil || instanceUnknown {
		w.respond(joinError(r.memberID, kerr.UnknownMemberID.Code))
		return
	}
	switch g.state {
	case StatePreparingRebalance:
		g.updateMemberAndRebalance(now, m, r, w)
	case StateCompletingRebalance:
		if !m.matches(r.protocols) {
			g.updateMemberAndRebalance(now, m, r, w)
			return
		}
		// Same metadata: the member probably lost the join response.
		res := g.joinSuccess(m.id)
		if m.id == g.leader {
			res.members = g.currentMemberMetadata()
		}
		w.respond(res)
	case StateStable:
		// A leader's rejoin forces a rebalance: that is how a consumer
		// leader reacts to metadata changes that leave subscriptions alone.
		if m.id == g.leader || !m.matches(r.protocols) {
			g.updateMemberAndRebalance(now, m, r, w)
			return
		}
		w.respond(g.joinSuccess(m.id))
	default:
		w.respond(joinError(r.memberID, kerr.UnknownMemberID.Code))
	}
}

func (g *Group) addMemberAndRebalance(now int64, r *joinRequest, id string, w *joinWaiter) {
	m := &member{
		id:                 id,
		instanceID:         r.instanceID,
		clientID:           r.clientID,
		clientHost:         r.clientHost,
		rebalanceTimeoutMs: r.rebalanceTimeoutMs,
		sessionTimeoutMs:   r.sessionTimeoutMs,
		protocolType:       r.protocolType,
		protocols:          r.protocols,
		isNew:              true,
	}
	if g.state == StatePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.addMember(m, w)
	g.scheduleHeartbeat(m, now, newMemberJoinTimeoutMs)
	g.maybePrepareRebalance(now)
}

func (g *Group) updateMemberAndRebalance(now int64, m *member, r *joinRequest, w *joinWaiter) {
	g.updateMember(m, r.protocols, r.rebalanceTimeoutMs, r.sessionTimeoutMs, w)
	g.maybePrepareRebalance(now)
}

// replaceStaticMember gives a static member a new member id (its instance
// restarted). Requests parked under the old id are fenced.
func (g *Group) replaceStaticMember(instanceID, oldID, newID string) *member {
	m := g.members[oldID]
	g.invokeJoin(m, joinError(oldID, kerr.FencedInstanceID.Code))
	g.invokeSync(m, syncError(kerr.FencedInstanceID.Code))
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	for i, id := range g.order {
		if id == oldID {
			g.order[i] = newID
		}
	}
	if g.leader == oldID {
		g.leader = newID
	}
	g.static[instanceID] = newID
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	return m
}

// updateStaticMemberAndRebalance handles a known group.instance.id joining
// without member id: the instance restarted. It takes over the member
// (the old member id is fenced) and, in a Stable group whose protocol would
// not change, keeps its assignment without a rebalance (KIP-345).
func (g *Group) updateStaticMemberAndRebalance(now int64, oldID, newID string, r *joinRequest, w *joinWaiter) {
	instanceID := *r.instanceID
	currentLeader := g.leader
	m := g.replaceStaticMember(instanceID, oldID, newID)
	g.scheduleHeartbeat(m, now, int64(m.sessionTimeoutMs))
	oldProtocols := m.protocols
	g.updateMember(m, r.protocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs, w)

	switch g.state {
	case StateStable:
		if g.selectProtocol() != g.protocol {
			g.maybePrepareRebalance(now)
			return
		}
		// Persist the new member id first: after a failover the group must
		// not know the fenced one.
		gen := g.generation
		g.storeGroup(g.currentAssignment(), func(err error) {
			if g.state != StateStable || g.generation != gen || g.members[newID] != m || m.join == nil {
				return // a rebalance or an unload answered the JoinGroup meanwhile
			}
			if err != nil {
				pw := m.join
				g.setJoinWaiter(m, nil)
				g.updateMember(m, oldProtocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs, nil)
				g.replaceStaticMember(instanceID, newID, oldID)
				g.scheduleHeartbeat(m, g.c.now, int64(m.sessionTimeoutMs))
				res := g.joinSuccess("")
				res.err = storeGroupError(err)
				res.leader = currentLeader
				pw.respond(res)
				g.c.touch(g)
				return
			}
			// Answer with the previous leader id, so that a restarted leader
			// does not run an assignment the Stable group would ignore
			// (Kafka does the same before JoinGroup v9's SkipAssignment).
			res := g.joinSuccess(newID)
			res.leader = currentLeader
			g.invokeJoin(m, res)
		})
	case StateCompletingRebalance:
		// The leader may be assigning with the old member id: start over.
		g.maybePrepareRebalance(now)
	case StatePreparingRebalance:
		// The member counts as rejoined; the join completes as usual.
	}
}

// SyncGroup handles SyncGroup v0–v5. The leader's assignment is persisted
// before anybody is answered; followers wait for it. respond is called
// exactly once.
func (c *Coordinator) SyncGroup(now time.Time, req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	ms := c.observe(now)
	w := &syncWaiter{version: req.Version, fn: respond}
	if code := c.groupError(req.Group, false); code != 0 {
		if code == kerr.CoordinatorLoadInProgress.Code {
			// The rebalance state is lost with the load: make the member
			// rejoin (older clients do not expect LOAD_IN_PROGRESS here).
			code = kerr.RebalanceInProgress.Code
		}
		w.respond(syncError(code))
		return
	}
	if req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil) {
		w.respond(syncError(kerr.InconsistentGroupProtocol.Code))
		return
	}
	g := c.groups[req.Group]
	if g == nil {
		w.respond(syncError(kerr.UnknownMemberID.Code))
		return
	}
	g.sync(ms, req, w)
	c.touch(g)
}

func (g *Group) sync(now int64, req *kmsg.SyncGroupRequest, w *syncWaiter) {
	var instanceID *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	m := g.members[req.MemberID]
	switch {
	case g.isStaticMemberFenced(instanceID, req.MemberID):
		w.respond(syncError(kerr.FencedInstanceID.Code))
		return
	case m == nil:
		w.respond(syncError(kerr.UnknownMemberID.Code))
		return
	case req.Generation != g.generation:
		w.respond(syncError(kerr.IllegalGeneration.Code))
		return
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		w.respond(syncError(kerr.InconsistentGroupProtocol.Code))
		return
	}
	switch g.state {
	case StateEmpty:
		w.respond(syncError(kerr.UnknownMemberID.Code))
	case StatePreparingRebalance:
		w.respond(syncError(kerr.RebalanceInProgress.Code))
	case StateCompletingRebalance:
		g.setSyncWaiter(m, w)
		delete(g.pendingSync, m.id)
		if m.id != g.leader {
			return
		}
		assignment := make(map[string][]byte, len(g.members))
		for _, a := range req.GroupAssignment {
			if g.members[a.MemberID] != nil {
				assignment[a.MemberID] = bytes.Clone(a.MemberAssignment)
			}
		}
		for id := range g.members { // members the leader left out get nothing
			if assignment[id] == nil {
				assignment[id] = []byte{}
			}
		}
		gen := g.generation
		g.storeGroup(assignment, func(err error) {
			if g.state != StateCompletingRebalance || g.generation != gen {
				return // superseded: those waiting were answered already
			}
			now := g.c.now
			if err != nil {
				g.resetAndPropagateAssignmentError(now, storeGroupError(err))
				g.maybePrepareRebalance(now)
			} else {
				g.setAndPropagateAssignment(now, assignment)
				g.transition(StateStable, now)
			}
			g.c.touch(g)
		})
	case StateStable:
		delete(g.pendingSync, m.id)
		w.respond(syncResult{
			protocolType: strPtr(g.protocolType),
			protocol:     strPtr(g.protocol),
			assignment:   m.assignment,
		})
		g.scheduleHeartbeat(m, now, int64(m.sessionTimeoutMs))
	}
}

// Heartbeat handles Heartbeat v0–v4.
func (c *Coordinator) Heartbeat(now time.Time, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	ms := c.observe(now)
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	if code := c.groupError(req.Group, false); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	g := c.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	var instanceID *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	resp.ErrorCode = g.heartbeat(ms, req.MemberID, instanceID, req.Generation)
	c.touch(g)
	return resp
}

func (g *Group) heartbeat(now int64, memberID string, instanceID *string, generation int32) int16 {
	if g.isStaticMemberFenced(instanceID, memberID) {
		return kerr.FencedInstanceID.Code
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	switch g.state {
	case StateCompletingRebalance, StateStable:
		// Members may heartbeat between their join and sync responses.
		g.scheduleHeartbeat(m, now, int64(m.sessionTimeoutMs))
		return 0
	case StatePreparingRebalance:
		g.scheduleHeartbeat(m, now, int64(m.sessionTimeoutMs))
		return kerr.RebalanceInProgress.Code
	}
	return kerr.UnknownMemberID.Code
}

// LeaveGroup handles LeaveGroup v0–v5 (v3+ leaves members in batches, also
// by group.instance.id alone, as the admin client does).
func (c *Coordinator) LeaveGroup(now time.Time, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	ms := c.observe(now)
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	var results []kmsg.LeaveGroupResponseMember
	top := c.groupError(req.Group, false)
	if top == 0 {
		g := c.groups[req.Group]
		for _, lm := range leaving {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID = lm.MemberID
			rm.InstanceID = lm.InstanceID
			if g == nil {
				rm.ErrorCode = kerr.UnknownMemberID.Code
			} else {
				rm.ErrorCode = g.leave(ms, lm.MemberID, lm.InstanceID)
			}
			results = append(results, rm)
		}
		if g != nil {
			c.touch(g)
		}
	}
	resp.ErrorCode = top
	if req.Version >= 3 {
		resp.Members = results
	} else if top == 0 && len(results) > 0 {
		resp.ErrorCode = results[0].ErrorCode
	}
	return resp
}

func (g *Group) leave(now int64, memberID string, instanceID *string) int16 {
	if memberID == "" {
		if instanceID != nil {
			if cur, ok := g.static[*instanceID]; ok {
				g.removeMemberAndUpdateGroup(now, g.members[cur])
				return 0
			}
		}
		return kerr.UnknownMemberID.Code
	}
	if _, ok := g.pending[memberID]; ok {
		g.removePendingMemberAndUpdateGroup(now, memberID)
		return 0
	}
	if g.isStaticMemberFenced(instanceID, memberID) {
		return kerr.FencedInstanceID.Code
	}
	if m := g.members[memberID]; m != nil {
		g.removeMemberAndUpdateGroup(now, m)
		return 0
	}
	return kerr.UnknownMemberID.Code
}
