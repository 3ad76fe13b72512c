package partition

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/batch"
)

// Commands proposed to a partition's Raft group. The first byte is the type.
const (
	cmdAppend byte = 1
)

// appendHeaderSize is the fixed prefix of an append command.
const appendHeaderSize = 1 + 8 + 4 + 8 + 1 + 4

// AppendFlagLogAppendTime asks the state machine to stamp batches with
// LogAppendTime (message.timestamp.type=LogAppendTime).
const AppendFlagLogAppendTime byte = 1

// AppendCommand is a proposal that appends record batches. Everything the
// state machine needs to decide deterministically (time, leader epoch) travels
// in it, because every replica applies it independently.
type AppendCommand struct {
	RequestID   uint64 // identifies the proposal for the leader-local append hook
	LeaderEpoch int32  // the Raft term the proposer saw; stamped into batches
	TimestampMs int64  // proposer's clock: LogAppendTime and producer expiry
	Flags       byte
	Batches     [][]byte // each one complete, validated v2 batch
}

// Encode serialises the command.
func (c *AppendCommand) Encode() []byte {
	n := appendHeaderSize
	for _, b := range c.Batches {
		n += len(b)
	}
	out := make([]byte, appendHeaderSize, n)
	out[0] = cmdAppend
	binary.BigEndian.PutUint64(out[1:], c.RequestID)
	binary.BigEndian.PutUint32(out[9:], uint32(c.LeaderEpoch))
	binary.BigEndian.PutUint64(out[13:], uint64(c.TimestampMs))
	out[21] = c.Flags
	binary.BigEndian.PutUint32(out[22:], uint32(len(c.Batches)))
	for _, b := range c.Batches {
		out = append(out, b...)
	}
	return out
}

// DecodeAppendCommand parses an append command. The batches alias cmd.
func DecodeAppendCommand(cmd []byte) (AppendCommand, error) {
	var c AppendCommand
	if len(cmd) < appendHeaderSize || cmd[0] != cmdAppend {
		return c, errors.New("partition: malformed append command")
	}
	c.RequestID = binary.BigEndian.Uint64(cmd[1:])
	c.LeaderEpoch = int32(binary.BigEndian.Uint32(cmd[9:]))
	c.TimestampMs = int64(binary.BigEndian.Uint64(cmd[13:]))
	c.Flags = cmd[21]
	n := int(binary.BigEndian.Uint32(cmd[22:]))
	rest := cmd[appendHeaderSize:]
	for i := 0; i < n; i++ {
		b, r, _, err := batch.Next(rest)
		if err != nil {
			return c, fmt.Errorf("partition: append command batch %d: %w", i, err)
		}
		c.Batches = append(c.Batches, b)
		rest = r
	}
	if len(rest) != 0 {
		return c, errors.New("partition: trailing bytes in append command")
	}
	return c, nil
}

// BatchResult is the outcome of one batch of an append command.
type BatchResult struct {
	ErrorCode     int16
	BaseOffset    int64
	LogAppendTime int64 // -1 unless LogAppendTime
}

const batchResultSize = 2 + 8 + 8

func encodeResults(rs []BatchResult) []byte {
	out := make([]byte, len(rs)*batchResultSize)
	for i, r := range rs {
		p := out[i*batchResultSize:]
		binary.BigEndian.PutUint16(p, uint16(r.ErrorCode))
		binary.BigEndian.PutUint64(p[2:], uint64(r.BaseOffset))
		binary.BigEndian.PutUint64(p[10:], uint64(r.LogAppendTime))
	}
	return out
}

// DecodeResults parses the per-batch results of an applied append command.
func DecodeResults(data []byte) ([]BatchResult, error) {
	if len(data)%batchResultSize != 0 {
		return nil, errors.New("partition: malformed append result")
	}
	rs := make([]BatchResult, len(data)/batchResultSize)
	for i := range rs {
		p := data[i*batchResultSize:]
		rs[i] = BatchResult{
			ErrorCode:     int16(binary.BigEndian.Uint16(p)),
			BaseOffset:    int64(binary.BigEndian.Uint64(p[2:])),
			LogAppendTime: int64(binary.BigEndian.Uint64(p[10:])),
		}
	}
	return rs, nil
}

