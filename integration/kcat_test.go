package integration

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
	// Idempotent librdkafka producer: every line once, in order, written
	// with a producer ID and sequences (DescribeProducers shows its last
	// sequence).
	var in strings.Builder
	const lines = 5000
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&in, "line-%d\n", i)
	}
	kcat(t, "", "-b", b.Addr(), "-L", "-t", "idem") // auto-create it with one partition
	kcat(t, in.String(), "-b", b.Addr(), "-P", "-t", "idem", "-p", "0", "-X", "enable.idempotence=true", "-X", "linger.ms=5")
	out = kcat(t, "", "-b", b.Addr(), "-C", "-t", "idem", "-p", "0", "-o", "beginning", "-e", "-q")
	if out != in.String() {
		t.Fatalf("idempotent: read back %d bytes, want the %d lines in order", len(out), lines)
	}
	ctx := testContext(t, 30*time.Second)
	dp, err := newAdmin(t, b.Addr()).DescribeProducers(ctx, kadm.TopicsSet{"idem": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var producers []kadm.DescribedProducer
	dp.EachProducer(func(p kadm.DescribedProducer) { producers = append(producers, p) })
	if len(producers) != 1 || producers[0].LastSequence != lines-1 {
		t.Fatalf("DescribeProducers after the idempotent kcat: %+v, want one producer at sequence %d", producers, lines-1)
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
