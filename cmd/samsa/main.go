// Command samsa is the single Samsa binary: the broker (samsa broker) and
// the client tools (topics, configs, produce, consume, bench) that talk to
// any Kafka-protocol cluster.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// defaultBrokers is used when neither --brokers nor SAMSA_BROKERS is set.
const defaultBrokers = "127.0.0.1:9092"

// commandConstructors builds the subcommands of every root made by
// newRootCmd. Constructors (rather than shared *cobra.Command values) give
// each root its own flag storage, so tests can run many commands in one
// process without flags leaking from one invocation into the next.
var commandConstructors = []func() *cobra.Command{
	newTopicsCmd,
	newConfigsCmd,
	newProduceCmd,
	newConsumeCmd,
	newBenchCmd,
}

// rootCmd is the command tree that main executes. Files that contribute a
// command attach it from init(), either as a ready-made command
//
//	func init() { rootCmd.AddCommand(brokerCmd) }
//
// or, preferably, via registerCommand (then the command also exists in the
// fresh trees tests build). Package-level vars are initialised before any
// init() runs, so rootCmd already exists at that point.
var rootCmd = newRootCmd()

// registerCommand adds a subcommand constructor so that the command appears
// both in rootCmd and in every fresh tree from newRootCmd (i.e. in tests).
// Call it from init() as an alternative to rootCmd.AddCommand.
func registerCommand(ctor func() *cobra.Command) {
	commandConstructors = append(commandConstructors, ctor)
	rootCmd.AddCommand(ctor())
}

// newRootCmd returns a fresh, independent `samsa` command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "samsa",
		Short: "Samsa: a Kafka-compatible streaming broker and its client tools",
		// Usage is useful for flag/argument mistakes, which cobra reports
		// before any hook runs; once a command actually starts, a failure is
		// an operational error and the usage text would only bury it.
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			cmd.Root().SilenceUsage = true
		},
	}
	def := os.Getenv("SAMSA_BROKERS")
	if def == "" {
		def = defaultBrokers
	}
	root.PersistentFlags().StringP("brokers", "b", def,
		"comma-separated bootstrap brokers host:port (env SAMSA_BROKERS)")
	for _, ctor := range commandConstructors {
		root.AddCommand(ctor())
	}
	return root
}

func main() {
	// Ctrl-C / SIGTERM cancel the command's context so consumers, producers
	// and the benchmark can stop cleanly (flush, commit, print totals).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		// cobra has already printed "Error: ..." to stderr.
		os.Exit(1)
	}
}
