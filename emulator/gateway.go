package emulator

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
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
	// PushLatency delays every reverse-push answer.
	PushLatency time.Duration
	// MaxMessageBytes: a larger client frame closes the client with 1009
	// (default 4 MiB, which base64 keeps inside SCF's 6 MB event limit).
	MaxMessageBytes int64
	// SendBuffer is how many frames a client may fall behind before it is
	// closed as too slow (default 256).
	SendBuffer int
	// WriteTimeout bounds writing one frame to a client (default 5s).
	WriteTimeout time.Duration
	// HeartbeatMessage is what the chat page sends to stay alive.
	HeartbeatMessage string
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
	if o.SendBuffer <= 0 {
		o.SendBuffer = 256
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
}

// Gateway is the API Gateway side: an http.Handler serving the WebSocket API,
// the reverse-push address, and the chat page at /.
type Gateway struct {
	fn   Invoker
	log  *zap.Logger
	opts Options
	mux  *http.ServeMux

	ctx    context.Context // ends with Close: stops invokes for frames
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[string]*conn
	closed bool
	wg     sync.WaitGroup
}

// New returns a Gateway that invokes fn.
func New(fn Invoker, log *zap.Logger, o Options) *Gateway {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{fn: fn, log: log, opts: o, mux: http.NewServeMux(), ctx: ctx, cancel: cancel, conns: map[string]*conn{}}
	g.mux.HandleFunc("GET "+o.Path, g.serveWebSocket)
	g.mux.HandleFunc(o.PushPath, g.servePush)
	g.mux.HandleFunc("GET /{$}", g.servePage)
	g.mux.HandleFunc("GET /_scfws/config", g.serveConfig)
	g.mux.HandleFunc("GET /_scfws/connections", g.serveConnections)
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
		c.closeByGateway(websocket.StatusGoingAway, "gateway shutting down")
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

	send chan frame
	done chan struct{} // closed when the gateway gives up on it
	ws   atomic.Pointer[websocket.Conn]

	once      sync.Once
	byGateway atomic.Bool // closed by the gateway: no closing event for it
	lastFrame atomic.Int64
	closeCode websocket.StatusCode
	closeWhy  string
	idle      *time.Timer
}

type frame struct {
	typ  websocket.MessageType
	data []byte
}

// closeByGateway closes c from the gateway's side: a push of closing, the
// idle timeout, a slow client, a failed invoke.
func (c *conn) closeByGateway(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		c.closeCode, c.closeWhy = code, reason
		c.byGateway.Store(true)
		close(c.done)
		if ws := c.ws.Load(); ws != nil {
			go func() { _ = ws.Close(code, reason) }()
		}
	})
}

// enqueue hands a frame to the writer; false when c cannot keep up.
func (c *conn) enqueue(f frame) bool {
	select {
	case c.send <- f:
		return true
	case <-c.done:
		return false
	default:
		return false
	}
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
	WebSocket      wsEvent         `json:"websocket"`
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
		return nil, err
	}
	return g.fn.Invoke(ctx, payload)
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

// serveWebSocket asks the function (connecting) before it completes the
// handshake, as the gateway does.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is a WebSocket API: connect with a WebSocket client", http.StatusUpgradeRequired)
		return
	}
	failPush, _ := strconv.Atoi(r.URL.Query().Get("fail-push"))
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	c := &conn{id: newConnectionID(), remote: host, since: time.Now(), failPush: failPush,
		send: make(chan frame, g.opts.SendBuffer), done: make(chan struct{})}
	if !g.add(c) {
		http.Error(w, "gateway shutting down", http.StatusServiceUnavailable)
		return
	}
	log := g.log.With(zap.String("connectionId", c.id))

	out, err := g.invoke(r.Context(), event{
		RequestContext: &requestContext{ServiceID: "service-local", ServiceName: "local", Path: g.opts.Path, HTTPMethod: "GET",
			RequestID: newRequestID(), Identity: map[string]string{}, SourceIP: host, Stage: "release", WebsocketEnable: true},
		WebSocket: wsEvent{Action: "connecting", SecConnectionID: c.id,
			SecWebSocketProtocol:   strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ", "),
			SecWebSocketExtensions: strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ", ")},
	})
	var reply handshakeReply
	if err == nil {
		if jerr := json.Unmarshal(out, &reply); jerr != nil {
			err = fmt.Errorf("reply %.200q is not JSON: %w", out, jerr)
		}
	}
	switch {
	case err != nil:
		g.remove(c)
		log.Warn("handshake refused: the register invoke failed", zap.Error(err))
		http.Error(w, "register function failed: "+err.Error(), http.StatusBadGateway)
		return
	case reply.ErrNo != 0:
		g.remove(c)
		log.Warn("handshake refused by the function", zap.Int("errNo", reply.ErrNo), zap.String("errMsg", reply.ErrMsg))
		w.Header().Set("X-Scfws-Errno", strconv.Itoa(reply.ErrNo))
		http.Error(w, fmt.Sprintf("refused by the register function: errNo %d: %s", reply.ErrNo, reply.ErrMsg), http.StatusForbidden)
		return
	}
	var protocols []string
	if reply.WebSocket != nil && reply.WebSocket.SecWebSocketProtocol != "" {
		protocols = []string{reply.WebSocket.SecWebSocketProtocol}
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: protocols,
		// The gateway checks no origin; the emulator listens on loopback.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		g.remove(c)
		log.Warn("handshake failed after the function accepted it", zap.Error(err))
		g.cleanup(c, "handshake failed")
		return
	}
	ws.SetReadLimit(g.opts.MaxMessageBytes)
	c.ws.Store(ws)
	select {
	case <-c.done: // closed by a push before the upgrade completed
		_ = ws.Close(c.closeCode, c.closeWhy)
	default:
	}
	log.Info("connected", zap.String("remote", host), zap.String("subprotocol", ws.Subprotocol()))
	c.lastFrame.Store(time.Now().UnixNano())
	c.idle = time.AfterFunc(g.opts.IdleTimeout, func() {
		c.closeByGateway(websocket.StatusGoingAway, "idle timeout")
	})
	g.wg.Add(2)
	go g.writeLoop(c, ws)
	go g.readLoop(c, ws, log)
}