// checkpointFile records, atomically, the applied Raft index and the log end
// offset, producer state and leader epoch cache at that index. Sync writes it
// after fsyncing the segments; Open truncates the log back to it, so no
// applied entry survives a crash without the entries before it (dragonboat's
// on-disk contract), and the entries after it are re-applied from the Raft
// log.
const checkpointFile = "raft-applied.checkpoint"

// raftCheckpointVersion 1 added the epoch cache; Open rebuilds the cache
// from the log for older checkpoints.
const raftCheckpointVersion = 1

type raftCheckpoint struct {
	Version    int                      `json:"version,omitempty"`
	Applied    uint64                   `json:"applied"`
	NextOffset int64                    `json:"next_offset"`
	Producers  map[int64]*producerEntry `json:"producers"`
	Epochs     []epochEntry             `json:"epochs"`
	Aborted    []AbortedTxn             `json:"aborted,omitempty"`
}

// StateMachine is a partition's dragonboat IOnDiskStateMachine: the Kafka
// segment log plus idempotent producer state. Offsets are assigned here, when
// entries apply, so every replica assigns the same ones.
type StateMachine struct {
	dir     string
	onApply func(nextOffset int64)

	cfgMu sync.Mutex
	cfg   Config
	// ProducerIDExpirationMs is producer.id.expiration.ms.
	producerExpirationMs atomic.Int64

	log       atomic.Pointer[Log]
	producers *producerState
	// aborted lists the aborted transactions still in the log, in marker
	// order: read_committed fetches return the ones they overlap.
	aborted []AbortedTxn
	prodMu  sync.Mutex // guards producers and aborted against concurrent readers
	// epochs is the leader epoch cache: ascending epochs with the first
	// offset appended in each. epochMu guards it against concurrent
	// readers (EndOffsetForEpoch).
	epochs   []epochEntry
	epochMu  sync.RWMutex
	applied  uint64
	buf      []byte
	closeErr atomic.Pointer[error]
}

// NewStateMachine returns a state machine for the partition stored in dir.
// onApply, if set, is called after every applied batch of entries with the new
// log end offset (the high watermark, since only committed entries apply).
func NewStateMachine(dir string, cfg Config, onApply func(nextOffset int64)) *StateMachine {
	s := &StateMachine{dir: dir, cfg: cfg, onApply: onApply, producers: newProducerState()}
	s.producerExpirationMs.Store(DefaultProducerIDExpirationMs)
	return s
}

var _ sm.IOnDiskStateMachine = (*StateMachine)(nil)

// Log returns the partition log, or nil before Open has completed.
func (s *StateMachine) Log() *Log { return s.log.Load() }

// SetConfig changes the log's configuration (topic config change).
func (s *StateMachine) SetConfig(cfg Config) {
	s.cfgMu.Lock()
	s.cfg = cfg
	s.cfgMu.Unlock()
	if l := s.log.Load(); l != nil {
		l.SetConfig(cfg)
	}
}

// SetProducerIDExpiration sets producer.id.expiration.ms.
func (s *StateMachine) SetProducerIDExpiration(ms int64) { s.producerExpirationMs.Store(ms) }

// LeaderView returns the log end offset and a copy of the producer state,
// taken together. A new leader seeds its Decider with it once everything
// before its term has applied, and from then decides batches exactly as this
// state machine will apply them.
func (s *StateMachine) LeaderView() *Decider {
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	next := int64(0)
	if l := s.log.Load(); l != nil {
		next = l.NextOffset()
	}
	ps := newProducerState()
	ps.load(s.producers.clone())
	return &Decider{next: next, ps: ps, expirationMs: s.producerExpirationMs.Load()}
}

// AbortedTxn is an aborted transaction: producer, its first offset in this
// partition and the offset of its abort marker.
type AbortedTxn struct {
	ProducerID  int64 `json:"p"`
	FirstOffset int64 `json:"f"`
	LastOffset  int64 `json:"l"`
}

