package emulator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
)

// Invoker calls the function: a *Function, or anything that speaks the same
// raw-bytes contract.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Options tune a Gateway. Zero values take the defaults.
type Options struct {
	// Path is the WebSocket API's path (default /websocket).
	Path string
	// PushPath is the reverse-push address's path (default /sendback).
	PushPath string
	// IdleTimeout is the API's backend timeout: a client that sends nothing
	// for that long is closed (default 600s).
	IdleTimeout time.Duration
	// IdleCleanup sends closing when the idle timeout closes a client.
	// Tencent does not document that it does, so by default it does not.
	IdleCleanup bool
	// DropCleanup never sends closing, as if every client vanished.
	DropCleanup bool
	// ClosingOnServerClose sends closing when a closing push closes a
	// client. Tencent does not document it; by default it does not.
	ClosingOnServerClose bool
	// IdleCountsPings lets WebSocket pings reset the idle timer; by default
	// only data frames do.
	IdleCountsPings bool
	// ConcurrentFrames invokes a client's frames concurrently, each as it
	// arrives; by default one at a time, in order. The docs promise no
	// order, and SCF may run them on parallel instances.
	ConcurrentFrames bool
	// HandshakeExtras adds the handshake's headers and query string to the
	// connecting event, as top-level headers and queryString objects (the
	// shape of API Gateway's HTTP events). Tencent does not document them
	// for WebSocket APIs.
	HandshakeExtras bool
	// PushLatency delays every reverse-push answer.
	PushLatency time.Duration
	// PushRateLimit answers 429 to pushes above this many per second,
	// across the push address (a token bucket); 0 is no limit.
	PushRateLimit int
	// UnknownPushStatus answers a push to an unknown or closed connection
	// (default 404). Tencent does not document it.
	UnknownPushStatus int
	// PushReadTimeout bounds reading one push request's body (default 10s).
	PushReadTimeout time.Duration
	// MaxMessageBytes: a larger client frame closes the client with 1009
	// (default 4 MiB).
	MaxMessageBytes int64
	// SendBufferBytes bounds what may wait to be written to one client
	// (default 4 MiB): a client that falls further behind is closed (1008)
	// and its pushes answer as for a closed connection.
	SendBufferBytes int
	// ReceiveBufferBytes bounds a client's frames waiting for, or in, their
	// invoke (default 4 MiB); when full, the gateway stops reading that
	// client until an invoke returns.
	ReceiveBufferBytes int
	// WriteTimeout bounds writing one frame to a client (default 5s).
	WriteTimeout time.Duration
	// HeartbeatMessage is what the chat page sends to stay alive.
	HeartbeatMessage string
	// AnyHost serves the push address and /_scfws/ to any Host header. By
	// default they answer only requests addressed to a loopback name, so
	// that a web page cannot reach them through DNS rebinding.
	AnyHost bool
	// Hooks report what the gateway did, once it is done.
	Hooks Hooks
	// RoutePath, when set, serves an HTTP API bound to the function under
	// this path prefix (the signed route for backends).
	RoutePath string
	// MaxEventBytes is SCF's limit on an event, for the HTTP route.
	MaxEventBytes int
	// RouteMaxBodyBytes, when set, is the function's limit on a request
	// body on the HTTP route: a larger body is answered 413 here, signed
	// or not, without an invoke (the function refuses it before it reads
	// the signature, so the answer is the same).
	RouteMaxBodyBytes int
	// Token, when set, serves GET /_scfws/token?sub=NAME[&roles=R,R]: a
	// scfws.v1 token for the chat page. roles is nil when the request
	// names none (the chat page's set), empty for roles= or roles=none.
	Token func(sub string, roles []string) (string, error)
	// Metrics, when set, counts what the gateway sees and serves
	// /_scfws/metrics and the dashboard.
	Metrics *Metrics
}

