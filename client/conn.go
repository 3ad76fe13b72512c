package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ourMax caps the versions we send where a newer version changes semantics
// we do not implement (topic IDs in Fetch 13+ and Produce 13+, KIP-848
// groups, KIP-890 transactions v2). Keys not listed use kmsg's maximum.
var ourMax = map[int16]int16{
	kmsg.Produce.Int16():            11,
	kmsg.Fetch.Int16():              12,
	kmsg.ListOffsets.Int16():        8,
	kmsg.Metadata.Int16():           12,
	kmsg.OffsetCommit.Int16():       8,
	kmsg.OffsetFetch.Int16():        7,
	kmsg.FindCoordinator.Int16():    4,
	kmsg.JoinGroup.Int16():          9,
	kmsg.DescribeGroups.Int16():     5,
	kmsg.ListGroups.Int16():         4,
	kmsg.ApiVersions.Int16():        3,
	kmsg.InitProducerID.Int16():     4,
	kmsg.AddPartitionsToTxn.Int16(): 3,
	kmsg.AddOffsetsToTxn.Int16():    3,
	kmsg.EndTxn.Int16():             3,
	kmsg.TxnOffsetCommit.Int16():    3,
}

func maxVersion(req kmsg.Request) int16 {
	if v, ok := ourMax[req.Key()]; ok {
		return v
	}
	return req.MaxVersion()
}

// response is the outcome of one request.
type response struct {
	resp kmsg.Response
	err  error
}

type pending struct {
	req      kmsg.Request
	deadline time.Time
	done     func(kmsg.Response, error)
	fault    bool // tests: drop the connection instead of this response
}

// conn is one TCP connection to a broker. Requests are pipelined: any number
// may be written before the first response arrives; one reader goroutine
// matches responses to requests by correlation ID. Kafka answers a
// connection's requests in order, so a slow request (a long-polling fetch)
// delays every later one: callers keep separate conns for fetches.
type conn struct {
	addr     string
	nc       net.Conn
	fmt      *kmsg.RequestFormatter
	versions [128][2]int16 // [key] = {min, max}; max -1 = unsupported

	wmu  sync.Mutex // serializes writes so correlation IDs go out in order
	wbuf []byte

	mu       sync.Mutex
	corr     int32
	pend     map[int32]*pending
	deadline time.Time // read deadline currently set
	err      error     // set once the conn is dead
	closed   chan struct{}
}

// dial connects and negotiates versions with ApiVersions.
func dial(ctx context.Context, addr string, cfg *config) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.dialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &connError{addr: addr, err: err}
	}
	c := &conn{
		addr:   addr,
		nc:     nc,
		fmt:    kmsg.NewRequestFormatter(kmsg.FormatterClientID(cfg.clientID)),
		pend:   make(map[int32]*pending),
		closed: make(chan struct{}),
	}
	for k := range c.versions {
		c.versions[k] = [2]int16{0, -1}
	}
	// ApiVersions itself is always allowed, from v0 up.
	c.versions[kmsg.ApiVersions.Int16()] = [2]int16{0, 3}
	go c.readLoop()
	if err := c.negotiate(ctx, cfg); err != nil {
		c.close(err)
		return nil, err
	}
	return c, nil
}

func (c *conn) negotiate(ctx context.Context, cfg *config) error {
	for _, v := range []int16{3, 0} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName = "samsa-go"
		req.ClientSoftwareVersion = "1.0.0"
		resp, err := c.roundTrip(ctx, req, v, cfg.dialTimeout)
		if err != nil {
			return err
		}
		r := resp.(*kmsg.ApiVersionsResponse)
		// A broker not supporting our version answers
		// UNSUPPORTED_VERSION in v0 format with its own ranges; retry at v0.
		if r.ErrorCode == ErrUnsupportedVersion.Code && v != 0 {
			continue
		}
		if err := ErrorForCode(r.ErrorCode); err != nil {
			return fmt.Errorf("ApiVersions to %s: %w", c.addr, err)
		}
		c.mu.Lock()
		for _, k := range r.ApiKeys {
			if k.ApiKey >= 0 && int(k.ApiKey) < len(c.versions) {
				c.versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
			}
		}
		c.mu.Unlock()
		return nil
	}
	return fmt.Errorf("ApiVersions to %s: %w", c.addr, ErrUnsupportedVersion)
}

// version picks the highest version both sides support.
func (c *conn) version(req kmsg.Request) (int16, error) {
	k := req.Key()
	if k < 0 || int(k) >= len(c.versions) {
		return 0, fmt.Errorf("%s: %w", kmsg.NameForKey(k), ErrUnsupportedVersion)
	}
	c.mu.Lock()
	r := c.versions[k]
	c.mu.Unlock()
	v := min(maxVersion(req), r[1])
	if v < r[0] || v < 0 {
		return 0, fmt.Errorf("broker %s does not support %s: %w", c.addr, kmsg.NameForKey(k), ErrUnsupportedVersion)
	}
	return v, nil
}

// send writes req at the negotiated version; done is called exactly once,
// from the reader goroutine or from send itself, and must not block. A
// request with no response (produce acks=0) completes once written.
func (c *conn) send(ctx context.Context, req kmsg.Request, timeout time.Duration, done func(kmsg.Response, error)) {
	v, err := c.version(req)
	if err != nil {
		done(nil, err)
		return
	}
	c.sendVersion(ctx, req, v, timeout, done)
}

