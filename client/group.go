package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// RebalanceListener is told about partition ownership changes. It is called
// on the goroutine running Poll (or Close), so it may call the consumer's
// commit and seek methods, e.g. commit in OnPartitionsRevoked.
type RebalanceListener interface {
	// OnPartitionsRevoked: the partitions are taken away in an orderly
	// rebalance; commit their progress now.
	OnPartitionsRevoked(ctx context.Context, c *Consumer, tps []TopicPartition)
	// OnPartitionsAssigned: the partitions are newly owned.
	OnPartitionsAssigned(ctx context.Context, c *Consumer, tps []TopicPartition)
	// OnPartitionsLost: membership was lost (session timeout, fencing);
	// others may already own the partitions, so do not commit.
	OnPartitionsLost(ctx context.Context, c *Consumer, tps []TopicPartition)
}

// RebalanceListenerFuncs adapts functions to RebalanceListener; nil fields
// are skipped. A nil Lost falls back to Revoked, as in the Java client.
type RebalanceListenerFuncs struct {
	Revoked  func(ctx context.Context, c *Consumer, tps []TopicPartition)
	Assigned func(ctx context.Context, c *Consumer, tps []TopicPartition)
	Lost     func(ctx context.Context, c *Consumer, tps []TopicPartition)
}

func (f RebalanceListenerFuncs) OnPartitionsRevoked(ctx context.Context, c *Consumer, tps []TopicPartition) {
	if f.Revoked != nil {
		f.Revoked(ctx, c, tps)
	}
}

func (f RebalanceListenerFuncs) OnPartitionsAssigned(ctx context.Context, c *Consumer, tps []TopicPartition) {
	if f.Assigned != nil {
		f.Assigned(ctx, c, tps)
	}
}

func (f RebalanceListenerFuncs) OnPartitionsLost(ctx context.Context, c *Consumer, tps []TopicPartition) {
	if f.Lost != nil {
		f.Lost(ctx, c, tps)
	} else if f.Revoked != nil {
		f.Revoked(ctx, c, tps)
	}
}

// group is the classic consumer group protocol state of a Consumer.
type group struct {
	c        *Consumer
	protocol RebalanceProtocol

	mu         sync.Mutex
	topics     []string
	re         *regexp.Regexp
	subscribed []string // topics in the subscription now (regex resolved)
	memberID   string
	generation int32
	chosen     string // the assignor the coordinator chose
	leader     bool
	joined     bool
	needJoin   bool
	lost       bool
	fatal      error
	coord      int32
	owned      []TopicPartition
	counts     map[string]int32 // leader: partition counts it assigned from
	lastCommit time.Time

	hbStop chan struct{}
	hbDone chan struct{}

	joinCh     chan joinResult // set while a join runs in the background
	joinCancel context.CancelFunc
	async      sync.WaitGroup // CommitAsync calls
}

func newGroup(c *Consumer) *group {
	g := &group{c: c, coord: -1, generation: -1, lastCommit: time.Now()}
	g.protocol = Cooperative
	for _, a := range c.cfg.assignors {
		if a.Protocol() != Cooperative {
			// Like the Java client: cooperative only if every configured
			// assignor supports it.
			g.protocol = Eager
		}
	}
	return g
}

func (g *group) setSubscription(topics []string, re *regexp.Regexp) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.topics, g.re = slices.Clone(topics), re
	if re == nil {
		g.subscribed = slices.Clone(topics)
		slices.Sort(g.subscribed)
	} else {
		g.subscribed = g.matchLocked(g.c.cl.meta.Load())
	}
	g.needJoin = true
}

