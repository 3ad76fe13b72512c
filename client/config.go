package client

import (
	"log/slog"
	"math"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/internal/batch"
)

// Option configures a Producer, Consumer or Admin. Options are shared: one
// that does not apply to what is being built is ignored, so a common set
// (brokers, client.id, timeouts) can be reused for all three. Each option's
// documentation names the Java client setting it mirrors.
type Option func(*config)

// Acks is the producer's acknowledgement level (acks).
type Acks int16

const (
	AcksNone   Acks = 0  // acks=0: fire and forget, no response
	AcksLeader Acks = 1  // acks=1: the leader has appended the batch
	AcksAll    Acks = -1 // acks=all: all in-sync replicas have it
)

// Compression is a record batch codec (compression.type).
type Compression int8

const (
	CompressionNone   = Compression(batch.None)
	CompressionGzip   = Compression(batch.Gzip)
	CompressionSnappy = Compression(batch.Snappy)
	CompressionLZ4    = Compression(batch.LZ4)
	CompressionZstd   = Compression(batch.Zstd)
)

func (c Compression) String() string { return batch.Codec(c).String() }

// OffsetReset is what a consumer does without a valid position
// (auto.offset.reset).
type OffsetReset int8

const (
	ResetLatest   OffsetReset = iota // latest: start at the log end
	ResetEarliest                    // earliest: start at the log start
	ResetNone                        // none: Poll returns ErrNoOffsetForPartition
)

// IsolationLevel is the consumer's isolation.level.
type IsolationLevel int8

const (
	ReadUncommitted IsolationLevel = 0 // read_uncommitted: everything, including aborted and open transactions
	ReadCommitted   IsolationLevel = 1 // read_committed: up to the last stable offset, aborted records skipped
)

type config struct {
	// common
	brokers         []string
	clientID        string
	dialTimeout     time.Duration
	requestTimeout  time.Duration
	metadataMaxAge  time.Duration
	retryBackoff    time.Duration
	logger          *slog.Logger
	allowAutoTopics bool
	tracerProvider  trace.TracerProvider          // nil: the global one
	propagator      propagation.TextMapPropagator // nil: the global one, else W3C trace context

	// producer
	acks            Acks
	batchSize       int
	linger          time.Duration
	bufferMemory    int64
	maxBlock        time.Duration
	compression     Compression
	retries         int
	deliveryTimeout time.Duration
	maxInFlight     int
	idempotence     bool
	idempotenceSet  bool
	partitioner     Partitioner
	interceptors    []ProducerInterceptor
	transactionalID string
	txnTimeout      time.Duration
	maxRequestSize  int

	// consumer
	groupID            string
	instanceID         string
	assignors          []Assignor
	sessionTimeout     time.Duration
	heartbeatInterval  time.Duration
	rebalanceTimeout   time.Duration
	autoCommit         bool
	autoCommitInterval time.Duration
	offsetReset        OffsetReset
	isolation          IsolationLevel
	maxPollRecords     int
	fetchMinBytes      int32
	fetchMaxBytes      int32
	fetchMaxWait       time.Duration
	partitionFetchMax  int32
	listener           RebalanceListener
	consumerIntercepts []ConsumerInterceptor
}

func defaultConfig() *config {
	return &config{
		brokers:        []string{"127.0.0.1:9092"},
		clientID:       "samsa-go",
		dialTimeout:    10 * time.Second,
		requestTimeout: 30 * time.Second,
		metadataMaxAge: 5 * time.Minute,
		retryBackoff:   100 * time.Millisecond,
		logger:         slog.New(slog.DiscardHandler),

		acks:            AcksAll,
		batchSize:       16384,
		linger:          5 * time.Millisecond,
		bufferMemory:    32 << 20,
		maxBlock:        60 * time.Second,
		retries:         math.MaxInt32,
		deliveryTimeout: 2 * time.Minute,
		maxInFlight:     5,
		idempotence:     true,
		txnTimeout:      time.Minute,
		maxRequestSize:  1 << 20,

		sessionTimeout:     45 * time.Second,
		heartbeatInterval:  3 * time.Second,
		rebalanceTimeout:   5 * time.Minute,
		autoCommit:         true,
		autoCommitInterval: 5 * time.Second,
		maxPollRecords:     500,
		fetchMinBytes:      1,
		fetchMaxBytes:      50 << 20,
		fetchMaxWait:       500 * time.Millisecond,
		partitionFetchMax:  1 << 20,
	}
}

