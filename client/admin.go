package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin manages topics, configs and groups. It is goroutine-safe.
type Admin struct {
	cfg *config
	cl  *cluster
}

// NewAdmin creates an admin client.
func NewAdmin(opts ...Option) (*Admin, error) {
	cfg := newConfig(opts)
	cl, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	cl.start()
	return &Admin{cfg: cfg, cl: cl}, nil
}

// Close closes the admin client's connections.
func (a *Admin) Close() { a.cl.close() }

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32 // -1: broker default
	ReplicationFactor int16 // -1: broker default
	Configs           map[string]string
}

// controllerRequest sends req to the controller, refreshing metadata and
// retrying after NOT_CONTROLLER.
func (a *Admin) controllerRequest(ctx context.Context, req kmsg.Request, check func(kmsg.Response) error) (kmsg.Response, error) {
	for {
		m := a.cl.meta.Load()
		if m.controller < 0 || m.fetched.IsZero() {
			if err := a.cl.refresh(ctx, time.Now()); err != nil {
				return nil, err
			}
			m = a.cl.meta.Load()
		}
		id := m.controller
		if id < 0 {
			id = -1 // no controller known: any seed will do
		}
		var resp kmsg.Response
		var err error
		if id < 0 {
			resp, err = a.cl.requestAny(ctx, req)
		} else {
			resp, err = a.cl.request(ctx, id, kindGroup, req)
		}
		if err == nil {
			err = check(resp)
			if err == nil || !errors.Is(err, ErrNotController) {
				return resp, nil
			}
		}
		if !errors.Is(err, ErrNotController) && !IsRetriable(err) {
			return nil, err
		}
		if serr := sleepCtx(ctx, a.cfg.retryBackoff); serr != nil {
			return nil, errors.Join(serr, err)
		}
		if err := a.cl.refresh(ctx, time.Now()); err != nil {
			return nil, err
		}
	}
}

// anyNotController returns ErrNotController if any code is NOT_CONTROLLER.
func anyNotController(codes ...int16) error {
	for _, c := range codes {
		if c == ErrNotController.Code {
			return ErrNotController
		}
	}
	return nil
}

// CreateTopics creates topics and waits until their partitions have leaders
// (or ctx ends). The error joins a *TopicError per failed topic, each
// wrapping its Kafka error (errors.Is(err, ErrTopicAlreadyExists)).
func (a *Admin) CreateTopics(ctx context.Context, specs ...TopicSpec) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(a.cfg.requestTimeout.Milliseconds())
	for _, s := range specs {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = s.Name, s.Partitions, s.ReplicationFactor
		if t.NumPartitions == 0 {
			t.NumPartitions = -1
		}
		if t.ReplicationFactor == 0 {
			t.ReplicationFactor = -1
		}
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			v := s.Configs[k]
			c.Name, c.Value = k, &v
			t.Configs = append(t.Configs, c)
		}
		req.Topics = append(req.Topics, t)
	}
	resp, err := a.controllerRequest(ctx, req, func(r kmsg.Response) error {
		var codes []int16
		for _, t := range r.(*kmsg.CreateTopicsResponse).Topics {
			codes = append(codes, t.ErrorCode)
		}
		return anyNotController(codes...)
	})
	if err != nil {
		return fmt.Errorf("client: CreateTopics: %w", err)
	}
	var errs []error
	var created []string
	for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if err := codeErr(t.ErrorCode, t.ErrorMessage); err != nil {
			errs = append(errs, &TopicError{Topic: t.Topic, Err: err})
			continue
		}
		created = append(created, t.Topic)
	}
	if len(created) > 0 {
		if err := a.waitTopics(ctx, created); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitTopics waits until metadata shows every partition of topics with a leader.
func (a *Admin) waitTopics(ctx context.Context, topics []string) error {
	for {
		req := kmsg.NewPtrMetadataRequest()
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := a.cl.requestAny(ctx, req)
		if err == nil {
			ready := true
			for _, t := range resp.(*kmsg.MetadataResponse).Topics {
				if t.ErrorCode != 0 || len(t.Partitions) == 0 {
					ready = false
				}
				for _, p := range t.Partitions {
					if p.Leader < 0 || p.ErrorCode != 0 {
						ready = false
					}
				}
			}
			if ready {
				return nil
			}
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("client: waiting for topics %v: %w", topics, err)
		}
	}
}

// DeleteTopics deletes topics. The error joins a *TopicError per failed
// topic (errors.Is(err, ErrUnknownTopicOrPartition) for a missing one).
func (a *Admin) DeleteTopics(ctx context.Context, names ...string) error {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = int32(a.cfg.requestTimeout.Milliseconds())
	req.TopicNames = names // v0-5
	for _, n := range names {
		t := kmsg.NewDeleteTopicsRequestTopic()
		t.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, t) // v6+
	}
	resp, err := a.controllerRequest(ctx, req, func(r kmsg.Response) error {
		var codes []int16
		for _, t := range r.(*kmsg.DeleteTopicsResponse).Topics {
			codes = append(codes, t.ErrorCode)
		}
		return anyNotController(codes...)
	})
	if err != nil {
		return fmt.Errorf("client: DeleteTopics: %w", err)
	}
	var errs []error
	for _, t := range resp.(*kmsg.DeleteTopicsResponse).Topics {
		if err := codeErr(t.ErrorCode, t.ErrorMessage); err != nil {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			errs = append(errs, &TopicError{Topic: name, Err: err})
		}
	}
	return errors.Join(errs...)
}

