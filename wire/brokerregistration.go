package wire

import (
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
)

// handleBrokerRegistration admits a broker started with --join (its RAFT
// listener is where the controller group reaches it), or replaces the
// controller replica of a broker that lost its Raft state.
func handleBrokerRegistration(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.BrokerRegistrationRequest)
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	raftAddr := ""
	for _, l := range req.Listeners {
		if l.Name == "RAFT" {
			raftAddr = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		}
	}
	if raftAddr == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	ctx, cancel := adminContext(rc, 15000)
	defer cancel()
	for _, f := range req.Features {
		if f.Name == actors.RaftStateLostFeature {
			id, observer, err := rc.s.b.ReplaceControllerReplica(ctx, req.BrokerID, raftAddr)
			resp.ErrorCode = actors.ErrorCode(err)
			resp.BrokerEpoch = actors.ControllerReplicaEpoch(id, observer)
			return resp
		}
	}
	resp.ErrorCode = actors.ErrorCode(rc.s.b.AdmitBroker(ctx, req.BrokerID, raftAddr))
	return resp
}
