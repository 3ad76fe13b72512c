package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
)

func handleCreateTopics(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := adminContext(rc, req.TimeoutMillis)
	defer cancel()
	b := rc.s.b
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		var err error
		switch {
		case seen[rt.Topic] > 1:
			err = &actors.Error{Code: kerr.InvalidRequest.Code, Message: "topic named more than once in the request"}
		case len(rt.ReplicaAssignment) > 0:
			err = &actors.Error{Code: kerr.InvalidReplicaAssignment.Code, Message: "manual replica assignment is not supported"}
		default:
			configs := map[string]string{}
			for _, c := range rt.Configs {
				if c.Value != nil {
					configs[c.Name] = *c.Value
				}
			}
			t, cerr := b.CreateTopic(ctx, rt.Topic, rt.NumPartitions, rt.ReplicationFactor, configs, req.ValidateOnly)
			err = cerr
			if err == nil {
				st.TopicID = t.ID
				st.NumPartitions = int32(len(t.Partitions))
				st.ReplicationFactor = rt.ReplicationFactor
				if len(t.Partitions) > 0 && len(t.Partitions[0].Replicas) > 0 {
					st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
				} else if st.ReplicationFactor == -1 {
					st.ReplicationFactor = int16(b.Settings().Int64("default.replication.factor"))
				}
				for _, e := range b.Settings().ResolveTopic(t.Configs) {
					st.Configs = append(st.Configs, kmsg.CreateTopicsResponseTopicConfig{
						Name: e.Name, Value: strp(e.Value), Source: int8(e.Source)})
				}
			}
		}
		st.ErrorCode = actors.ErrorCode(err)
		st.ErrorMessage = errMsg(err, st.ErrorCode)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
