package actors

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/raftgroup"
)

// raftListener names the Raft address among a BrokerRegistration's listeners.
const raftListener = "RAFT"

// joinFunc returns how this broker joins a running cluster (opts.Join), or
// nil when it bootstraps or restarts from its own data. It asks a broker of
// the cluster, with Kafka's BrokerRegistration request, to add it to the
// controller group as an observer: brokers beyond the initial voters follow
// the metadata without changing the controller's quorum, as KRaft brokers do.
func (b *Broker) joinFunc(ctx context.Context) func() error {
	if b.opts.Join == "" {
		return nil
	}
	return func() error {
		host, portStr, err := net.SplitHostPort(b.opts.RaftAddr)
		if err != nil {
			return fmt.Errorf("--raft-addr %q: %w", b.opts.RaftAddr, err)
		}
		port, _ := strconv.Atoi(portStr)
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.BrokerID = b.opts.NodeID
		kafka := kmsg.NewBrokerRegistrationRequestListener()
		kafka.Name, kafka.Host, kafka.Port = "PLAINTEXT", b.opts.Host, uint16(b.opts.Port)
		raft := kmsg.NewBrokerRegistrationRequestListener()
		raft.Name, raft.Host, raft.Port = raftListener, host, uint16(port)
		req.Listeners = append(req.Listeners, kafka, raft)
		if rack := b.settings.String("broker.rack"); rack != "" {
			req.Rack = &rack
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.opts.Join))
		if err != nil {
			return err
		}
		defer cl.Close()
		var last error
		for attempt := 0; attempt < 30; attempt++ {
			rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			resp, err := req.RequestWith(rctx, cl)
			cancel()
			if err == nil {
				if err = kerr.ErrorForCode(resp.ErrorCode); err == nil {
					return nil
				}
				if !kerr.IsRetriable(err) {
					return fmt.Errorf("broker %s refused node %d: %w", b.opts.Join, b.opts.NodeID, err)
				}
			}
			last = err
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		return fmt.Errorf("joining through %s: %w", b.opts.Join, last)
	}
}

// AdmitBroker adds a joining broker to the controller group as an observer
// (BrokerRegistration from a broker started with --join). The joiner then
// registers its addresses itself. A node ID already held by a broker at
// another Raft address is refused.
func (b *Broker) AdmitBroker(ctx context.Context, node int32, raftAddr string) error {
	if node <= 0 {
		return kerr.InvalidRequest
	}
	if br, ok := b.Metadata().Brokers[node]; ok && br.RaftAddr != raftAddr {
		return kerr.DuplicateBrokerRegistration
	}
	voters, observers, err := b.host.Members(ctx, raftgroup.ControllerShardID)
	if err != nil {
		return kerr.NotController
	}
	for _, m := range []map[uint64]string{voters, observers} {
		if addr, ok := m[uint64(node)]; ok {
			if addr != raftAddr {
				return kerr.DuplicateBrokerRegistration
			}
			return nil
		}
	}
	if err := b.host.AddObserver(ctx, raftgroup.ControllerShardID, uint64(node), raftAddr); err != nil {
		b.log.Warn("adding broker to the controller", "node", node, "err", err)
		return kerr.NotController
	}
	b.log.Info("broker joined the controller as an observer", "node", node, "raft", raftAddr)
	return nil
}
