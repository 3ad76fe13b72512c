// Package config holds the broker's settings and the topic config table, with
// Kafka's names and defaults: topic configs (retention.ms, ...), their broker
// level synonyms (log.retention.ms, ...), validation, and resolution of a
// topic's effective value (topic override > broker setting > default).
package config

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/partition"
)

// Kind is a config value's type.
type Kind int8

const (
	KindString Kind = iota
	KindInt
	KindLong
	KindDouble
	KindBool
	KindList
)

// Kafka's DescribeConfigs config types.
func (k Kind) KafkaType() int8 {
	switch k {
	case KindBool:
		return 1
	case KindString:
		return 2
	case KindInt:
		return 3
	case KindLong:
		return 5
	case KindDouble:
		return 6
	case KindList:
		return 7
	}
	return 0
}

// TopicConfig describes one topic-level config.
type TopicConfig struct {
	Name          string
	BrokerSynonym string // server.properties name that sets its default
	Default       string
	Kind          Kind
	Doc           string
	// Check validates a value beyond its kind; nil accepts any.
	Check func(v string) error
}

const longMax = "9223372036854775807"

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, p := range strings.Split(v, ",") {
			ok := false
			for _, a := range vals {
				if strings.TrimSpace(p) == a {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("must be one of %s", strings.Join(vals, ", "))
			}
		}
		return nil
	}
}

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

// TopicConfigs is the table of supported topic configs, in name order.
var TopicConfigs = []TopicConfig{
	{Name: "cleanup.policy", BrokerSynonym: "log.cleanup.policy", Default: "delete", Kind: KindList, Check: oneOf("delete", "compact"),
		Doc: "delete old segments (retention), compact to the latest value per key, or both"},
	{Name: "compression.type", BrokerSynonym: "compression.type", Default: "producer", Kind: KindString, Check: oneOf("producer"),
		Doc: "only 'producer' (keep the producer's codec) is supported"},
	{Name: "delete.retention.ms", BrokerSynonym: "log.cleaner.delete.retention.ms", Default: "86400000", Kind: KindLong, Check: atLeast(0)},
	{Name: "file.delete.delay.ms", BrokerSynonym: "log.segment.delete.delay.ms", Default: "60000", Kind: KindLong, Check: atLeast(0)},
	{Name: "flush.messages", BrokerSynonym: "log.flush.interval.messages", Default: longMax, Kind: KindLong, Check: atLeast(1)},
	{Name: "flush.ms", BrokerSynonym: "log.flush.interval.ms", Default: longMax, Kind: KindLong, Check: atLeast(0)},
	{Name: "index.interval.bytes", BrokerSynonym: "log.index.interval.bytes", Default: "4096", Kind: KindInt, Check: atLeast(0)},
	{Name: "max.compaction.lag.ms", BrokerSynonym: "log.cleaner.max.compaction.lag.ms", Default: longMax, Kind: KindLong, Check: atLeast(1)},
	{Name: "max.message.bytes", BrokerSynonym: "message.max.bytes", Default: "1048588", Kind: KindInt, Check: atLeast(0)},
	{Name: "message.timestamp.after.max.ms", BrokerSynonym: "log.message.timestamp.after.max.ms", Default: longMax, Kind: KindLong, Check: atLeast(0)},
	{Name: "message.timestamp.before.max.ms", BrokerSynonym: "log.message.timestamp.before.max.ms", Default: longMax, Kind: KindLong, Check: atLeast(0)},
	{Name: "message.timestamp.type", BrokerSynonym: "log.message.timestamp.type", Default: "CreateTime", Kind: KindString, Check: oneOf("CreateTime", "LogAppendTime")},
	{Name: "min.cleanable.dirty.ratio", BrokerSynonym: "log.cleaner.min.cleanable.ratio", Default: "0.5", Kind: KindDouble},
	{Name: "min.compaction.lag.ms", BrokerSynonym: "log.cleaner.min.compaction.lag.ms", Default: "0", Kind: KindLong, Check: atLeast(0)},
	{Name: "min.insync.replicas", BrokerSynonym: "min.insync.replicas", Default: "1", Kind: KindInt, Check: atLeast(1)},
	{Name: "preallocate", BrokerSynonym: "log.preallocate", Default: "false", Kind: KindBool},
	{Name: "retention.bytes", BrokerSynonym: "log.retention.bytes", Default: "-1", Kind: KindLong},
	{Name: "retention.ms", BrokerSynonym: "log.retention.ms", Default: "604800000", Kind: KindLong, Check: atLeast(-1)},
	{Name: "segment.bytes", BrokerSynonym: "log.segment.bytes", Default: "1073741824", Kind: KindInt, Check: atLeast(14)},
	{Name: "segment.index.bytes", BrokerSynonym: "log.index.size.max.bytes", Default: "10485760", Kind: KindInt, Check: atLeast(8)},
	{Name: "segment.jitter.ms", BrokerSynonym: "log.roll.jitter.ms", Default: "0", Kind: KindLong, Check: atLeast(0)},
	{Name: "segment.ms", BrokerSynonym: "log.roll.ms", Default: "604800000", Kind: KindLong, Check: atLeast(1)},
	{Name: "unclean.leader.election.enable", BrokerSynonym: "unclean.leader.election.enable", Default: "false", Kind: KindBool},
}

