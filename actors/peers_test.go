package actors

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPeerWatch: a watched broker that has answered is down once its
// connection is closed and new ones are refused, up again once it answers,
// and the watcher speaks Kafka to it (a well-formed ApiVersions request).
func TestPeerWatch(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	w := newPeerWatch(&Broker{log: slog.New(slog.NewTextHandler(io.Discard, nil)), opts: Options{NodeID: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	w.wg.Add(1)
	go w.watch(ctx, 2, addr)
	defer func() {
		cancel()
		w.wg.Wait()
	}()

	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	var size int32
	if err := binary.Read(r, binary.BigEndian, &size); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	if key := int16(binary.BigEndian.Uint16(body)); key != kmsg.ApiVersions.Int16() {
		t.Fatalf("watcher sent API key %d, want ApiVersions", key)
	}
	if w.isDown(2) {
		t.Fatal("down while connected")
	}
	// Closed before it ever answered: nothing is known about the peer.
	conn.Close()
	conn, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if w.isDown(2) {
		t.Fatal("down after a connection that never answered closed")
	}
	if _, err := conn.Write([]byte{0, 0, 0, 4, 0, 0, 0, 1}); err != nil { // an answer
		t.Fatal(err)
	}
	waitFor(t, func() bool { return w.hasAnswered(2) }, "answer never read")

	// The process dies: its connection closes and its port refuses.
	l.Close()
	conn.Close()
	waitFor(t, func() bool { return w.isDown(2) }, "peer never marked down")

	// It comes back on the same address.
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer l2.Close()
	go func() {
		if c, err := l2.Accept(); err == nil {
			defer c.Close()
			_, _ = c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 1})
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	waitFor(t, func() bool { return !w.isDown(2) }, "peer never marked up again")
}

func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