func (o *Options) defaults() {
	if o.Path == "" {
		o.Path = "/websocket"
	}
	if o.PushPath == "" {
		o.PushPath = "/sendback"
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 600 * time.Second
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 4 << 20
	}
	if o.SendBufferBytes <= 0 {
		o.SendBufferBytes = 4 << 20
	}
	if o.ReceiveBufferBytes <= 0 {
		o.ReceiveBufferBytes = 4 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.PushReadTimeout <= 0 {
		o.PushReadTimeout = 10 * time.Second
	}
	if o.UnknownPushStatus == 0 {
		o.UnknownPushStatus = http.StatusNotFound
	}
}

// Hooks are called as things finish, so that tests wait for events rather
// than for time.
type Hooks struct {
	// Invoked is called after each invoke returns.
	Invoked func(Invocation)
	// Disconnected is called once per connection the function accepted,
	// after its closing invoke (if one is sent) has returned.
	Disconnected func(Disconnect)
}

// Invocation is one invoke the gateway made.
type Invocation struct {
	Action       string
	ConnectionID string
	Err          error
}

// Disconnect is how a connection ended.
type Disconnect struct {
	ConnectionID string
	// ByGateway: the gateway closed it (idle timeout, a closing push, a slow
	// client, a failed invoke or push, shutdown); else the client did.
	ByGateway bool
	// Abrupt: the gateway dropped the TCP connection without a close frame
	// (browsers see 1006), as API Gateway does after a failure.
	Abrupt bool
	Why    string
	// ClosingSent: a closing invoke was made; ClosingErr is its error.
	ClosingSent bool
	ClosingErr  error
}

// Gateway is the API Gateway side: an http.Handler serving the WebSocket API,
// the reverse-push address, and the chat page at /.
type Gateway struct {
	fn   Invoker
	log  *zap.Logger
	opts Options
	mux  *http.ServeMux
	rate *bucket // nil without a push rate limit

	// ctx ends with Close: it stops invokes for frames. Reads and writes
	// do not use it: cancelling a read or write closes the socket at once,
	// and Close's close frames (1001) would be lost. Close ends each socket
	// itself, and the write timeout bounds a write.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	conns   map[string]*conn
	closed  bool
	refused *Refusal // the last refused handshake
	wg      sync.WaitGroup

	disconnects atomic.Int64 // disconnects fully handled, closing included
	closings    atomic.Int64 // closing invokes sent
	invoking    atomic.Int64 // invokes in flight
	pushing     atomic.Int64 // push requests being handled
	// decoding holds a slot per push body being decoded: one per core, so
	// that a burst of large pushes leaves the rest of the emulator (its
	// clients, the replies of invokes in flight) a place in the queue.
	decoding chan struct{}
}

// New returns a Gateway that invokes fn.
func New(fn Invoker, log *zap.Logger, o Options) *Gateway {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{fn: fn, log: log, opts: o, mux: http.NewServeMux(), ctx: ctx, cancel: cancel, conns: map[string]*conn{},
		decoding: make(chan struct{}, runtime.NumCPU())}
	if o.PushRateLimit > 0 {
		g.rate = newBucket(o.PushRateLimit, time.Now)
	}
	g.mux.HandleFunc("GET "+o.Path, g.serveWebSocket)
	g.mux.HandleFunc(o.PushPath, g.servePush)
	g.mux.HandleFunc("GET /{$}", g.servePage)
	for path, body := range chatScripts() {
		g.mux.HandleFunc("GET "+path, serveScript(body))
	}
	g.mux.HandleFunc("GET /_scfws/config", g.admin(g.serveConfig))
	g.mux.HandleFunc("GET /_scfws/connections", g.admin(g.serveConnections))
	g.mux.HandleFunc("GET /_scfws/status", g.admin(g.serveStatus))
	g.mux.HandleFunc("POST /_scfws/connections/{id}/drop", g.admin(g.serveDrop))
	if o.Token != nil {
		g.mux.HandleFunc("GET /_scfws/token", g.admin(g.serveToken))
	}
	if o.RoutePath != "" {
		g.mux.HandleFunc(strings.TrimSuffix(o.RoutePath, "/")+"/", g.serveRoute)
	}
	if o.Metrics != nil {
		g.serveDashboardRoutes()
	}
	return g
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Close closes every client (1001 going away) and waits for their goroutines.
func (g *Gateway) Close() {
	g.mu.Lock()
	g.closed = true
	conns := make([]*conn, 0, len(g.conns))
	for _, c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		g.end(c, ending{byGateway: true, code: websocket.StatusGoingAway, reason: "gateway shutting down"})
	}
	g.cancel()
	g.wg.Wait()
}

// conn is one client connection, registered from the moment the function is
// asked about it: pushes that arrive before the upgrade completes wait in
// its buffer instead of failing.
type conn struct {
	id       string
	remote   string
	since    time.Time
	failPush int // fault injection: answer pushes with this status
	log      *zap.Logger

	out      *outbox
	in       *inbox
	accepted atomic.Bool   // the function accepted the handshake
	done     chan struct{} // closed when the connection ends, by either side
	written  chan struct{} // closed when the writer is done
	ws       atomic.Pointer[websocket.Conn]

	v1      bool // speaks scfws.v1: set with counted, before its goroutines start
	counted bool // opened in the metrics, so closed there when it ends

	endOnce   sync.Once
	end       ending // set before done closes
	lastFrame atomic.Int64
	idle      *time.Timer
}

// tooSlow ends a client that does not keep up with its pushes: abruptly,
// since a close frame would wait behind everything it has not read.
var tooSlow = ending{byGateway: true, abrupt: true, code: websocket.StatusPolicyViolation, reason: "client too slow"}

// ending is who ended a connection, and how.
type ending struct {
	byGateway   bool
	abrupt      bool // no close frame: the TCP connection just drops
	code        websocket.StatusCode
	reason      string
	idle        bool // the idle timeout
	serverClose bool // a closing push
}

func (c *conn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// end ends c once; the first caller decides who ended it. It forgets c at
// once, so that pushes to it answer as for a closed connection.
func (g *Gateway) end(c *conn, e ending) bool {
	first := false
	c.endOnce.Do(func() {
		first = true
		c.end = e
		g.remove(c)
		close(c.done)
		if e.byGateway {
			c.in.drop() // frames not yet invoked never will be
		}
		if ws := c.ws.Load(); ws != nil {
			g.closeSocket(c, ws)
		}
	})
	return first
}

// closeSocket applies c's ending to its socket.
func (g *Gateway) closeSocket(c *conn, ws *websocket.Conn) {
	if !c.end.byGateway || c.end.abrupt {
		_ = ws.CloseNow()
		return
	}
	// The close handshake waits for the client: not on the caller's time.
	// After a closing push, the close frame follows the frames pushed
	// before it (see writeLoop).
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if c.end.serverClose {
			<-c.written
		}
		_ = ws.Close(c.end.code, c.end.reason)
	}()
}

func (g *Gateway) add(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.conns[c.id] = c
	return true
}

// track counts n goroutines into g.wg unless Close has begun.
func (g *Gateway) track(n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(n)
	return true
}

func (g *Gateway) remove(c *conn) {
	g.mu.Lock()
	if g.conns[c.id] == c {
		delete(g.conns, c.id)
	}
	g.mu.Unlock()
}

func (g *Gateway) get(id string) *conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns[id]
}