var topicConfigByName = func() map[string]*TopicConfig {
	m := make(map[string]*TopicConfig, len(TopicConfigs))
	for i := range TopicConfigs {
		m[TopicConfigs[i].Name] = &TopicConfigs[i]
	}
	return m
}()

// LookupTopicConfig returns the definition of a topic config.
func LookupTopicConfig(name string) (*TopicConfig, bool) {
	c, ok := topicConfigByName[name]
	return c, ok
}

// ValidateTopicConfig checks a topic config name and value.
func ValidateTopicConfig(name, value string) error {
	c, ok := topicConfigByName[name]
	if !ok {
		return fmt.Errorf("unknown topic config %q", name)
	}
	if err := checkKind(c.Kind, value); err != nil {
		return fmt.Errorf("invalid value %q for %s: %w", value, name, err)
	}
	if c.Check != nil {
		if err := c.Check(value); err != nil {
			return fmt.Errorf("invalid value %q for %s: %w", value, name, err)
		}
	}
	return nil
}

func checkKind(k Kind, v string) error {
	var err error
	switch k {
	case KindInt:
		_, err = strconv.ParseInt(v, 10, 32)
	case KindLong:
		_, err = strconv.ParseInt(v, 10, 64)
	case KindDouble:
		_, err = strconv.ParseFloat(v, 64)
	case KindBool:
		_, err = strconv.ParseBool(v)
	}
	if err != nil {
		return fmt.Errorf("not a valid %s", map[Kind]string{KindInt: "int", KindLong: "long", KindDouble: "double", KindBool: "boolean"}[k])
	}
	return nil
}

// Source says where an effective config value comes from (Kafka's
// DescribeConfigs config sources).
type Source int8

const (
	SourceTopic        Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceStaticBroker Source = 4 // STATIC_BROKER_CONFIG
	SourceDefault      Source = 5 // DEFAULT_CONFIG
)

// Broker holds the broker settings: server.properties-style keys with
// Kafka's names. Only explicitly set keys are stored; the rest default.
type Broker struct {
	set map[string]string
}

