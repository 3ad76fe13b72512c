package raftgroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/dragonboat/v4/raftio"
)

// ErrRaftLogDamaged: a replica's Raft log could not be read back intact (a
// block failed its checksum, a record or index did not decode, or the log
// lost entries its own state says were committed). Such a replica is never
// started: Raft's safety rests on a replica remembering what it logged and
// voted for, so it is replaced by a new replica (a new replica ID) that the
// others fill.
var ErrRaftLogDamaged = errors.New("raft log damaged")

// damagedLog is a replica whose Raft log failed verification and was moved
// aside before the NodeHost opened the LogDB.
type damagedLog struct {
	ShardID, ReplicaID uint64
	Err                error
	Aside              string // where its files went
}

// verifyBatch bounds the memory of one read while verifying entries.
const verifyBatch = 64 << 20

// verifyLogDB reads back every replica's Raft log under the NodeHost's tan
// directory before dragonboat opens it: the persisted state, the snapshot
// record and every retained entry, which makes tan check each block's
// checksum. dragonboat reads entries lazily and panics on a bad one, so
// without this a damaged log would crash the broker when an old entry is
// first read, or (after a crash) be silently cut short at the damage. A
// damaged replica's tan files and bootstrap record are moved to
// raft/damaged/ so that the NodeHost sees the replica as absent.
func verifyLogDB(nhc config.NodeHostConfig, raftDir string) ([]damagedLog, error) {
	// The LogDB lives in <raft>/<hostname>/<deployment>/tandb.
	dbs, err := filepath.Glob(filepath.Join(raftDir, "*", "*", "tandb"))
	if err != nil || len(dbs) != 1 {
		return nil, err // a new node, or not laid out as expected: nothing to check
	}
	if err := nhc.Prepare(); err != nil {
		return nil, err
	}
	var damaged []damagedLog
	skip := map[[2]uint64]bool{}
	nodeDirs, _ := filepath.Glob(filepath.Join(dbs[0], "node-*-*"))
	for _, nd := range nodeDirs {
		var shard, replica uint64
		if _, err := fmt.Sscanf(filepath.Base(nd), "node-%d-%d", &shard, &replica); err != nil {
			continue
		}
		if err := checkUnindexedLogs(nd); err != nil {
			damaged = append(damaged, damagedLog{ShardID: shard, ReplicaID: replica,
				Err: fmt.Errorf("%w: shard %d replica %d: %v", ErrRaftLogDamaged, shard, replica, err)})
			skip[[2]uint64{shard, replica}] = true
		}
	}
	parent := filepath.Dir(dbs[0])
	db, err := tan.Factory.Create(nhc, func(config.LogDBInfo) {}, []string{parent}, []string{parent})
	if err != nil {
		return nil, fmt.Errorf("raftgroup: opening the Raft log for verification: %w", err)
	}
	nodes, err := db.ListNodeInfo()
	if err != nil {
		closeQuietly(db)
		return nil, err
	}
	for _, n := range nodes {
		if skip[[2]uint64{n.ShardID, n.ReplicaID}] {
			continue
		}
		if err := verifyReplicaLog(db, n.ShardID, n.ReplicaID); err != nil {
			damaged = append(damaged, damagedLog{ShardID: n.ShardID, ReplicaID: n.ReplicaID, Err: err})
		}
	}
	closeQuietly(db)
	for i, d := range damaged {
		aside, err := moveReplicaLogAside(dbs[0], raftDir, d.ShardID, d.ReplicaID)
		if err != nil {
			return nil, fmt.Errorf("raftgroup: moving the damaged Raft log of shard %d aside: %w", d.ShardID, err)
		}
		damaged[i].Aside = aside
	}
	return damaged, nil
}

// verifyReplicaLog reads one replica's retained Raft log. tan reports bad
// data with errors in some places and panics in others; both mean damage.
func verifyReplicaLog(db raftio.ILogDB, shard, replica uint64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: shard %d replica %d: %v", ErrRaftLogDamaged, shard, replica, r)
		}
	}()
	damaged := func(what string, e error) error {
		return fmt.Errorf("%w: shard %d replica %d: %s: %v", ErrRaftLogDamaged, shard, replica, what, e)
	}
	ss, err := db.GetSnapshot(shard, replica)
	if err != nil {
		return damaged("reading the snapshot record", err)
	}
	rs, err := db.ReadRaftState(shard, replica, ss.Index)
	if errors.Is(err, raftio.ErrNoSavedLog) {
		return nil // bootstrapped, nothing logged yet
	}
	if err != nil {
		return damaged("reading the Raft state", err)
	}
	last := ss.Index
	if rs.EntryCount > 0 {
		last = rs.FirstIndex + rs.EntryCount - 1
	}
	if rs.State.Commit > last {
		return damaged("log shorter than its commit index", fmt.Errorf("commit %d, last entry %d", rs.State.Commit, last))
	}
	next, end := rs.FirstIndex, rs.FirstIndex+rs.EntryCount
	for next < end {
		ents, _, err := db.IterateEntries(nil, 0, shard, replica, next, end, verifyBatch)
		if err != nil {
			return damaged("reading entries", err)
		}
		if len(ents) == 0 || ents[0].Index != next {
			return damaged("reading entries", fmt.Errorf("entry %d missing", next))
		}
		next = ents[len(ents)-1].Index + 1
	}
	return nil
}

