package partition

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Cleanup policies (cleanup.policy values).
const (
	PolicyDelete  = "delete"
	PolicyCompact = "compact"
)

// Config holds the per-topic log configs, with Kafka's names in comments and
// defaults from DefaultConfig(). Durations are in milliseconds.
type Config struct {
	SegmentBytes           int64   // segment.bytes, default 1 GiB, at most 2 GiB - 1 (positions in .index are 4 bytes)
	SegmentMs              int64   // segment.ms, default 7 days
	SegmentIndexBytes      int64   // segment.index.bytes, default 10 MiB
	IndexIntervalBytes     int64   // index.interval.bytes, default 4096
	RetentionMs            int64   // retention.ms, default 7 days, -1 = unlimited
	RetentionBytes         int64   // retention.bytes, default -1 = unlimited
	CleanupPolicy          string  // cleanup.policy: "delete" (default), "compact", "compact,delete"
	DeleteRetentionMs      int64   // delete.retention.ms, default 1 day
	MinCompactionLagMs     int64   // min.compaction.lag.ms, default 0
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio, default 0.5
	// FileDeleteDelayMs is file.delete.delay.ms. It is accepted for
	// compatibility but not used: segment files are deleted immediately,
	// because readers hold the log's read lock for the whole of a read, so no
	// reader can still be using a segment once it is out of the segment list
	// (Kafka needs the delay because its reads are lock-free).
	FileDeleteDelayMs int64
}

const day = 24 * 60 * 60 * 1000

// DefaultConfig returns Kafka's broker defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * day,
		SegmentIndexBytes:      10 << 20,
		IndexIntervalBytes:     4096,
		RetentionMs:            7 * day,
		RetentionBytes:         -1,
		CleanupPolicy:          PolicyDelete,
		DeleteRetentionMs:      day,
		MinCompactionLagMs:     0,
		MinCleanableDirtyRatio: 0.5,
		FileDeleteDelayMs:      60000,
	}
}

// policies splits cleanup.policy, a comma-separated list in Kafka.
func (c Config) policies() []string {
	var out []string
	for _, p := range strings.Split(c.CleanupPolicy, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c Config) hasPolicy(name string) bool {
	for _, p := range c.policies() {
		if p == name {
			return true
		}
	}
	return false
}

// Compacts reports whether cleanup.policy contains "compact".
func (c Config) Compacts() bool { return c.hasPolicy(PolicyCompact) }

// Deletes reports whether cleanup.policy contains "delete", i.e. whether
// retention.ms and retention.bytes apply.
func (c Config) Deletes() bool { return c.hasPolicy(PolicyDelete) }

// Validate checks the ranges Kafka's topic config validators enforce (plus
// the 2 GiB segment limit that follows from 4-byte index positions). Open
// rejects an invalid Config; SetConfig expects a validated one.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.SegmentBytes >= 14 && c.SegmentBytes <= math.MaxInt32, "segment.bytes %d out of range [14, %d]", c.SegmentBytes, math.MaxInt32)
	check(c.SegmentMs >= 1, "segment.ms %d must be >= 1", c.SegmentMs)
	check(c.SegmentIndexBytes >= 4 && c.SegmentIndexBytes <= math.MaxInt32, "segment.index.bytes %d out of range [4, %d]", c.SegmentIndexBytes, math.MaxInt32)
	check(c.IndexIntervalBytes >= 0, "index.interval.bytes %d must be >= 0", c.IndexIntervalBytes)
	check(c.RetentionMs >= -1, "retention.ms %d must be >= -1", c.RetentionMs)
	check(c.DeleteRetentionMs >= 0, "delete.retention.ms %d must be >= 0", c.DeleteRetentionMs)
	check(c.MinCompactionLagMs >= 0, "min.compaction.lag.ms %d must be >= 0", c.MinCompactionLagMs)
	check(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1, "min.cleanable.dirty.ratio %v out of range [0, 1]", c.MinCleanableDirtyRatio)
	check(c.FileDeleteDelayMs >= 0, "file.delete.delay.ms %d must be >= 0", c.FileDeleteDelayMs)
	ps := c.policies()
	check(len(ps) > 0, "cleanup.policy is empty")
	for _, p := range ps {
		check(p == PolicyDelete || p == PolicyCompact, "cleanup.policy: unknown policy %q", p)
	}
	if len(errs) > 0 {
		return fmt.Errorf("partition: invalid log config: %w", errors.Join(errs...))
	}
	return nil
}
