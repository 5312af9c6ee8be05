package emulator

import (
	"embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

//go:embed web
var web embed.FS

func (g *Gateway) servePage(w http.ResponseWriter, r *http.Request) { writePage(w, "web/index.html") }

// writePage answers with one of the embedded pages.
func writePage(w http.ResponseWriter, name string) {
	page, err := web.ReadFile(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(page)
}

// admin serves a /_scfws/ path to local programs and to the emulator's own
// chat page only (see localOnly).
func (g *Gateway) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if msg, ok := g.localOnly(r, true); !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]any{"errNo": http.StatusForbidden, "errMsg": msg})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		h(w, r)
	}
}

// localOnly refuses what a web page could send to the push address or the
// admin paths. Browsers mark their requests: cross-origin ones carry Origin
// (a POST always does) and Sec-Fetch-Site; programs (the function, curl)
// send neither. A page on another site that resolves its name to 127.0.0.1
// (DNS rebinding) is same-origin to the browser, so the Host must be a
// loopback name unless AnyHost. sameOrigin lets the emulator's own page in:
// its GETs of /_scfws/ carry no Origin, or this host's, and Sec-Fetch-Site
// same-origin (none when typed in the address bar).
func (g *Gateway) localOnly(r *http.Request, sameOrigin bool) (string, bool) {
	if !sameOrigin {
		return ProgramOnly(r, g.opts.AnyHost)
	}
	if !g.opts.AnyHost && !IsLoopback(r.Host) {
		return hostRefused(r.Host), false
	}
	origin, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
	if origin != "" && !isSameOrigin(origin, r.Host) {
		return "requests from other origins are refused", false
	}
	if site != "" && site != "same-origin" && site != "none" {
		return "requests from other sites are refused", false
	}
	return "", true
}

// ProgramOnly refuses a request a web page could have sent: any with
// Origin or Sec-Fetch-Site, or (unless anyHost) whose Host is not a loopback
// name, which is how a DNS-rebound page arrives. It returns why.
func ProgramOnly(r *http.Request, anyHost bool) (string, bool) {
	if !anyHost && !IsLoopback(r.Host) {
		return hostRefused(r.Host), false
	}
	if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "" {
		return "browser requests are refused here: only programs may call it", false
	}
	return "", true
}

func hostRefused(host string) string {
	return fmt.Sprintf("Host %.100q is not a loopback name: this address answers local programs only (run local with -public to allow it)", host)
}

// IsLoopback reports whether host, a name or an address with or without a
// port, names this machine: "localhost" or a loopback address.
func IsLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isSameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, host)
}

// serveConfig tells the chat page where to connect, how to stay alive, and
// whether it can get tokens.
func (g *Gateway) serveConfig(w http.ResponseWriter, r *http.Request) {
	_ = json.NewEncoder(w).Encode(map[string]any{
		"path":             g.opts.Path,
		"heartbeatMessage": g.opts.HeartbeatMessage,
		// A third of the idle timeout: one late timer does not lose the connection.
		"heartbeatIntervalMs": (g.opts.IdleTimeout / 3).Milliseconds(),
		// Whether GET /_scfws/token mints scfws.v1 tokens: without it the
		// page connects as an anonymous scfws.v1 client.
		"tokens": g.opts.Token != nil,
		// Whether the dashboard is served (local -metrics, on by default).
		"dashboard": g.opts.Metrics != nil,
	})
}

func (g *Gateway) serveConnections(w http.ResponseWriter, r *http.Request) {
	_ = json.NewEncoder(w).Encode(g.Connections())
}

