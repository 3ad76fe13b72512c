package client

import (
	"cmp"
	"slices"
)

// RebalanceProtocol is how a group moves partitions between members.
type RebalanceProtocol int

const (
	// Eager: every member revokes everything before rejoining.
	Eager RebalanceProtocol = iota
	// Cooperative: members keep what they own; only partitions that move
	// are revoked, in a second rebalance round (KIP-429).
	Cooperative
)

// GroupMember is a member as seen by the group leader's assignor.
type GroupMember struct {
	ID         string
	InstanceID *string
	Topics     []string
	Owned      []TopicPartition // what the member owned before this rebalance
	Generation int32            // generation of Owned, -1 if unknown
	UserData   []byte
}

// Assignor computes a group's assignment on the leader
// (partition.assignment.strategy). Assign gets every member and the
// partition count of every topic any member subscribes to, and returns the
// partitions of each member ID.
type Assignor interface {
	Name() string
	Protocol() RebalanceProtocol
	Assign(members []GroupMember, partitions map[string]int32) map[string][]TopicPartition
}

// RangeAssignor is Kafka's "range": per topic, consecutive ranges of
// partitions to members in member order.
func RangeAssignor() Assignor { return rangeAssignor{} }

// RoundRobinAssignor is Kafka's "roundrobin": all partitions dealt to
// members in turn.
func RoundRobinAssignor() Assignor { return roundRobinAssignor{} }

// StickyAssignor is Kafka's "sticky" (eager): balanced, moving as few
// partitions as possible from their previous owners.
func StickyAssignor() Assignor { return stickyAssignor{} }

// CooperativeStickyAssignor is Kafka's "cooperative-sticky": the sticky
// assignment, with cooperative rebalancing.
func CooperativeStickyAssignor() Assignor { return stickyAssignor{coop: true} }

// memberKey orders members as the Java assignors do: static members by
// instance ID, others by member ID.
func memberKey(m *GroupMember) string {
	if m.InstanceID != nil {
		return "0" + *m.InstanceID
	}
	return "1" + m.ID
}

func sortedMembers(ms []GroupMember) []GroupMember {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b GroupMember) int { return cmp.Compare(memberKey(&a), memberKey(&b)) })
	return ms
}