// trimAborted forgets aborted transactions whose markers retention removed.
// Called with prodMu held.
func (s *StateMachine) trimAborted(logStart int64) {
	i := 0
	for i < len(s.aborted) && s.aborted[i].LastOffset < logStart {
		i++
	}
	if i > 0 {
		s.aborted = slices.Clone(s.aborted[i:])
	}
}

// LastStableOffset is the first offset of the earliest open transaction, or
// the log end when none is open: read_committed consumers read below it.
func (s *StateMachine) LastStableOffset() int64 {
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	if first, ok := s.producers.firstUnstable(); ok {
		return first
	}
	if l := s.log.Load(); l != nil {
		return l.NextOffset()
	}
	return 0
}

// AbortedTxns returns the aborted transactions that overlap [from, to): a
// read_committed consumer drops their records from what it fetched.
func (s *StateMachine) AbortedTxns(from, to int64) []AbortedTxn {
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	var out []AbortedTxn
	for _, a := range s.aborted {
		if a.LastOffset >= from && a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// Producers lists the idempotent producers known to this partition.
func (s *StateMachine) Producers() []ProducerInfo {
	s.prodMu.Lock()
	defer s.prodMu.Unlock()
	return s.producers.list()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader epoch
// cache, as Kafka's LeaderEpochFileCache.endOffsetFor does: the largest
// epoch <= epoch and the start offset of the next larger epoch, or the log
// end offset if that is the latest epoch. An epoch below every known one
// answers (epoch, start offset of the first known epoch); an undefined (-1)
// or unknown larger epoch, or an empty cache, answers (-1, -1). Epochs that
// began below the log start offset count as starting at it.
func (s *StateMachine) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	l := s.log.Load()
	if l == nil {
		return undefinedEpoch, undefinedEpoch
	}
	// The log end first: Update records an epoch before appending its
	// batches, so the end read here never includes batches of an epoch
	// the cache below does not know yet.
	end := l.NextOffset()
	start := l.StartOffset()
	s.epochMu.RLock()
	defer s.epochMu.RUnlock()
	return endOffsetFor(s.epochs, epoch, start, end)
}

// LatestEpoch returns the leader epoch of the last epoch cache entry (the
// epoch of the latest appended batches), or -1 if the cache is empty.
func (s *StateMachine) LatestEpoch() int32 {
	s.epochMu.RLock()
	defer s.epochMu.RUnlock()
	return latestEpoch(s.epochs)
}

func (s *StateMachine) setEpochs(es []epochEntry) {
	s.epochMu.Lock()
	s.epochs = es
	s.epochMu.Unlock()
}

func (s *StateMachine) cloneEpochs() []epochEntry {
	s.epochMu.RLock()
	defer s.epochMu.RUnlock()
	return slices.Clone(s.epochs)
}

// Open opens the log and returns the Raft index it durably reflects.
func (s *StateMachine) Open(stopc <-chan struct{}) (uint64, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return 0, err
	}
	// A snapshot whose download a crash interrupted is useless.
	if err := removeIfExists(filepath.Join(s.dir, snapshotStagingFile)); err != nil {
		return 0, err
	}
	s.cfgMu.Lock()
	cfg := s.cfg
	s.cfgMu.Unlock()
	l, err := Open(s.dir, cfg, 0)
	if err != nil {
		return 0, err
	}
	_, err = os.Stat(filepath.Join(s.dir, snapshotPendingFile))
	switch {
	case err == nil:
		// A crash interrupted RecoverFromSnapshot after the snapshot was
		// verified and committed: finish installing it.
		err = s.installPending(l)
	case errors.Is(err, os.ErrNotExist):
		err = s.openCheckpoint(l)
	}
	if err != nil {
		l.Close()
		return 0, err
	}
	s.log.Store(l)
	if s.onApply != nil {
		s.onApply(l.NextOffset())
	}
	return s.applied, nil
}

// openCheckpoint brings the log and the in-memory state back to the Raft
// checkpoint.
func (s *StateMachine) openCheckpoint(l *Log) error {
	cp, err := readRaftCheckpoint(filepath.Join(s.dir, checkpointFile))
	if err != nil {
		return err
	}
	switch {
	case l.NextOffset() > cp.NextOffset:
		// Applied after the last checkpoint: Raft re-applies those entries.
		if err := l.TruncateTo(cp.NextOffset); err != nil {
			return err
		}
	case l.NextOffset() < cp.NextOffset:
		return fmt.Errorf("partition %s: log ends at offset %d but offsets up to %d were checkpointed as durable (applied index %d)",
			s.dir, l.NextOffset(), cp.NextOffset, cp.Applied)
	}
	epochs := cp.Epochs
	if cp.Version < 1 {
		if epochs, err = scanEpochs(l); err != nil {
			return fmt.Errorf("partition %s: rebuilding the leader epoch cache: %w", s.dir, err)
		}
	}
	// Epochs that began in the truncated part are gone with it.
	s.setEpochs(truncateEpochsFromEnd(epochs, l.NextOffset()))
	if cp.Producers != nil {
		s.prodMu.Lock()
		s.producers.load(cp.Producers)
		s.aborted = cp.Aborted
		s.prodMu.Unlock()
	}
	s.applied = cp.Applied
	return nil
}

func readRaftCheckpoint(path string) (raftCheckpoint, error) {
	var cp raftCheckpoint
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return raftCheckpoint{Version: raftCheckpointVersion}, nil
	}
	if err != nil {
		return cp, err
	}
	if err := json.Unmarshal(data, &cp); err != nil {
		return cp, fmt.Errorf("partition: corrupt checkpoint %s: %w", path, err)
	}
	return cp, nil
}

