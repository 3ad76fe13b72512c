package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/bench"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

// newCluster starts an in-process fake Kafka and returns its bootstrap list.
func newCluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

// samsa runs one CLI invocation in-process on a fresh command tree, the
// way a user would from a shell, and returns stdout and stderr.
func samsa(t *testing.T, brokers, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"--brokers", brokers}, args...))
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// mustSamsa is samsa for invocations that must succeed.
func mustSamsa(t *testing.T, brokers, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := samsa(t, brokers, stdin, args...)
	if err != nil {
		t.Fatalf("samsa %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func TestTopicsLifecycle(t *testing.T) {
	b := newCluster(t)

	out := mustSamsa(t, b, "", "topics", "create", "orders", "--partitions", "3", "--config", "retention.ms=1000")
	if out != "Created topic orders.\n" {
		t.Fatalf("create output %q", out)
	}
	_, _, err := samsa(t, b, "", "topics", "create", "orders")
	if err == nil || !strings.Contains(err.Error(), "topic orders: TOPIC_ALREADY_EXISTS") {
		t.Fatalf("duplicate create: %v", err)
	}
	mustSamsa(t, b, "", "topics", "create", "orders", "--if-not-exists")
	mustSamsa(t, b, "", "topics", "create", "payments", "--partitions", "1")

	out = mustSamsa(t, b, "", "topics", "list")
	if got := fields(out); got != "orders 3\npayments 1\n" {
		t.Fatalf("list: %q", out)
	}

	out = mustSamsa(t, b, "", "topics", "describe", "orders")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("describe: want header + 3 partitions, got %q", out)
	}
	hdr := strings.Split(lines[0], "\t")
	if hdr[0] != "Topic: orders" || !strings.HasPrefix(hdr[1], "TopicId: ") || len(hdr[1]) <= len("TopicId: ") ||
		hdr[2] != "PartitionCount: 3" || hdr[3] != "ReplicationFactor: 1" || hdr[4] != "Configs: retention.ms=1000" {
		t.Fatalf("describe header %q", lines[0])
	}
	if want := "\tTopic: orders\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0"; lines[3] != want {
		t.Fatalf("partition line %q, want %q", lines[3], want)
	}

	out = mustSamsa(t, b, "", "topics", "alter", "orders", "--partitions", "5",
		"--config", "cleanup.policy=compact,delete", "--delete-config", "retention.ms")
	if !strings.Contains(out, "5 partitions") {
		t.Fatalf("alter output %q", out)
	}
	out = mustSamsa(t, b, "", "topics", "describe", "orders")
	if !strings.Contains(out, "PartitionCount: 5\t") || !strings.Contains(out, "Configs: cleanup.policy=compact,delete\n") {
		t.Fatalf("describe after alter: %q", out)
	}
	_, _, err = samsa(t, b, "", "topics", "alter", "orders", "--partitions", "2")
	if err == nil || !strings.Contains(err.Error(), "topic orders: INVALID_PARTITIONS") {
		t.Fatalf("shrinking partitions: %v", err)
	}
	if _, _, err = samsa(t, b, "", "topics", "alter", "orders"); err == nil {
		t.Fatal("alter without changes succeeded")
	}

	// configs describe/alter go through the same admin calls.
	mustSamsa(t, b, "", "configs", "alter", "--topic", "orders", "--set", "retention.ms=5000", "--delete", "cleanup.policy")
	out = mustSamsa(t, b, "", "configs", "describe", "--topic", "orders")
	if got := fields(out); got != "retention.ms=5000 DYNAMIC_TOPIC_CONFIG\n" {
		t.Fatalf("configs describe: %q", out)
	}
	out = mustSamsa(t, b, "", "configs", "describe", "--topic", "orders", "--all")
	if !strings.Contains(out, "cleanup.policy=delete") || !strings.Contains(out, "DEFAULT_CONFIG") {
		t.Fatalf("configs describe --all: %q", out)
	}

	out = mustSamsa(t, b, "", "topics", "delete", "orders", "payments")
	if out != "Deleted topic orders.\nDeleted topic payments.\n" {
		t.Fatalf("delete output %q", out)
	}
	if out = mustSamsa(t, b, "", "topics", "list"); out != "" {
		t.Fatalf("list after delete: %q", out)
	}
	_, _, err = samsa(t, b, "", "topics", "describe", "orders")
	if err == nil || !strings.Contains(err.Error(), "topic orders: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("describe deleted topic: %v", err)
	}
	_, _, err = samsa(t, b, "", "topics", "delete", "orders")
	if err == nil || !strings.Contains(err.Error(), "topic orders: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("delete deleted topic: %v", err)
	}
}

func TestProduceConsumeKeys(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(3, "orders"))

	in := "k1:v1\nk2:v2:with colon\nk3:\r\n:v4\nk5:v5"
	mustSamsa(t, b, in, "produce", "orders", "--key-separator", ":", "--header", "src=test",
		"--acks", "1", "--compression", "zstd")

	out, errOut, err := samsa(t, b, "", "consume", "orders", "--from-beginning", "--max-messages", "5",
		"--print-key", "--key-separator", "=")
	if err != nil {
		t.Fatalf("consume: %v (%s)", err, errOut)
	}
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	slices.Sort(got) // partitions interleave arbitrarily
	want := []string{"=v4", "k1=v1", "k2=v2:with colon", "k3=", "k5=v5"}
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %q, want %q", got, want)
	}
	if !strings.Contains(errOut, "Processed a total of 5 messages") {
		t.Fatalf("stderr %q", errOut)
	}

	// Values only, default key separator with --print-key is a tab.
	out = mustSamsa(t, b, "", "consume", "orders", "--from-beginning", "--max-messages", "5", "--timeout", "10s")
	got = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	slices.Sort(got)
	if want := []string{"", "v1", "v2:with colon", "v4", "v5"}; !slices.Equal(got, want) {
		t.Fatalf("values %q, want %q", got, want)
	}
}

