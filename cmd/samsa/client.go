package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/spf13/cobra"
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

// clientOptions returns the options every command's client starts from:
// the --brokers list and the CLI's client.id.
func clientOptions(cmd *cobra.Command, extra ...client.Option) ([]client.Option, error) {
	seeds, err := seedBrokers(cmd)
	if err != nil {
		return nil, err
	}
	return append([]client.Option{client.WithBrokers(seeds...), client.WithClientID("samsa-cli")}, extra...), nil
}

// newAdmin returns an admin client for the command's brokers; Close it.
func newAdmin(cmd *cobra.Command) (*client.Admin, error) {
	opts, err := clientOptions(cmd)
	if err != nil {
		return nil, err
	}
	adm, err := client.NewAdmin(opts...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return adm, nil
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

// failure words a failed client call: a topic's or a group's own error as
// "topic NAME: CODE: text" (the broker's refusal is what the user needs,
// not which call carried it), anything else through requestError.
func failure(cmd *cobra.Command, what string, err error) error {
	if te, ok := errors.AsType[*client.TopicError](err); ok {
		return te
	}
	if ge, ok := errors.AsType[*client.GroupError](err); ok {
		return ge
	}
	return requestError(cmd, what, err)
}

// byName splits err, one error or an errors.Join of them as the client
// returns for calls naming several topics or groups, into the errors of
// type E (*client.TopicError, *client.GroupError) keyed by name, and the
// rest joined.
func byName[E error](err error, name func(E) string) (map[string]E, error) {
	named := make(map[string]E)
	if err == nil {
		return named, nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var rest []error
	for _, e := range errs {
		if ne, ok := errors.AsType[E](e); ok {
			named[name(ne)] = ne
		} else {
			rest = append(rest, e)
		}
	}
	return named, errors.Join(rest...)
}

// parseKV splits "k=v" at the first '='; values may contain '=' and ','.
func parseKV(s, flag string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("--%s %q: want key=value", flag, s)
	}
	return k, v, nil
}
