package coordinator

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one record for this coordinator's __consumer_offsets partition.
// A nil Value is a tombstone: compaction removes the key.
type Record struct {
	Key   []byte
	Value []byte
}

// The versions Kafka 3.x writes (GroupCoordinatorRecordHelpers /
// GroupMetadataManager), so that Kafka tools reading our topic, and a Kafka
// broker replaying it, see exactly what they would have written.
const (
	offsetCommitKeyVersion  = 1 // 0 has the same layout; 1 is what Kafka writes
	groupMetadataKeyVersion = 2
	// Offsets are written as v3 (KIP-320 leader epoch), except that a commit
	// with an explicit expire timestamp (OffsetCommit v1 timestamps, v2–v4
	// retention time) needs v1, the only version carrying ExpireTimestamp.
	offsetCommitValueVersion       = 3
	offsetCommitValueVersionExpire = 1
	// v3 adds group.instance.id (KIP-345). v4 is only the flexible form of
	// v3, which Kafka does not write while downgrades must stay possible.
	groupMetadataValueVersion = 3
)

// topicPartition identifies one committed offset of a group.
type topicPartition struct {
	topic     string
	partition int32
}

// offsetEntry is one committed offset (Kafka's OffsetAndMetadata).
type offsetEntry struct {
	offset          int64
	leaderEpoch     int32 // -1: unknown
	metadata        string
	commitTimestamp int64 // ms
	expireTimestamp int64 // ms; -1 unless written by an old client (value v1)
}

type keyKind int8

const (
	keyUnknown keyKind = iota // newer record types (KIP-848 consumer groups, share groups): ignored
	keyOffset
	keyGroup
)

func encodeOffsetKey(group string, tp topicPartition) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = offsetCommitKeyVersion
	k.Group = group
	k.Topic = tp.topic
	k.Partition = tp.partition
	return k.AppendTo(nil)
}

func encodeOffsetValue(e offsetEntry) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetCommitValueVersion
	if e.expireTimestamp >= 0 {
		v.Version = offsetCommitValueVersionExpire
		v.ExpireTimestamp = e.expireTimestamp
	}
	v.Offset = e.offset
	v.LeaderEpoch = e.leaderEpoch
	v.Metadata = e.metadata
	v.CommitTimestamp = e.commitTimestamp
	return v.AppendTo(nil)
}

func encodeGroupKey(group string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version = groupMetadataKeyVersion
	k.Group = group
	return k.AppendTo(nil)
}

func encodeGroupValue(v *kmsg.GroupMetadataValue) []byte {
	v.Version = groupMetadataValueVersion
	return v.AppendTo(nil)
}

func offsetRecord(group string, tp topicPartition, e offsetEntry) Record {
	return Record{Key: encodeOffsetKey(group, tp), Value: encodeOffsetValue(e)}
}

func offsetTombstone(group string, tp topicPartition) Record {
	return Record{Key: encodeOffsetKey(group, tp)}
}

func groupTombstone(group string) Record {
	return Record{Key: encodeGroupKey(group)}
}

// decodedKey is a parsed __consumer_offsets key.
type decodedKey struct {
	kind  keyKind
	group string
	tp    topicPartition
}

// decodeKey parses a key the way Kafka's GroupMetadataManager.readMessageKey
// does: the leading int16 version selects the schema.
func decodeKey(key []byte) (decodedKey, error) {
	if len(key) < 2 {
		return decodedKey{}, errors.New("coordinator: __consumer_offsets key shorter than its version")
	}
	version := int16(uint16(key[0])<<8 | uint16(key[1]))
	switch {
	case version < 0:
		return decodedKey{}, fmt.Errorf("coordinator: negative __consumer_offsets key version %d", version)
	case version <= 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return decodedKey{}, fmt.Errorf("coordinator: offset commit key: %w", err)
		}
		return decodedKey{kind: keyOffset, group: k.Group, tp: topicPartition{k.Topic, k.Partition}}, nil
	case version == 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return decodedKey{}, fmt.Errorf("coordinator: group metadata key: %w", err)
		}
		return decodedKey{kind: keyGroup, group: k.Group}, nil
	default:
		return decodedKey{kind: keyUnknown}, nil
	}
}

func decodeOffsetValue(value []byte) (offsetEntry, error) {
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return offsetEntry{}, fmt.Errorf("coordinator: offset commit value: %w", err)
	}
	e := offsetEntry{
		offset:          v.Offset,
		leaderEpoch:     -1,
		metadata:        v.Metadata,
		commitTimestamp: v.CommitTimestamp,
		expireTimestamp: -1,
	}
	if v.Version >= 3 {
		e.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		e.expireTimestamp = v.ExpireTimestamp
	}
	return e, nil
}

func decodeGroupValue(value []byte) (*kmsg.GroupMetadataValue, error) {
	v := new(kmsg.GroupMetadataValue)
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("coordinator: group metadata value: %w", err)
	}
	return v, nil
}
