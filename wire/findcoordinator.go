package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
)

var notCoordinator = kerr.NotCoordinator.Code

// handleFindCoordinator answers which broker coordinates a group (v4+:
// several keys at once), or a transactional ID (key type 1).
func handleFindCoordinator(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.GetVersion() < 4 {
		keys = []string{req.CoordinatorKey}
	}
	ctx, cancel := adminContext(rc, 0)
	defer cancel()
	b := rc.s.b
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		var err error
		var node int32
		switch req.CoordinatorType {
		case 0:
			node, err = b.GroupCoordinatorFor(ctx, key)
		case 1:
			node, err = b.TxnCoordinatorFor(ctx, key)
		default:
			err = &actors.Error{Code: kerr.InvalidRequest.Code, Message: "unknown coordinator type"}
		}
		if err == nil {
			br, ok := b.Metadata().Brokers[node]
			if !ok {
				err = &actors.Error{Code: kerr.CoordinatorNotAvailable.Code}
			} else {
				c.NodeID, c.Host, c.Port = br.NodeID, br.Host, br.Port
			}
		}
		c.ErrorCode = actors.ErrorCode(err)
		c.ErrorMessage = errMsg(err, c.ErrorCode)
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.GetVersion() < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp
}