// newConnectionID makes an opaque ID like Tencent's: 32 characters of
// standard base64, so + and / appear and must survive every hop.
func newConnectionID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// event is the gateway's side of the wire format (see protocol.md).
type event struct {
	RequestContext *requestContext `json:"requestContext,omitempty"`
	// Headers and QueryString are sent with -handshake-extras only, where
	// API Gateway's HTTP events have them. Header names are in Go's
	// canonical form plus Host; repeated headers and query parameters are
	// joined with commas.
	Headers     map[string]string `json:"headers,omitzero"`
	QueryString map[string]string `json:"queryString,omitzero"`
	WebSocket   wsEvent           `json:"websocket"`
}

type requestContext struct {
	ServiceID       string            `json:"serviceId"`
	ServiceName     string            `json:"serviceName"`
	Path            string            `json:"path"`
	HTTPMethod      string            `json:"httpMethod"`
	RequestID       string            `json:"requestId"`
	Identity        map[string]string `json:"identity"`
	SourceIP        string            `json:"sourceIp"`
	Stage           string            `json:"stage"`
	WebsocketEnable bool              `json:"websocketEnable"`
}

type wsEvent struct {
	Action                 string `json:"action"`
	SecConnectionID        string `json:"secConnectionID"`
	SecWebSocketProtocol   string `json:"secWebSocketProtocol,omitempty"`
	SecWebSocketExtensions string `json:"secWebSocketExtensions,omitempty"`
	DataType               string `json:"dataType,omitempty"`
	Data                   string `json:"data,omitempty"`
}