func (g *Gateway) writeLoop(c *conn, ws *websocket.Conn) {
	defer g.wg.Done()
	for {
		select {
		case f := <-c.send:
			ctx, cancel := context.WithTimeout(g.ctx, g.opts.WriteTimeout)
			err := ws.Write(ctx, f.typ, f.data)
			cancel()
			if err != nil {
				c.closeByGateway(websocket.StatusPolicyViolation, "write failed")
				return
			}
		case <-c.done:
			return
		}
	}
}

// readLoop turns each client frame into a transmit invoke, in order, and the
// client's close into a closing invoke.
func (g *Gateway) readLoop(c *conn, ws *websocket.Conn, log *zap.Logger) {
	defer g.wg.Done()
	defer c.idle.Stop()
	for {
		typ, data, err := ws.Read(g.ctx)
		if err != nil {
			g.disconnected(c, err, log)
			return
		}
		c.lastFrame.Store(time.Now().UnixNano())
		c.idle.Reset(g.opts.IdleTimeout)
		ev := wsEvent{Action: "data send", SecConnectionID: c.id, DataType: "text", Data: string(data)}
		if typ == websocket.MessageBinary {
			ev.DataType, ev.Data = "binary", base64.StdEncoding.EncodeToString(data)
		}
		if _, err := g.invoke(g.ctx, event{WebSocket: ev}); err != nil {
			if g.ctx.Err() != nil {
				return
			}
			// A failed transmit invoke makes the gateway close that client.
			log.Warn("transmit invoke failed: closing the client", zap.Error(err))
			c.closeByGateway(websocket.StatusInternalError, "function failed")
		}
	}
}

// disconnected forgets c and, for a close its client made, sends closing;
// for a close the gateway made it does so only where asked to.
func (g *Gateway) disconnected(c *conn, err error, log *zap.Logger) {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		c.closeByGateway(websocket.StatusMessageTooBig, "message too big")
	}
	byGateway := c.byGateway.Load()
	c.closeByGateway(websocket.StatusNormalClosure, "") // marks a client's close; waits for one in progress
	g.remove(c)
	why := "client closed"
	switch {
	case byGateway:
		why = fmt.Sprintf("closed by the gateway: %d %s", c.closeCode, c.closeWhy)
	case websocket.CloseStatus(err) != -1:
		why = fmt.Sprintf("client closed: %d %s", websocket.CloseStatus(err), closeReason(err))
	}
	log.Info("disconnected", zap.String("why", why))
	idle := byGateway && c.closeWhy == "idle timeout"
	switch {
	case g.opts.DropCleanup, byGateway && !(idle && g.opts.IdleCleanup):
		return
	}
	g.cleanup(c, why)
}

func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// cleanup sends closing for c, with a context of its own: the client is gone.
func (g *Gateway) cleanup(c *conn, why string) {
	if _, err := g.invoke(context.WithoutCancel(g.ctx), event{WebSocket: wsEvent{Action: "closing", SecConnectionID: c.id}}); err != nil {
		g.log.Warn("cleanup invoke failed", zap.String("connectionId", c.id), zap.String("why", why), zap.Error(err))
	}
}

