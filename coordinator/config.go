package coordinator

import (
	"math"
	"time"
)

// CommitFunc appends records to the coordinator's __consumer_offsets
// partition and reports the outcome through done.
//
// Contract:
//   - records of one call are one atomic batch (one record batch, one Raft
//     proposal);
//   - batches reach the log in call order;
//   - done is called exactly once per call, on the goroutine that drives the
//     Coordinator (for an actor: deliver the result as a message and call
//     done from Receive). It may be called before CommitFunc returns.
//     Calls after the first, and calls after Unload, are ignored;
//   - err is nil once the batch is committed (acks=all semantics). Otherwise
//     it should be a *kerr.Error as Kafka's log append would report it
//     (kerr.NotLeaderForPartition when leadership was lost, kerr.NotEnoughReplicas,
//     kerr.RequestTimedOut, kerr.MessageTooLarge, ...); it is translated into
//     the response error the way Kafka's GroupMetadataManager does. Any other
//     error is reported as COORDINATOR_NOT_AVAILABLE.
//
// done calls may come in any order: results are applied and responses sent in
// call order (a result waits for those of earlier calls).
type CommitFunc func(records []Record, done func(err error))

// Config is a Coordinator's configuration. Zero fields take Kafka's
// defaults; names in comments are the Kafka broker settings.
type Config struct {
	// Commit persists records. nil keeps state in memory only: every write
	// succeeds at once (for tests and tools).
	Commit CommitFunc
	// TxnCommit persists records written in producer pid's transaction
	// (TxnOffsetCommit): a transactional batch under pid and epoch, settled
	// later by the transaction's marker. nil: like Commit with nil.
	TxnCommit func(pid int64, epoch int16, records []Record, done func(err error))

	// MemberIDSuffix returns the part after "<client.id or group.instance.id>-"
	// of a new member id (Kafka uses a random UUID). nil uses a per-coordinator
	// counter, which is deterministic but repeats after a failover; a broker
	// should pass uuid.NewString so member ids stay unique across coordinators.
	MemberIDSuffix func() string

	// Partition and NumPartitions: when NumPartitions > 0, requests for a
	// group that PartitionFor does not map to Partition get NOT_COORDINATOR.
	Partition     int32
	NumPartitions int32

	MinSessionTimeout time.Duration // group.min.session.timeout.ms, default 6s
	MaxSessionTimeout time.Duration // group.max.session.timeout.ms, default 30m
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms, default 3s.
	// Negative disables the delay (Kafka's value 0).
	InitialRebalanceDelay time.Duration
	MaxGroupSize          int           // group.max.size, default unlimited
	OffsetsRetention      time.Duration // offsets.retention.minutes, default 7 days
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms,
	// default 10 minutes.
	OffsetsRetentionCheckInterval time.Duration
	OffsetMetadataMaxBytes        int // offset.metadata.max.bytes, default 4096

	// OnGroupState, if set, is told of every group state change (tracing
	// follows rebalances with it), on the coordinator's goroutine.
	OnGroupState func(group string, from, to GroupState, generation int32)
}

// Kafka's defaults and fixed values.
const (
	defaultMinSessionTimeout      = 6 * time.Second
	defaultMaxSessionTimeout      = 30 * time.Minute
	defaultInitialRebalanceDelay  = 3 * time.Second
	defaultOffsetsRetention       = 7 * 24 * time.Hour
	defaultOffsetsRetentionCheck  = 10 * time.Minute
	defaultOffsetMetadataMaxBytes = 4096
	// newMemberJoinTimeoutMs bounds how long a new member may wait in a
	// JoinGroup: it cannot heartbeat (it has no member id yet) and a
	// disconnect is invisible while its request is parked (KIP-394).
	newMemberJoinTimeoutMs = 5 * 60 * 1000
)

// settings is Config in milliseconds with defaults applied.
type settings struct {
	commit                CommitFunc
	txnCommit             func(pid int64, epoch int16, records []Record, done func(err error))
	memberIDSuffix        func() string
	partition, partitions int32
	minSessionMs          int64
	maxSessionMs          int64
	initialDelayMs        int64
	maxGroupSize          int
	retentionMs           int64
	retentionCheckMs      int64
	metadataMaxBytes      int
	onGroupState          func(group string, from, to GroupState, generation int32)
}

func (c Config) settings() settings {
	ms := func(d, def time.Duration) int64 {
		if d <= 0 {
			d = def
		}
		return d.Milliseconds()
	}
	s := settings{
		commit:           c.Commit,
		txnCommit:        c.TxnCommit,
		memberIDSuffix:   c.MemberIDSuffix,
		partition:        c.Partition,
		partitions:       c.NumPartitions,
		minSessionMs:     ms(c.MinSessionTimeout, defaultMinSessionTimeout),
		maxSessionMs:     ms(c.MaxSessionTimeout, defaultMaxSessionTimeout),
		maxGroupSize:     c.MaxGroupSize,
		retentionMs:      ms(c.OffsetsRetention, defaultOffsetsRetention),
		retentionCheckMs: ms(c.OffsetsRetentionCheckInterval, defaultOffsetsRetentionCheck),
		metadataMaxBytes: c.OffsetMetadataMaxBytes,
		onGroupState:     c.OnGroupState,
	}
	switch {
	case c.InitialRebalanceDelay < 0:
		s.initialDelayMs = 0
	case c.InitialRebalanceDelay == 0:
		s.initialDelayMs = defaultInitialRebalanceDelay.Milliseconds()
	default:
		s.initialDelayMs = c.InitialRebalanceDelay.Milliseconds()
	}
	if s.maxGroupSize <= 0 {
		s.maxGroupSize = math.MaxInt32
	}
	if s.metadataMaxBytes <= 0 {
		s.metadataMaxBytes = defaultOffsetMetadataMaxBytes
	}
	return s
}