func (c *conn) sendVersion(ctx context.Context, req kmsg.Request, v int16, timeout time.Duration, done func(kmsg.Response, error)) {
	req.SetVersion(v)
	noResp := false
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		noResp = true
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		done(nil, err)
		return
	}
	c.corr++
	corr := c.corr
	if !noResp {
		p := &pending{req: req, deadline: time.Now().Add(timeout), done: done}
		if f := connFault.Load(); f != nil && (*f)(req) {
			p.fault = true
		}
		c.pend[corr] = p
		if c.deadline.IsZero() || p.deadline.Before(c.deadline) {
			c.deadline = p.deadline
			c.nc.SetReadDeadline(p.deadline)
		}
	}
	c.mu.Unlock()
	c.wbuf = c.fmt.AppendRequest(c.wbuf[:0], req, corr)
	// Not ctx's deadline: a write cut short would corrupt the stream.
	c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > 4<<20 {
		c.wbuf = nil // do not pin one huge request's buffer
	}
	if err != nil {
		c.close(&connError{addr: c.addr, err: err})
		if noResp {
			done(nil, &connError{addr: c.addr, err: err})
		}
		return
	}
	if noResp {
		done(nil, nil)
	}
}

// connFault, set only by tests, picks requests whose response is lost with
// the connection: the broker applied them, the client cannot know it.
var connFault atomic.Pointer[func(kmsg.Request) bool]

// roundTrip sends req at version v (or negotiated, v < 0) and waits for the
// response until ctx ends. timeout is the connection-level bound: a broker
// silent that long is dead and the connection is closed. A ctx ending sooner
// only abandons this wait; the connection and its other requests live on.
func (c *conn) roundTrip(ctx context.Context, req kmsg.Request, v int16, timeout time.Duration) (kmsg.Response, error) {
	ch := make(chan response, 1)
	done := func(r kmsg.Response, err error) { ch <- response{r, err} }
	if v < 0 {
		c.send(ctx, req, timeout, done)
	} else {
		c.sendVersion(ctx, req, v, timeout, done)
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var errTimeout = errors.New("request timed out")

func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sz [4]byte
	for {
		if _, err := io.ReadFull(br, sz[:]); err != nil {
			c.readErr(err)
			return
		}
		n := int32(binary.BigEndian.Uint32(sz[:]))
		if n < 4 || n > 1<<30 {
			c.close(&connError{addr: c.addr, err: fmt.Errorf("invalid response size %d", n)})
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			c.readErr(err)
			return
		}
		corr := int32(binary.BigEndian.Uint32(buf))
		c.mu.Lock()
		p := c.pend[corr]
		delete(c.pend, corr)
		c.resetDeadline()
		c.mu.Unlock()
		if p == nil {
			c.close(&connError{addr: c.addr, err: fmt.Errorf("response with unknown correlation ID %d", corr)})
			return
		}
		if p.fault {
			err := &connError{addr: c.addr, err: errors.New("injected connection loss")}
			c.close(err)
			p.done(nil, err)
			return
		}
		body := buf[4:]
		// Flexible responses carry header tags, except ApiVersions whose
		// header stays v0 so old clients can read it.
		if p.req.IsFlexible() && p.req.Key() != kmsg.ApiVersions.Int16() {
			var err error
			if body, err = skipTags(body); err != nil {
				p.done(nil, &connError{addr: c.addr, err: err})
				continue
			}
		}
		resp := p.req.ResponseKind()
		resp.SetVersion(p.req.GetVersion())
		if err := resp.ReadFrom(body); err != nil {
			// An ApiVersions answer to a too-new version is in v0 format.
			if av, ok := resp.(*kmsg.ApiVersionsResponse); ok && p.req.GetVersion() > 0 {
				av.SetVersion(0)
				if err2 := av.ReadFrom(body); err2 == nil {
					p.done(av, nil)
					continue
				}
			}
			p.done(nil, fmt.Errorf("decoding %s response: %w", kmsg.NameForKey(p.req.Key()), err))
			continue
		}
		p.done(resp, nil)
	}
}

// resetDeadline sets the read deadline to the earliest pending request's;
// an idle connection has none. Caller holds c.mu.
func (c *conn) resetDeadline() {
	var dl time.Time
	for _, p := range c.pend {
		if dl.IsZero() || p.deadline.Before(dl) {
			dl = p.deadline
		}
	}
	if !dl.Equal(c.deadline) {
		c.deadline = dl
		c.nc.SetReadDeadline(dl)
	}
}

func (c *conn) readErr(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = errTimeout
	}
	c.close(&connError{addr: c.addr, err: err})
}

func skipTags(b []byte) ([]byte, error) {
	n, l := binary.Uvarint(b)
	if l <= 0 {
		return nil, errors.New("bad response header tags")
	}
	b = b[l:]
	for range n {
		_, l := binary.Uvarint(b) // tag
		if l <= 0 {
			return nil, errors.New("bad response header tag")
		}
		b = b[l:]
		sz, l := binary.Uvarint(b)
		if l <= 0 || uint64(len(b)-l) < sz {
			return nil, errors.New("bad response header tag size")
		}
		b = b[l+int(sz):]
	}
	return b, nil
}

// close kills the connection and fails everything pending with err.
func (c *conn) close(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pend := c.pend
	c.pend = nil
	c.mu.Unlock()
	c.nc.Close()
	close(c.closed)
	for _, p := range pend {
		p.done(nil, err)
	}
}

func (c *conn) dead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}
