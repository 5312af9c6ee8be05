package emulator

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

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
// malformed push is 400 (and drops the client it names, as any non-200
// answer does at the gateway) and an unknown connection UnknownPushStatus
// (404), all with errMsg. Only programs may push: a request from a browser (an
// Origin or Sec-Fetch-Site header) or one that is not JSON is refused, so
// that no web page can push to or close a client.
func (g *Gateway) servePush(w http.ResponseWriter, r *http.Request) {
	g.pushing.Add(1)
	defer g.pushing.Add(-1)
	if g.opts.Metrics != nil {
		pw := &pushWriter{ResponseWriter: w, start: time.Now()}
		defer g.countPush(pw)
		w = pw
	}
	if !g.admitPush(w, r) {
		return
	}
	body, ok := g.readPush(w, r)
	if !ok {
		return
	}
	var p push
	select {
	case g.decoding <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	err := json.Unmarshal(body, &p)
	<-g.decoding
	if err != nil {
		g.refusePush(w, body, "malformed JSON: "+err.Error())
		return
	}
	if !g.delayPush(r.Context()) {
		return
	}
	o, problem := p.order()
	noteOrder(w, o)
	if problem != "" {
		g.refusePush(w, body, problem)
		return
	}
	g.deliver(w, o)
}

// admitPush answers the pushes the gateway does not read: from a browser,
// not a JSON POST, or over -push-rate-limit.
func (g *Gateway) admitPush(w http.ResponseWriter, r *http.Request) bool {
	if msg, ok := g.localOnly(r, false); !ok {
		pushAnswer(w, http.StatusForbidden, msg)
		return false
	}
	if r.Method != http.MethodPost {
		pushAnswer(w, http.StatusMethodNotAllowed, "POST a JSON body")
		return false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		pushAnswer(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	if g.rate != nil {
		if ok, wait := g.rate.take(); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write(rateLimitedAnswer)
			return false
		}
	}
	return true
}

// readPush reads the body, or answers why it could not.
func (g *Gateway) readPush(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	// A slow body must not hold the connection (and its goroutine) forever.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(g.opts.PushReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushBytes))
	if err == nil {
		return body, true
	}
	var tooBig *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooBig):
		pushAnswer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("push body over %d bytes", maxPushBytes))
	case errors.As(err, &ne) && ne.Timeout():
		pushAnswer(w, http.StatusRequestTimeout, "push body not read within "+g.opts.PushReadTimeout.String())
	default:
		pushAnswer(w, http.StatusBadRequest, "reading the body: "+err.Error())
	}
	return nil, false
}

// refusePush answers 400. A push refused for a connection the gateway
// knows drops that client: Tencent says any non-200 answer is a system
// fault after which the gateway sends FIN to the client.
func (g *Gateway) refusePush(w http.ResponseWriter, body []byte, msg string) {
	var named struct {
		WebSocket struct {
			SecConnectionID string `json:"secConnectionID"`
		} `json:"websocket"`
	}
	if json.Unmarshal(body, &named) == nil {
		if c := g.get(named.WebSocket.SecConnectionID); c != nil {
			g.end(c, ending{byGateway: true, abrupt: true, reason: "a push for it was refused (400)"})
		}
	}
	pushAnswer(w, http.StatusBadRequest, msg)
}

// delayPush waits out -push-latency; false when the pusher left meanwhile.
func (g *Gateway) delayPush(ctx context.Context) bool {
	d := g.opts.PushLatency
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// order is what a valid push asks of the gateway.
type order struct {
	connID  string
	closing bool  // close the client
	frame   frame // else send it this
}

// order checks the push; problem says what is wrong with it.
func (p push) order() (o order, problem string) {
	ws := p.WebSocket
	switch {
	case ws == nil:
		return o, "missing websocket"
	case ws.Action == "":
		return o, "missing websocket.action"
	case ws.SecConnectionID == "":
		return o, "missing websocket.secConnectionID"
	}
	o.connID = ws.SecConnectionID
	switch ws.Action {
	case "data send":
		o.frame, problem = pushedFrame(ws.DataType, ws.Data)
	case "closing":
		o.closing = true
	default:
		problem = fmt.Sprintf("unknown action %q", ws.Action)
	}
	return o, problem
}

// pushedFrame is the frame a "data send" push carries: text as it is,
// binary in base64.
func pushedFrame(dataType string, data *string) (frame, string) {
	if data == nil {
		return frame{}, "missing websocket.data"
	}
	switch dataType {
	case "text", "":
		return frame{typ: websocket.MessageText, data: []byte(*data)}, ""
	case "binary":
		b, err := base64.StdEncoding.DecodeString(*data)
		if err != nil {
			return frame{}, "binary data is not base64: " + err.Error()
		}
		return frame{typ: websocket.MessageBinary, data: b}, ""
	default:
		return frame{}, fmt.Sprintf("unknown dataType %q", dataType)
	}
}

// deliver carries out a valid push on its connection.
func (g *Gateway) deliver(w http.ResponseWriter, o order) {
	c := g.get(o.connID)
	if c == nil {
		pushAnswer(w, g.opts.UnknownPushStatus, "connection not found")
		return
	}
	if s := c.failPush; s != 0 {
		// Tencent: a non-200 answer is a system fault, and the gateway
		// sends FIN to that client. 429 only asks the caller to slow down.
		if s != http.StatusOK && s != http.StatusTooManyRequests {
			g.end(c, ending{byGateway: true, abrupt: true, reason: fmt.Sprintf("a push answered %d (fail-push)", s)})
		}
		pushAnswer(w, s, "failure injected with fail-push")
		return
	}
	if o.closing {
		g.end(c, ending{byGateway: true, code: websocket.StatusNormalClosure, reason: "closed by the server", serverClose: true})
		pushAnswer(w, http.StatusOK, "ok")
		return
	}
	if !c.out.put(o.frame) {
		// A client that cannot keep up is closed rather than allowed to
		// hold up the pushes to everyone else, or to grow without bound.
		g.end(c, tooSlow)
		pushAnswer(w, g.opts.UnknownPushStatus, "connection closed: client too slow")
		return
	}
	pushAnswer(w, http.StatusOK, "ok")
}

var (
	okAnswer          = []byte(`{"errNo":0,"errMsg":"ok"}` + "\n")
	rateLimitedAnswer = []byte(`{"errNo":429,"errMsg":"API rate limit exceeded"}` + "\n")
)

func pushAnswer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_, _ = w.Write(okAnswer)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errNo": status, "errMsg": msg})
}

// bucket is a token bucket: rate tokens a second, at most rate saved up.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newBucket(rate int, now func() time.Time) *bucket {
	return &bucket{rate: float64(rate), tokens: float64(rate), last: now(), now: now}
}

// take spends a token; without one, it says how long until there is one.
func (b *bucket) take() (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
