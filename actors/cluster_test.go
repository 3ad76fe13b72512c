package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/config"
	"github.com/samsa-io/samsa/raftgroup"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestSilentBrokerLeavesAfterSessionTimeout: a registered broker that never
// reports (it stopped before its first report) counts as alive only for
// broker.session.timeout.ms after this broker started, not forever.
func TestSilentBrokerLeavesAfterSessionTimeout(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixMilli())
	settings := config.NewBroker(map[string]string{"broker.session.timeout.ms": "4000"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Start(ctx, Options{DataDir: t.TempDir(), RaftAddr: freeAddr(t), Settings: settings,
		Clock: func() time.Time { return time.UnixMilli(now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.host.ProposeController(ctx, &raftgroup.Command{RegisterBroker: &raftgroup.Broker{NodeID: 2, Host: "127.0.0.1", Port: 1}}); err != nil {
		t.Fatal(err)
	}
	if !b.brokerAlive(2) {
		t.Fatal("a just-registered broker should count as alive while reports may still be on their way")
	}
	now.Add(4001)
	if b.brokerAlive(2) {
		t.Fatal("a broker that never reported is still alive after broker.session.timeout.ms")
	}
	if !b.brokerAlive(1) {
		t.Fatal("this broker must count itself alive")
	}
}

// TestErrorCodeTransientRaft: a Raft group that is not ready (still
// starting or electing) is answered with a retriable code, not
// UNKNOWN_SERVER_ERROR, which clients give up on.
func TestErrorCodeTransientRaft(t *testing.T) {
	for _, err := range []error{dragonboat.ErrShardNotReady, fmt.Errorf("create topic: %w", dragonboat.ErrSystemBusy), dragonboat.ErrTimeout} {
		if code := ErrorCode(err); code != kerr.RequestTimedOut.Code || !kerr.ErrorForCode(code).(*kerr.Error).Retriable {
			t.Errorf("%v: code %d, want a retriable REQUEST_TIMED_OUT", err, code)
		}
	}
	if code := ErrorCode(errors.New("something else")); code != kerr.UnknownServerError.Code {
		t.Errorf("an unknown error: %d", code)
	}
}
