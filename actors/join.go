package actors

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/partition"
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
		req, err := b.registrationRequest()
		if err != nil {
			return err
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

// registrationRequest is this broker's BrokerRegistration: its Kafka and
// Raft listeners and rack.
func (b *Broker) registrationRequest() (*kmsg.BrokerRegistrationRequest, error) {
	host, portStr, err := net.SplitHostPort(b.opts.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("--raft-addr %q: %w", b.opts.RaftAddr, err)
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
	return req, nil
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
		for id, addr := range m {
			if raftgroup.NodeOf(id) != node {
				continue
			}
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

// RaftStateLostFeature marks a BrokerRegistration from a broker whose
// controller Raft state is lost or damaged: the cluster replaces its
// controller replica with a new one instead of admitting a new broker.
const RaftStateLostFeature = "samsa.raft.state.lost"

// observerBit flags, in the BrokerEpoch answering a RaftStateLostFeature
// registration, that the new controller replica is an observer.
const observerBit = int64(1) << 62

// peersFile lists the Kafka addresses of the cluster's brokers as this
// broker last saw them, so a broker that lost its Raft state knows whom to
// ask for a new controller replica without --join.
const peersFile = "cluster.peers"

// savePeers records the brokers' addresses when they change.
func (b *Broker) savePeers(md *raftgroup.Metadata) {
	var lines []string
	for _, id := range md.BrokerIDs() {
		if br := md.Brokers[id]; id != b.opts.NodeID && br.Host != "" {
			lines = append(lines, net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))))
		}
	}
	data := strings.Join(lines, "\n") + "\n"
	if b.peersSaved == data {
		return
	}
	if err := partition.WriteFileAtomic(b.opts.DataDir, peersFile, []byte(data)); err != nil {
		b.log.Warn("saving the cluster's broker addresses", "err", err)
		return
	}
	b.peersSaved = data
}

// wasMember reports whether this data directory belonged to a cluster member
// (savePeers ran), so missing controller state means lost state.
func wasMember(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, peersFile))
	return err == nil
}

// rejoinFunc asks a broker of the cluster (from --join or the peers file) to
// replace this broker's lost controller replica; see ReplaceControllerReplica.
func (b *Broker) rejoinFunc(ctx context.Context) func() (uint64, bool, error) {
	return func() (uint64, bool, error) {
		var seeds []string
		if b.opts.Join != "" {
			seeds = append(seeds, b.opts.Join)
		}
		if data, err := os.ReadFile(filepath.Join(b.opts.DataDir, peersFile)); err == nil {
			seeds = append(seeds, strings.Fields(string(data))...)
		}
		if len(seeds) == 0 {
			return 0, false, fmt.Errorf("no other broker known (no --join, no %s)", peersFile)
		}
		req, err := b.registrationRequest()
		if err != nil {
			return 0, false, err
		}
		lost := kmsg.NewBrokerRegistrationRequestFeature()
		lost.Name, lost.MinSupportedVersion, lost.MaxSupportedVersion = RaftStateLostFeature, 1, 1
		req.Features = append(req.Features, lost)
		b.log.Warn("this broker's controller Raft state is lost or damaged: asking the cluster for a new controller replica", "through", seeds)
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
		if err != nil {
			return 0, false, err
		}
		defer cl.Close()
		var last error
		for attempt := 0; attempt < 60; attempt++ {
			rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			resp, err := req.RequestWith(rctx, cl)
			cancel()
			if err == nil {
				if err = kerr.ErrorForCode(resp.ErrorCode); err == nil {
					id := uint64(resp.BrokerEpoch &^ observerBit)
					return id, resp.BrokerEpoch&observerBit != 0, nil
				}
				if !kerr.IsRetriable(err) {
					return 0, false, fmt.Errorf("the cluster refused to replace node %d's controller replica: %w", b.opts.NodeID, err)
				}
			}
			last = err
			select {
			case <-ctx.Done():
				return 0, false, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		return 0, false, fmt.Errorf("asking %v for a new controller replica: %w", seeds, last)
	}
}

// ReplaceControllerReplica answers a broker that lost its controller Raft
// state: its old controller replica is removed and a new one (a new replica
// ID, since Raft must never see a replica that forgot its votes under its
// old ID) is added as a voter or an observer, as the old one was. Removing
// first keeps the quorum reachable without the lost replica. Retries are
// replaced again; the broker keeps the last answer.
func (b *Broker) ReplaceControllerReplica(ctx context.Context, node int32, raftAddr string) (uint64, bool, error) {
	if node <= 0 {
		return 0, false, kerr.InvalidRequest
	}
	if br, ok := b.Metadata().Brokers[node]; !ok || br.RaftAddr != raftAddr {
		// Only a registered broker, at its registered address, can
		// claim its own replica.
		return 0, false, kerr.InconsistentClusterID
	}
	voters, observers, err := b.host.Members(ctx, raftgroup.ControllerShardID)
	if err != nil {
		return 0, false, kerr.NotController
	}
	var old []uint64
	var gen uint64
	voter := false
	for _, m := range []map[uint64]string{voters, observers} {
		for id := range m {
			if raftgroup.NodeOf(id) == node {
				old = append(old, id)
				gen = max(gen, id>>32)
				_, isVoter := voters[id]
				voter = voter || isVoter
			}
		}
	}
	if len(old) == 0 {
		return 0, false, kerr.InvalidRequest
	}
	fresh := (gen+1)<<32 | uint64(uint32(node))
	for _, id := range old {
		if err := b.host.RemoveReplica(ctx, raftgroup.ControllerShardID, id); err != nil {
			b.log.Warn("removing a lost controller replica", "node", node, "replica", id, "err", err)
			return 0, false, kerr.NotController
		}
	}
	add := b.host.AddObserver
	if voter {
		add = b.host.AddReplica
	}
	if err := add(ctx, raftgroup.ControllerShardID, fresh, raftAddr); err != nil {
		b.log.Warn("adding a new controller replica", "node", node, "replica", fresh, "err", err)
		return 0, false, kerr.NotController
	}
	b.log.Warn("replaced a broker's lost controller replica", "node", node, "old", old, "new", fresh, "voter", voter)
	return fresh, !voter, nil
}

// ControllerReplicaEpoch encodes a replaced controller replica in the
// BrokerEpoch of the BrokerRegistration response.
func ControllerReplicaEpoch(id uint64, observer bool) int64 {
	e := int64(id)
	if observer {
		e |= observerBit
	}
	return e
}
