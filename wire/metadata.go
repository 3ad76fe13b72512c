package wire

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/raftgroup"
)

// metadataElectionWait bounds how long a Metadata answer waits for the
// election of a partition that lost its leader (see handleMetadata). Raft
// elects in 0.3–0.6 s here; a split vote takes another round.
const metadataElectionWait = 2 * time.Second

// handleMetadata answers from this broker's view of the cluster. When a
// requested partition has just lost its leader and a quorum of its replicas
// is up, the answer waits (up to metadataElectionWait) for the new leader:
// a client that asks right after its leader died gets the new one, instead
// of LEADER_NOT_AVAILABLE or the dead broker, either of which makes
// franz-go wait out its metadata min age (5 s) before asking again.
func handleMetadata(rc *reqCtx, r kmsg.Request) kmsg.Response {
	resp, awaiting := metadata(rc, r.(*kmsg.MetadataRequest))
	if !awaiting {
		return resp
	}
	rc.later(func() kmsg.Response {
		deadline := time.Now().Add(metadataElectionWait)
		for awaiting && time.Now().Before(deadline) {
			select {
			case <-rc.Done():
				return resp
			case <-time.After(20 * time.Millisecond):
			}
			resp, awaiting = metadata(rc, r.(*kmsg.MetadataRequest))
		}
		return resp
	})
	return nil
}

// metadata builds the answer and says whether a partition in it is
// awaiting a leader (actors.Broker.AwaitingLeader).
func metadata(rc *reqCtx, req *kmsg.MetadataRequest) (*kmsg.MetadataResponse, bool) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	b := rc.s.b
	md := b.Metadata()
	for _, br := range b.LiveBrokers() {
		mb := kmsg.MetadataResponseBroker{NodeID: br.NodeID, Host: br.Host, Port: br.Port}
		if br.Rack != "" {
			rack := br.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	cid := b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = -1
	if leader, _, ok := b.ControllerLeader(); ok {
		resp.ControllerID = leader
	}

	// v0: an empty list means all topics; v1+: null means all.
	all := req.Topics == nil || (req.GetVersion() == 0 && len(req.Topics) == 0)
	if all {
		names := make([]string, 0, len(md.Topics))
		for n := range md.Topics {
			names = append(names, n)
		}
		sort.Strings(names)
		awaiting := false
		for _, n := range names {
			mt, aw := topicMetadata(b, md.Topics[n])
			resp.Topics = append(resp.Topics, mt)
			awaiting = awaiting || aw
		}
		return resp, awaiting
	}
	awaiting := false
	autoCreate := req.GetVersion() < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var t *raftgroup.Topic
		if rt.Topic == nil {
			if t = md.TopicByID(rt.TopicID); t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		} else {
			name := *rt.Topic
			t = md.Topics[name]
			if t == nil {
				var err error
				if err = actors.ValidateTopicName(name); err == nil {
					if autoCreate {
						t, err = b.AutoCreateTopic(rc, name)
					} else {
						err = kerr.UnknownTopicOrPartition
					}
				}
				if t == nil {
					mt := kmsg.NewMetadataResponseTopic()
					mt.Topic = &name
					mt.ErrorCode = actors.ErrorCode(err)
					resp.Topics = append(resp.Topics, mt)
					continue
				}
			}
		}
		mt, aw := topicMetadata(b, t)
		resp.Topics = append(resp.Topics, mt)
		awaiting = awaiting || aw
	}
	return resp, awaiting
}

func topicMetadata(b *actors.Broker, t *raftgroup.Topic) (mt kmsg.MetadataResponseTopic, awaiting bool) {
	mt = kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	for _, a := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = a.Partition
		mp.Replicas = append([]int32(nil), a.Replicas...)
		if leader, epoch, ok := b.PartitionLeader(a.ShardID); ok {
			mp.Leader, mp.LeaderEpoch = leader, epoch
			mp.ISR = b.InSyncReplicas(a)
		} else {
			mp.Leader, mp.LeaderEpoch = -1, -1
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.ISR = []int32{}
			awaiting = awaiting || b.AwaitingLeader(a)
		}
		mp.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt, awaiting
}
