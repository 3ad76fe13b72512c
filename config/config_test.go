package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveTopicPrecedence(t *testing.T) {
	b := NewBroker(map[string]string{"log.retention.hours": "2", "log.segment.bytes": "1000000"})
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range b.ResolveTopic(map[string]string{"segment.bytes": "5000000"}) {
		got[e.Name] = e
	}
	if e := got["retention.ms"]; e.Value != "7200000" || e.Source != SourceStaticBroker {
		t.Fatalf("retention.ms from log.retention.hours: %+v", e)
	}
	if e := got["segment.bytes"]; e.Value != "5000000" || e.Source != SourceTopic || len(e.Synonyms) != 3 {
		t.Fatalf("segment.bytes override: %+v", e)
	}
	if e := got["cleanup.policy"]; e.Value != "delete" || e.Source != SourceDefault {
		t.Fatalf("cleanup.policy default: %+v", e)
	}
	lc := b.LogConfig(map[string]string{"cleanup.policy": "compact,delete"})
	if lc.SegmentBytes != 1000000 || lc.RetentionMs != 7200000 || lc.CleanupPolicy != "compact,delete" {
		t.Fatalf("log config %+v", lc)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct{ k, v string }{
		{"retention.ms", "soon"}, {"cleanup.policy", "forever"}, {"segment.bytes", "10"},
		{"min.cleanable.dirty.ratio", "x"}, {"no.such.config", "1"}, {"compression.type", "zstd"},
	} {
		if err := ValidateTopicConfig(c.k, c.v); err == nil {
			t.Errorf("%s=%s accepted", c.k, c.v)
		}
	}
	for _, c := range []struct{ k, v string }{
		{"retention.ms", "-1"}, {"cleanup.policy", "compact,delete"}, {"message.timestamp.type", "LogAppendTime"},
	} {
		if err := ValidateTopicConfig(c.k, c.v); err != nil {
			t.Errorf("%s=%s: %v", c.k, c.v, err)
		}
	}
	if err := NewBroker(map[string]string{"bogus.setting": "1"}).Validate(); err == nil {
		t.Error("unknown broker setting accepted")
	}
	if err := NewBroker(map[string]string{"log.retention.ms": "x"}).Validate(); err == nil {
		t.Error("bad log.retention.ms accepted")
	}
}

func TestLoadProperties(t *testing.T) {
	p := filepath.Join(t.TempDir(), "server.properties")
	os.WriteFile(p, []byte("# comment\nnum.partitions=6\n! other\nlog.retention.ms : 1000\n\n"), 0o644)
	m, err := LoadProperties(p)
	if err != nil {
		t.Fatal(err)
	}
	if m["num.partitions"] != "6" || m["log.retention.ms"] != "1000" || len(m) != 2 {
		t.Fatalf("%v", m)
	}
	os.WriteFile(p, []byte("novalue\n"), 0o644)
	if _, err := LoadProperties(p); err == nil {
		t.Fatal("malformed line accepted")
	}
}