func (g *group) matchLocked(m *metadata) []string {
	var out []string
	for t, tm := range m.topics {
		if !tm.internal && g.re.MatchString(t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// onMetadata runs after each metadata refresh: a regex subscription picks up
// new topics, and the leader notices partition count changes; both rejoin.
func (g *group) onMetadata(m *metadata) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.re != nil && m.all {
		if subs := g.matchLocked(m); !slices.Equal(subs, g.subscribed) {
			g.subscribed = subs
			g.needJoin = true
		}
	}
	if g.leader && g.joined {
		for t, n := range g.counts {
			have := int32(0)
			if tm := m.topics[t]; tm != nil && tm.err == nil {
				have = int32(len(tm.partitions))
			} else if m.all || tm == nil {
				continue // not in this refresh, or an error: no news
			}
			if have != n {
				g.needJoin = true
			}
		}
	}
	if g.needJoin {
		g.c.cfg.logger.Debug("metadata calls for a rejoin", "group", g.c.cfg.groupID, "subscribed", g.subscribed)
		g.c.signal(g.c.dataCh)
	}
}

// poll runs in Poll: a pending rebalance, then auto commit.
func (g *group) poll(ctx context.Context) error {
	g.mu.Lock()
	fatal, need, subs := g.fatal, g.needJoin || !g.joined || g.joinCh != nil, len(g.subscribed) > 0 || g.re != nil
	g.mu.Unlock()
	if fatal != nil {
		return fatal
	}
	g.maybeAutoCommit()
	if !subs || !need {
		return nil
	}
	return g.rejoin(ctx)
}

func (g *group) listener() RebalanceListener {
	if l := g.c.cfg.listener; l != nil {
		return l
	}
	return RebalanceListenerFuncs{}
}

// joinResult is the outcome of a background join.
type joinResult struct {
	assigned []TopicPartition
	err      error
}

// rejoin runs a rebalance. The listener calls run here, on the Poll
// goroutine; JoinGroup and SyncGroup run in a background goroutine, so a Poll
// whose ctx ends mid-rebalance returns and the next Poll picks the result up
// (as the Java client's poll(timeout) does) instead of abandoning the join.
func (g *group) rejoin(ctx context.Context) error {
	c := g.c
	g.mu.Lock()
	ch := g.joinCh
	g.mu.Unlock()
	if ch == nil {
		g.stopHeartbeat()
		g.mu.Lock()
		lost, owned := g.lost, slices.Clone(g.owned)
		g.mu.Unlock()
		if lost && len(owned) > 0 {
			g.listener().OnPartitionsLost(ctx, c, owned)
			g.dropOwned(owned)
			owned = nil
		} else if g.protocol == Eager && len(owned) > 0 {
			if c.cfg.autoCommit {
				if err := c.CommitSync(ctx); err != nil {
					c.cfg.logger.Info("commit before rebalance failed", "err", err)
				}
			}
			g.listener().OnPartitionsRevoked(ctx, c, owned)
			g.dropOwned(owned)
		}
		jctx, cancel := context.WithCancel(context.Background())
		ch = make(chan joinResult, 1)
		g.mu.Lock()
		// Cleared before joining: a reason to rejoin found meanwhile (new
		// topics in metadata) must survive this round.
		g.lost, g.needJoin = false, false
		g.joinCh, g.joinCancel = ch, cancel
		g.mu.Unlock()
		go func() {
			a, err := g.joinLoop(jctx, owned)
			ch <- joinResult{a, err}
		}()
	}
	var res joinResult
	select {
	case res = <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.joinCh, g.joinCancel = nil, nil
	g.mu.Unlock()
	if res.err != nil {
		return res.err
	}
	assigned := res.assigned

	g.mu.Lock()
	cur := slices.Clone(g.owned)
	g.mu.Unlock()
	var revoked, added []TopicPartition
	for _, tp := range cur {
		if !slices.Contains(assigned, tp) {
			revoked = append(revoked, tp)
		}
	}
	for _, tp := range assigned {
		if !slices.Contains(cur, tp) {
			added = append(added, tp)
		}
	}
	if len(revoked) > 0 {
		// Cooperative: give up only what moves, then rejoin so the new
		// owner gets it.
		if c.cfg.autoCommit {
			if err := c.commit(ctx, c.positions(revoked)); err != nil {
				c.cfg.logger.Info("commit before revocation failed", "err", err)
			}
		}
		g.listener().OnPartitionsRevoked(ctx, c, revoked)
		g.dropOwned(revoked)
	}
	c.mu.Lock()
	for _, tp := range added {
		if c.parts[tp] == nil {
			c.addLocked(tp)
		}
	}
	c.mu.Unlock()
	g.mu.Lock()
	g.owned = slices.Clone(assigned)
	if len(revoked) > 0 {
		g.needJoin = true
	}
	g.joined = true
	gen, member := g.generation, g.memberID
	g.mu.Unlock()
	c.cl.addTopics(topicsOf(assigned)...)
	c.signal(c.fetchWake)
	g.startHeartbeat(gen, member)
	g.listener().OnPartitionsAssigned(ctx, c, added)
	return nil
}

// joinLoop retries JoinGroup+SyncGroup until it succeeds, fails for good or
// ctx is cancelled (Close).
func (g *group) joinLoop(ctx context.Context, owned []TopicPartition) ([]TopicPartition, error) {
	c := g.c
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := g.joinAndSync(ctx, owned)
		if err == nil {
			return a, nil
		}
		if errors.Is(err, ErrFencedInstanceID) || errors.Is(err, ErrGroupAuthorizationFailed) ||
			errors.Is(err, ErrInvalidSessionTimeout) || errors.Is(err, ErrInconsistentGroupProtocol) ||
			errors.Is(err, ErrGroupMaxSizeReached) || errors.Is(err, ErrUnsupportedVersion) {
			g.mu.Lock()
			g.fatal = fmt.Errorf("client: group %s: %w", c.cfg.groupID, err)
			g.mu.Unlock()
			return nil, g.fatal
		}
		c.cfg.logger.Debug("group join failed, retrying", "err", err)
		if err := sleepCtx(ctx, c.cfg.retryBackoff); err != nil {
			return nil, err
		}
	}
}

func topicsOf(tps []TopicPartition) []string {
	var ts []string
	for _, tp := range tps {
		if !slices.Contains(ts, tp.Topic) {
			ts = append(ts, tp.Topic)
		}
	}
	return ts
}

// dropOwned removes partitions from the member and the consumer.
func (g *group) dropOwned(tps []TopicPartition) {
	g.mu.Lock()
	g.owned = slices.DeleteFunc(g.owned, func(tp TopicPartition) bool { return slices.Contains(tps, tp) })
	g.mu.Unlock()
	g.c.mu.Lock()
	for _, tp := range tps {
		g.c.removeLocked(tp)
	}
	g.c.mu.Unlock()
}

func (g *group) coordinator(ctx context.Context) (int32, error) {
	g.mu.Lock()
	id := g.coord
	g.mu.Unlock()
	if id >= 0 {
		return id, nil
	}
	id, err := g.c.cl.coordinator(ctx, g.c.cfg.groupID, 0)
	if err != nil {
		return -1, err
	}
	g.mu.Lock()
	g.coord = id
	g.mu.Unlock()
	return id, nil
}

// coordErr forgets the coordinator after errors that mean it moved.
func (g *group) coordErr(err error) {
	var ce *connError
	if errors.Is(err, ErrNotCoordinator) || errors.Is(err, ErrCoordinatorNotAvailable) || errors.As(err, &ce) {
		g.mu.Lock()
		g.coord = -1
		g.mu.Unlock()
	}
}

func (g *group) coordRequest(ctx context.Context, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	return g.coordRequestOn(ctx, kindGroup, req, timeout)
}

// coordRequestOn is coordRequest on the coordinator's connection of kind.
func (g *group) coordRequestOn(ctx context.Context, kind connKind, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	id, err := g.coordinator(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := g.c.cl.requestTimeout(ctx, id, kind, req, timeout)
	if err != nil {
		g.coordErr(err)
	}
	return resp, err
}

func (g *group) instanceID() *string {
	if id := g.c.cfg.instanceID; id != "" {
		return &id
	}
	return nil
}

// joinAndSync is one JoinGroup + SyncGroup round; owned is what the member
// owned before (sent to sticky assignors).
func (g *group) joinAndSync(ctx context.Context, owned []TopicPartition) ([]TopicPartition, error) {
	c := g.c
	g.mu.Lock()
	topics := slices.Clone(g.subscribed)
	memberID, gen := g.memberID, g.generation
	g.mu.Unlock()

	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = topics
	meta.Generation = gen
	for _, t := range topicsOf(owned) {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic = t
		for _, tp := range owned {
			if tp.Topic == t {
				op.Partitions = append(op.Partitions, tp.Partition)
			}
		}
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	metaBytes := meta.AppendTo(nil)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = c.cfg.groupID
	join.SessionTimeoutMillis = int32(c.cfg.sessionTimeout.Milliseconds())
	join.RebalanceTimeoutMillis = int32(c.cfg.rebalanceTimeout.Milliseconds())
	join.MemberID = memberID
	join.InstanceID = g.instanceID()
	join.ProtocolType = "consumer"
	for _, a := range c.cfg.assignors {
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = a.Name(), metaBytes
		join.Protocols = append(join.Protocols, p)
	}
	resp, err := g.coordRequestOn(ctx, kindJoin, join, c.cfg.rebalanceTimeout+c.cfg.requestTimeout)
	if err != nil {
		return nil, err
	}
	jr := resp.(*kmsg.JoinGroupResponse)
	if err := ErrorForCode(jr.ErrorCode); err != nil {
		g.coordErr(err)
		switch {
		case errors.Is(err, ErrMemberIDRequired):
			// KIP-394: the coordinator assigned an ID; join again with it.
			g.mu.Lock()
			g.memberID = jr.MemberID
			g.mu.Unlock()
			return g.joinAndSync(ctx, owned)
		case errors.Is(err, ErrUnknownMemberID):
			g.mu.Lock()
			g.memberID, g.generation = "", -1
			g.mu.Unlock()
		case errors.Is(err, ErrIllegalGeneration):
			g.mu.Lock()
			g.generation = -1
			g.mu.Unlock()
		}
		return nil, fmt.Errorf("JoinGroup: %w", err)
	}
	protocol := ""
	if jr.Protocol != nil {
		protocol = *jr.Protocol
	}
	g.mu.Lock()
	g.memberID, g.generation, g.chosen = jr.MemberID, jr.Generation, protocol
	g.leader = jr.LeaderID == jr.MemberID
	leader := g.leader
	g.mu.Unlock()
	c.cfg.logger.Debug("joined group", "group", c.cfg.groupID, "member", jr.MemberID, "generation", jr.Generation, "leader", leader, "protocol", protocol)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = c.cfg.groupID
	sync.Generation = jr.Generation
	sync.MemberID = jr.MemberID
	sync.InstanceID = g.instanceID()
	pt := "consumer"
	sync.ProtocolType = &pt
	sync.Protocol = jr.Protocol
	if leader && !jr.SkipAssignment {
		plan, err := g.assign(ctx, protocol, jr.Members)
		if err != nil {
			return nil, err
		}
		sync.GroupAssignment = plan
	}
	resp, err = g.coordRequestOn(ctx, kindJoin, sync, c.cfg.rebalanceTimeout+c.cfg.requestTimeout)
	if err != nil {
		return nil, err
	}
	sr := resp.(*kmsg.SyncGroupResponse)
	if err := ErrorForCode(sr.ErrorCode); err != nil {
		g.coordErr(err)
		if errors.Is(err, ErrUnknownMemberID) {
			g.mu.Lock()
			g.memberID, g.generation = "", -1
			g.mu.Unlock()
		}
		return nil, fmt.Errorf("SyncGroup: %w", err)
	}
	var a kmsg.ConsumerMemberAssignment
	var out []TopicPartition
	if len(sr.MemberAssignment) > 0 {
		if err := a.ReadFrom(sr.MemberAssignment); err != nil {
			return nil, fmt.Errorf("SyncGroup: decoding assignment: %w", err)
		}
		for _, t := range a.Topics {
			for _, p := range t.Partitions {
				out = append(out, TopicPartition{t.Topic, p})
			}
		}
	}
	slices.SortFunc(out, compareTP)
	return out, nil
}

// assign runs the chosen assignor over the members' subscriptions.
func (g *group) assign(ctx context.Context, protocol string, members []kmsg.JoinGroupResponseMember) ([]kmsg.SyncGroupRequestGroupAssignment, error) {
	c := g.c
	var asg Assignor
	for _, a := range c.cfg.assignors {
		if a.Name() == protocol {
			asg = a
		}
	}
	if asg == nil {
		return nil, fmt.Errorf("client: coordinator chose unknown assignor %q", protocol)
	}
	gms := make([]GroupMember, 0, len(members))
	var all []string
	for _, m := range members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.ProtocolMetadata); err != nil {
			return nil, fmt.Errorf("client: member %s metadata: %w", m.MemberID, err)
		}
		gm := GroupMember{ID: m.MemberID, InstanceID: m.InstanceID, Topics: md.Topics, Generation: -1, UserData: md.UserData}
		if md.Version >= 2 {
			gm.Generation = md.Generation
		}
		for _, op := range md.OwnedPartitions {
			for _, p := range op.Partitions {
				gm.Owned = append(gm.Owned, TopicPartition{op.Topic, p})
			}
		}
		for _, t := range md.Topics {
			if !slices.Contains(all, t) {
				all = append(all, t)
			}
		}
		gms = append(gms, gm)
	}
	// Topics of other members may be unknown to us: fetch their metadata
	// too (topics that do not exist yet are skipped).
	c.cl.addTopics(all...)
	mctx, cancel := context.WithTimeout(ctx, c.cfg.requestTimeout)
	defer cancel()
	if err := c.cl.refresh(mctx, time.Now()); err != nil {
		return nil, err
	}
	m := c.cl.meta.Load()
	counts := make(map[string]int32)
	seenCounts := make(map[string]int32, len(all)) // 0: missing, watched for creation
	for _, t := range all {
		seenCounts[t] = 0
		if tm := m.topics[t]; tm != nil && tm.err == nil && len(tm.partitions) > 0 {
			counts[t] = int32(len(tm.partitions))
			seenCounts[t] = counts[t]
		}
	}
	plan := asg.Assign(gms, counts)
	g.mu.Lock()
	g.counts = seenCounts
	g.mu.Unlock()
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(gms))
	for _, gm := range gms {
		var a kmsg.ConsumerMemberAssignment
		a.Version = 3
		tps := plan[gm.ID]
		slices.SortFunc(tps, compareTP)
		for _, t := range topicsOf(tps) {
			at := kmsg.NewConsumerMemberAssignmentTopic()
			at.Topic = t
			for _, tp := range tps {
				if tp.Topic == t {
					at.Partitions = append(at.Partitions, tp.Partition)
				}
			}
			a.Topics = append(a.Topics, at)
		}
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID, sa.MemberAssignment = gm.ID, a.AppendTo(nil)
		out = append(out, sa)
	}
	return out, nil
}

func (g *group) startHeartbeat(gen int32, member string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hbStop = make(chan struct{})
	g.hbDone = make(chan struct{})
	go g.heartbeatLoop(gen, member, g.hbStop, g.hbDone)
}

func (g *group) stopHeartbeat() {
	g.mu.Lock()
	stop, done := g.hbStop, g.hbDone
	g.hbStop, g.hbDone = nil, nil
	g.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// heartbeatLoop keeps the membership alive between polls and notices
// rebalances, which the next Poll then runs.
func (g *group) heartbeatLoop(gen int32, member string, stop, done chan struct{}) {
	defer close(done)
	c := g.c
	t := time.NewTicker(c.cfg.heartbeatInterval)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.requestTimeout)
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if c.pollIdle() > c.cfg.rebalanceTimeout {
			// max.poll.interval.ms passed without a Poll: the application
			// is stuck, so give the partitions to someone else (the Java
			// client does the same). The next Poll reports them lost.
			c.cfg.logger.Info("max.poll.interval.ms exceeded, leaving the group", "group", c.cfg.groupID)
			if c.cfg.instanceID == "" {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group, req.MemberID = c.cfg.groupID, member
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = member
				reason := "max.poll.interval.ms exceeded"
				m.Reason = &reason
				req.Members = []kmsg.LeaveGroupRequestMember{m}
				g.coordRequest(ctx, req, c.cfg.requestTimeout)
			}
			cancel()
			g.mu.Lock()
			g.lost, g.needJoin = true, true
			if c.cfg.instanceID == "" {
				g.memberID, g.generation = "", -1
			}
			g.mu.Unlock()
			return
		}
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.Generation, req.MemberID, req.InstanceID = c.cfg.groupID, gen, member, g.instanceID()
		resp, err := g.coordRequest(ctx, req, c.cfg.requestTimeout)
		cancel()
		if err == nil {
			err = ErrorForCode(resp.(*kmsg.HeartbeatResponse).ErrorCode)
		}
		switch {
		case err == nil:
			lastOK = time.Now()
			continue
		case errors.Is(err, ErrRebalanceInProgress):
			lastOK = time.Now()
			g.mu.Lock()
			g.needJoin = true
			g.mu.Unlock()
			c.signal(c.dataCh)
			continue
		case errors.Is(err, ErrUnknownMemberID), errors.Is(err, ErrIllegalGeneration), errors.Is(err, ErrFencedInstanceID):
			g.mu.Lock()
			g.lost, g.needJoin = true, true
			if errors.Is(err, ErrUnknownMemberID) {
				g.memberID, g.generation = "", -1
			}
			if errors.Is(err, ErrFencedInstanceID) {
				g.fatal = fmt.Errorf("client: group %s: %w", c.cfg.groupID, err)
			}
			g.mu.Unlock()
			c.signal(c.dataCh)
			return
		default:
			g.coordErr(err)
			if time.Since(lastOK) > c.cfg.sessionTimeout {
				// The coordinator has surely expired us by now.
				g.mu.Lock()
				g.lost, g.needJoin = true, true
				g.mu.Unlock()
				c.signal(c.dataCh)
				return
			}
		}
	}
}