func TestProduceConsumePartitionOffset(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(2, "events"))
	mustSamsa(t, b, "a\nb\nc\n", "produce", "events", "--partition", "1")

	out := mustSamsa(t, b, "", "consume", "events", "--partition", "1", "--offset", "1",
		"--print-offset", "--timeout", "1s")
	if want := "Partition:1\tOffset:1\tb\nPartition:1\tOffset:2\tc\n"; out != want {
		t.Fatalf("got %q want %q", out, want)
	}
	// Partition 0 got nothing: the idle timeout ends the command cleanly.
	start := time.Now()
	out = mustSamsa(t, b, "", "consume", "events", "--partition", "0", "--from-beginning", "--timeout", "300ms")
	if out != "" || time.Since(start) > 20*time.Second {
		t.Fatalf("empty partition: %q after %s", out, time.Since(start))
	}
	if _, _, err := samsa(t, b, "", "consume", "events", "--partition", "7"); err == nil ||
		!strings.Contains(err.Error(), "partition 7 does not exist") {
		t.Fatalf("bad partition: %v", err)
	}
}

// The fail-fast topic check must not break clusters that auto-create.
func TestProduceAutoCreatesTopic(t *testing.T) {
	b := newCluster(t, kfake.AllowAutoTopicCreation())
	mustSamsa(t, b, "hello\n", "produce", "fresh")
	if out := mustSamsa(t, b, "", "consume", "fresh", "--from-beginning", "--max-messages", "1"); out != "hello\n" {
		t.Fatalf("consumed %q", out)
	}
}

func TestConsumeGroupCommitsWhatWasPrinted(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(1, "jobs"))
	mustSamsa(t, b, "1\n2\n3\n4\n5\n", "produce", "jobs")

	out := mustSamsa(t, b, "", "consume", "jobs", "--group", "g", "--from-beginning", "--max-messages", "2")
	if out != "1\n2\n" {
		t.Fatalf("first member: %q", out)
	}
	// The next member resumes after the last printed record, not after
	// whatever the first one had fetched.
	out = mustSamsa(t, b, "", "consume", "jobs", "--group", "g", "--max-messages", "3")
	if out != "3\n4\n5\n" {
		t.Fatalf("second member: %q", out)
	}
}