// PartitionInfo describes a partition.
type PartitionInfo struct {
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Offline     []int32 // replicas on brokers that are down
	Err         error
}

// TopicDescription describes a topic.
type TopicDescription struct {
	Name       string
	ID         [16]byte
	Internal   bool
	Partitions []PartitionInfo
	Err        error
}

func (a *Admin) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := a.cl.requestAny(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// ListTopics returns the names of all topics, internal ones excluded.
func (a *Admin) ListTopics(ctx context.Context) ([]string, error) {
	r, err := a.metadata(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("client: ListTopics: %w", err)
	}
	var out []string
	for _, t := range r.Topics {
		if t.Topic != nil && !t.IsInternal {
			out = append(out, *t.Topic)
		}
	}
	slices.Sort(out)
	return out, nil
}

// DescribeTopics describes topics (all if none given). A missing topic has
// Err wrapping ErrUnknownTopicOrPartition.
func (a *Admin) DescribeTopics(ctx context.Context, names ...string) ([]TopicDescription, error) {
	var ask []string
	if len(names) > 0 {
		ask = names
	}
	r, err := a.metadata(ctx, ask)
	if err != nil {
		return nil, fmt.Errorf("client: DescribeTopics: %w", err)
	}
	var out []TopicDescription
	for _, t := range r.Topics {
		if t.Topic == nil {
			continue
		}
		td := TopicDescription{Name: *t.Topic, ID: t.TopicID, Internal: t.IsInternal, Err: ErrorForCode(t.ErrorCode)}
		for _, p := range t.Partitions {
			td.Partitions = append(td.Partitions, PartitionInfo{
				Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR, Offline: p.OfflineReplicas, Err: ErrorForCode(p.ErrorCode),
			})
		}
		slices.SortFunc(td.Partitions, func(x, y PartitionInfo) int { return int(x.Partition - y.Partition) })
		out = append(out, td)
	}
	slices.SortFunc(out, func(x, y TopicDescription) int {
		if x.Name < y.Name {
			return -1
		} else if x.Name > y.Name {
			return 1
		}
		return 0
	})
	return out, nil
}

// CreatePartitions grows topic to total partitions and waits until they have
// leaders. A broker's refusal is a *TopicError (errors.Is(err,
// ErrInvalidPartitions) for a count that does not grow the topic).
func (a *Admin) CreatePartitions(ctx context.Context, topic string, total int32) error {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = int32(a.cfg.requestTimeout.Milliseconds())
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic, t.Count = topic, total
	req.Topics = append(req.Topics, t)
	resp, err := a.controllerRequest(ctx, req, func(r kmsg.Response) error {
		var codes []int16
		for _, t := range r.(*kmsg.CreatePartitionsResponse).Topics {
			codes = append(codes, t.ErrorCode)
		}
		return anyNotController(codes...)
	})
	if err != nil {
		return fmt.Errorf("client: CreatePartitions: %w", err)
	}
	for _, t := range resp.(*kmsg.CreatePartitionsResponse).Topics {
		if err := codeErr(t.ErrorCode, t.ErrorMessage); err != nil {
			return fmt.Errorf("client: CreatePartitions: %w", &TopicError{Topic: t.Topic, Err: err})
		}
	}
	return a.waitTopics(ctx, []string{topic})
}

// ConfigResourceType is the kind of a config resource.
type ConfigResourceType int8

const (
	ResourceTopic  = ConfigResourceType(kmsg.ConfigResourceTypeTopic)
	ResourceBroker = ConfigResourceType(kmsg.ConfigResourceTypeBroker)
)

// ConfigResource names a topic or a broker (by node ID as a string).
type ConfigResource struct {
	Type ConfigResourceType
	Name string
}

// ConfigEntry is one config value.
type ConfigEntry struct {
	Name      string
	Value     *string // nil for sensitive or unset values
	ReadOnly  bool
	Default   bool
	Sensitive bool
	Source    string // e.g. DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG
}

func (a *Admin) resourceRequest(ctx context.Context, r ConfigResource, req kmsg.Request) (kmsg.Response, error) {
	if r.Type == ResourceBroker && r.Name != "" {
		var id int32
		if _, err := fmt.Sscan(r.Name, &id); err == nil {
			if _, err := a.cl.node(id); err != nil {
				if err := a.cl.refresh(ctx, time.Now()); err != nil {
					return nil, err
				}
			}
			return a.cl.request(ctx, id, kindGroup, req)
		}
	}
	return a.cl.requestAny(ctx, req)
}

// resourceErr names the resource a config error is about: a *TopicError for
// topics, so callers handle topic failures the same way everywhere.
func resourceErr(r ConfigResource, name string, err error) error {
	if r.Type == ResourceTopic {
		return &TopicError{Topic: name, Err: err}
	}
	return fmt.Errorf("broker %s: %w", name, err)
}

// DescribeConfigs returns the configs of a resource, by name. A topic the
// broker refuses to describe (errors.Is(err, ErrUnknownTopicOrPartition)) is
// a *TopicError.
func (a *Admin) DescribeConfigs(ctx context.Context, r ConfigResource, names ...string) (map[string]ConfigEntry, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(r.Type), r.Name
	if len(names) > 0 {
		rr.ConfigNames = names
	}
	req.Resources = append(req.Resources, rr)
	resp, err := a.resourceRequest(ctx, r, req)
	if err != nil {
		return nil, fmt.Errorf("client: DescribeConfigs: %w", err)
	}
	out := make(map[string]ConfigEntry)
	for _, res := range resp.(*kmsg.DescribeConfigsResponse).Resources {
		if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
			return nil, fmt.Errorf("client: DescribeConfigs: %w", resourceErr(r, res.ResourceName, err))
		}
		for _, c := range res.Configs {
			out[c.Name] = ConfigEntry{
				Name: c.Name, Value: c.Value, ReadOnly: c.ReadOnly, Sensitive: c.IsSensitive,
				Default: c.IsDefault || c.Source == kmsg.ConfigSourceDefaultConfig,
				Source:  c.Source.String(),
			}
		}
	}
	return out, nil
}

