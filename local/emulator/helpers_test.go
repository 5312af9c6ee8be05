package emulator

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap/zaptest"
)

// wait bounds every wait for an event in these tests: generous, so that a
// loaded machine passes, and finite, so that a bug fails.
const wait = 15 * time.Second

// observer records what the gateway reports through its hooks.
type observer struct {
	mu      sync.Mutex
	disc    map[string]Disconnect
	invokes []Invocation
	changed chan struct{}
}

func newObserver() *observer {
	return &observer{disc: map[string]Disconnect{}, changed: make(chan struct{})}
}

func (o *observer) hooks() Hooks {
	return Hooks{
		Invoked: func(i Invocation) {
			o.mu.Lock()
			o.invokes = append(o.invokes, i)
			o.signal()
			o.mu.Unlock()
		},
		Disconnected: func(d Disconnect) {
			o.mu.Lock()
			if _, dup := o.disc[d.ConnectionID]; dup {
				d.Why = "REPORTED TWICE: " + d.Why
			}
			o.disc[d.ConnectionID] = d
			o.signal()
			o.mu.Unlock()
		},
	}
}

func (o *observer) signal() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// until waits until cond (called with o.mu held) holds.
func (o *observer) until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		o.mu.Lock()
		ok, ch := cond(), o.changed
		o.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("timed out after %s waiting for %s", wait, what)
		}
	}
}

// disconnect waits for id's Disconnect.
func (o *observer) disconnect(t testing.TB, id string) Disconnect {
	t.Helper()
	var d Disconnect
	o.until(t, "the disconnect of "+id, func() bool {
		var ok bool
		d, ok = o.disc[id]
		return ok
	})
	return d
}

// disconnected reports whether id has a Disconnect yet.
func (o *observer) disconnected(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.disc[id]
	return ok
}

// invoked waits for an invoke matching match and returns it.
func (o *observer) invoked(t testing.TB, what string, match func(Invocation) bool) Invocation {
	t.Helper()
	var got Invocation
	o.until(t, what, func() bool {
		for _, i := range o.invokes {
			if match(i) {
				got = i
				return true
			}
		}
		return false
	})
	return got
}

// fakeFn is a function in process that accepts everything, records every
// event, and lets a test hold transmit invokes.
type fakeFn struct {
	mu      sync.Mutex
	events  []event
	running map[string]int // transmit invokes in flight, by connection
	most    map[string]int // the most at once, by connection
	changed chan struct{}
	hold    chan struct{} // when set, transmits wait until it is closed
	reply   func(ev event) ([]byte, error)
}

func newFakeFn() *fakeFn {
	return &fakeFn{running: map[string]int{}, most: map[string]int{}, changed: make(chan struct{})}
}

func (f *fakeFn) Invoke(ctx context.Context, p []byte) ([]byte, error) {
	var ev event
	if err := json.Unmarshal(p, &ev); err != nil {
		return nil, err
	}
	id := ev.WebSocket.SecConnectionID
	f.mu.Lock()
	f.events = append(f.events, ev)
	hold := f.hold
	transmit := ev.WebSocket.Action == "data send"
	if transmit {
		f.running[id]++
		f.most[id] = max(f.most[id], f.running[id])
	}
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	if transmit {
		defer func() {
			f.mu.Lock()
			f.running[id]--
			f.mu.Unlock()
		}()
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	if f.reply != nil {
		return f.reply(ev)
	}
	return []byte(`{"errNo":0,"errMsg":"ok"}`), nil
}

// data is the data of every transmit from id, in invoke order.
func (f *fakeFn) data(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, ev := range f.events {
		if ev.WebSocket.Action == "data send" && ev.WebSocket.SecConnectionID == id {
			out = append(out, ev.WebSocket.Data)
		}
	}
	return out
}

// count is how many events for id had action.
func (f *fakeFn) count(id, action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ev := range f.events {
		if ev.WebSocket.Action == action && ev.WebSocket.SecConnectionID == id {
			n++
		}
	}
	return n
}

// waitFor waits until cond, which may call f's methods, holds.
func (f *fakeFn) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("timed out after %s waiting for %s", wait, what)
		}
	}
}

// first is the first event, which must exist.
func (f *fakeFn) first(t testing.TB) event {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		t.Fatal("no event")
	}
	return f.events[0]
}