// maybeAutoCommit commits positions asynchronously every
// auto.commit.interval.ms; called from Poll before taking new records, so it
// commits what earlier Polls returned.
func (g *group) maybeAutoCommit() {
	c := g.c
	if !c.cfg.autoCommit {
		return
	}
	g.mu.Lock()
	due := time.Since(g.lastCommit) >= c.cfg.autoCommitInterval
	if due {
		g.lastCommit = time.Now()
	}
	g.mu.Unlock()
	if due {
		if offs := c.positions(nil); len(offs) > 0 {
			c.commitAsync(offs, nil)
		}
	}
}

// leave commits (auto commit), revokes and leaves the group; for Close.
func (g *group) leave(ctx context.Context) error {
	c := g.c
	g.stopHeartbeat()
	g.mu.Lock()
	ch, cancel := g.joinCh, g.joinCancel
	g.joinCh, g.joinCancel = nil, nil
	g.mu.Unlock()
	if cancel != nil {
		cancel()
		<-ch
	}
	var errs []error
	if c.cfg.autoCommit {
		if offs := c.positions(nil); len(offs) > 0 {
			errs = append(errs, c.commit(ctx, offs))
		}
	}
	g.async.Wait()
	g.mu.Lock()
	owned, member, lost := slices.Clone(g.owned), g.memberID, g.lost
	g.joined = false
	g.mu.Unlock()
	if len(owned) > 0 {
		if lost {
			g.listener().OnPartitionsLost(ctx, c, owned)
		} else {
			g.listener().OnPartitionsRevoked(ctx, c, owned)
		}
		g.dropOwned(owned)
	}
	if member != "" && c.cfg.instanceID == "" {
		// Also when a join was under way (joined is false): the
		// coordinator knows the member ID it handed out and would
		// otherwise keep the rebalance waiting for it, or complete it
		// with this member in, until its session times out.
		// Static members do not leave: a restart within the session
		// timeout gets their partitions back without a rebalance.
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group, req.MemberID = c.cfg.groupID, member
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = member
		reason := "consumer closed"
		m.Reason = &reason
		req.Members = []kmsg.LeaveGroupRequestMember{m}
		resp, err := g.coordRequest(ctx, req, c.cfg.requestTimeout)
		if err == nil {
			r := resp.(*kmsg.LeaveGroupResponse)
			err = ErrorForCode(r.ErrorCode)
			for _, m := range r.Members {
				if err == nil {
					err = ErrorForCode(m.ErrorCode)
				}
			}
		}
		if err != nil && !errors.Is(err, ErrUnknownMemberID) {
			errs = append(errs, fmt.Errorf("client: LeaveGroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// GroupMetadata returns the member's identity for
// Producer.SendOffsetsToTransaction.
func (c *Consumer) GroupMetadata() GroupMetadata {
	gm := GroupMetadata{GroupID: c.cfg.groupID, Generation: -1}
	if g := c.group; g != nil {
		g.mu.Lock()
		gm.Generation, gm.MemberID, gm.InstanceID = g.generation, g.memberID, g.instanceID()
		g.mu.Unlock()
	}
	return gm
}

// positions returns the positions of tps (all assigned if nil) that are known.
func (c *Consumer) positions(tps []TopicPartition) map[TopicPartition]offsetEpoch {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[TopicPartition]offsetEpoch)
	for tp, cp := range c.parts {
		if tps != nil && !slices.Contains(tps, tp) {
			continue
		}
		if !cp.needOffset && cp.position >= 0 {
			out[tp] = offsetEpoch{cp.position, cp.leaderEpoch}
		}
	}
	return out
}

type offsetEpoch struct {
	Offset      int64
	LeaderEpoch int32
}

// CommitSync commits the positions of all assigned partitions: everything
// Poll has returned so far.
func (c *Consumer) CommitSync(ctx context.Context) error {
	return c.commit(ctx, c.positions(nil))
}

// CommitOffsets commits specific offsets (the next offset to read per
// partition) and waits.
func (c *Consumer) CommitOffsets(ctx context.Context, offsets map[TopicPartition]int64) error {
	m := make(map[TopicPartition]offsetEpoch, len(offsets))
	for tp, o := range offsets {
		m[tp] = offsetEpoch{o, -1}
	}
	return c.commit(ctx, m)
}

// CommitAsync commits the positions of all assigned partitions in the
// background; cb (may be nil) gets the result.
func (c *Consumer) CommitAsync(cb func(map[TopicPartition]int64, error)) {
	c.commitAsync(c.positions(nil), cb)
}

// CommitOffsetsAsync commits specific offsets in the background; cb (may be
// nil) gets the result.
func (c *Consumer) CommitOffsetsAsync(offsets map[TopicPartition]int64, cb func(map[TopicPartition]int64, error)) {
	m := make(map[TopicPartition]offsetEpoch, len(offsets))
	for tp, o := range offsets {
		m[tp] = offsetEpoch{o, -1}
	}
	c.commitAsync(m, cb)
}

func (c *Consumer) commitAsync(offsets map[TopicPartition]offsetEpoch, cb func(map[TopicPartition]int64, error)) {
	if c.group == nil {
		if cb != nil {
			cb(nil, errors.New("client: commit needs group.id"))
		}
		return
	}
	c.group.async.Add(1)
	go func() {
		defer c.group.async.Done()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.requestTimeout)
		defer cancel()
		err := c.commit(ctx, offsets)
		if cb != nil {
			plain := make(map[TopicPartition]int64, len(offsets))
			for tp, o := range offsets {
				plain[tp] = o.Offset
			}
			cb(plain, err)
		}
	}()
}

func (c *Consumer) commit(ctx context.Context, offsets map[TopicPartition]offsetEpoch) error {
	g := c.group
	if g == nil {
		return errors.New("client: commit needs group.id")
	}
	if len(offsets) == 0 {
		return nil
	}
	for {
		g.mu.Lock()
		gen, member := int32(-1), ""
		if g.joined {
			gen, member = g.generation, g.memberID
		}
		g.mu.Unlock()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation, req.MemberID = c.cfg.groupID, gen, member
		if member != "" {
			req.InstanceID = g.instanceID()
		}
		byTopic := map[string][]kmsg.OffsetCommitRequestTopicPartition{}
		for tp, o := range offsets {
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, o.Offset, o.LeaderEpoch
			byTopic[tp.Topic] = append(byTopic[tp.Topic], p)
		}
		for _, t := range slices.Sorted(maps.Keys(byTopic)) {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic, rt.Partitions = t, byTopic[t]
			req.Topics = append(req.Topics, rt)
		}
		resp, err := g.coordRequest(ctx, req, c.cfg.requestTimeout)
		if err == nil {
			var errs []error
			for _, t := range resp.(*kmsg.OffsetCommitResponse).Topics {
				for _, p := range t.Partitions {
					if e := ErrorForCode(p.ErrorCode); e != nil {
						errs = append(errs, fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, e))
					}
				}
			}
			err = errors.Join(errs...)
			if err == nil {
				plain := make(map[TopicPartition]int64, len(offsets))
				for tp, o := range offsets {
					plain[tp] = o.Offset
				}
				for _, ic := range c.cfg.consumerIntercepts {
					ic.OnCommit(plain)
				}
				return nil
			}
		}
		g.coordErr(err)
		if errors.Is(err, ErrUnknownMemberID) || errors.Is(err, ErrIllegalGeneration) || errors.Is(err, ErrRebalanceInProgress) || errors.Is(err, ErrFencedInstanceID) {
			// The group moved on; the next Poll rejoins.
			g.mu.Lock()
			g.needJoin = true
			g.mu.Unlock()
			return fmt.Errorf("client: commit failed, the group rebalanced: %w", err)
		}
		if !IsRetriable(err) {
			return fmt.Errorf("client: commit: %w", err)
		}
		if serr := sleepCtx(ctx, c.cfg.retryBackoff); serr != nil {
			return fmt.Errorf("client: commit: %w", errors.Join(serr, err))
		}
	}
}

// Committed returns the group's committed offsets for tps; partitions with
// no commit are absent.
func (c *Consumer) Committed(ctx context.Context, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	m, err := c.committed(ctx, tps)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(m))
	for tp, o := range m {
		out[tp] = o.Offset
	}
	return out, nil
}

func (c *Consumer) committed(ctx context.Context, tps []TopicPartition) (map[TopicPartition]offsetEpoch, error) {
	g := c.group
	if g == nil {
		return nil, errors.New("client: committed offsets need group.id")
	}
	for {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = c.cfg.groupID
		req.RequireStable = c.cfg.isolation == ReadCommitted
		for _, t := range topicsOf(tps) {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = t
			for _, tp := range tps {
				if tp.Topic == t {
					rt.Partitions = append(rt.Partitions, tp.Partition)
				}
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := g.coordRequest(ctx, req, c.cfg.requestTimeout)
		if err == nil {
			r := resp.(*kmsg.OffsetFetchResponse)
			err = ErrorForCode(r.ErrorCode)
			if errors.Is(err, ErrGroupIDNotFound) {
				return map[TopicPartition]offsetEpoch{}, nil // no group yet: nothing committed
			}
			if err == nil {
				out := make(map[TopicPartition]offsetEpoch)
				var errs []error
				for _, t := range r.Topics {
					for _, p := range t.Partitions {
						if e := ErrorForCode(p.ErrorCode); e != nil {
							errs = append(errs, e)
							continue
						}
						if p.Offset >= 0 {
							out[TopicPartition{t.Topic, p.Partition}] = offsetEpoch{p.Offset, p.LeaderEpoch}
						}
					}
				}
				if err = errors.Join(errs...); err == nil {
					return out, nil
				}
			}
		}
		g.coordErr(err)
		if !IsRetriable(err) && !errors.Is(err, ErrUnstableOffsetCommit) {
			return nil, fmt.Errorf("client: OffsetFetch: %w", err)
		}
		if serr := sleepCtx(ctx, c.cfg.retryBackoff); serr != nil {
			return nil, fmt.Errorf("client: OffsetFetch: %w", errors.Join(serr, err))
		}
	}
}
