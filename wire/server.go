// Package wire speaks the Kafka protocol: framing, request headers v0-v2,
// ApiVersions, and one small handler per API key over kmsg types. It decides
// nothing about partitions or topics itself; it calls the actors.Broker.
package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/trace"

	"github.com/samsa-io/samsa/actors"
	"github.com/samsa-io/samsa/telemetry"
)

// Server accepts Kafka connections for a broker.
type Server struct {
	b              *actors.Broker
	log            *slog.Logger
	maxRequestSize int32
	metrics        *telemetry.Metrics
	tracing        *telemetry.Tracing
	// reqMetrics are each API's request metrics, looked up once here:
	// read-only after NewServer.
	reqMetrics map[int16]telemetry.RequestMetrics

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// NewServer returns a server for b. socket.request.max.bytes bounds frames.
func NewServer(b *actors.Broker, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{b: b, log: log, maxRequestSize: int32(b.Settings().Int64("socket.request.max.bytes")),
		metrics: b.Metrics(), tracing: b.Tracing(), reqMetrics: map[int16]telemetry.RequestMetrics{},
		conns: map[net.Conn]struct{}{}, ctx: ctx, cancel: cancel}
	for key := range handlers {
		s.reqMetrics[key] = s.metrics.Request(kmsg.NameForKey(key))
	}
	return s
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("wire: server closed")
	}
	s.ln = ln
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops accepting, closes every connection and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// pending is one request awaiting its response, in request order.
type pending struct {
	key, version int16
	corr         int32
	resp         kmsg.Response
	wait         func() kmsg.Response // set by handlers that answer later (produce)
	noResponse   bool                 // acks=0 produce
	start        time.Time            // when the request was read
	span         trace.Span           // nil unless tracing is on
}

// done records the request's metrics and ends its span once its response
// (resp, nil if none) is written.
func (s *Server) done(p *pending, resp kmsg.Response) {
	if rm, ok := s.reqMetrics[p.key]; ok {
		rm.Observe(time.Since(p.start))
	}
	if p.span != nil {
		endRequestSpan(p.span, resp)
	}
}

// reqCtx is what a handler gets besides the request.
type reqCtx struct {
	context.Context
	s        *Server
	clientID string
	p        *pending
	remote   net.Addr
	conn     net.Conn
}

// closeConn closes the client's connection, from any goroutine: how an
// acks=0 produce reports an error, as Kafka does (there is no response to
// carry it, and a closed connection makes the client refresh metadata).
func (rc *reqCtx) closeConn(reason string) {
	rc.s.log.Debug("closing connection after a failed acks=0 produce", "remote", rc.remote, "reason", reason)
	_ = rc.conn.Close()
}

// clientHost is the client's address as Kafka reports it: "/ip".
func (rc *reqCtx) clientHost() string {
	if a, ok := rc.remote.(*net.TCPAddr); ok {
		return "/" + a.IP.String()
	}
	return "/"
}

// later makes the response arrive from wait, called on the writer goroutine,
// so the connection can read the next request meanwhile.
func (rc *reqCtx) later(wait func() kmsg.Response) { rc.p.wait = wait }

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	out := make(chan *pending, 64)
	writerDone := make(chan struct{})
	go s.writeLoop(c, out, writerDone)
	defer func() {
		close(out)
		<-writerDone
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var sizeBuf [4]byte
	for {
		if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > s.maxRequestSize {
			s.log.Warn("closing connection: bad request size", "remote", c.RemoteAddr(), "size", size, "socket.request.max.bytes", s.maxRequestSize)
			return
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		p, err := s.handle(body, c)
		if err != nil {
			s.log.Warn("closing connection", "remote", c.RemoteAddr(), "reason", err)
			return
		}
		select {
		case out <- p:
		case <-writerDone:
			return
		}
	}
}

// handle decodes one request frame and runs its handler.
func (s *Server) handle(body []byte, conn net.Conn) (*pending, error) {
	start := time.Now()
	d, err := decodeRequest(body)
	if err != nil {
		return nil, err
	}
	p := &pending{key: d.key, version: d.version, corr: d.corr, start: start}
	if d.req == nil {
		// KIP-511: an ApiVersions request newer than we know is answered
		// in v0 format with our ranges, so the client retries with one
		// we support.
		p.version = 0
		p.resp = apiVersionsResponse(0, unsupportedVersion)
		return p, nil
	}
	rc := &reqCtx{Context: s.requestContext(d, len(body), p), s: s, clientID: d.clientID, p: p, remote: conn.RemoteAddr(), conn: conn}
	p.resp = handlers[d.key].fn(rc, d.req)
	return p, nil
}

// decoded is a parsed request frame.
type decoded struct {
	key, version int16
	corr         int32
	clientID     string
	req          kmsg.Request // nil for an ApiVersions version we do not know
}

// decodeRequest parses a frame body (after the size): the header and the
// request. Anything malformed, an unknown key or an unsupported version is an
// error, and the caller closes the connection, as Kafka does.
func decodeRequest(body []byte) (decoded, error) {
	var d decoded
	if len(body) < 8 {
		return d, errors.New("request shorter than its header")
	}
	d.key = int16(binary.BigEndian.Uint16(body[0:]))
	d.version = int16(binary.BigEndian.Uint16(body[2:]))
	d.corr = int32(binary.BigEndian.Uint32(body[4:]))
	h, ok := handlers[d.key]
	if !ok {
		return d, fmt.Errorf("unsupported API key %d (%s)", d.key, kmsg.NameForKey(d.key))
	}
	if d.version < h.min || d.version > h.max {
		if d.key == kmsg.ApiVersions.Int16() && d.version > h.max {
			return d, nil
		}
		return d, fmt.Errorf("unsupported %s version %d (supported %d-%d)", kmsg.NameForKey(d.key), d.version, h.min, h.max)
	}
	req := kmsg.RequestForKey(d.key)
	req.SetVersion(d.version)
	rest, clientID, err := parseHeaderRest(body[8:], req.IsFlexible())
	if err != nil {
		return d, err
	}
	if err := readRequest(req, rest); err != nil {
		return d, fmt.Errorf("malformed %s v%d request: %w", kmsg.NameForKey(d.key), d.version, err)
	}
	d.clientID, d.req = clientID, req
	return d, nil
}

// readRequest decodes a request body, turning a decoder panic on hostile
// input into an error.
func readRequest(req kmsg.Request, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return req.ReadFrom(b)
}

// parseHeaderRest parses the client ID (every header we accept is v1+) and, for flexible
// requests (header v2), the tagged fields, returning the body after them.
func parseHeaderRest(b []byte, flexible bool) ([]byte, string, error) {
	var clientID string
	{
		if len(b) < 2 {
			return nil, "", errors.New("truncated request header")
		}
		n := int16(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > 0 {
			if len(b) < int(n) {
				return nil, "", errors.New("truncated client ID")
			}
			clientID = string(b[:n])
			b = b[n:]
		}
	}
	if flexible {
		// Header tagged fields: a count, then (tag, size, data) each.
		count, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, "", errors.New("bad header tagged fields")
		}
		b = b[n:]
		for i := uint64(0); i < count; i++ {
			if _, n = binary.Uvarint(b); n <= 0 {
				return nil, "", errors.New("bad header tag")
			}
			b = b[n:]
			size, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < size {
				return nil, "", errors.New("bad header tag size")
			}
			b = b[n+int(size):]
		}
	}
	return b, clientID, nil
}

func (s *Server) writeLoop(c net.Conn, in <-chan *pending, done chan<- struct{}) {
	defer close(done)
	w := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	broken := false
	for p := range in {
		resp := p.resp
		if p.wait != nil {
			resp = p.wait()
		}
		if p.noResponse || broken || resp == nil {
			s.done(p, resp)
			continue
		}
		resp.SetVersion(p.version)
		buf = buf[:0]
		buf = append(buf, 0, 0, 0, 0)
		buf = binary.BigEndian.AppendUint32(buf, uint32(p.corr))
		// ApiVersions responses always use header v0 so any client can read them.
		if resp.IsFlexible() && p.key != kmsg.ApiVersions.Int16() {
			buf = append(buf, 0)
		}
		buf = resp.AppendTo(buf)
		binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
		_, err := w.Write(buf)
		// Recorded before the flush, so a client that has its answer
		// finds the request counted.
		s.done(p, resp)
		if err != nil {
			broken = true
			c.Close()
			continue
		}
		if len(in) == 0 {
			if err := w.Flush(); err != nil {
				broken = true
				c.Close()
			}
		}
		if cap(buf) > 1<<20 {
			buf = nil
		}
	}
}