// Broker settings and their defaults (beyond topic-config synonyms).
var brokerDefaults = map[string]string{
	"node.id":                                  "1",
	"listeners":                                "127.0.0.1:9092",
	"advertised.listeners":                     "",
	"log.dirs":                                 "./data",
	"num.partitions":                           "1",
	"default.replication.factor":               "1",
	"auto.create.topics.enable":                "true",
	"socket.request.max.bytes":                 "104857600",
	"log.retention.check.interval.ms":          "300000",
	"log.cleaner.backoff.ms":                   "15000",
	"producer.id.expiration.ms":                "86400000",
	"delete.topic.enable":                      "true",
	"raft.listener":                            "",
	"broker.rack":                              "",
	"request.timeout.ms":                       "30000",
	"replica.lag.time.max.ms":                  "30000",
	"broker.session.timeout.ms":                "9000",
	"auto.leader.rebalance.enable":             "true",
	"leader.imbalance.check.interval.seconds":  "300",
	"connections.max.idle.ms":                  "600000",
	"log.flush.scheduler.interval.ms":          longMax,
	"offsets.topic.replication.factor":         "3",
	"offsets.topic.segment.bytes":              "104857600",
	"offsets.retention.minutes":                "10080",
	"group.min.session.timeout.ms":             "6000",
	"group.max.session.timeout.ms":             "1800000",
	"group.initial.rebalance.delay.ms":         "3000",
	"group.max.size":                           "2147483647",
	"offsets.topic.num.partitions":             "50",
	"transaction.state.log.num.partitions":     "50",
	"transaction.state.log.replication.factor": "3",
	"transaction.state.log.segment.bytes":      "104857600",
	"transaction.max.timeout.ms":               "900000",
}

// NewBroker returns settings with the given explicit values.
func NewBroker(set map[string]string) *Broker {
	b := &Broker{set: map[string]string{}}
	for k, v := range set {
		b.set[k] = v
	}
	// Kafka's coarser unit aliases, resolved to the canonical key.
	if _, ok := b.set["log.retention.ms"]; !ok {
		if v, ok := b.set["log.retention.minutes"]; ok {
			b.set["log.retention.ms"] = mulString(v, 60_000)
		} else if v, ok := b.set["log.retention.hours"]; ok {
			b.set["log.retention.ms"] = mulString(v, 3_600_000)
		}
	}
	if _, ok := b.set["log.roll.ms"]; !ok {
		if v, ok := b.set["log.roll.hours"]; ok {
			b.set["log.roll.ms"] = mulString(v, 3_600_000)
		}
	}
	return b
}

func mulString(v string, m int64) string {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return v
	}
	if n < 0 {
		return "-1"
	}
	return strconv.FormatInt(n*m, 10)
}

// Set sets a broker setting.
func (b *Broker) Set(k, v string) { b.set[k] = v }

// Validate checks every explicitly set key is known and well-formed.
func (b *Broker) Validate() error {
	syn := map[string]*TopicConfig{}
	for i := range TopicConfigs {
		syn[TopicConfigs[i].BrokerSynonym] = &TopicConfigs[i]
	}
	keys := make([]string, 0, len(b.set))
	for k := range b.set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := b.set[k]
		if tc, ok := syn[k]; ok {
			if err := ValidateTopicConfig(tc.Name, v); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			continue
		}
		switch k {
		case "log.retention.minutes", "log.retention.hours", "log.roll.hours":
			continue
		}
		if _, ok := brokerDefaults[k]; !ok {
			return fmt.Errorf("unknown broker setting %q", k)
		}
	}
	return nil
}

// String returns a broker setting (explicit or default).
func (b *Broker) String(k string) string {
	if v, ok := b.set[k]; ok {
		return v
	}
	return brokerDefaults[k]
}