// push is the body of a reverse-push request.
type push struct {
	WebSocket *struct {
		Action          string  `json:"action"`
		SecConnectionID string  `json:"secConnectionID"`
		DataType        string  `json:"dataType"`
		Data            *string `json:"data"`
	} `json:"websocket"`
}

// maxPushBytes bounds a push body: SCF's 6 MB reply limit, and room.
const maxPushBytes = 8 << 20

// servePush is the reverse-push address. Success is 200 {"errNo":0}; a
// malformed push is 400 and an unknown connection 404, both with errMsg.
func (g *Gateway) servePush(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		pushAnswer(w, http.StatusMethodNotAllowed, "POST a JSON body")
		return
	}
	if d := g.opts.PushLatency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	var p push
	dec := json.NewDecoder(io.LimitReader(r.Body, maxPushBytes))
	if err := dec.Decode(&p); err != nil {
		pushAnswer(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	switch {
	case p.WebSocket == nil:
		pushAnswer(w, http.StatusBadRequest, "missing websocket")
		return
	case p.WebSocket.Action == "":
		pushAnswer(w, http.StatusBadRequest, "missing websocket.action")
		return
	case p.WebSocket.SecConnectionID == "":
		pushAnswer(w, http.StatusBadRequest, "missing websocket.secConnectionID")
		return
	}
	ws := p.WebSocket
	var f frame
	switch ws.Action {
	case "data send":
		if ws.Data == nil {
			pushAnswer(w, http.StatusBadRequest, "missing websocket.data")
			return
		}
		switch ws.DataType {
		case "text", "":
			f = frame{typ: websocket.MessageText, data: []byte(*ws.Data)}
		case "binary":
			b, err := base64.StdEncoding.DecodeString(*ws.Data)
			if err != nil {
				pushAnswer(w, http.StatusBadRequest, "binary data is not base64: "+err.Error())
				return
			}
			f = frame{typ: websocket.MessageBinary, data: b}
		default:
			pushAnswer(w, http.StatusBadRequest, fmt.Sprintf("unknown dataType %q", ws.DataType))
			return
		}
	case "closing":
	default:
		pushAnswer(w, http.StatusBadRequest, fmt.Sprintf("unknown action %q", ws.Action))
		return
	}
	c := g.get(ws.SecConnectionID)
	if c == nil {
		pushAnswer(w, http.StatusNotFound, "connection not found")
		return
	}
	if c.failPush != 0 {
		pushAnswer(w, c.failPush, "failure injected with fail-push")
		return
	}
	if ws.Action == "closing" {
		c.closeByGateway(websocket.StatusNormalClosure, "closed by the server")
		g.remove(c)
		pushAnswer(w, http.StatusOK, "ok")
		return
	}
	if !c.enqueue(f) {
		// A client that cannot keep up is closed rather than allowed to
		// hold up the pushes to everyone else.
		c.closeByGateway(websocket.StatusPolicyViolation, "client too slow")
		g.remove(c)
		pushAnswer(w, http.StatusNotFound, "connection closed: client too slow")
		return
	}
	pushAnswer(w, http.StatusOK, "ok")
}

var okAnswer = []byte(`{"errNo":0,"errMsg":"ok"}` + "\n")

func pushAnswer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_, _ = w.Write(okAnswer)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errNo": status, "errMsg": msg})
}

//go:embed web
var web embed.FS

func (g *Gateway) servePage(w http.ResponseWriter, r *http.Request) {
	page, err := web.ReadFile("web/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(page)
}

// serveConfig tells the chat page where to connect and how to stay alive.
func (g *Gateway) serveConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"path":             g.opts.Path,
		"heartbeatMessage": g.opts.HeartbeatMessage,
		// A third of the idle timeout: one late timer does not lose the connection.
		"heartbeatIntervalMs": (g.opts.IdleTimeout / 3).Milliseconds(),
	})
}

// ConnectionInfo is one row of GET /_scfws/connections.
type ConnectionInfo struct {
	ID        string    `json:"secConnectionID"`
	Remote    string    `json:"remote"`
	Since     time.Time `json:"since"`
	LastFrame time.Time `json:"lastFrame"`
	FailPush  int       `json:"failPush,omitempty"`
}

// Connections lists the open connections, by ID.
func (g *Gateway) Connections() []ConnectionInfo {
	g.mu.Lock()
	out := make([]ConnectionInfo, 0, len(g.conns))
	for _, c := range g.conns {
		if c.ws.Load() == nil {
			continue // still in its handshake
		}
		out = append(out, ConnectionInfo{ID: c.id, Remote: c.remote, Since: c.since,
			LastFrame: time.Unix(0, c.lastFrame.Load()), FailPush: c.failPush})
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (g *Gateway) serveConnections(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(g.Connections())
}