// Update applies committed entries: it assigns offsets and appends.
func (s *StateMachine) Update(entries []sm.Entry) ([]sm.Entry, error) {
	l := s.log.Load()
	next := l.NextOffset()
	buf := s.buf[:0]
	var nowMs int64
	s.prodMu.Lock()
	for i := range entries {
		e := &entries[i]
		cmd, err := DecodeAppendCommand(e.Cmd)
		if err != nil {
			// A malformed entry cannot come from our proposers; record the
			// error for the proposer rather than halting the partition.
			e.Result = sm.Result{Value: 0}
			continue
		}
		nowMs = cmd.TimestampMs
		results := make([]BatchResult, len(cmd.Batches))
		for j, b := range cmd.Batches {
			r := &results[j]
			r.LogAppendTime = -1
			h, err := batch.CheckCRC(b)
			if err != nil {
				r.ErrorCode = kerr.CorruptMessage.Code
				continue
			}
			dec := s.producers.decide(&h, next, cmd.TimestampMs)
			if dec.code != 0 {
				r.ErrorCode = dec.code
				continue
			}
			if !dec.appended {
				r.BaseOffset = dec.offset // a retry of a batch already written
				continue
			}
			if dec.txnEnded {
				if typ, ok := batch.ControlType(b); ok && typ == batch.ControlAbort {
					s.aborted = append(s.aborted, AbortedTxn{ProducerID: h.ProducerID, FirstOffset: dec.txnFirst, LastOffset: next})
				}
			}
			start := len(buf)
			buf = append(buf, b...)
			nb := buf[start:]
			batch.SetBaseOffset(nb, next)
			batch.SetPartitionLeaderEpoch(nb, cmd.LeaderEpoch)
			if cmd.Flags&AppendFlagLogAppendTime != 0 {
				batch.SetLogAppendTime(nb, cmd.TimestampMs)
				r.LogAppendTime = cmd.TimestampMs
			}
			r.BaseOffset = next
			if cmd.LeaderEpoch > latestEpoch(s.epochs) {
				// Published before the append: see EndOffsetForEpoch.
				s.epochMu.Lock()
				s.epochs = append(s.epochs, epochEntry{Epoch: cmd.LeaderEpoch, StartOffset: next})
				s.epochMu.Unlock()
			}
			next += int64(h.LastOffsetDelta) + 1
		}
		// Expiry runs per entry, with the entry's own time, so replicas
		// that batch entries into Update calls differently still agree.
		s.producers.expire(cmd.TimestampMs, s.producerExpirationMs.Load())
		e.Result = sm.Result{Value: uint64(len(results)), Data: encodeResults(results)}
	}
	if len(buf) > 0 {
		if err := l.Append(buf, nowMs); err != nil {
			s.prodMu.Unlock()
			// The log is unusable; dragonboat stops the replica on error,
			// which is better than acknowledging writes we did not store.
			return nil, fmt.Errorf("partition %s: append: %w", s.dir, err)
		}
	}
	// Held across the append so LeaderView sees offsets and producer state
	// of the same moment.
	s.prodMu.Unlock()
	if cap(buf) <= 4<<20 {
		s.buf = buf[:0]
	} else {
		s.buf = nil
	}
	s.applied = entries[len(entries)-1].Index
	if s.onApply != nil {
		s.onApply(next)
	}
	return entries, nil
}