// serveDrop is POST /_scfws/connections/{id}/drop: the gateway drops that
// connection once, as after a push it refused: the TCP connection closes
// without a close frame (browsers see 1006) and, as there, no closing is
// sent, so the function learns of it when its next push there fails. The
// client may connect again at once; ?fail-push fails every push, this one
// connection only. The ID is percent-encoded (standard base64 has "/").
func (g *Gateway) serveDrop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c := g.get(id)
	if c == nil || !c.accepted.Load() || !g.end(c, ending{byGateway: true, abrupt: true, reason: "dropped once (POST /_scfws/connections/{id}/drop)"}) {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"errNo": http.StatusNotFound, "errMsg": "no such open connection"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errNo": 0, "errMsg": "ok", "dropped": id})
}

// Refusal is a handshake the gateway refused: browsers cannot read the
// answer's body, so the chat page asks GET /_scfws/status for it.
type Refusal struct {
	Time time.Time `json:"time"`
	// Status is the HTTP answer: 403 when the function refused (ErrNo,
	// ErrMsg are its reply's), 502 when the register invoke failed, 400
	// for a bad request.
	Status int    `json:"status"`
	ErrNo  int    `json:"errNo,omitempty"`
	ErrMsg string `json:"errMsg"`
	conn   string // the refused connection's ID, when it had one
}

// Status is GET /_scfws/status.
type Status struct {
	// Connections is how many connections are open.
	Connections int `json:"connections"`
	// Disconnects counts connections that ended and whose closing invoke,
	// if one was due, has returned; ClosingSent counts those invokes.
	Disconnects int64 `json:"disconnects"`
	ClosingSent int64 `json:"closingSent"`
	// Invoking and Pushing are the invokes and push requests in flight;
	// Buffered is what waits to be written to clients. All three at 0: no
	// frame is on its way to a client, bar what is on the wire.
	Invoking    int64    `json:"invoking"`
	Pushing     int64    `json:"pushing"`
	Buffered    int      `json:"buffered"`
	LastRefused *Refusal `json:"lastRefused"`
}

// Status reports the gateway's counters and its last refused handshake.
func (g *Gateway) Status() Status {
	conns := g.Connections()
	buffered := 0
	for _, c := range conns {
		buffered += c.Buffered
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Status{Connections: len(conns), Disconnects: g.disconnects.Load(), ClosingSent: g.closings.Load(),
		Invoking: g.invoking.Load(), Pushing: g.pushing.Load(), Buffered: buffered}
	if g.refused != nil {
		r := *g.refused
		s.LastRefused = &r
	}
	return s
}

func (g *Gateway) serveStatus(w http.ResponseWriter, r *http.Request) {
	_ = json.NewEncoder(w).Encode(g.Status())
}

// refuse answers a handshake with an error, logs it and keeps it for
// /_scfws/status.
func (g *Gateway) refuse(w http.ResponseWriter, rf Refusal) {
	rf.Time = time.Now()
	rf.ErrMsg = redact(rf.ErrMsg)
	g.mu.Lock()
	g.refused = &rf
	g.mu.Unlock()
	g.opts.Metrics.refusedHandshake(rf.conn, rf.Status, rf.ErrMsg)
	body := rf.ErrMsg
	switch {
	case rf.Status == http.StatusForbidden:
		w.Header().Set("X-Scfws-Errno", strconv.Itoa(rf.ErrNo))
		body = fmt.Sprintf("refused by the register function: errNo %d: %s", rf.ErrNo, rf.ErrMsg)
		g.log.Warn("handshake refused by the function", zap.Int("errNo", rf.ErrNo), zap.String("errMsg", rf.ErrMsg))
	default:
		g.log.Warn("handshake refused", zap.Int("status", rf.Status), zap.String("why", rf.ErrMsg))
	}
	http.Error(w, body, rf.Status)
}

// bearerToken is a bearer.<token> subprotocol entry: clients put JWTs
// there, since browsers cannot set headers on a WebSocket handshake.
var bearerToken = regexp.MustCompile(`(?i)bearer\.[^\s,;"'\\]+`)

// redact hides bearer tokens in whatever the gateway logs or echoes.
func redact(s string) string {
	return bearerToken.ReplaceAllString(s, "bearer.[redacted]")
}
