// Package broker assembles a running Samsa broker from its settings: the
// actor system and Raft host (actors) behind a Kafka listener (wire). The CLI
// and the integration tests both start brokers through it.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/config"
	"github.com/samsa-io/samsa/telemetry"
	"github.com/samsa-io/samsa/wire"
)

// Config is what a broker needs; zero values take working defaults.
type Config struct {
	NodeID    int32
	DataDir   string // default ./data
	Listen    string // Kafka listener, default 127.0.0.1:9092
	Advertise string // address given to clients, default the listener's
	RaftAddr  string // default: listener host, port+10000
	// InitialCluster maps node IDs to Raft addresses of the controller voters.
	InitialCluster map[uint64]string
	// Join is the Kafka address of a broker of a running cluster to join
	// (the first time this data directory starts); InitialCluster is then
	// ignored.
	Join string
	// Settings are server.properties-style settings (retention.ms defaults...).
	Settings map[string]string
	Logger   *slog.Logger
	// AdminListen is the HTTP admin address (/metrics, /healthz, /readyz);
	// empty disables it.
	AdminListen string
	// AdminOptional: AdminListen is a default, not the operator's choice,
	// so a port already taken is a warning rather than an error.
	AdminOptional bool
	// TracerProvider traces requests with this provider (owned by the
	// caller); nil configures tracing from the OTEL_* environment
	// variables, off unless OTEL_TRACES_EXPORTER is set.
	TracerProvider trace.TracerProvider
}

// Broker is a running broker.
type Broker struct {
	*actors.Broker
	srv     *wire.Server
	ln      net.Listener
	addr    string
	done    chan error
	admin   *adminServer // nil when disabled
	tracing *telemetry.Tracing
}

// Start starts a broker and returns once it serves Kafka requests.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	settings := config.NewBroker(cfg.Settings)
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		cfg.DataDir = settings.String("log.dirs")
	}
	if cfg.Listen == "" {
		cfg.Listen = settings.String("listeners")
	}
	if cfg.NodeID == 0 {
		cfg.NodeID = int32(settings.Int64("node.id"))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	adv := cfg.Advertise
	if adv == "" {
		adv = ln.Addr().String()
	}
	host, portStr, err := net.SplitHostPort(adv)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("advertised address %q: %w", adv, err)
	}
	port, _ := strconv.Atoi(portStr)
	if addr, ok := cfg.InitialCluster[uint64(cfg.NodeID)]; len(cfg.InitialCluster) > 0 && (!ok || (cfg.RaftAddr != "" && addr != cfg.RaftAddr)) {
		ln.Close()
		return nil, fmt.Errorf("node %d: --initial-cluster must list this node with its Raft address (%s)", cfg.NodeID, cfg.RaftAddr)
	}
	if cfg.RaftAddr == "" {
		cfg.RaftAddr = cfg.InitialCluster[uint64(cfg.NodeID)]
	}
	if cfg.RaftAddr == "" {
		lh, lp, _ := net.SplitHostPort(ln.Addr().String())
		p, _ := strconv.Atoi(lp)
		cfg.RaftAddr = net.JoinHostPort(lh, strconv.Itoa(p+10000))
	}
	var tracing *telemetry.Tracing
	if cfg.TracerProvider != nil {
		tracing = telemetry.NewTracing(cfg.TracerProvider)
	} else if tracing, err = telemetry.TracingFromEnv(ctx, cfg.NodeID); err != nil {
		ln.Close()
		return nil, err
	} else if tracing.On {
		cfg.Logger.Info("tracing on", "exporter", os.Getenv("OTEL_TRACES_EXPORTER"))
	}
	metrics := telemetry.NewMetrics()
	var admin *adminServer
	if cfg.AdminListen != "" {
		// Up before the broker joins the cluster: /healthz answers and
		// /readyz says 503 while it waits for the controller.
		if admin, err = startAdmin(cfg.AdminListen, metrics, cfg.Logger); err != nil && cfg.AdminOptional {
			// The default port, taken (another broker on this machine):
			// run without it rather than refuse to start.
			cfg.Logger.Warn("admin port not available; /metrics, /healthz and /readyz are off (set --admin-listen)", "addr", cfg.AdminListen, "err", err)
			admin, err = nil, nil
		}
		if err != nil {
			ln.Close()
			shutdownTracing(tracing)
			return nil, err
		}
	}
	ab, err := actors.Start(ctx, actors.Options{
		NodeID: cfg.NodeID, DataDir: cfg.DataDir, Host: host, Port: int32(port),
		RaftAddr: cfg.RaftAddr, InitialMembers: cfg.InitialCluster, Join: cfg.Join, Settings: settings, Logger: cfg.Logger,
		Metrics: metrics, Tracing: tracing,
	})
	if err != nil {
		ln.Close()
		admin.close()
		shutdownTracing(tracing)
		return nil, err
	}
	metrics.SetSource(ab)
	b := &Broker{Broker: ab, srv: wire.NewServer(ab, cfg.Logger), ln: ln, addr: ln.Addr().String(), done: make(chan error, 1),
		admin: admin, tracing: tracing}
	go func() { b.done <- b.srv.Serve(ln) }()
	if admin != nil {
		// The listener is bound, so connections queue from here on.
		admin.ready.Store(true)
	}
	return b, nil
}

// AdminAddr is the admin HTTP listener's address, "" when disabled.
func (b *Broker) AdminAddr() string {
	if b.admin == nil {
		return ""
	}
	return b.admin.addr
}

// Addr is the Kafka listener's address.
func (b *Broker) Addr() string { return b.addr }

// Done reports the listener's end.
func (b *Broker) Done() <-chan error { return b.done }

// shutdownGrace is how long a broker keeps serving after handing its
// leaderships away on shutdown.
const shutdownGrace = time.Second

// Close hands its leaderships to other replicas while still serving (so
// producers are pointed to the new leaders rather than cut off), stops
// serving, then stops partitions and Raft (syncing logs). The admin port
// answers until the end, /readyz with 503.
func (b *Broker) Close() {
	if b.admin != nil {
		b.admin.ready.Store(false)
	}
	if b.Broker.HandOffLeadership(5 * time.Second) {
		// Serve a little longer: a producer whose request was refused
		// during the hand-over retries after a backoff (franz-go up to
		// 250 ms, Java retry.backoff.ms 100 ms) and should then learn the
		// new leader from this broker, not from a closed connection.
		time.Sleep(shutdownGrace)
	}
	b.srv.Close()
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
	}
	b.Broker.Metrics().SetSource(nil)
	b.Broker.Close()
	shutdownTracing(b.tracing)
	b.admin.close()
}

// shutdownTracing flushes the spans of a provider made from the
// environment (a given provider is its owner's to shut down).
func shutdownTracing(t *telemetry.Tracing) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.Shutdown(ctx)
}