// Lookup is unused: reads go to the log directly.
func (s *StateMachine) Lookup(q interface{}) (interface{}, error) { return nil, nil }

// Sync fsyncs the log, then checkpoints the applied index.
func (s *StateMachine) Sync() error {
	l := s.log.Load()
	if l == nil {
		return nil
	}
	return s.checkpoint(l)
}

func (s *StateMachine) checkpoint(l *Log) error {
	if err := l.Sync(); err != nil {
		return err
	}
	s.prodMu.Lock()
	s.trimAborted(l.StartOffset())
	cp := raftCheckpoint{Version: raftCheckpointVersion, Applied: s.applied, NextOffset: l.NextOffset(), Producers: s.producers.clone(),
		Aborted: slices.Clone(s.aborted)}
	s.prodMu.Unlock()
	cp.Epochs = s.cloneEpochs()
	data, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return WriteFileAtomic(s.dir, checkpointFile, data)
}

// PrepareSnapshot captures the state a snapshot describes: the applied
// index, the log's range and segments, and copies of the producer state and
// epoch cache, which Update goes on changing while SaveSnapshot runs.
func (s *StateMachine) PrepareSnapshot() (interface{}, error) {
	l := s.log.Load()
	if l == nil {
		return nil, errors.New("partition: snapshot of a state machine that is not open")
	}
	st := &snapshotState{}
	st.meta.StartOffset, st.meta.EndOffset, st.bases, st.rewrites = l.snapshotView()
	st.meta.Applied = s.applied
	s.prodMu.Lock()
	st.meta.Producers = s.producers.clone()
	st.meta.Aborted = slices.Clone(s.aborted)
	s.prodMu.Unlock()
	st.meta.Epochs = s.cloneEpochs()
	return st, nil
}

// SaveSnapshot streams the state PrepareSnapshot captured to w, for a
// replica that fell behind the compacted Raft log (see snapshot.go). It
// runs concurrently with Update and only reads. If retention or compaction
// changes the part of the log it still has to read, it fails with
// sm.ErrSnapshotAborted and dragonboat tries again later, so the same
// state always produces the same bytes.
func (s *StateMachine) SaveSnapshot(ctx interface{}, w io.Writer, done <-chan struct{}) error {
	st, ok := ctx.(*snapshotState)
	if !ok {
		return fmt.Errorf("partition: snapshot state of type %T", ctx)
	}
	l := s.log.Load()
	if l == nil {
		return sm.ErrSnapshotStopped
	}
	return writeSnapshot(l, st, w, done)
}

