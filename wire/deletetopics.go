package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
)

func handleDeleteTopics(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := adminContext(rc, req.TimeoutMillis)
	defer cancel()
	b := rc.s.b
	targets := req.Topics
	if req.GetVersion() < 6 {
		targets = nil
		for _, n := range req.TopicNames {
			targets = append(targets, kmsg.DeleteTopicsRequestTopic{Topic: strp(n)})
		}
	}
	for _, rt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var err error
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		} else if t := b.Metadata().TopicByID(rt.TopicID); t != nil {
			name = t.Name
			st.Topic = strp(name)
		} else {
			err = &actors.Error{Code: kerr.UnknownTopicID.Code}
		}
		if err == nil {
			if t := b.Metadata().Topics[name]; t != nil {
				st.TopicID = t.ID
			}
			err = b.DeleteTopic(ctx, name)
		}
		st.ErrorCode = actors.ErrorCode(err)
		st.ErrorMessage = errMsg(err, st.ErrorCode)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
