package wire

import "github.com/twmb/franz-go/pkg/kmsg"

func handleDescribeCluster(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	b := rc.s.b
	resp.EndpointType = 1
	resp.ClusterID = b.ClusterID()
	resp.ControllerID = -1
	if leader, _, ok := b.ControllerLeader(); ok {
		resp.ControllerID = leader
	}
	for _, br := range b.LiveBrokers() {
		db := kmsg.DescribeClusterResponseBroker{NodeID: br.NodeID, Host: br.Host, Port: br.Port}
		if br.Rack != "" {
			db.Rack = strp(br.Rack)
		}
		resp.Brokers = append(resp.Brokers, db)
	}
	return resp
}