// RecoverFromSnapshot replaces the whole state with a snapshot streamed
// from another replica. The stream is first staged to a file and verified
// (checksum, batch CRCs, offsets), so a truncated or corrupt stream is
// refused with ErrCorruptSnapshot and leaves the current state untouched;
// only then is it committed (renamed), and the log is reset and rebuilt
// from the file, and the producer state, epoch cache and applied index are
// replaced and checkpointed. A crash after the commit makes Open finish the
// install. done is honoured while the stream is read; the install itself is
// local disk work and is not interrupted, since stopping half-way would
// leave the in-memory state inconsistent with the log until the next Open.
func (s *StateMachine) RecoverFromSnapshot(r io.Reader, done <-chan struct{}) error {
	l := s.log.Load()
	if l == nil {
		return errors.New("partition: snapshot recovery into a state machine that is not open")
	}
	if err := stageSnapshot(s.dir, r, done); err != nil {
		return err
	}
	if err := s.installPending(l); err != nil {
		return err
	}
	if s.onApply != nil {
		s.onApply(l.NextOffset())
	}
	return nil
}

// installPending installs the committed snapshot file into l and the
// in-memory state, checkpoints the result and removes the file.
func (s *StateMachine) installPending(l *Log) error {
	meta, err := installSnapshot(s.dir, l)
	if err != nil {
		return err
	}
	s.prodMu.Lock()
	s.producers.load(meta.Producers)
	s.aborted = meta.Aborted
	s.prodMu.Unlock()
	s.setEpochs(meta.Epochs)
	s.applied = meta.Applied
	if err := s.checkpoint(l); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.dir, snapshotPendingFile)); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// Close syncs and closes the log. Failures are reported through CloseErr
// rather than returned: dragonboat panics on a Close error, and a failed
// final sync loses nothing — the checkpoint stays at the last good Sync and
// the entries after it are re-applied from the Raft log on the next Open.
func (s *StateMachine) Close() error {
	l := s.log.Load()
	if l == nil {
		return nil
	}
	err := s.Sync()
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	s.closeErr.Store(&err)
	return nil
}

// CloseErr returns the error of the last Close, if any.
func (s *StateMachine) CloseErr() error {
	if p := s.closeErr.Load(); p != nil {
		return *p
	}
	return nil
}

// ErrDamaged: a replica's log lost records that Raft had applied (a corrupt
// or truncated segment, an unreadable checkpoint). Serving it would hand out
// a log with a hole; the replica must be rebuilt from the other replicas.
var ErrDamaged = errors.New("partition: replica log damaged")

// HasApplied reports whether the partition in dir has applied anything: a
// Raft checkpoint past index 0, or a segment holding records (the
// checkpoint is only written at snapshots).
func HasApplied(dir string) bool {
	if cp, err := readRaftCheckpoint(filepath.Join(dir, checkpointFile)); err != nil || cp.Applied > 0 {
		return true
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+logSuffix))
	for _, s := range segs {
		if st, err := os.Stat(s); err == nil && st.Size() > 0 {
			return true
		}
	}
	return false
}

// VerifyReplica opens the log in dir, running crash recovery, and checks it
// still holds everything the Raft checkpoint records as applied. A directory
// without a checkpoint has nothing to verify.
func VerifyReplica(dir string, cfg Config) error {
	cpPath := filepath.Join(dir, checkpointFile)
	if _, err := os.Stat(cpPath); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	cp, err := readRaftCheckpoint(cpPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	l, err := Open(dir, cfg, 0)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	defer l.Close()
	if l.NextOffset() < cp.NextOffset {
		return fmt.Errorf("%w: %s ends at offset %d after recovery, but offsets up to %d were applied (Raft index %d)",
			ErrDamaged, dir, l.NextOffset(), cp.NextOffset, cp.Applied)
	}
	return nil
}

// Compact runs the log cleaner (Log.CompactTxns) with the partition's
// transactions as of now. Taken under prodMu, which applies hold while they
// append and update producer state, the view is consistent with the log:
// a transaction that begins later begins beyond the log end seen here, so
// the cleaner stops there too.
func (s *StateMachine) Compact(nowMs int64) (CompactStats, error) {
	l := s.log.Load()
	if l == nil {
		return CompactStats{}, nil
	}
	s.prodMu.Lock()
	txns := Txns{FirstUnstable: l.NextOffset(), Aborted: slices.Clone(s.aborted)}
	if first, ok := s.producers.firstUnstable(); ok {
		txns.FirstUnstable = first
	}
	s.prodMu.Unlock()
	return l.CompactTxns(nowMs, txns)
}
