package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/broker"
	"github.com/samsa-io/samsa/config"
)

func init() { registerCommand(newBrokerCmd) }

func newBrokerCmd() *cobra.Command {
	var (
		dataDir, listen, advertise, raftAddr, configFile, initial, join, logLevel, adminListen string
		nodeID                                                                                 int32
		overrides                                                                              []string
	)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a Samsa broker",
		Long: `Run a Samsa broker. Every setting has a working default; a
server.properties-style file (--config) and --set key=value override them,
with Kafka's names (log.retention.ms, num.partitions, ...).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			settings := map[string]string{}
			if configFile != "" {
				props, err := config.LoadProperties(configFile)
				if err != nil {
					return err
				}
				settings = props
			}
			sets, err := parseSets(overrides)
			if err != nil {
				return err
			}
			for k, v := range sets {
				settings[k] = v
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg := broker.Config{NodeID: nodeID, DataDir: dataDir, Listen: listen, Advertise: advertise,
				RaftAddr: raftAddr, Settings: settings, Logger: log, Join: join, AdminListen: adminListen,
				AdminOptional: !cmd.Flags().Changed("admin-listen")}
			if initial != "" && join != "" {
				return fmt.Errorf("--initial-cluster and --join: give one (--initial-cluster starts a new cluster, --join adds this broker to a running one)")
			}
			if initial != "" {
				m, err := parseInitialCluster(initial)
				if err != nil {
					return err
				}
				cfg.InitialCluster = m
			}
			b, err := broker.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			log.Info("samsa broker started", "node", b.NodeID(), "listen", b.Addr(), "admin", b.AdminAddr(), "data", dataDirOr(dataDir, settings))
			select {
			case <-cmd.Context().Done():
				log.Info("shutting down")
			case err := <-b.Done():
				if err != nil {
					log.Error("listener failed", "err", err)
				}
			}
			b.Close()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "data directory (default ./data, or log.dirs)")
	f.StringVar(&listen, "listen", "", "Kafka listener host:port (default 127.0.0.1:9092, or listeners)")
	f.StringVar(&advertise, "advertise", "", "address clients are told to use (default: the listener)")
	f.StringVar(&raftAddr, "raft-addr", "", "Raft host:port (default: listener port + 10000)")
	f.StringVar(&initial, "initial-cluster", "", "controller voters: id=host:port,... (default: this node alone)")
	f.StringVar(&join, "join", "", "join a running cluster through this broker's Kafka address (host:port) instead of --initial-cluster")
	f.Int32Var(&nodeID, "node-id", 0, "broker node ID (default 1, or node.id)")
	f.StringVar(&configFile, "config", "", "server.properties-style settings file")
	f.StringArrayVar(&overrides, "set", nil, "a setting key=value (repeatable), e.g. --set num.partitions=3")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&adminListen, "admin-listen", defaultAdminListen, `HTTP admin host:port: /metrics (Prometheus), /healthz, /readyz ("" disables it)`)
	return cmd
}

// defaultAdminListen is the admin port of broker 1; samsa dev gives broker
// N the port +N-1.
const defaultAdminListen = "127.0.0.1:9644"

func dataDirOr(d string, settings map[string]string) string {
	if d != "" {
		return d
	}
	if v, ok := settings["log.dirs"]; ok {
		return v
	}
	return "./data"
}

func parseInitialCluster(s string) (map[uint64]string, error) {
	out := map[uint64]string{}
	for _, part := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("--initial-cluster %q: expected id=host:port", part)
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("--initial-cluster: bad node id %q", id)
		}
		out[n] = addr
	}
	return out, nil
}

// parseSets turns repeated --set key=value flags into settings.
func parseSets(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: expected key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