// gw is a gateway under test in front of an Invoker.
type gw struct {
	*Gateway
	srv  *httptest.Server
	obs  *observer
	url  string // ws://…/websocket
	push string // http://…/sendback
}

// startGateway serves a Gateway for fn; its hooks feed an observer.
func startGateway(t testing.TB, fn Invoker, o Options) *gw {
	t.Helper()
	obs := newObserver()
	o.Hooks = obs.hooks()
	g := New(fn, zaptest.NewLogger(t), o)
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		g.Close()
		srv.Close()
	})
	return &gw{Gateway: g, srv: srv, obs: obs, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/websocket", push: srv.URL + "/sendback"}
}

func dial(t testing.TB, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// dialID connects and returns the connection with its ID, found as the one
// connection that was not there before.
func (g *gw) dialID(t testing.TB, url string) (*websocket.Conn, string) {
	t.Helper()
	before := map[string]bool{}
	for _, c := range g.Connections() {
		before[c.ID] = true
	}
	c := dial(t, url, nil)
	var id string
	for _, ci := range g.Connections() {
		if !before[ci.ID] {
			if id != "" {
				t.Fatalf("dialID: two new connections; dial one at a time")
			}
			id = ci.ID
		}
	}
	if id == "" {
		t.Fatalf("dialID: the new connection is not listed")
	}
	return c, id
}

func read(t testing.TB, c *websocket.Conn) (websocket.MessageType, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return c.Read(ctx)
}

func write(t testing.TB, c *websocket.Conn, typ websocket.MessageType, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Write(ctx, typ, data); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func pushBody(action, id, data string) string {
	ws := map[string]string{"action": action, "secConnectionID": id}
	if action == "data send" {
		ws["data"] = data
	}
	b, _ := json.Marshal(map[string]any{"websocket": ws})
	return string(b)
}

func pushTo(t testing.TB, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// rawConn is a WebSocket client on a bare TCP connection, to see exactly
// what the gateway sends: in particular whether a close frame came before
// the connection ended.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func rawDial(t testing.TB, wsURL string) *rawConn {
	t.Helper()
	u := strings.TrimPrefix(wsURL, "ws://")
	host, path, _ := strings.Cut(u, "/")
	c, err := net.DialTimeout("tcp", host, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, host, base64.StdEncoding.EncodeToString(key))
	rc := &rawConn{Conn: c, r: bufio.NewReader(c)}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		t.Fatalf("raw handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw handshake: %s", resp.Status)
	}
	return rc
}

// sendText writes one masked text frame.
func (c *rawConn) sendText(t testing.TB, s string) {
	t.Helper()
	var hdr []byte
	switch n := len(s); {
	case n < 126:
		hdr = []byte{0x81, 0x80 | byte(n)}
	case n <= 0xffff:
		hdr = []byte{0x81, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		hdr = binary.BigEndian.AppendUint64([]byte{0x81, 0x80 | 127}, uint64(n))
	}
	mask := []byte{1, 2, 3, 4}
	payload := []byte(s)
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	if _, err := c.Write(append(append(hdr, mask...), payload...)); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

// frames reads the server's frames until the connection ends, and returns
// their opcodes (8 is close).
func (c *rawConn) frames(t testing.TB) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var ops []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the connection was still open after %s (frames so far: %v)", wait, ops)
			}
			return ops
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return ops
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return ops
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if _, err := io.CopyN(io.Discard, c.r, int64(n)); err != nil {
			return ops
		}
		ops = append(ops, h[0]&0x0f)
	}
}

func hasClose(ops []byte) bool {
	for _, op := range ops {
		if op == 8 {
			return true
		}
	}
	return false
}

// silent connects a client that reads (and so answers a close) but never
// sends: a witness that an idle timeout has passed.
func (g *gw) silent(t testing.TB) string {
	t.Helper()
	c, id := g.dialID(t, g.url)
	c.CloseRead(context.Background())
	return id
}

// onlyID returns the one open connection's ID.
func (g *gw) onlyID(t testing.TB) string {
	t.Helper()
	conns := g.Connections()
	if len(conns) != 1 {
		t.Fatalf("%d connections open; want 1", len(conns))
	}
	return conns[0].ID
}