type handshakeReply struct {
	ErrNo     int    `json:"errNo"`
	ErrMsg    string `json:"errMsg"`
	WebSocket *struct {
		SecWebSocketProtocol string `json:"secWebSocketProtocol"`
	} `json:"websocket"`
}

func (g *Gateway) invoke(ctx context.Context, ev event) ([]byte, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", ev.WebSocket.Action, err)
	}
	g.invoking.Add(1)
	out, err := g.fn.Invoke(ctx, payload)
	g.invoking.Add(-1)
	if h := g.opts.Hooks.Invoked; h != nil {
		h(Invocation{Action: ev.WebSocket.Action, ConnectionID: ev.WebSocket.SecConnectionID, Err: err})
	}
	return out, err
}

func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-WebSocket-Key") != ""
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// parseFailPush reads ?fail-push=STATUS: a final HTTP status, 200-599.
func parseFailPush(q url.Values) (int, error) {
	if !q.Has("fail-push") {
		return 0, nil
	}
	s := q.Get("fail-push")
	n, err := strconv.Atoi(s)
	if err != nil || n < 200 || n > 599 {
		return 0, fmt.Errorf("fail-push=%.20q: want an HTTP status 200-599", s)
	}
	return n, nil
}

// serveWebSocket asks the function (connecting) before it completes the
// handshake, as the gateway does.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is a WebSocket API: connect with a WebSocket client", http.StatusUpgradeRequired)
		return
	}
	failPush, err := parseFailPush(r.URL.Query())
	if err != nil {
		g.refuse(w, Refusal{Status: http.StatusBadRequest, ErrMsg: err.Error()})
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	c := g.newConn(host, failPush)
	if !g.add(c) {
		http.Error(w, "gateway shutting down", http.StatusServiceUnavailable)
		return
	}
	protocol, ok := g.register(w, r, c)
	if !ok {
		return
	}
	c.accepted.Store(true)
	ws, err := websocket.Accept(w, r, g.acceptOptions(c, protocol))
	if err != nil {
		c.log.Warn("handshake failed after the function accepted it", zap.String("error", redact(err.Error())))
		g.end(c, ending{byGateway: true, abrupt: true, reason: "upgrade failed"})
		g.finish(c, errors.New("upgrade failed"), true)
		return
	}
	g.start(c, ws)
}

// newConn is a client from remote, not yet registered.
func (g *Gateway) newConn(remote string, failPush int) *conn {
	c := &conn{id: newConnectionID(), remote: remote, since: time.Now(), failPush: failPush,
		out: newOutbox(g.opts.SendBufferBytes), in: newInbox(g.opts.ReceiveBufferBytes),
		done: make(chan struct{}), written: make(chan struct{})}
	c.lastFrame.Store(c.since.UnixNano())
	c.log = g.log.With(zap.String("connectionId", c.id))
	return c
}