// AlterConfigs changes configs incrementally: a nil value deletes the
// override (back to the default), others are set. A topic's refusal is a
// *TopicError.
func (a *Admin) AlterConfigs(ctx context.Context, r ConfigResource, set map[string]*string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(r.Type), r.Name
	for _, k := range slices.Sorted(maps.Keys(set)) {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = k, set[k], kmsg.IncrementalAlterConfigOpSet
		if set[k] == nil {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := a.resourceRequest(ctx, r, req)
	if err != nil {
		return fmt.Errorf("client: AlterConfigs: %w", err)
	}
	for _, res := range resp.(*kmsg.IncrementalAlterConfigsResponse).Resources {
		if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
			return fmt.Errorf("client: AlterConfigs: %w", resourceErr(r, res.ResourceName, err))
		}
	}
	return nil
}

// ClusterInfo describes the cluster.
type ClusterInfo struct {
	ClusterID  string
	Controller int32
	Brokers    []BrokerInfo
}

// DescribeCluster returns the brokers and the controller.
func (a *Admin) DescribeCluster(ctx context.Context) (ClusterInfo, error) {
	r, err := a.metadata(ctx, []string{})
	if err != nil {
		return ClusterInfo{}, fmt.Errorf("client: DescribeCluster: %w", err)
	}
	ci := ClusterInfo{Controller: r.ControllerID}
	if r.ClusterID != nil {
		ci.ClusterID = *r.ClusterID
	}
	for _, b := range r.Brokers {
		ci.Brokers = append(ci.Brokers, BrokerInfo{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	slices.SortFunc(ci.Brokers, func(x, y BrokerInfo) int { return int(x.NodeID - y.NodeID) })
	return ci, nil
}

// GroupListing is a group from ListGroups.
type GroupListing struct {
	GroupID      string
	ProtocolType string
	State        string // v4+ brokers; empty otherwise
}

// eachBroker sends the request mk builds to every broker in metadata and
// hands each response to fn. A broker that fails (or whose response fn
// rejects) does not stop the others: the error joins one error per failed
// broker, naming it, so callers can return what the others answered.
func (a *Admin) eachBroker(ctx context.Context, mk func() kmsg.Request, fn func(id int32, resp kmsg.Response) error) error {
	if err := a.cl.refresh(ctx, time.Now()); err != nil {
		return err
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(a.cl.meta.Load().brokers)) {
		resp, err := a.cl.request(ctx, id, kindGroup, mk())
		if err == nil {
			err = fn(id, resp)
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("broker %d: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// uniqueBy sorts what eachBroker collected by id, keeping one entry per id
// (the first broker's): a group or transactional ID that two brokers report
// while its coordinator moves is listed once.
func uniqueBy[T any](s []T, id func(T) string) []T {
	slices.SortStableFunc(s, func(x, y T) int { return strings.Compare(id(x), id(y)) })
	return slices.CompactFunc(s, func(x, y T) bool { return id(x) == id(y) })
}

// ListGroups lists the groups of every broker, sorted by ID; given states
// (as brokers spell them: "Stable", "Empty", "PreparingRebalance", ...), only
// the groups in one of them. When some brokers fail, it returns the groups
// of the others together with an error naming each failed broker.
func (a *Admin) ListGroups(ctx context.Context, states ...string) ([]GroupListing, error) {
	var out []GroupListing
	err := a.eachBroker(ctx, func() kmsg.Request {
		req := kmsg.NewPtrListGroupsRequest()
		req.StatesFilter = states
		return req
	}, func(_ int32, resp kmsg.Response) error {
		r := resp.(*kmsg.ListGroupsResponse)
		if err := ErrorForCode(r.ErrorCode); err != nil {
			return err
		}
		for _, g := range r.Groups {
			// Brokers before ListGroups v4 ignore the filter, but
			// then they do not report states either.
			if len(states) > 0 && g.GroupState != "" && !slices.Contains(states, g.GroupState) {
				continue
			}
			out = append(out, GroupListing{GroupID: g.Group, ProtocolType: g.ProtocolType, State: g.GroupState})
		}
		return nil
	})
	out = uniqueBy(out, func(g GroupListing) string { return g.GroupID })
	if err != nil {
		return out, fmt.Errorf("client: ListGroups: %w", err)
	}
	return out, nil
}

// MemberDescription is a group member.
type MemberDescription struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Assignment []TopicPartition
}

// GroupDescription describes a group.
type GroupDescription struct {
	GroupID      string
	State        string
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
	Coordinator  BrokerInfo // the broker that described the group; zero if none was found
	Err          error
}

// FindCoordinator key types.
const (
	coordGroup int8 = 0
	coordTxn   int8 = 1
)

// coordRequest sends req to the coordinator of key, retrying while the
// coordinator moves or loads (retriable codes, as code extracts them from
// the response). It returns the coordinator that answered.
func (a *Admin) coordRequest(ctx context.Context, key string, keyType int8, req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, int32, error) {
	for {
		id, err := a.cl.coordinator(ctx, key, keyType)
		if err != nil {
			return nil, -1, err
		}
		resp, err := a.cl.request(ctx, id, kindGroup, req)
		if err == nil {
			err = ErrorForCode(code(resp))
			if err == nil || !IsRetriable(err) {
				return resp, id, nil
			}
		}
		if !IsRetriable(err) {
			return nil, id, err
		}
		if serr := sleepCtx(ctx, a.cfg.retryBackoff); serr != nil {
			return nil, id, errors.Join(serr, err)
		}
	}
}

// groupRequest is coordRequest for a group's coordinator.
func (a *Admin) groupRequest(ctx context.Context, group string, req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, error) {
	resp, _, err := a.coordRequest(ctx, group, coordGroup, req, code)
	return resp, err
}

// brokerInfo describes broker id by the address the client talks to it at
// (for a coordinator, the one FindCoordinator gave).
func (a *Admin) brokerInfo(id int32) BrokerInfo {
	bi := BrokerInfo{NodeID: id}
	if b, ok := a.cl.meta.Load().brokers[id]; ok {
		bi = b
	}
	if n, err := a.cl.node(id); err == nil {
		if host, port, err := net.SplitHostPort(n.addr); err == nil {
			p, _ := strconv.ParseInt(port, 10, 32)
			bi.Host, bi.Port = host, int32(p)
		}
	}
	return bi
}

// DescribeGroups describes groups, in the order given. A group that cannot
// be described (its coordinator cannot be found, or it answers with an
// error such as GROUP_ID_NOT_FOUND) has Err set; the call itself fails only
// when ctx ends.
func (a *Admin) DescribeGroups(ctx context.Context, groups ...string) ([]GroupDescription, error) {
	var out []GroupDescription
	for _, g := range groups {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{g}
		resp, coord, err := a.coordRequest(ctx, g, coordGroup, req, func(r kmsg.Response) int16 {
			if gs := r.(*kmsg.DescribeGroupsResponse).Groups; len(gs) > 0 {
				return gs[0].ErrorCode
			}
			return 0
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("client: DescribeGroups %s: %w", g, err)
			}
			out = append(out, GroupDescription{GroupID: g, Err: err})
			continue
		}
		for _, rg := range resp.(*kmsg.DescribeGroupsResponse).Groups {
			gd := GroupDescription{
				GroupID: rg.Group, State: rg.State, ProtocolType: rg.ProtocolType, Protocol: rg.Protocol,
				Coordinator: a.brokerInfo(coord), Err: codeErr(rg.ErrorCode, rg.ErrorMessage),
			}
			for _, m := range rg.Members {
				md := MemberDescription{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost}
				var ma kmsg.ConsumerMemberAssignment
				if rg.ProtocolType == "consumer" && len(m.MemberAssignment) > 0 && ma.ReadFrom(m.MemberAssignment) == nil {
					for _, t := range ma.Topics {
						for _, p := range t.Partitions {
							md.Assignment = append(md.Assignment, TopicPartition{t.Topic, p})
						}
					}
				}
				gd.Members = append(gd.Members, md)
			}
			out = append(out, gd)
		}
	}
	return out, nil
}

// DeleteGroups deletes (empty) groups. The error joins a *GroupError per
// group not deleted (errors.Is(err, ErrNonEmptyGroup) for one with members,
// ErrGroupIDNotFound for one that does not exist).
func (a *Admin) DeleteGroups(ctx context.Context, groups ...string) error {
	var errs []error
	for _, g := range groups {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = []string{g}
		resp, err := a.groupRequest(ctx, g, req, func(r kmsg.Response) int16 {
			if gs := r.(*kmsg.DeleteGroupsResponse).Groups; len(gs) > 0 {
				return gs[0].ErrorCode
			}
			return 0
		})
		if err != nil {
			errs = append(errs, &GroupError{Group: g, Err: err})
			continue
		}
		for _, rg := range resp.(*kmsg.DeleteGroupsResponse).Groups {
			if err := codeErr(rg.ErrorCode, rg.ErrorMessage); err != nil {
				errs = append(errs, &GroupError{Group: rg.Group, Err: err})
			}
		}
	}
	return errors.Join(errs...)
}

// GroupOffsets returns a group's committed offsets.
func (a *Admin) GroupOffsets(ctx context.Context, group string) (map[TopicPartition]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	req.Topics = nil // all
	resp, err := a.groupRequest(ctx, group, req, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetFetchResponse).ErrorCode })
	if err != nil {
		return nil, fmt.Errorf("client: group offsets %s: %w", group, err)
	}
	r := resp.(*kmsg.OffsetFetchResponse)
	if err := ErrorForCode(r.ErrorCode); err != nil {
		if errors.Is(err, ErrGroupIDNotFound) {
			return map[TopicPartition]int64{}, nil
		}
		return nil, fmt.Errorf("client: group offsets %s: %w", group, err)
	}
	out := make(map[TopicPartition]int64)
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 && p.Offset >= 0 {
				out[TopicPartition{t.Topic, p.Partition}] = p.Offset
			}
		}
	}
	return out, nil
}

// CommitGroupOffsets sets a group's committed offsets (the group should have
// no active members, as with kafka-consumer-groups --reset-offsets).
func (a *Admin) CommitGroupOffsets(ctx context.Context, group string, offsets map[TopicPartition]int64) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	byTopic := map[string][]kmsg.OffsetCommitRequestTopicPartition{}
	for tp, o := range offsets {
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, o, -1
		byTopic[tp.Topic] = append(byTopic[tp.Topic], p)
	}
	for _, t := range slices.Sorted(maps.Keys(byTopic)) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.Partitions = t, byTopic[t]
		req.Topics = append(req.Topics, rt)
	}
	resp, err := a.groupRequest(ctx, group, req, func(kmsg.Response) int16 { return 0 })
	if err != nil {
		return fmt.Errorf("client: commit offsets %s: %w", group, err)
	}
	var errs []error
	for _, t := range resp.(*kmsg.OffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			if err := ErrorForCode(p.ErrorCode); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, err))
			}
		}
	}
	return errors.Join(errs...)
}