func TestCommandErrors(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(1, "t"))
	cases := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"no-separator\n", []string{"produce", "t", "--key-separator", ":"}, `line 1: no key separator ":"`},
		{"", []string{"produce", "t", "--acks", "2"}, `acks "2"`},
		{"", []string{"produce", "t", "--compression", "brotli"}, `compression "brotli"`},
		{"x\n", []string{"produce", "t", "--header", "novalue"}, "want key=value"},
		{"", []string{"consume", "missing", "--timeout", "1s"}, "topic missing: UNKNOWN_TOPIC_OR_PARTITION"},
		{"a\nb\n", []string{"produce", "missing"}, "topic missing: UNKNOWN_TOPIC_OR_PARTITION"},
		{"a\n", []string{"produce", "t", "--partition", "3"}, "partition 3 does not exist"},
		{"", []string{"consume", "t", "--group", "g", "--partition", "0"}, "--group cannot be combined"},
		{"", []string{"consume", "t", "--isolation", "dirty"}, `--isolation "dirty"`},
		{"", []string{"topics", "create", "x", "--config", "retention.ms"}, "want key=value"},
		{"", []string{"topics", "create", "x", "--partitions", "0"}, "--partitions 0"},
		{"", []string{"configs", "describe"}, `required flag(s) "topic"`},
		{"", []string{"configs", "describe", "--topic", "missing"}, "topic missing: UNKNOWN_TOPIC_OR_PARTITION"},
	}
	for _, tc := range cases {
		_, _, err := samsa(t, b, tc.stdin, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("samsa %s: error %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// Ctrl-C (context cancellation) is a normal way to stop a consumer.
func TestConsumeStopsOnInterrupt(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(1, "t"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"-b", b, "consume", "t"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("interrupted consume: %v", err)
	}
	if !strings.Contains(errb.String(), "Processed a total of 0 messages") {
		t.Fatalf("stderr %q", errb.String())
	}
}

func TestUnreachableBrokerTimesOut(t *testing.T) {
	start := time.Now()
	_, _, err := samsa(t, "127.0.0.1:1", "", "topics", "list", "--timeout", "500ms")
	if err == nil || time.Since(start) > 20*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}

func TestBrokersDefaultFromEnv(t *testing.T) {
	t.Setenv("SAMSA_BROKERS", "10.0.0.1:9092,10.0.0.2:9092")
	root := newRootCmd()
	if got, _ := root.PersistentFlags().GetString("brokers"); got != "10.0.0.1:9092,10.0.0.2:9092" {
		t.Fatalf("--brokers default %q", got)
	}
}

// TestRegisterCommand checks the hook other files use to add commands.
func TestRegisterCommand(t *testing.T) {
	saved := commandConstructors
	t.Cleanup(func() { commandConstructors = saved })
	registerCommand(func() *cobra.Command {
		return &cobra.Command{Use: "hello", RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Println("hi")
			return nil
		}}
	})
	if out := mustSamsa(t, "unused:1", "", "hello"); out != "hi\n" {
		t.Fatalf("registered command printed %q", out)
	}
	found := false
	for _, c := range rootCmd.Commands() {
		found = found || c.Name() == "hello"
	}
	if !found {
		t.Fatal("registerCommand did not add to rootCmd")
	}
}

func TestBenchCommand(t *testing.T) {
	b := newCluster(t)
	path := filepath.Join(t.TempDir(), "out.json")
	out := mustSamsa(t, b, "", "bench", "--records", "3000", "--size", "64", "--acks", "1,all",
		"--partitions", "2", "--topic", "bench-cli", "--json", path, "--quiet")
	for _, want := range []string{"topic bench-cli (2 partitions)", "acks=1", "acks=all", "consume", "P99.9 ms"} {
		if !strings.Contains(out, want) {
			t.Fatalf("table lacks %q:\n%s", want, out)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Produce) != 2 || len(rep.Consume) != 1 || len(rep.Summary) != 3 || rep.Produce[0].Records != 3000 {
		t.Fatalf("json report: %+v", rep)
	}
}

// fields normalises column alignment: each line's fields joined by a space.
func fields(s string) string {
	var out strings.Builder
	for line := range strings.Lines(s) {
		out.WriteString(strings.Join(strings.Fields(line), " ") + "\n")
	}
	return out.String()
}
