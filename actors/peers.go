package actors

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/raftgroup"
)

// peerWatch keeps one idle Kafka connection to every other broker and
// marks a broker down the moment that connection is reset or a new one is
// refused. When a broker process dies its kernel closes its sockets at
// once, hundreds of milliseconds before a Raft election timeout or a
// missed report says so; knowing it then lets Metadata hold back its answer
// until the new leaders are elected instead of naming the dead one (a
// client then waits out its metadata min age, 5 s in franz-go, before it
// asks again). A broker that stops answering without closing its sockets
// (a dead machine, a network partition) is not marked down here: that is
// left to Raft and broker.session.timeout.ms, as before.
type peerWatch struct {
	b    *Broker
	mu   sync.Mutex
	down map[int32]bool
	// answered: brokers that have answered a ping since watched (see watch).
	answered map[int32]bool
	// watchers by broker ID: the address watched and how to stop it.
	watchers map[int32]peerWatcher
	wg       sync.WaitGroup
}

type peerWatcher struct {
	addr string
	stop context.CancelFunc
}

const (
	peerPingInterval = 3 * time.Second
	// Redials back off from peerRedial to peerRedialMax while the peer is
	// away: "up again" need not be prompt, and a dead peer should not cost
	// ten connection attempts a second.
	peerRedial    = 100 * time.Millisecond
	peerRedialMax = 2 * time.Second
)

func newPeerWatch(b *Broker) *peerWatch {
	return &peerWatch{b: b, down: make(map[int32]bool), answered: make(map[int32]bool), watchers: make(map[int32]peerWatcher)}
}

// isDown reports whether node's broker was last seen closing or refusing
// connections.
func (w *peerWatch) isDown(node int32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.down[node]
}

// up counts the watched brokers that have answered and are not down.
func (w *peerWatch) up() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for id := range w.watchers {
		if w.answered[id] && !w.down[id] {
			n++
		}
	}
	return n
}

func (w *peerWatch) hasAnswered(node int32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.answered[node]
}

func (w *peerWatch) setDown(node int32, down bool) {
	w.mu.Lock()
	changed := w.down[node] != down
	if down {
		w.down[node] = true
	} else {
		delete(w.down, node)
	}
	w.mu.Unlock()
	switch {
	case changed && down:
		w.b.log.Warn("peer broker's process is gone (its connection closed)", "node", node)
	case changed:
		w.b.log.Info("peer broker is back", "node", node)
	}
}

// sync starts watching brokers new to the metadata (or at a new address)
// and stops watching removed ones.
func (w *peerWatch) sync(ctx context.Context) {
	md := w.b.Metadata()
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, pw := range w.watchers {
		br, ok := md.Brokers[id]
		if !ok || net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))) != pw.addr {
			pw.stop()
			delete(w.watchers, id)
			delete(w.down, id)
			delete(w.answered, id)
		}
	}
	for id, br := range md.Brokers {
		if id == w.b.opts.NodeID {
			continue
		}
		if _, ok := w.watchers[id]; ok {
			continue
		}
		addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
		wctx, cancel := context.WithCancel(ctx)
		w.watchers[id] = peerWatcher{addr: addr, stop: cancel}
		w.wg.Add(1)
		go w.watch(wctx, id, addr)
	}
}

// close stops every watcher and waits for them.
func (w *peerWatch) close() {
	w.mu.Lock()
	for _, pw := range w.watchers {
		pw.stop()
	}
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *peerWatch) watch(ctx context.Context, node int32, addr string) {
	defer w.wg.Done()
	d := net.Dialer{Timeout: time.Second}
	delay := peerRedial
	// Down needs a broker that answered here before: an address this
	// broker cannot reach at all (advertised for clients elsewhere) or
	// something else on the port says nothing about the peer.
	for ctx.Err() == nil {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			err = w.hold(ctx, conn, func() {
				delay = peerRedial
				w.mu.Lock()
				w.answered[node] = true
				w.mu.Unlock()
				w.setDown(node, false)
			})
		}
		if ctx.Err() != nil {
			return
		}
		if w.hasAnswered(node) && peerGone(err) {
			w.setDown(node, true)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, peerRedialMax)
	}
}

// peerGone: the peer's kernel answered for a process that is not there.
// Timeouts say nothing either way.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// hold keeps conn open, sending an ApiVersions request every
// peerPingInterval (so a silently dead connection is noticed and redialed)
// and reading the answers (calling answered at the first), until the
// connection fails or ctx ends.
func (w *peerWatch) hold(ctx context.Context, conn net.Conn, answered func()) error {
	defer conn.Close()
	stopped := make(chan struct{})
	defer close(stopped)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("samsa-peer-watch"))
	var corr int32
	ping := func() error {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(0)
		corr++
		_ = conn.SetWriteDeadline(time.Now().Add(peerPingInterval))
		_, err := conn.Write(f.AppendRequest(nil, req, corr))
		return err
	}
	if err := ping(); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(peerPingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				conn.Close() // unblocks the read below
				return
			case <-stopped:
				return
			case <-t.C:
				if ping() != nil {
					conn.Close()
					return
				}
			}
		}
	}()
	buf := make([]byte, 4096)
	for first := true; ; first = false {
		// Three pings unanswered: redial (without calling the peer down).
		_ = conn.SetReadDeadline(time.Now().Add(3 * peerPingInterval))
		if _, err := conn.Read(buf); err != nil {
			return err
		}
		if first {
			answered()
		}
	}
}

// peerLoop keeps the watched set in step with the registered brokers.
func (b *Broker) peerLoop() {
	defer b.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		b.peers.close()
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		b.peers.sync(ctx)
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
	}
}

// peerDown reports whether node's broker process is known to be gone (see
// peerWatch).
func (b *Broker) peerDown(node int32) bool {
	return node != b.opts.NodeID && b.peers != nil && b.peers.isDown(node)
}

// AwaitingLeader reports whether a partition has no leader to name right
// now but should have one shortly: a majority of its replicas are on
// brokers that are up, so an election can succeed.
func (b *Broker) AwaitingLeader(a raftgroup.PartitionAssignment) bool {
	if _, _, ok := b.PartitionLeader(a.ShardID); ok {
		return false
	}
	up := 0
	for _, r := range a.Replicas {
		if r == b.opts.NodeID || (b.brokerAlive(r) && !b.peerDown(r) && b.host.Reachable(r)) {
			up++
		}
	}
	return up > len(a.Replicas)/2
}
