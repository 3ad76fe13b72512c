// Package examples_test runs the example programs against an in-process
// kfake cluster, so they stay working.
package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

func build(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", bin, "./"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out)
}

func TestExamples(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")
	dir := t.TempDir()
	producer := build(t, dir, "producer")
	consumer := build(t, dir, "consumer-group")
	txn := build(t, dir, "transactional")

	out := run(t, producer, "--brokers", brokers, "--topic", "demo", "--count", "100")
	if !strings.Contains(out, "sent 100 records (0 failed)") {
		t.Fatalf("producer output:\n%s", out)
	}
	out = run(t, consumer, "--brokers", brokers, "--topic", "demo", "--group", "g", "--max", "101", "--idle", "10s")
	if !strings.Contains(out, "consumed 101 records") {
		t.Fatalf("consumer output:\n%s", out)
	}
	if err := c.CreateTopic("demo-upper", 1, nil); err != nil {
		t.Fatal(err)
	}
	out = run(t, txn, "--brokers", brokers, "--in", "demo", "--out", "demo-upper", "--idle", "2s")
	if !strings.Contains(out, "transformed 101 records") {
		t.Fatalf("transactional output:\n%s", out)
	}
}
