// Package telemetry holds a broker's metrics (Prometheus) and tracing
// (OpenTelemetry) setup. Nothing here is global: every broker has its own
// registry and tracer provider, so tests can run several brokers in one
// process and read each one's numbers.
package telemetry

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are one broker's Prometheus metrics, in a registry of its own.
// Names follow Kafka's (BytesInPerSec, UnderReplicatedPartitions, ...) with
// a samsa_ prefix; docs/OPERATIONS.md lists them.
type Metrics struct {
	Registry *prometheus.Registry

	bytesIn, bytesOut, recordsIn, recordsOut *prometheus.CounterVec
	topics                                   sync.Map // topic name → *TopicMetrics

	requests       *prometheus.CounterVec
	requestLatency *prometheus.HistogramVec

	// ISRShrinks and ISRExpands count changes of the ISR of partitions
	// this broker leads.
	ISRShrinks, ISRExpands prometheus.Counter
	// LeaderElections counts partition leaderships this broker won: each
	// leader change is counted once in the cluster, by the new leader.
	LeaderElections prometheus.Counter
	proposeLatency  *prometheus.HistogramVec

	// srcMu is held (read) while a scrape uses source, so clearing it
	// waits for scrapes in flight: the broker closes after that.
	srcMu  sync.RWMutex
	source Source
}

// Source answers the gauges computed when scraped: partition states and
// consumer group lag. The actors' Broker implements it.
type Source interface {
	PartitionStats() PartitionStats
	GroupLags(ctx context.Context) []GroupLag
}

// PartitionStats is what the partition gauges show.
type PartitionStats struct {
	Partitions      int // replicas held by this broker
	Leaders         int // partitions this broker leads
	UnderReplicated int // led here, with fewer in-sync replicas than replicas
	// Offline partitions have no leader; counted only by the broker
	// leading the controller (ControllerActive), as Kafka's active
	// controller does, so a sum over brokers counts each once.
	Offline          int
	ControllerActive bool
	// PeersUp: other brokers answering this broker's peer connection.
	PeersUp int
}

// GroupLag is one partition's lag for a group: the high watermark minus the
// group's committed offset.
type GroupLag struct {
	Group, Topic string
	Partition    int32
	Lag          int64
}

// TopicMetrics are one topic's counters, looked up once per batch.
type TopicMetrics struct {
	BytesIn, BytesOut, RecordsIn, RecordsOut prometheus.Counter
}

// RequestMetrics are one API's request counter and latency histogram.
type RequestMetrics struct {
	Count   prometheus.Counter
	Latency prometheus.Observer
}

// Observe records one request that took d.
func (r RequestMetrics) Observe(d time.Duration) {
	r.Count.Inc()
	r.Latency.Observe(d.Seconds())
}

// latencyBuckets span a fast in-memory answer (0.1 ms) to a long poll or a
// slow replicated write (30 s), in seconds.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics returns a broker's metrics with Go runtime and process
// collectors, registered in a new registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	topicCounter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic"})
	}
	m := &Metrics{
		Registry:   r,
		bytesIn:    topicCounter("samsa_topic_bytes_in_total", "Bytes of record batches produced to the topic and appended (Kafka BytesInPerSec)."),
		bytesOut:   topicCounter("samsa_topic_bytes_out_total", "Bytes of record batches returned by Fetch for the topic (Kafka BytesOutPerSec)."),
		recordsIn:  topicCounter("samsa_topic_records_in_total", "Records produced to the topic and appended (Kafka MessagesInPerSec)."),
		recordsOut: topicCounter("samsa_topic_records_out_total", "Records at or after the fetch offset returned by Fetch for the topic, control records excluded."),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "samsa_requests_total",
			Help: "Kafka requests answered, by API (Kafka RequestsPerSec)."}, []string{"api"}),
		requestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "samsa_request_duration_seconds",
			Help:    "Time from a request's arrival to its response being written, by API (Kafka TotalTimeMs); acks=0 produce ends when handed to the partition.",
			Buckets: latencyBuckets}, []string{"api"}),
		ISRShrinks: prometheus.NewCounter(prometheus.CounterOpts{Name: "samsa_isr_shrinks_total",
			Help: "Times a follower left the ISR of a partition this broker leads (Kafka IsrShrinksPerSec)."}),
		ISRExpands: prometheus.NewCounter(prometheus.CounterOpts{Name: "samsa_isr_expands_total",
			Help: "Times a follower joined the ISR of a partition this broker leads (Kafka IsrExpandsPerSec)."}),
		LeaderElections: prometheus.NewCounter(prometheus.CounterOpts{Name: "samsa_leader_elections_total",
			Help: "Partition leaderships this broker won (Kafka LeaderElectionRateAndTimeMs count)."}),
		proposeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "samsa_raft_propose_duration_seconds",
			Help:    "Time from a Raft proposal to its commit and apply, by Raft group kind (partition or controller).",
			Buckets: latencyBuckets}, []string{"group"}),
	}
	r.MustRegister(m.bytesIn, m.bytesOut, m.recordsIn, m.recordsOut, m.requests, m.requestLatency,
		m.ISRShrinks, m.ISRExpands, m.LeaderElections, m.proposeLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		stateCollector{m})
	return m
}

