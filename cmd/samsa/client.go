package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultRequestTimeout bounds admin commands so that an unreachable
// cluster produces an error instead of a hang.
const defaultRequestTimeout = 30 * time.Second

// seedBrokers returns the bootstrap list from the inherited --brokers flag.
// Reading the flag from the executing command (rather than a package var)
// keeps independent command trees independent.
func seedBrokers(cmd *cobra.Command) ([]string, error) {
	raw, err := cmd.Flags().GetString("brokers")
	if err != nil {
		return nil, err
	}
	var seeds []string
	for _, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("no brokers given (use --brokers or SAMSA_BROKERS)")
	}
	return seeds, nil
}

// newClient returns a franz-go client for the command's brokers.
func newClient(cmd *cobra.Command, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := seedBrokers(cmd)
	if err != nil {
		return nil, err
	}
	base := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("samsa-cli")}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cl, nil
}

// newAdmin returns an admin client; close the returned kgo client when done.
func newAdmin(cmd *cobra.Command) (*kadm.Client, *kgo.Client, error) {
	cl, err := newClient(cmd)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl, nil
}

// addTimeoutFlag registers the per-command request deadline.
func addTimeoutFlag(cmd *cobra.Command) {
	cmd.Flags().Duration("timeout", defaultRequestTimeout, "overall deadline for the command's requests (0 = none)")
}

// commandContext derives the command's context, bounded by --timeout.
func commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if d, err := cmd.Flags().GetDuration("timeout"); err == nil && d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// requestError makes a failed request readable: a bare "context deadline
// exceeded" does not tell the user that the brokers never answered.
func requestError(cmd *cobra.Command, what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		seeds, _ := seedBrokers(cmd)
		return fmt.Errorf("%s: no answer from %s before the deadline (--timeout): %w",
			what, strings.Join(seeds, ","), err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// topicError formats a per-topic broker error as "topic NAME: CODE: text",
// appending the broker's own message when it adds information.
func topicError(topic string, err error, msg string) error {
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("topic %s: %w: %s", topic, err, msg)
	}
	return fmt.Errorf("topic %s: %w", topic, err)
}

// parseKV splits "k=v" at the first '='; values may contain '=' and ','.
func parseKV(s, flag string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("--%s %q: want key=value", flag, s)
	}
	return k, v, nil
}