func newConfig(opts []Option) *config {
	c := defaultConfig()
	for _, o := range opts {
		o(c)
	}
	if len(c.assignors) == 0 {
		c.assignors = []Assignor{RangeAssignor(), CooperativeStickyAssignor()}
	}
	return c
}

// WithBrokers sets the bootstrap brokers, host:port (bootstrap.servers). Any
// one reachable broker is enough; the rest of the cluster comes from metadata.
func WithBrokers(addrs ...string) Option { return func(c *config) { c.brokers = addrs } }

// WithClientID sets client.id, sent with every request.
func WithClientID(id string) Option { return func(c *config) { c.clientID = id } }

// WithDialTimeout bounds a TCP connect plus ApiVersions handshake
// (socket.connection.setup.timeout.ms).
func WithDialTimeout(d time.Duration) Option { return func(c *config) { c.dialTimeout = d } }

// WithRequestTimeout bounds the wait for a response (request.timeout.ms);
// fetches and joins add their own broker-side wait to it.
func WithRequestTimeout(d time.Duration) Option { return func(c *config) { c.requestTimeout = d } }

// WithMetadataMaxAge sets how often metadata is refreshed even without an
// error that calls for it (metadata.max.age.ms).
func WithMetadataMaxAge(d time.Duration) Option { return func(c *config) { c.metadataMaxAge = d } }

// WithRetryBackoff sets the pause before retrying a failed request
// (retry.backoff.ms).
func WithRetryBackoff(d time.Duration) Option { return func(c *config) { c.retryBackoff = d } }

// WithLogger sets a logger for connection and group events (none by default).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTracerProvider sets the OpenTelemetry tracer provider producers and
// consumers create spans with: a PRODUCER span per record sent, a CONSUMER
// span per record Poll returns (see the package documentation). The default
// is the global provider (otel.GetTracerProvider), a no-op until the
// application sets one; off, tracing costs next to nothing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// WithPropagator sets how trace context is written to and read from record
// headers. The default is the global propagator (otel.GetTextMapPropagator)
// as set when the producer or consumer is created, or W3C trace context
// (traceparent, tracestate) if none is set then.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagator = p }
}

// WithAllowAutoTopicCreation lets metadata requests create missing topics on
// brokers configured to do so (allow.auto.create.topics). Off by default.
func WithAllowAutoTopicCreation() Option { return func(c *config) { c.allowAutoTopics = true } }

// WithAcks sets acks; the default is AcksAll. Idempotence requires AcksAll,
// so a lower level turns it off unless WithIdempotence(true) was given (then
// NewProducer fails).
func WithAcks(a Acks) Option { return func(c *config) { c.acks = a } }

// WithBatchSize sets batch.size, the target bytes of one partition's batch;
// a batch this full is sent without waiting for linger.ms. Default 16384.
func WithBatchSize(n int) Option { return func(c *config) { c.batchSize = n } }

// WithLinger sets linger.ms, how long a batch that is not full waits for more
// records. Default 5ms.
func WithLinger(d time.Duration) Option { return func(c *config) { c.linger = d } }

// WithBufferMemory sets buffer.memory, the bytes of records a producer holds
// until they are acknowledged; Send blocks when it is full. Default 32 MiB.
func WithBufferMemory(n int64) Option { return func(c *config) { c.bufferMemory = n } }

// WithMaxBlock sets max.block.ms, how long Send waits for buffer space or
// for the topic's metadata before failing. Default 60s.
func WithMaxBlock(d time.Duration) Option { return func(c *config) { c.maxBlock = d } }

// WithCompression sets compression.type. Default none.
func WithCompression(codec Compression) Option { return func(c *config) { c.compression = codec } }

// WithRetries sets retries, how many times a failed batch is resent
// (within delivery.timeout.ms). Default effectively unlimited.
func WithRetries(n int) Option { return func(c *config) { c.retries = n } }

// WithDeliveryTimeout sets delivery.timeout.ms, the bound from Send to the
// callback, retries included. Default 2m.
func WithDeliveryTimeout(d time.Duration) Option { return func(c *config) { c.deliveryTimeout = d } }

// WithMaxInFlight sets max.in.flight.requests.per.connection, at most 5 with
// idempotence. Default 5.
func WithMaxInFlight(n int) Option { return func(c *config) { c.maxInFlight = n } }

// WithIdempotence sets enable.idempotence (default true): the broker
// deduplicates retried batches and keeps them in order.
func WithIdempotence(on bool) Option {
	return func(c *config) { c.idempotence, c.idempotenceSet = on, true }
}