// register invokes the function with c's connecting event. When it
// accepts, it returns the subprotocol it chose (maybe none); when it
// refuses or fails, the client gets the refusal and c is forgotten.
func (g *Gateway) register(w http.ResponseWriter, r *http.Request, c *conn) (protocol string, ok bool) {
	// The client may leave, and Close stops waiting for the function.
	ctx, cancel := context.WithCancel(r.Context())
	defer context.AfterFunc(g.ctx, cancel)()
	defer cancel()
	out, err := g.invoke(ctx, g.connectingEvent(r, c))
	var reply handshakeReply
	if err == nil {
		if jerr := json.Unmarshal(out, &reply); jerr != nil {
			err = fmt.Errorf("reply %.200q is not JSON: %w", out, jerr)
		}
	}
	switch {
	case err != nil:
		g.remove(c)
		g.refuse(w, Refusal{Status: http.StatusBadGateway, ErrMsg: "the register invoke failed: " + err.Error(), conn: c.id})
		return "", false
	case reply.ErrNo != 0:
		g.remove(c)
		g.refuse(w, Refusal{Status: http.StatusForbidden, ErrNo: reply.ErrNo, ErrMsg: reply.ErrMsg, conn: c.id})
		return "", false
	case reply.WebSocket != nil:
		return reply.WebSocket.SecWebSocketProtocol, true
	}
	return "", true
}

// connectingEvent is the register function's event for c's handshake.
func (g *Gateway) connectingEvent(r *http.Request, c *conn) event {
	ev := event{
		RequestContext: &requestContext{ServiceID: "service-local", ServiceName: "local", Path: g.opts.Path, HTTPMethod: "GET",
			RequestID: newRequestID(), Identity: map[string]string{}, SourceIP: c.remote, Stage: "release", WebsocketEnable: true},
		WebSocket: wsEvent{Action: "connecting", SecConnectionID: c.id,
			SecWebSocketProtocol:   strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ", "),
			SecWebSocketExtensions: strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ", ")},
	}
	if g.opts.HandshakeExtras {
		ev.Headers, ev.QueryString = handshakeExtras(r)
	}
	return ev
}

// acceptOptions complete the handshake with the subprotocol the function
// chose (none when it chose none).
func (g *Gateway) acceptOptions(c *conn, protocol string) *websocket.AcceptOptions {
	var protocols []string
	if protocol != "" {
		protocols = []string{protocol}
	}
	return &websocket.AcceptOptions{
		Subprotocols: protocols,
		// The gateway checks no origin: any page may connect, as to the
		// real API.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
		OnPingReceived: func(context.Context, []byte) bool {
			if g.opts.IdleCountsPings {
				c.idle.Reset(g.opts.IdleTimeout)
			}
			return true
		},
	}
}

// start runs an upgraded client: its idle timer, its writer and its
// reader.
func (g *Gateway) start(c *conn, ws *websocket.Conn) {
	ws.SetReadLimit(g.opts.MaxMessageBytes)
	c.lastFrame.Store(time.Now().UnixNano())
	c.idle = time.AfterFunc(g.opts.IdleTimeout, func() {
		g.end(c, ending{byGateway: true, code: websocket.StatusGoingAway, reason: "idle timeout", idle: true})
	})
	if !g.track(2) { // Close has begun: it waits for no new goroutines
		c.idle.Stop()
		close(c.written)
		// As Close does to every other client: 1001, here on the
		// handler's own time.
		_ = ws.Close(websocket.StatusGoingAway, "gateway shutting down")
		return
	}
	c.ws.Store(ws)
	if c.ended() { // ended during the upgrade (a closing push, Close)
		g.closeSocket(c, ws)
	}
	// Only the subprotocol the function chose is logged, and never a
	// bearer token that a client offered as one.
	subprotocol := redact(ws.Subprotocol())
	c.log.Info("connected", zap.String("remote", c.remote), zap.String("subprotocol", subprotocol))
	c.v1, c.counted = subprotocol == proto.Subprotocol, true
	g.opts.Metrics.opened(c.id, c.v1, subprotocol)
	go g.writeLoop(c, ws)
	go g.readLoop(c, ws)
}

