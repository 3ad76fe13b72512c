package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/samsa-io/samsa/telemetry"
)

// adminServer is the broker's HTTP admin port: /metrics (Prometheus),
// /healthz (the process is up) and /readyz (the broker serves Kafka).
type adminServer struct {
	srv   *http.Server
	addr  string
	ready atomic.Bool
	done  chan struct{}
}

func startAdmin(addr string, m *telemetry.Metrics, log *slog.Logger) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", addr, err)
	}
	a := &adminServer{addr: ln.Addr().String(), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// The Kafka side goes on without its admin port.
			log.Error("admin listener failed", "addr", a.addr, "err", err)
		}
	}()
	return a, nil
}

// close stops the server and its connections and waits for Serve to end.
func (a *adminServer) close() {
	if a == nil {
		return
	}
	a.srv.Close()
	<-a.done
}