// WithPartitioner sets partitioner.class. The default is DefaultPartitioner.
func WithPartitioner(p Partitioner) Option { return func(c *config) { c.partitioner = p } }

// WithProducerInterceptors sets interceptor.classes for a producer.
func WithProducerInterceptors(is ...ProducerInterceptor) Option {
	return func(c *config) { c.interceptors = append(c.interceptors, is...) }
}

// WithConsumerInterceptors sets interceptor.classes for a consumer.
func WithConsumerInterceptors(is ...ConsumerInterceptor) Option {
	return func(c *config) { c.consumerIntercepts = append(c.consumerIntercepts, is...) }
}

// WithTransactionalID sets transactional.id, enabling the transaction calls.
func WithTransactionalID(id string) Option { return func(c *config) { c.transactionalID = id } }

// WithTransactionTimeout sets transaction.timeout.ms. Default 1m.
func WithTransactionTimeout(d time.Duration) Option { return func(c *config) { c.txnTimeout = d } }

// WithMaxRequestSize sets max.request.size, the largest produce request and
// so the largest record. Default 1 MiB.
func WithMaxRequestSize(n int) Option { return func(c *config) { c.maxRequestSize = n } }

// WithGroupID sets group.id; required by Subscribe and for commits.
func WithGroupID(id string) Option { return func(c *config) { c.groupID = id } }

// WithGroupInstanceID sets group.instance.id, making the member static
// (KIP-345): a restart within session.timeout.ms keeps its assignment without
// a rebalance, and Close does not leave the group.
func WithGroupInstanceID(id string) Option { return func(c *config) { c.instanceID = id } }

// WithAssignors sets partition.assignment.strategy in order of preference.
// Default: range, cooperative-sticky (as the Java client).
func WithAssignors(as ...Assignor) Option { return func(c *config) { c.assignors = as } }

// WithSessionTimeout sets session.timeout.ms. Default 45s.
func WithSessionTimeout(d time.Duration) Option { return func(c *config) { c.sessionTimeout = d } }

// WithHeartbeatInterval sets heartbeat.interval.ms. Default 3s.
func WithHeartbeatInterval(d time.Duration) Option {
	return func(c *config) { c.heartbeatInterval = d }
}

// WithRebalanceTimeout sets max.poll.interval.ms, which is also the rebalance
// timeout: how long the group waits for members to rejoin. A member that does
// not call Poll for this long leaves the group (its partitions are reported
// lost at the next Poll). Default 5m.
func WithRebalanceTimeout(d time.Duration) Option { return func(c *config) { c.rebalanceTimeout = d } }

// WithAutoCommit sets enable.auto.commit (default true): positions returned
// by Poll are committed every auto.commit.interval.ms, before a revocation and
// on Close.
func WithAutoCommit(on bool) Option { return func(c *config) { c.autoCommit = on } }

// WithAutoCommitInterval sets auto.commit.interval.ms. Default 5s.
func WithAutoCommitInterval(d time.Duration) Option {
	return func(c *config) { c.autoCommitInterval = d }
}

// WithAutoOffsetReset sets auto.offset.reset. Default ResetLatest.
func WithAutoOffsetReset(r OffsetReset) Option { return func(c *config) { c.offsetReset = r } }

// WithIsolationLevel sets isolation.level. Default ReadUncommitted.
func WithIsolationLevel(l IsolationLevel) Option { return func(c *config) { c.isolation = l } }

// WithMaxPollRecords sets max.poll.records, the most records one Poll returns.
// Default 500.
func WithMaxPollRecords(n int) Option { return func(c *config) { c.maxPollRecords = n } }

// WithFetchMinBytes sets fetch.min.bytes. Default 1.
func WithFetchMinBytes(n int32) Option { return func(c *config) { c.fetchMinBytes = n } }

// WithFetchMaxBytes sets fetch.max.bytes. Default 50 MiB.
func WithFetchMaxBytes(n int32) Option { return func(c *config) { c.fetchMaxBytes = n } }

// WithFetchMaxWait sets fetch.max.wait.ms. Default 500ms.
func WithFetchMaxWait(d time.Duration) Option { return func(c *config) { c.fetchMaxWait = d } }

// WithMaxPartitionFetchBytes sets max.partition.fetch.bytes. Default 1 MiB.
func WithMaxPartitionFetchBytes(n int32) Option {
	return func(c *config) { c.partitionFetchMax = n }
}

// WithRebalanceListener sets the listener called on group rebalances.
func WithRebalanceListener(l RebalanceListener) Option { return func(c *config) { c.listener = l } }