func sortedTopics(parts map[string]int32) []string {
	ts := make([]string, 0, len(parts))
	for t := range parts {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

func subscribed(m *GroupMember, topic string) bool { return slices.Contains(m.Topics, topic) }

type rangeAssignor struct{}

func (rangeAssignor) Name() string                { return "range" }
func (rangeAssignor) Protocol() RebalanceProtocol { return Eager }
func (rangeAssignor) Assign(members []GroupMember, parts map[string]int32) map[string][]TopicPartition {
	out := make(map[string][]TopicPartition, len(members))
	ms := sortedMembers(members)
	for _, t := range sortedTopics(parts) {
		var subs []*GroupMember
		for i := range ms {
			if subscribed(&ms[i], t) {
				subs = append(subs, &ms[i])
			}
		}
		if len(subs) == 0 {
			continue
		}
		n := int(parts[t])
		per, extra := n/len(subs), n%len(subs)
		p := 0
		for i, m := range subs {
			k := per
			if i < extra {
				k++
			}
			for range k {
				out[m.ID] = append(out[m.ID], TopicPartition{t, int32(p)})
				p++
			}
		}
	}
	return out
}

type roundRobinAssignor struct{}

func (roundRobinAssignor) Name() string                { return "roundrobin" }
func (roundRobinAssignor) Protocol() RebalanceProtocol { return Eager }
func (roundRobinAssignor) Assign(members []GroupMember, parts map[string]int32) map[string][]TopicPartition {
	out := make(map[string][]TopicPartition, len(members))
	ms := sortedMembers(members)
	if len(ms) == 0 {
		return out
	}
	next := 0
	for _, t := range sortedTopics(parts) {
		for p := range parts[t] {
			// Deal to the next member subscribed to t.
			for range ms {
				m := &ms[next%len(ms)]
				next++
				if subscribed(m, t) {
					out[m.ID] = append(out[m.ID], TopicPartition{t, p})
					break
				}
			}
		}
	}
	return out
}

type stickyAssignor struct{ coop bool }

func (a stickyAssignor) Name() string {
	if a.coop {
		return "cooperative-sticky"
	}
	return "sticky"
}

func (a stickyAssignor) Protocol() RebalanceProtocol {
	if a.coop {
		return Cooperative
	}
	return Eager
}

func (a stickyAssignor) Assign(members []GroupMember, parts map[string]int32) map[string][]TopicPartition {
	ms := sortedMembers(members)
	owner := make(map[TopicPartition]string)
	assigned := make(map[string]map[TopicPartition]bool, len(ms))
	byID := make(map[string]*GroupMember, len(ms))
	for i := range ms {
		assigned[ms[i].ID] = make(map[TopicPartition]bool)
		byID[ms[i].ID] = &ms[i]
	}
	// Keep previous ownership where still valid; with conflicting claims
	// the newest generation wins.
	claimOrder := slices.Clone(ms)
	slices.SortStableFunc(claimOrder, func(x, y GroupMember) int { return cmp.Compare(y.Generation, x.Generation) })
	for _, m := range claimOrder {
		for _, tp := range m.Owned {
			if n, ok := parts[tp.Topic]; !ok || tp.Partition >= n || !subscribed(&m, tp.Topic) {
				continue
			}
			if _, taken := owner[tp]; taken {
				continue
			}
			owner[tp] = m.ID
			assigned[m.ID][tp] = true
		}
	}
	prevOwner := make(map[TopicPartition]string, len(owner))
	for tp, m := range owner {
		prevOwner[tp] = m
	}
	eligible := func(tp TopicPartition) []string {
		var ids []string
		for i := range ms {
			if subscribed(&ms[i], tp.Topic) {
				ids = append(ids, ms[i].ID)
			}
		}
		return ids
	}
	count := func(id string) int { return len(assigned[id]) }
	// Unowned partitions go to the least loaded eligible member.
	for _, t := range sortedTopics(parts) {
		for p := range parts[t] {
			tp := TopicPartition{t, p}
			if _, ok := owner[tp]; ok {
				continue
			}
			best := ""
			for _, id := range eligible(tp) {
				if best == "" || count(id) < count(best) {
					best = id
				}
			}
			if best != "" {
				owner[tp] = best
				assigned[best][tp] = true
			}
		}
	}
	// Balance: move a partition from the most to the least loaded member
	// that can take it while their counts differ by more than one. Each
	// move lowers the sum of squared counts, so this ends.
	for moved := true; moved; {
		moved = false
		order := make([]string, 0, len(ms))
		for i := range ms {
			order = append(order, ms[i].ID)
		}
		slices.SortStableFunc(order, func(x, y string) int { return cmp.Compare(count(y), count(x)) })
	outer:
		for _, hi := range order {
			for j := len(order) - 1; j >= 0; j-- {
				lo := order[j]
				if count(hi)-count(lo) <= 1 {
					break
				}
				// Prefer moving a partition lo owned before, then the
				// highest-numbered one, for stable results.
				cands := make([]TopicPartition, 0, len(assigned[hi]))
				for tp := range assigned[hi] {
					if subscribed(byID[lo], tp.Topic) {
						cands = append(cands, tp)
					}
				}
				if len(cands) == 0 {
					continue
				}
				slices.SortFunc(cands, func(x, y TopicPartition) int {
					xp, yp := prevOwner[x] == lo, prevOwner[y] == lo
					if xp != yp {
						if xp {
							return -1
						}
						return 1
					}
					if c := cmp.Compare(y.Topic, x.Topic); c != 0 {
						return c
					}
					return cmp.Compare(y.Partition, x.Partition)
				})
				tp := cands[0]
				delete(assigned[hi], tp)
				assigned[lo][tp] = true
				owner[tp] = lo
				moved = true
				break outer
			}
		}
	}
	out := make(map[string][]TopicPartition, len(ms))
	for id, set := range assigned {
		for tp := range set {
			// Cooperative: a partition moving away from a live member is
			// assigned to nobody this round; its owner revokes it and
			// rejoins, and the next round hands it over.
			if a.coop {
				if prev, ok := prevOwner[tp]; ok && prev != id {
					continue
				}
			}
			out[id] = append(out[id], tp)
		}
		slices.SortFunc(out[id], compareTP)
	}
	return out
}

func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}
