package integration

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/broker"
)

// freePort returns a loopback port that is free now and was not handed out
// before in this test binary. It is picked below Linux's ephemeral range
// (32768+): a port from that range can be taken, between freePort and the
// broker's bind, as the local port of any outgoing connection (brokers dial
// each other all the time), and bind then fails.
func freePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[port] = true
		return port
	}
	t.Fatal("no free port found")
	return 0
}

var (
	portMu     sync.Mutex
	portsGiven = map[int]bool{}
)

var (
	raftMu    sync.Mutex
	raftAddrs = map[string]string{}
)

// startBroker starts an in-process broker on loopback with data in dir (a
// fresh temp dir when empty) and stops it at the end of the test.
func startBroker(t testing.TB, dir string, settings map[string]string) *broker.Broker {
	t.Helper()
	return startBrokerWith(t, dir, settings, "")
}

// startBrokerAdvertised starts a broker that tells clients to connect to
// advertise.
func startBrokerAdvertised(t testing.TB, advertise string) *broker.Broker {
	t.Helper()
	return startBrokerWith(t, "", nil, advertise)
}

func startBrokerWith(t testing.TB, dir string, settings map[string]string, advertise string) *broker.Broker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The Raft address is a node's identity: a restart on the same data
	// directory must reuse it.
	raftMu.Lock()
	raft, ok := raftAddrs[dir]
	if !ok {
		raft = "127.0.0.1:" + strconv.Itoa(freePort(t))
		raftAddrs[dir] = raft
	}
	raftMu.Unlock()
	b, err := broker.Start(ctx, broker.Config{
		DataDir:   dir,
		Listen:    "127.0.0.1:0",
		Advertise: advertise,
		RaftAddr:  raft,
		Settings:  settings,
	})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(b.Close) })
	return b
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(addr, ",")...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t testing.TB, addr string) *kadm.Client {
	return kadm.NewClient(newClient(t, addr))
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// samsaBinary builds cmd/samsa once per test binary run.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func samsaBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "samsa-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "samsa")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/samsa-io/samsa/cmd/samsa")
		cmd.Stderr = os.Stderr
		binErr = cmd.Run()
	})
	if binErr != nil {
		t.Fatalf("building samsa: %v", binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
