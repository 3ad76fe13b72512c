package raftgroup

import (
	"encoding/binary"
	"sync"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// The leader-local-append hook behind acks=1: dragonboat has no "appended on
// the leader" signal, so the LogDB is wrapped and, after SaveRaftState has
// durably written a batch of entries, every entry carrying a request ID that
// someone waits for is announced. Proposals that want the signal start with
// PersistMarker followed by an 8-byte request ID.

// PersistMarker is the first byte of commands whose persistence is announced.
const PersistMarker byte = 1

type persistKey struct {
	shard uint64
	req   uint64
}

type persistRegistry struct {
	mu      sync.Mutex
	waiters map[persistKey]func()
}

func (r *persistRegistry) add(shard, req uint64, fn func()) {
	r.mu.Lock()
	r.waiters[persistKey{shard, req}] = fn
	r.mu.Unlock()
}

func (r *persistRegistry) remove(shard, req uint64) {
	r.mu.Lock()
	delete(r.waiters, persistKey{shard, req})
	r.mu.Unlock()
}

func (r *persistRegistry) saved(updates []pb.Update) {
	r.mu.Lock()
	if len(r.waiters) == 0 {
		r.mu.Unlock()
		return
	}
	var fire []func()
	for _, u := range updates {
		for _, e := range u.EntriesToSave {
			cmd := payload(e)
			if len(cmd) < 9 || cmd[0] != PersistMarker {
				continue
			}
			k := persistKey{u.ShardID, binary.BigEndian.Uint64(cmd[1:])}
			if fn, ok := r.waiters[k]; ok {
				delete(r.waiters, k)
				fire = append(fire, fn)
			}
		}
	}
	r.mu.Unlock()
	for _, fn := range fire {
		fn()
	}
}

// notifyingLogDB announces persisted entries after the wrapped LogDB saved them.
type notifyingLogDB struct {
	raftio.ILogDB
	reg *persistRegistry
}

func (l notifyingLogDB) SaveRaftState(updates []pb.Update, shardID uint64) error {
	if err := l.ILogDB.SaveRaftState(updates, shardID); err != nil {
		return err
	}
	l.reg.saved(updates)
	return nil
}

type notifyingFactory struct {
	inner config.LogDBFactory
	reg   *persistRegistry
}

func (f notifyingFactory) Create(cfg config.NodeHostConfig, cb config.LogDBCallback, dirs, wals []string) (raftio.ILogDB, error) {
	db, err := f.inner.Create(cfg, cb, dirs, wals)
	if err != nil {
		return nil, err
	}
	return notifyingLogDB{ILogDB: db, reg: f.reg}, nil
}

func (f notifyingFactory) Name() string { return f.inner.Name() }

// OnPersisted calls fn once this node's Raft log has durably stored the
// entry of shardID whose command carries request ID req. Register before
// proposing; CancelPersisted drops a registration that will not fire.
func (h *Host) OnPersisted(shardID, req uint64, fn func()) { h.persist.add(shardID, req, fn) }

// CancelPersisted drops a registration made with OnPersisted.
func (h *Host) CancelPersisted(shardID, req uint64) { h.persist.remove(shardID, req) }

// payload is the proposed command inside an entry. dragonboat v4 stores
// proposals as encoded entries: a one-byte header (version, compression,
// session flag), then the command; we never enable entry compression.
func payload(e pb.Entry) []byte {
	switch e.Type {
	case pb.ApplicationEntry:
		return e.Cmd
	case pb.EncodedEntry:
		if len(e.Cmd) > 0 && e.Cmd[0] == 0 { // v0, uncompressed, no session
			return e.Cmd[1:]
		}
	}
	return nil
}
