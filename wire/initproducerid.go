package wire

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/actors"
)

// handleInitProducerID gives idempotent producers a fresh producer ID. As in
// Kafka, a request without a transactional ID always gets a new ID, even
// when it names its current one (KIP-360 recovery).
func handleInitProducerID(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		return initTransactionalProducerID(rc, req)
	}
	ctx, cancel := adminContext(rc, 0)
	defer cancel()
	id, epoch, err := rc.s.b.InitProducerID(ctx)
	if err != nil {
		resp.ErrorCode = actors.ErrorCode(err)
		if resp.ErrorCode == kerr.UnknownServerError.Code {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, epoch
	return resp
}
