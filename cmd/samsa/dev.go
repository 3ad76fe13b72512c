package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/broker"
)

func init() { registerCommand(newDevCmd) }

// newDevCmd starts a local cluster in one process: broker N listens on
// port base+N-1 for Kafka and base+10000+N-1 for Raft, data in data/node-N.
func newDevCmd() *cobra.Command {
	var (
		n        int
		dataDir  string
		host     string
		basePort int
		sets     []string
		logLevel string
		admin    string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local multi-broker cluster in one process (Ctrl-C stops it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 {
				return fmt.Errorf("--brokers must be at least 1")
			}
			settings, err := parseSets(sets)
			if err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			adminAddr := func(int) string { return "" }
			if admin != "" {
				ah, ap, err := net.SplitHostPort(admin)
				port, perr := strconv.Atoi(ap)
				if err != nil || perr != nil {
					return fmt.Errorf("--admin-listen %q: expected host:port", admin)
				}
				adminAddr = func(i int) string { return net.JoinHostPort(ah, strconv.Itoa(port+i-1)) }
			}
			initial := map[uint64]string{}
			for i := 1; i <= n; i++ {
				initial[uint64(i)] = host + ":" + strconv.Itoa(basePort+10000+i-1)
			}
			// The controller needs a quorum, so the brokers start together.
			brokers := make([]*broker.Broker, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := 1; i <= n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					brokers[i-1], errs[i-1] = broker.Start(cmd.Context(), broker.Config{
						NodeID:         int32(i),
						DataDir:        filepath.Join(dataDir, fmt.Sprintf("node-%d", i)),
						Listen:         host + ":" + strconv.Itoa(basePort+i-1),
						InitialCluster: initial,
						Settings:       settings,
						Logger:         log.With("node", i),
						AdminListen:    adminAddr(i),
					})
				}(i)
			}
			wg.Wait()
			closeAll := func() {
				var cw sync.WaitGroup
				for _, b := range brokers {
					if b != nil {
						cw.Add(1)
						go func(b *broker.Broker) { defer cw.Done(); b.Close() }(b)
					}
				}
				cw.Wait()
			}
			for _, err := range errs {
				if err != nil {
					closeAll()
					return err
				}
			}
			for _, b := range brokers {
				if b.AdminAddr() != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "broker %d listening on %s (admin http://%s)\n", b.NodeID(), b.Addr(), b.AdminAddr())
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "broker %d listening on %s\n", b.NodeID(), b.Addr())
				}
			}
			<-cmd.Context().Done()
			log.Info("shutting down")
			closeAll()
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&n, "brokers", 3, "number of brokers")
	f.StringVar(&dataDir, "data-dir", "./data", "parent data directory (broker N uses DIR/node-N)")
	f.StringVar(&host, "host", "127.0.0.1", "host to listen on")
	f.IntVar(&basePort, "port", 9092, "Kafka port of broker 1; broker N uses port+N-1, Raft port+10000+N-1")
	f.StringArrayVar(&sets, "set", nil, "a broker setting key=value (repeatable)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&admin, "admin-listen", defaultAdminListen, `HTTP admin host:port of broker 1 (/metrics, /healthz, /readyz); broker N uses port+N-1 ("" disables)`)
	return cmd
}