// Topic returns the topic's counters.
func (m *Metrics) Topic(name string) *TopicMetrics {
	if tm, ok := m.topics.Load(name); ok {
		return tm.(*TopicMetrics)
	}
	tm := &TopicMetrics{
		BytesIn: m.bytesIn.WithLabelValues(name), BytesOut: m.bytesOut.WithLabelValues(name),
		RecordsIn: m.recordsIn.WithLabelValues(name), RecordsOut: m.recordsOut.WithLabelValues(name),
	}
	actual, _ := m.topics.LoadOrStore(name, tm)
	return actual.(*TopicMetrics)
}

// ForgetTopic drops a deleted topic's series, as Kafka removes a deleted
// topic's metrics.
func (m *Metrics) ForgetTopic(name string) {
	m.topics.Delete(name)
	for _, v := range []*prometheus.CounterVec{m.bytesIn, m.bytesOut, m.recordsIn, m.recordsOut} {
		v.DeleteLabelValues(name)
	}
}

// Topics lists the topics that have counters.
func (m *Metrics) Topics() []string {
	var out []string
	m.topics.Range(func(k, _ any) bool {
		out = append(out, k.(string))
		return true
	})
	return out
}

// Request returns the metrics of one API (by its Kafka name, e.g. Produce).
func (m *Metrics) Request(api string) RequestMetrics {
	return RequestMetrics{Count: m.requests.WithLabelValues(api), Latency: m.requestLatency.WithLabelValues(api)}
}

// ObservePropose records a Raft proposal's latency; group is "partition"
// or "controller".
func (m *Metrics) ObservePropose(group string, d time.Duration) {
	m.proposeLatency.WithLabelValues(group).Observe(d.Seconds())
}

// SetSource sets (or, with nil, clears) what the scrape-time gauges read.
// Clearing returns once no scrape uses the old source.
func (m *Metrics) SetSource(s Source) {
	m.srcMu.Lock()
	m.source = s
	m.srcMu.Unlock()
}

// lagTimeout bounds how long a scrape waits for the group coordinators.
const lagTimeout = 2 * time.Second

var (
	descPartitions = prometheus.NewDesc("samsa_partitions",
		"Partition replicas on this broker (Kafka PartitionCount).", nil, nil)
	descLeaders = prometheus.NewDesc("samsa_leader_partitions",
		"Partitions this broker leads (Kafka LeaderCount).", nil, nil)
	descUnderReplicated = prometheus.NewDesc("samsa_under_replicated_partitions",
		"Partitions led by this broker whose ISR is smaller than their replica set (Kafka UnderReplicatedPartitions).", nil, nil)
	descOffline = prometheus.NewDesc("samsa_offline_partitions",
		"Partitions without a leader; reported by the broker leading the controller, 0 elsewhere (Kafka OfflinePartitionsCount).", nil, nil)
	descController = prometheus.NewDesc("samsa_controller_active",
		"1 on the broker leading the controller (metadata) Raft group (Kafka ActiveControllerCount).", nil, nil)
	descPeersUp = prometheus.NewDesc("samsa_peer_brokers_up",
		"Other brokers answering this broker's peer connection; a broker whose process is gone drops out as soon as its socket closes.", nil, nil)
	descLag = prometheus.NewDesc("samsa_consumer_group_lag",
		"High watermark minus the committed offset, per partition, for groups coordinated by this broker (records).",
		[]string{"group", "topic", "partition"}, nil)
)

// stateCollector computes the gauges from the Source when scraped, so they
// are never stale and cost nothing between scrapes.
type stateCollector struct{ m *Metrics }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPartitions, descLeaders, descUnderReplicated, descOffline, descController, descPeersUp, descLag} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.srcMu.RLock()
	defer c.m.srcMu.RUnlock()
	src := c.m.source
	if src == nil {
		return
	}
	st := src.PartitionStats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(descPartitions, st.Partitions)
	gauge(descLeaders, st.Leaders)
	gauge(descUnderReplicated, st.UnderReplicated)
	gauge(descOffline, st.Offline)
	active := 0
	if st.ControllerActive {
		active = 1
	}
	gauge(descController, active)
	gauge(descPeersUp, st.PeersUp)
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	for _, l := range src.GroupLags(ctx) {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(l.Lag),
			l.Group, l.Topic, strconv.Itoa(int(l.Partition)))
	}
}