// Int64 returns an integer broker setting, or def when unset or invalid.
func (b *Broker) Int64(k string) int64 {
	n, err := strconv.ParseInt(b.String(k), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Bool returns a boolean broker setting.
func (b *Broker) Bool(k string) bool {
	v, _ := strconv.ParseBool(b.String(k))
	return v
}

// Entry is a topic config's effective value.
type Entry struct {
	Name      string
	Value     string
	Source    Source
	Synonyms  []Synonym
	Kind      Kind
	Doc       string
	Sensitive bool
}

// Synonym is a lower-precedence value of a config (DescribeConfigs synonyms).
type Synonym struct {
	Name   string
	Value  string
	Source Source
}

// ResolveTopic returns every topic config's effective value for a topic with
// the given overrides, in name order.
func (b *Broker) ResolveTopic(overrides map[string]string) []Entry {
	out := make([]Entry, 0, len(TopicConfigs))
	for _, tc := range TopicConfigs {
		e := Entry{Name: tc.Name, Kind: tc.Kind, Doc: tc.Doc}
		var syns []Synonym
		if v, ok := overrides[tc.Name]; ok {
			syns = append(syns, Synonym{tc.Name, v, SourceTopic})
		}
		if v, ok := b.set[tc.BrokerSynonym]; ok {
			syns = append(syns, Synonym{tc.BrokerSynonym, v, SourceStaticBroker})
		}
		syns = append(syns, Synonym{tc.Name, tc.Default, SourceDefault})
		e.Value, e.Source, e.Synonyms = syns[0].Value, syns[0].Source, syns
		out = append(out, e)
	}
	return out
}

// TopicValue returns one effective topic config value.
func (b *Broker) TopicValue(overrides map[string]string, name string) string {
	if v, ok := overrides[name]; ok {
		return v
	}
	tc := topicConfigByName[name]
	if tc == nil {
		return ""
	}
	if v, ok := b.set[tc.BrokerSynonym]; ok {
		return v
	}
	return tc.Default
}

func parseInt(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return math.MaxInt64
	}
	return n
}

// TopicInt returns an integer topic config's effective value.
func (b *Broker) TopicInt(overrides map[string]string, name string) int64 {
	return parseInt(b.TopicValue(overrides, name))
}

// LogConfig turns a topic's effective configs into the partition log's config.
func (b *Broker) LogConfig(overrides map[string]string) partition.Config {
	c := partition.DefaultConfig()
	c.SegmentBytes = b.TopicInt(overrides, "segment.bytes")
	c.SegmentMs = b.TopicInt(overrides, "segment.ms")
	c.SegmentIndexBytes = b.TopicInt(overrides, "segment.index.bytes")
	c.IndexIntervalBytes = b.TopicInt(overrides, "index.interval.bytes")
	c.RetentionMs = b.TopicInt(overrides, "retention.ms")
	c.RetentionBytes = b.TopicInt(overrides, "retention.bytes")
	c.CleanupPolicy = b.TopicValue(overrides, "cleanup.policy")
	c.DeleteRetentionMs = b.TopicInt(overrides, "delete.retention.ms")
	c.MinCompactionLagMs = b.TopicInt(overrides, "min.compaction.lag.ms")
	if f, err := strconv.ParseFloat(b.TopicValue(overrides, "min.cleanable.dirty.ratio"), 64); err == nil {
		c.MinCleanableDirtyRatio = f
	}
	c.FileDeleteDelayMs = b.TopicInt(overrides, "file.delete.delay.ms")
	return c
}

// LoadProperties reads a server.properties-style file: key=value lines, '#'
// and '!' comments.
func LoadProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == '!' {
			continue
		}
		i := strings.IndexAny(s, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: expected key=value", path, line)
		}
		out[strings.TrimSpace(s[:i])] = strings.TrimSpace(s[i+1:])
	}
	return out, sc.Err()
}

// All returns every broker setting with its value and source.
func (b *Broker) All() map[string]Entry {
	out := map[string]Entry{}
	for k, v := range brokerDefaults {
		out[k] = Entry{Name: k, Value: v, Source: SourceDefault}
	}
	for _, tc := range TopicConfigs {
		out[tc.BrokerSynonym] = Entry{Name: tc.BrokerSynonym, Value: tc.Default, Source: SourceDefault}
	}
	for k, v := range b.set {
		out[k] = Entry{Name: k, Value: v, Source: SourceStaticBroker}
	}
	return out
}
