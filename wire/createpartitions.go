package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
)

func handleCreatePartitions(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := adminContext(rc, req.TimeoutMillis)
	defer cancel()
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if len(rt.Assignment) > 0 {
			err = &actors.Error{Code: kerr.InvalidReplicaAssignment.Code, Message: "manual replica assignment is not supported"}
		} else {
			err = rc.s.b.CreatePartitions(ctx, rt.Topic, rt.Count, req.ValidateOnly)
		}
		st.ErrorCode = actors.ErrorCode(err)
		st.ErrorMessage = errMsg(err, st.ErrorCode)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