func closeQuietly(db raftio.ILogDB) {
	defer func() { _ = recover() }()
	db.Close()
}

// moveReplicaLogAside moves a replica's tan directory and bootstrap record
// to raft/damaged/, kept for inspection.
func moveReplicaLogAside(tandb, raftDir string, shard, replica uint64) (string, error) {
	aside := filepath.Join(raftDir, "damaged", fmt.Sprintf("node-%d-%d.%d", shard, replica, time.Now().UnixMilli()))
	if err := os.MkdirAll(aside, 0o755); err != nil {
		return "", err
	}
	logDir := filepath.Join(tandb, fmt.Sprintf("node-%d-%d", shard, replica))
	if err := os.Rename(logDir, filepath.Join(aside, "log")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	bs := filepath.Join(tandb, "bootstrap", fmt.Sprintf("BOOTSTRAP-%d-%d", shard, replica))
	if err := os.Rename(bs, filepath.Join(aside, "BOOTSTRAP")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	return aside, nil
}

// tan's record format (LevelDB's log): 32 KiB blocks of chunks, each with a
// checksum, a length and a type; recyclable chunk types carry a log number.
const (
	tanBlockSize        = 32 << 10
	tanHeaderSize       = 7
	tanRecyclableHeader = 11
)

// checkUnindexedLogs finds damage in a replica's log files that have no
// index, which tan rebuilds at open by reading records until the first bad
// chunk and dropping the rest: right for a write torn by a crash, but it
// silently cuts a log damaged in the middle, and the replica then lacks
// entries it acknowledged (dragonboat panics when the leader says they are
// committed). A torn tail has nothing valid after the bad chunk; valid
// chunks in a later block mean the damage is in the middle.
func checkUnindexedLogs(nodeDir string) error {
	logs, _ := filepath.Glob(filepath.Join(nodeDir, "*.log"))
	for _, l := range logs {
		if _, err := os.Stat(strings.TrimSuffix(l, ".log") + ".index"); err == nil {
			continue
		}
		data, err := os.ReadFile(l)
		if err != nil {
			return err
		}
		if at, ok := damagedMidLog(data); ok {
			return fmt.Errorf("%s: bad chunk at byte %d followed by valid data", filepath.Base(l), at)
		}
	}
	return nil
}

// damagedMidLog walks the chunks of a tan log file as tan's reader does and
// reports where reading stops if a valid chunk follows: later in the same
// block (found by trying every offset; a chunk needs a known type, a length
// that fits and a matching checksum, so garbage passes by chance about once
// in 2^34 offsets) or at the start of a later block. A torn tail has only
// zeros, or nothing, after it.
func damagedMidLog(data []byte) (int, bool) {
	pos := 0
	for pos+tanHeaderSize <= len(data) {
		blockEnd := min((pos/tanBlockSize+1)*tanBlockSize, len(data))
		if blockEnd-pos < tanHeaderSize {
			pos = blockEnd // block trailer padding
			continue
		}
		end, ok := tanChunkAt(data, pos, blockEnd)
		if !ok {
			break
		}
		pos = end
	}
	stop := pos
	blockEnd := min((stop/tanBlockSize+1)*tanBlockSize, len(data))
	for at := stop + 1; at+tanHeaderSize <= blockEnd; at++ {
		if _, ok := tanChunkAt(data, at, blockEnd); ok {
			return stop, true
		}
	}
	for b := stop/tanBlockSize + 1; b*tanBlockSize+tanHeaderSize <= len(data); b++ {
		start := b * tanBlockSize
		if _, ok := tanChunkAt(data, start, min(start+tanBlockSize, len(data))); ok {
			return stop, true
		}
	}
	return stop, false
}

// tanChunkAt checks the chunk at pos (within its block, ending at
// blockEnd) and returns where it ends.
func tanChunkAt(data []byte, pos, blockEnd int) (int, bool) {
	checksum := binary.LittleEndian.Uint32(data[pos:])
	length := int(binary.LittleEndian.Uint16(data[pos+4:]))
	typ := data[pos+6]
	if checksum == 0 && length == 0 && typ == 0 {
		return 0, false // zeroed: preallocated space
	}
	header := tanHeaderSize
	if typ >= 5 && typ <= 8 {
		header = tanRecyclableHeader
	}
	end := pos + header + length
	if typ == 0 || typ > 8 || end > blockEnd {
		return 0, false
	}
	if uint32(xxhash.Sum64(data[pos+6:end])) != checksum {
		return 0, false
	}
	return end, true
}
