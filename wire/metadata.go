package wire

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/raftgroup"
)

func handleMetadata(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.MetadataRequest)
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
		for _, n := range names {
			resp.Topics = append(resp.Topics, topicMetadata(b, md.Topics[n]))
		}
		return resp
	}
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
		resp.Topics = append(resp.Topics, topicMetadata(b, t))
	}
	return resp
}

func topicMetadata(b *actors.Broker, t *raftgroup.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
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
		}
		mp.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