// handshakeExtras are the handshake's headers and query string, in the
// shape of API Gateway's HTTP events.
func handshakeExtras(r *http.Request) (headers, query map[string]string) {
	headers = map[string]string{"Host": r.Host}
	for k, v := range r.Header {
		headers[k] = strings.Join(v, ", ")
	}
	query = map[string]string{}
	for k, v := range r.URL.Query() {
		query[k] = strings.Join(v, ",")
	}
	return headers, query
}

// writeLoop writes the pushed frames to the client. When a closing push
// ends the connection, the frames pushed before it go out first, as the
// function sent them.
func (g *Gateway) writeLoop(c *conn, ws *websocket.Conn) {
	defer g.wg.Done()
	defer close(c.written)
	for {
		select {
		case <-c.out.ready:
		case <-c.done:
			if c.end.serverClose {
				g.writeQueued(c, ws, true)
			}
			return
		}
		if !g.writeQueued(c, ws, false) {
			return
		}
	}
}

// writeQueued writes the frames queued for c, stopping when c ends unless
// flush; false when c cannot be written to any more.
func (g *Gateway) writeQueued(c *conn, ws *websocket.Conn, flush bool) bool {
	for {
		if !flush && c.ended() {
			return c.end.serverClose && g.writeQueued(c, ws, true)
		}
		f, ok := c.out.take()
		if !ok {
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.WriteTimeout)
		err := ws.Write(ctx, f.typ, f.data)
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		c.out.written(f)
		switch {
		case err == nil:
			g.opts.Metrics.frameOut(len(f.data))
			continue
		case timedOut:
			g.end(c, tooSlow)
		default:
			// The connection broke under the write: the client went
			// away, and its close stays the client's (closing is sent).
			g.end(c, ending{reason: "connection lost during a write"})
		}
		return false
	}
}

// readLoop reads the client's frames as they arrive (the idle timer follows
// arrivals, not invokes) and hands them to the invoker; the client's close
// becomes a closing invoke.
func (g *Gateway) readLoop(c *conn, ws *websocket.Conn) {
	defer g.wg.Done()
	defer c.idle.Stop()
	if !g.opts.ConcurrentFrames {
		g.wg.Add(1)
		go g.invokeLoop(c)
	}
	var err error
	for {
		var typ websocket.MessageType
		var data []byte
		if typ, data, err = ws.Read(context.Background()); err != nil { // see Gateway.ctx
			break
		}
		c.lastFrame.Store(time.Now().UnixNano())
		c.idle.Reset(g.opts.IdleTimeout)
		g.opts.Metrics.frameIn(c.id, len(data))
		f := inFrame{typ: typ, data: data}
		if !c.in.tryPut(f) {
			// Full: stop reading until an invoke returns. The client is
			// not idle meanwhile, so neither is its timer running.
			c.idle.Stop()
			ok := c.in.put(f, c.done)
			c.idle.Reset(g.opts.IdleTimeout)
			if !ok {
				break
			}
		}
		if g.opts.ConcurrentFrames {
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				if f, ok := c.in.take(); ok {
					g.transmit(c, f)
				}
			}()
		}
	}
	g.disconnected(c, err)
}

// invokeLoop invokes one client's frames one at a time, in order.
func (g *Gateway) invokeLoop(c *conn) {
	defer g.wg.Done()
	for {
		f, ok := c.in.take()
		if !ok {
			return
		}
		g.transmit(c, f)
	}
}

// transmit invokes the function for one frame. A failed invoke makes the
// gateway drop the client: the TCP connection closes without a close frame.
func (g *Gateway) transmit(c *conn, f inFrame) {
	defer c.in.done(f)
	if c.ended() && c.end.byGateway {
		return
	}
	ev := wsEvent{Action: "data send", SecConnectionID: c.id, DataType: "text", Data: string(f.data)}
	if f.typ == websocket.MessageBinary {
		ev.DataType, ev.Data = "binary", base64.StdEncoding.EncodeToString(f.data)
	}
	if _, err := g.invoke(g.ctx, event{WebSocket: ev}); err != nil && g.ctx.Err() == nil {
		if g.end(c, ending{byGateway: true, abrupt: true, reason: "transmit invoke failed"}) {
			c.log.Warn("transmit invoke failed: dropping the client", zap.String("error", redact(err.Error())))
		}
	}
}

