package integration

import (
	"os/exec"
	"strings"
	"testing"
)

func needKcat(t *testing.T) string {
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (.ci/run installs it)")
	}
	return p
}

func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needKcat(t), args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s%s", args, err, out, stderr.String())
	}
	return string(out)
}

// TestKcat runs the README's kcat commands: list metadata, produce keyed
// records with zstd (auto-creating the topic), consume them back.
func TestKcat(t *testing.T) {
	needKcat(t)
	b := startBroker(t, "", nil)
	out := kcat(t, "", "-b", b.Addr(), "-L")
	if !strings.Contains(out, "1 brokers:") {
		t.Fatalf("kcat -L:\n%s", out)
	}
	for _, codec := range []string{"zstd", "gzip", "snappy", "lz4"} {
		topic := "orders-" + codec
		kcat(t, "k1:v1\nk2:v2\n", "-b", b.Addr(), "-P", "-t", topic, "-K:", "-z", codec)
		out = kcat(t, "", "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k=%s@%o\n")
		if out != "k1=v1@0\nk2=v2@1\n" {
			t.Fatalf("%s: kcat consumed %q", codec, out)
		}
	}
	// Idempotent librdkafka producer.
	kcat(t, "a\nb\nc\n", "-b", b.Addr(), "-P", "-t", "idem", "-X", "enable.idempotence=true")
	out = kcat(t, "", "-b", b.Addr(), "-C", "-t", "idem", "-o", "beginning", "-e", "-q")
	if out != "a\nb\nc\n" {
		t.Fatalf("idempotent: %q", out)
	}
}

// TestKcatBalancedConsumer: kcat -G joins a consumer group, reads
// everything and commits; the next run of the same group reads nothing.
func TestKcatBalancedConsumer(t *testing.T) {
	needKcat(t)
	b := startBroker(t, "", map[string]string{"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "3"})
	kcat(t, "a\nb\nc\n", "-b", b.Addr(), "-P", "-t", "kg")
	group := []string{"-b", b.Addr(), "-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-e", "-q", "kg"}
	if out := kcat(t, "", group...); out != "a\nb\nc\n" {
		t.Fatalf("first run: %q", out)
	}
	if out := kcat(t, "", group...); out != "" {
		t.Fatalf("second run re-read committed records: %q", out)
	}
}