// DeleteGroupOffsets deletes a group's committed offsets for tps
// (OffsetDelete); the group must not be consuming those topics.
func (a *Admin) DeleteGroupOffsets(ctx context.Context, group string, tps ...TopicPartition) error {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	for _, t := range topicsOf(tps) {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = t
		for _, tp := range tps {
			if tp.Topic == t {
				p := kmsg.NewOffsetDeleteRequestTopicPartition()
				p.Partition = tp.Partition
				rt.Partitions = append(rt.Partitions, p)
			}
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := a.groupRequest(ctx, group, req, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode })
	if err != nil {
		return fmt.Errorf("client: delete offsets %s: %w", group, err)
	}
	r := resp.(*kmsg.OffsetDeleteResponse)
	if err := ErrorForCode(r.ErrorCode); err != nil {
		return fmt.Errorf("client: delete offsets %s: %w", group, err)
	}
	var errs []error
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if err := ErrorForCode(p.ErrorCode); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Offset timestamps for ListOffsets.
const (
	OffsetLatest   int64 = -1
	OffsetEarliest int64 = -2
)

// ListOffsets returns, per partition, the offset for ts: OffsetLatest (the
// log end), OffsetEarliest (the log start), or a millisecond timestamp (the
// first offset at or after it, -1 if none). The error joins those of the
// partitions that failed.
func (a *Admin) ListOffsets(ctx context.Context, ts int64, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	offs, failed, err := a.listOffsets(ctx, ts, tps)
	if err != nil {
		return nil, fmt.Errorf("client: ListOffsets: %w", err)
	}
	if len(failed) > 0 {
		var errs []error
		for _, tp := range slices.SortedFunc(maps.Keys(failed), compareTP) {
			errs = append(errs, fmt.Errorf("%s: %w", tp, failed[tp]))
		}
		return nil, fmt.Errorf("client: ListOffsets: %w", errors.Join(errs...))
	}
	return offs, nil
}

// listOffsets is ListOffsets keeping going past partitions that fail: their
// errors are in failed. err is set only when nothing could be asked (no
// metadata, or ctx ended).
func (a *Admin) listOffsets(ctx context.Context, ts int64, tps []TopicPartition) (offs map[TopicPartition]int64, failed map[TopicPartition]error, err error) {
	m, err := a.cl.metadataFor(ctx, topicsOf(tps)...)
	if err != nil {
		return nil, nil, err
	}
	offs = make(map[TopicPartition]int64, len(tps))
	failed = make(map[TopicPartition]error)
	byNode := map[int32][]TopicPartition{}
	for _, tp := range tps {
		leader, _, ok := m.leader(tp)
		if !ok {
			failed[tp] = ErrLeaderNotAvailable
			a.cl.triggerRefresh()
			continue
		}
		byNode[leader] = append(byNode[leader], tp)
	}
	for node, ps := range byNode {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		for _, t := range topicsOf(ps) {
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = t
			for _, tp := range ps {
				if tp.Topic == t {
					p := kmsg.NewListOffsetsRequestTopicPartition()
					p.Partition, p.Timestamp, p.CurrentLeaderEpoch = tp.Partition, ts, -1
					rt.Partitions = append(rt.Partitions, p)
				}
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := a.cl.request(ctx, node, kindGroup, req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, err
			}
			for _, tp := range ps {
				failed[tp] = err
			}
			continue
		}
		for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				tp := TopicPartition{t.Topic, p.Partition}
				if err := ErrorForCode(p.ErrorCode); err != nil {
					a.cl.triggerRefresh()
					failed[tp] = err
					continue
				}
				offs[tp] = p.Offset
			}
		}
	}
	return offs, failed, nil
}

// PartitionLag is a group's progress on one partition.
type PartitionLag struct {
	Committed int64 // -1 if nothing committed
	End       int64 // log end offset; -1 if unknown (EndErr)
	Lag       int64 // End - Committed (at least 0), End if nothing committed, -1 if End is unknown
	// Member is the member the partition is assigned to (pointing into
	// the group's GroupDescription.Members); nil if none.
	Member *MemberDescription
	EndErr error // why End is unknown, e.g. the topic no longer exists
}

// GroupLagDescription is a group's description with its lag.
type GroupLagDescription struct {
	GroupDescription
	// Lag covers every partition of the topics the group has committed
	// offsets for or is assigned, as kafka-consumer-groups --describe.
	// Empty when Err is set.
	Lag map[TopicPartition]PartitionLag
}

// DescribeGroupLag describes groups (as DescribeGroups) with their committed
// offsets, log end offsets and lag. A group whose description or committed
// offsets cannot be fetched has Err set and no Lag; a partition whose log
// end cannot be listed has EndErr set.
func (a *Admin) DescribeGroupLag(ctx context.Context, groups ...string) ([]GroupLagDescription, error) {
	descs, err := a.DescribeGroups(ctx, groups...)
	if err != nil {
		return nil, err
	}
	out := make([]GroupLagDescription, len(descs))
	committed := make([]map[TopicPartition]int64, len(descs))
	topics := map[string]bool{}
	for i, d := range descs {
		out[i].GroupDescription = d
		if d.Err != nil {
			continue
		}
		c, err := a.GroupOffsets(ctx, d.GroupID)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			out[i].Err = err
			continue
		}
		committed[i] = c
		for tp := range c {
			topics[tp.Topic] = true
		}
		for _, m := range d.Members {
			for _, tp := range m.Assignment {
				topics[tp.Topic] = true
			}
		}
	}
	// Log ends of every partition of these topics, for all groups at once.
	var tds []TopicDescription
	if len(topics) > 0 {
		if tds, err = a.DescribeTopics(ctx, slices.Sorted(maps.Keys(topics))...); err != nil {
			return nil, err
		}
	}
	parts := map[string][]int32{}
	topicErr := map[string]error{}
	var tps []TopicPartition
	for _, td := range tds {
		if td.Err != nil {
			topicErr[td.Name] = td.Err
			continue
		}
		for _, p := range td.Partitions {
			parts[td.Name] = append(parts[td.Name], p.Partition)
			tps = append(tps, TopicPartition{td.Name, p.Partition})
		}
	}
	ends, endErrs, err := a.listOffsets(ctx, OffsetLatest, tps)
	if err != nil {
		return nil, fmt.Errorf("client: DescribeGroupLag: %w", err)
	}
	for i := range out {
		c := committed[i]
		if c == nil {
			continue
		}
		d := &out[i]
		owner := map[TopicPartition]*MemberDescription{}
		for j := range d.Members {
			for _, tp := range d.Members[j].Assignment {
				owner[tp] = &d.Members[j]
			}
		}
		// Partitions of existing topics, plus those committed or assigned
		// in topics that failed (deleted since, say).
		mine := map[TopicPartition]bool{}
		for _, tps := range []iter.Seq[TopicPartition]{maps.Keys(c), maps.Keys(owner)} {
			for tp := range tps {
				mine[tp] = true
				for _, p := range parts[tp.Topic] {
					mine[TopicPartition{tp.Topic, p}] = true
				}
			}
		}
		d.Lag = make(map[TopicPartition]PartitionLag, len(mine))
		for tp := range mine {
			pl := PartitionLag{Committed: -1, End: -1, Lag: -1, Member: owner[tp]}
			if o, ok := c[tp]; ok {
				pl.Committed = o
			}
			switch end, ok := ends[tp]; {
			case ok:
				pl.End = end
				pl.Lag = end
				if pl.Committed >= 0 {
					pl.Lag = max(end-pl.Committed, 0)
				}
			case topicErr[tp.Topic] != nil:
				pl.EndErr = topicErr[tp.Topic]
			case endErrs[tp] != nil:
				pl.EndErr = endErrs[tp]
			default:
				pl.EndErr = ErrUnknownTopicOrPartition // not in the topic's metadata
			}
			d.Lag[tp] = pl
		}
	}
	return out, nil
}

// GroupLag returns, for every partition of the topics a group has committed
// offsets for (or is assigned), the committed offset, log end and lag (see
// DescribeGroupLag). A group that does not exist has no lag.
func (a *Admin) GroupLag(ctx context.Context, group string) (map[TopicPartition]PartitionLag, error) {
	ds, err := a.DescribeGroupLag(ctx, group)
	if err != nil {
		return nil, err
	}
	if len(ds) != 1 {
		return nil, fmt.Errorf("client: GroupLag %s: %d groups described", group, len(ds))
	}
	if err := ds[0].Err; err != nil {
		if errors.Is(err, ErrGroupIDNotFound) {
			return map[TopicPartition]PartitionLag{}, nil
		}
		return nil, fmt.Errorf("client: GroupLag %s: %w", group, err)
	}
	return ds[0].Lag, nil
}