// disconnected records who ended c, lets the frames a client sent before
// its close reach the function, and then sends closing where due.
func (g *Gateway) disconnected(c *conn, err error) {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		g.end(c, ending{byGateway: true, code: websocket.StatusMessageTooBig, reason: "message too big"})
	}
	g.end(c, ending{code: websocket.CloseStatus(err), reason: closeReason(err)}) // the client's, unless the gateway's came first
	c.in.close()
	c.in.wait()
	g.finish(c, err, false)
}

// finish logs how c ended, sends closing where due and reports it.
func (g *Gateway) finish(c *conn, err error, upgradeFailed bool) {
	e := c.end
	var why string
	switch {
	case e.byGateway:
		why = "closed by the gateway: " + e.reason
		if !e.abrupt {
			why = fmt.Sprintf("closed by the gateway: %d %s", e.code, e.reason)
		}
	case websocket.CloseStatus(err) != -1:
		why = fmt.Sprintf("client closed: %d %s", websocket.CloseStatus(err), closeReason(err))
	default:
		why = "client went away"
	}
	why = redact(why)
	c.log.Info("disconnected", zap.String("why", why))
	if c.counted {
		g.opts.Metrics.closed(c.id, c.v1, why)
	}
	d := Disconnect{ConnectionID: c.id, ByGateway: e.byGateway, Abrupt: e.abrupt, Why: why}
	// The function stored a connection whose upgrade then failed.
	if upgradeFailed || g.sendsClosing(e) {
		d.ClosingSent = true
		_, d.ClosingErr = g.invoke(context.WithoutCancel(g.ctx), event{WebSocket: wsEvent{Action: "closing", SecConnectionID: c.id}})
		g.closings.Add(1)
		if d.ClosingErr != nil {
			c.log.Warn("cleanup invoke failed", zap.String("error", redact(d.ClosingErr.Error())))
		}
	}
	g.disconnects.Add(1)
	if h := g.opts.Hooks.Disconnected; h != nil {
		h(d)
	}
}

// sendsClosing is the one place that decides whether an ending sends
// closing: always for a client's close, for the gateway's only where asked.
func (g *Gateway) sendsClosing(e ending) bool {
	switch {
	case g.opts.DropCleanup:
		return false
	case !e.byGateway:
		return true
	case e.idle:
		return g.opts.IdleCleanup
	case e.serverClose:
		return g.opts.ClosingOnServerClose
	default:
		return false
	}
}

func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// ConnectionInfo is one row of GET /_scfws/connections.
type ConnectionInfo struct {
	ID        string    `json:"secConnectionID"`
	Remote    string    `json:"remote"`
	Since     time.Time `json:"since"`
	LastFrame time.Time `json:"lastFrame"`
	FailPush  int       `json:"failPush,omitempty"`
	// Buffered is how many bytes wait to be written to the client.
	Buffered int `json:"buffered"`
	// Pending is how many of its frames wait for, or are in, their invoke.
	Pending int `json:"pending"`
}

// Connections lists the connections the function accepted and that are
// still open, by ID.
func (g *Gateway) Connections() []ConnectionInfo {
	g.mu.Lock()
	conns := make([]*conn, 0, len(g.conns))
	for _, c := range g.conns {
		if c.accepted.Load() {
			conns = append(conns, c)
		}
	}
	g.mu.Unlock()
	out := make([]ConnectionInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, ConnectionInfo{ID: c.id, Remote: c.remote, Since: c.since,
			LastFrame: time.Unix(0, c.lastFrame.Load()), FailPush: c.failPush,
			Buffered: c.out.buffered(), Pending: c.in.pending()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
