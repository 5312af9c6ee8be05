package emulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/scfws/scfws/gateway"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"

	_ "github.com/scfws/scfws/internal/testkit" // for go test ./... -update
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// routerInvoker is the scfws function in process, through its raw-bytes
// handler; set once the gateway's push URL is known.
type routerInvoker struct{ r *router.Router }

func (i *routerInvoker) Invoke(ctx context.Context, p []byte) ([]byte, error) {
	return i.r.Invoke(ctx, p)
}

type env struct {
	*gw
	reg *store.Memory
}

// start runs a gateway in front of the real scfws router with an in-memory
// registry; load, if set, replaces the router's dependencies.
func start(t *testing.T, o Options, ro router.Options, load router.Loader) *env {
	t.Helper()
	inv := &routerInvoker{}
	g := startGateway(t, inv, o)
	push, err := gateway.New(g.push, gateway.Options{Concurrency: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(push.CloseIdle)
	reg := store.NewMemory(time.Hour, nil)
	if ro.MaxMessageBytes == 0 {
		ro.MaxMessageBytes = 1 << 20
	}
	if load == nil {
		load = router.Fixed(&router.Deps{Registry: reg, Pusher: push, Options: ro})
	}
	inv.r = router.New(zaptest.NewLogger(t), load)
	return &env{gw: g, reg: reg}
}

func TestTextAndBinaryThroughTheFunction(t *testing.T) {
	e := start(t, Options{}, router.Options{}, nil)
	a := dial(t, e.url, nil)
	b := dial(t, e.url, nil)
	if got := e.reg.All(); len(got) != 2 {
		t.Fatalf("registry = %q; want the two connections", got)
	}

	write(t, a, websocket.MessageText, []byte("hello 连接 🙂"))
	typ, data, err := read(t, b)
	if err != nil || typ != websocket.MessageText || string(data) != "hello 连接 🙂" {
		t.Errorf("b read %v %q %v; want the text frame", typ, data, err)
	}
	bin := []byte{0, 1, 2, 0xfe, 0xff, '+', '/', '='}
	write(t, b, websocket.MessageBinary, bin)
	typ, data, err = read(t, a)
	if err != nil || typ != websocket.MessageBinary || !bytes.Equal(data, bin) {
		t.Errorf("a read %v %v %v; want the binary frame %v", typ, data, err, bin)
	}
	// Neither got its own frame back: the next frame each reads is the other's.
	write(t, a, websocket.MessageText, []byte("second"))
	if _, data, _ := read(t, b); string(data) != "second" {
		t.Errorf("b read %q; want second", data)
	}
}

// The refusal reaches the client as 403 with the function's errMsg, and the
// chat page (which cannot read that body) finds it in /_scfws/status.
func TestHandshakeRefusedByTheFunction(t *testing.T) {
	e := start(t, Options{}, router.Options{}, func(context.Context) (*router.Deps, error) {
		return nil, router.NotConfigured(errors.New("PUSH_TIMEOUT: invalid duration \"abc\""))
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.url, nil)
	if err == nil {
		t.Fatal("dial succeeded; want the handshake refused")
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Scfws-Errno") != "501" ||
		!strings.Contains(string(body), "errNo 501: not ready: PUSH_TIMEOUT") {
		t.Errorf("refusal = %d %q %q; want 403, errNo 501 and the function's errMsg", resp.StatusCode, resp.Header.Get("X-Scfws-Errno"), body)
	}
	if n := len(e.Connections()); n != 0 {
		t.Errorf("%d connections after a refused handshake; want 0", n)
	}
	r, err := http.Get(e.srv.URL + "/_scfws/status")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var st Status
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if lr := st.LastRefused; lr == nil || lr.Status != 403 || lr.ErrNo != 501 || !strings.Contains(lr.ErrMsg, "PUSH_TIMEOUT") || time.Since(lr.Time) > time.Hour {
		t.Errorf("status lastRefused = %+v; want 403, errNo 501, the errMsg and a time", st.LastRefused)
	}
}

func TestSubprotocolIsTheFunctions(t *testing.T) {
	e := start(t, Options{}, router.Options{Subprotocols: []string{"json", "binary"}}, nil)
	tests := []struct {
		give []string
		want string
	}{
		{[]string{"chat", "binary", "json"}, "binary"},
		{[]string{"chat"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		c := dial(t, e.url, &websocket.DialOptions{Subprotocols: tt.give})
		if got := c.Subprotocol(); got != tt.want {
			t.Errorf("offered %q: subprotocol %q; want %q", tt.give, got, tt.want)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}

func TestNotAWebSocketRequest(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{})
	resp, err := http.Get(g.srv.URL + "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("GET without upgrade = %d; want 426", resp.StatusCode)
	}
}

func TestPushEndpoint(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{})
	c, id := g.dialID(t, g.url)
	idJSON, _ := json.Marshal(id)
	tests := []struct {
		name       string
		give       string
		wantStatus int
		wantMsg    string
		wantFrame  string // what the client then reads, if anything
	}{
		{"malformed", `{"websocket":`, 400, "malformed JSON", ""},
		{"not an object", `[1]`, 400, "malformed JSON", ""},
		{"no websocket", `{}`, 400, "missing websocket", ""},
		{"no action", `{"websocket":{"secConnectionID":"x"}}`, 400, "missing websocket.action", ""},
		{"no id", `{"websocket":{"action":"data send","data":"x"}}`, 400, "missing websocket.secConnectionID", ""},
		{"no data", `{"websocket":{"action":"data send","secConnectionID":"x"}}`, 400, "missing websocket.data", ""},
		{"unknown action", `{"websocket":{"action":"explode","secConnectionID":"x"}}`, 400, `unknown action "explode"`, ""},
		{"bad base64", `{"websocket":{"action":"data send","secConnectionID":"x","dataType":"binary","data":"!!"}}`, 400, "not base64", ""},
		{"bad dataType", `{"websocket":{"action":"data send","secConnectionID":"x","dataType":"json","data":"{}"}}`, 400, `unknown dataType "json"`, ""},
		{"unknown id", `{"websocket":{"action":"data send","secConnectionID":"nobody==","data":"x"}}`, 404, "connection not found", ""},
		{"text", `{"websocket":{"action":"data send","secConnectionID":` + string(idJSON) + `,"dataType":"text","data":"pushed"}}`, 200, "ok", "pushed"},
		{"no dataType", `{"websocket":{"action":"data send","secConnectionID":` + string(idJSON) + `,"data":"plain"}}`, 200, "ok", "plain"},
	}
	for _, tt := range tests {
		status, body := pushTo(t, g.push, tt.give)
		wantErrNo := float64(tt.wantStatus)
		if tt.wantStatus == 200 {
			wantErrNo = 0
		}
		if status != tt.wantStatus || !strings.Contains(fmt.Sprint(body["errMsg"]), tt.wantMsg) || body["errNo"] != wantErrNo {
			t.Errorf("%s: push = %d %v; want %d with errMsg %q", tt.name, status, body, tt.wantStatus, tt.wantMsg)
		}
		if tt.wantFrame != "" {
			if _, data, err := read(t, c); err != nil || string(data) != tt.wantFrame {
				t.Errorf("%s: client read %q %v; want %q", tt.name, data, err, tt.wantFrame)
			}
		}
	}
	resp, err := http.Get(g.push)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET push = %d; want 405", resp.StatusCode)
	}

	// closing: the frames pushed before it arrive, then the client is
	// closed normally, and the ID is gone.
	for _, m := range []string{"last", "words"} {
		if status, _ := pushTo(t, g.push, pushBody("data send", id, m)); status != 200 {
			t.Fatalf("push = %d; want 200", status)
		}
	}
	if status, _ := pushTo(t, g.push, pushBody("closing", id, "")); status != 200 {
		t.Fatalf("closing push = %d; want 200", status)
	}
	for _, want := range []string{"last", "words"} {
		if _, data, err := read(t, c); err != nil || string(data) != want {
			t.Errorf("before the close, client read %q %v; want %q", data, err, want)
		}
	}
	if _, _, err := read(t, c); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after closing, client read error %v; want close 1000", err)
	}
	if status, _ := pushTo(t, g.push, pushBody("data send", id, "x")); status != 404 {
		t.Errorf("push after closing = %d; want 404", status)
	}
}

// A push the gateway refuses for a connection it knows (malformed, say)
// drops that client without a close frame: Tencent says any non-200 answer
// is a system fault after which the gateway sends FIN to the client.
func TestRefusedPushDropsTheClient(t *testing.T) {
	tests := []struct{ name, body string }{
		{"data not a string", `{"websocket":{"action":"data send","secConnectionID":%s,"dataType":"text","data":{"x":1}}}`},
		{"unknown dataType", `{"websocket":{"action":"data send","secConnectionID":%s,"dataType":"xml","data":"<a/>"}}`},
		{"bad base64", `{"websocket":{"action":"data send","secConnectionID":%s,"dataType":"binary","data":"!!"}}`},
		{"no data", `{"websocket":{"action":"data send","secConnectionID":%s}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, newFakeFn(), Options{})
			c := rawDial(t, g.url)
			id := g.onlyID(t)
			idJSON, _ := json.Marshal(id)
			if status, _ := pushTo(t, g.push, fmt.Sprintf(tt.body, idJSON)); status != 400 {
				t.Fatalf("push = %d; want 400", status)
			}
			ops := c.frames(t)
			if d := g.obs.disconnect(t, id); hasClose(ops) || !d.ByGateway || !d.Abrupt || d.ClosingSent {
				t.Errorf("frames %v, %+v; want the TCP connection dropped with no close frame, no closing", ops, d)
			}
		})
	}
}

// Every way a connection ends, and whether it sends closing: always for a
// client's close, for the gateway's only where a flag asks.
func TestWhoClosedDecidesClosing(t *testing.T) {
	tests := []struct {
		name        string
		give        Options
		end         func(t *testing.T, g *gw, c *websocket.Conn, id string)
		wantGateway bool
		wantClosing bool
	}{
		{"client closes", Options{}, clientCloses, false, true},
		{"client closes, -drop-cleanup", Options{DropCleanup: true}, clientCloses, false, false},
		{"client vanishes", Options{}, func(t *testing.T, g *gw, c *websocket.Conn, id string) { c.CloseNow() }, false, true},
		{"idle", Options{IdleTimeout: 200 * time.Millisecond}, nothing, true, false},
		{"idle, -idle-cleanup", Options{IdleTimeout: 200 * time.Millisecond, IdleCleanup: true}, nothing, true, true},
		{"closing push", Options{}, closingPush, true, false},
		{"closing push, -closing-on-server-close", Options{ClosingOnServerClose: true}, closingPush, true, true},
		{"closing push, both flags, -drop-cleanup", Options{ClosingOnServerClose: true, DropCleanup: true}, closingPush, true, false},
		{"oversize frame", Options{MaxMessageBytes: 10}, func(t *testing.T, g *gw, c *websocket.Conn, id string) {
			write(t, c, websocket.MessageText, []byte("0123456789A"))
		}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := newFakeFn()
			g := startGateway(t, fn, tt.give)
			c, id := g.dialID(t, g.url)
			c.CloseRead(context.Background()) // answers the gateway's close
			tt.end(t, g, c, id)
			d := g.obs.disconnect(t, id)
			if d.ByGateway != tt.wantGateway || d.ClosingSent != tt.wantClosing || fn.count(id, "closing") != btoi(tt.wantClosing) {
				t.Errorf("%+v, %d closing invokes; want byGateway %v, closing sent %v", d, fn.count(id, "closing"), tt.wantGateway, tt.wantClosing)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func clientCloses(t *testing.T, g *gw, c *websocket.Conn, id string) {
	c.Close(websocket.StatusNormalClosure, "bye")
}

func nothing(*testing.T, *gw, *websocket.Conn, string) {}

func closingPush(t *testing.T, g *gw, c *websocket.Conn, id string) {
	if status, _ := pushTo(t, g.push, pushBody("closing", id, "")); status != 200 {
		t.Fatalf("closing push = %d; want 200", status)
	}
}

// The close codes a client sees for the gateway's closes.
func TestGatewayCloseCodes(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{IdleTimeout: 300 * time.Millisecond, MaxMessageBytes: 10})
	c := dial(t, g.url, nil)
	_, _, err := read(t, c)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "idle timeout" {
		t.Errorf("idle client read %v; want close 1001 idle timeout", err)
	}
	c = dial(t, g.url, nil)
	write(t, c, websocket.MessageText, []byte("0123456789")) // at the limit: fine
	write(t, c, websocket.MessageText, []byte("0123456789A"))
	if _, _, err := read(t, c); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("after an 11-byte frame, read %v; want close 1009", err)
	}
}

// Heartbeats keep clients past the idle timeout: proven by a silent client,
// connected after them, that the idle timeout closes meanwhile.
func TestFramesKeepAliveAndHeartbeat(t *testing.T) {
	e := start(t, Options{IdleTimeout: time.Second}, router.Options{HeartbeatMessage: "__hb__"}, nil)
	a, aID := e.dialID(t, e.url)
	b, bID := e.dialID(t, e.url)
	silentID := e.silent(t)
	stop := make(chan struct{})
	beats := make(chan error, 1)
	go func() { // the clients' behaviour: a heartbeat every 100ms
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				beats <- nil
				return
			case <-tick.C:
				// Not stop's context: a write it cancelled would close the
				// connection.
				for _, c := range []*websocket.Conn{a, b} {
					ctx, cancel := context.WithTimeout(context.Background(), wait)
					err := c.Write(ctx, websocket.MessageText, []byte("__hb__"))
					cancel()
					if err != nil {
						beats <- err
						return
					}
				}
			}
		}
	}()
	if d := e.obs.disconnect(t, silentID); !strings.Contains(d.Why, "idle timeout") {
		t.Errorf("silent client: %s; want the idle timeout", d.Why)
	}
	close(stop)
	if err := <-beats; err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if e.obs.disconnected(aID) || e.obs.disconnected(bID) {
		t.Fatalf("a client sending heartbeats was closed")
	}
	write(t, a, websocket.MessageText, []byte("still here"))
	if _, data, err := read(t, b); err != nil || string(data) != "still here" {
		t.Errorf("b read %q %v; want still here (and no heartbeat)", data, err)
	}
}

// fail-push makes pushes to one connection answer a status: any but 200
// and 429 is a system fault, after which the gateway drops that client
// without a close frame (FIN); 429 keeps it; 200 loses the frame silently.
func TestFailPushInjection(t *testing.T) {
	tests := []struct {
		give        string
		wantStatus  int
		wantDropped bool
	}{
		{"500", 500, true},
		{"502", 502, true},
		{"404", 404, true},
		{"410", 410, true},
		{"429", 429, false},
		{"200", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			g := startGateway(t, newFakeFn(), Options{})
			c := rawDial(t, g.url+"?fail-push="+tt.give)
			id := g.onlyID(t)
			if status, _ := pushTo(t, g.push, pushBody("data send", id, "x")); status != tt.wantStatus {
				t.Fatalf("push = %d; want %d", status, tt.wantStatus)
			}
			if !tt.wantDropped {
				// Still open: a closing push (also answered with the status)
				// is not applied, so the client closes itself, as the client.
				c.Close()
				if d := g.obs.disconnect(t, id); d.ByGateway {
					t.Errorf("fail-push=%s: %+v; want the client kept until it closed", tt.give, d)
				}
				return
			}
			ops := c.frames(t)
			d := g.obs.disconnect(t, id)
			if hasClose(ops) || !d.ByGateway || !d.Abrupt || d.ClosingSent {
				t.Errorf("fail-push=%s: frames %v, %+v; want the TCP connection dropped with no close frame, no closing", tt.give, ops, d)
			}
			if status, _ := pushTo(t, g.push, pushBody("data send", id, "x")); status != 404 {
				t.Errorf("push after the drop = %d; want 404", status)
			}
		})
	}
}

func TestFailPushValidation(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{})
	for _, give := range []string{"1", "99", "100", "199", "600", "1000", "-5", "abc", "", "5e2"} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, resp, err := websocket.Dial(ctx, g.url+"?fail-push="+give, nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("fail-push=%s: %v %v; want the handshake refused with 400", give, err, resp)
			continue
		}
		if lr := g.Status().LastRefused; lr == nil || lr.Status != 400 || !strings.Contains(lr.ErrMsg, "fail-push") {
			t.Errorf("fail-push=%s: last refusal %+v; want a 400 naming fail-push", give, lr)
		}
	}
	if n := len(g.Connections()); n != 0 {
		t.Errorf("%d connections; want none", n)
	}
}

// A client that does not read is closed once SendBufferBytes wait for it;
// the gateway never holds more, and its pushes then answer 404.
func TestSlowClientIsClosedNotWaitedFor(t *testing.T) {
	const limit = 256 << 10
	g := startGateway(t, newFakeFn(), Options{SendBufferBytes: limit, WriteTimeout: time.Minute})
	slow := rawDial(t, g.url) // never reads
	slowID := g.onlyID(t)
	fast, fastID := g.dialID(t, g.url)
	frame := strings.Repeat("x", 32<<10)
	most, accepted, closedAt := 0, 0, 0
	for i := range 1000 { // 32 MiB: far more than the kernel buffers hold
		status, _ := pushTo(t, g.push, pushBody("data send", slowID, frame))
		for _, ci := range g.Connections() {
			if ci.ID == slowID {
				most = max(most, ci.Buffered)
			}
		}
		if status != 200 {
			if status != 404 {
				t.Fatalf("push %d to the slow client = %d; want 200, then 404", i, status)
			}
			closedAt = i
			break
		}
		accepted++
	}
	if closedAt == 0 || most > limit {
		t.Fatalf("slow client: %d pushes accepted, at most %d bytes buffered; want it closed with at most %d buffered", accepted, most, limit)
	}
	t.Logf("slow client closed after %d pushes of 32 KiB (%d KiB; the rest sat in kernel buffers); at most %d KiB buffered", accepted, accepted*32, most>>10)
	if d := g.obs.disconnect(t, slowID); !d.ByGateway || !d.Abrupt || !strings.Contains(d.Why, "too slow") {
		t.Errorf("slow client: %+v; want dropped by the gateway as too slow", d)
	}
	if status, _ := pushTo(t, g.push, pushBody("data send", slowID, "x")); status != 404 {
		t.Errorf("push after the close = %d; want 404", status)
	}
	// The fast client was never held up.
	if status, _ := pushTo(t, g.push, pushBody("data send", fastID, "fine")); status != 200 {
		t.Fatalf("push to the fast client = %d", status)
	}
	if _, data, err := read(t, fast); err != nil || string(data) != "fine" {
		t.Errorf("fast client read %q %v", data, err)
	}
	_ = slow
}

// Many clients close (a quarter with a close frame, the rest by dropping
// TCP) while frames are being written to them: each gets exactly one
// closing. (The code before this test lost 1-7 of 300 this way.)
func TestCloseWhileWritingSendsOneClosing(t *testing.T) {
	const clients = 300
	fn := newFakeFn()
	g := startGateway(t, fn, Options{})
	big := strings.Repeat("x", 64<<10)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var pushers sync.WaitGroup
	for range 4 { // keep every open connection busy being written to
		pushers.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			defer client.CloseIdleConnections()
			for ctx.Err() == nil {
				for _, ci := range g.Connections() {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.push, strings.NewReader(pushBody("data send", ci.ID, big)))
					req.Header.Set("Content-Type", "application/json")
					if resp, err := client.Do(req); err == nil {
						resp.Body.Close()
					}
				}
			}
		})
	}
	errs := make(chan error, clients)
	for i := range clients {
		go func() {
			c, _, err := websocket.Dial(ctx, g.url, nil)
			if err != nil {
				errs <- err
				return
			}
			c.SetReadLimit(1 << 20)
			if _, _, err := c.Read(ctx); err != nil { // a write is under way
				errs <- err
				return
			}
			if i%4 == 0 {
				c.Close(websocket.StatusNormalClosure, "bye")
			} else {
				c.CloseNow()
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	g.obs.until(t, "every disconnect", func() bool { return len(g.obs.disc) == clients })
	stop()
	pushers.Wait()
	missing, twice, byGateway := 0, 0, 0
	for id, d := range g.obs.disc {
		switch n := fn.count(id, "closing"); {
		case n == 0:
			missing++
		case n > 1:
			twice++
		}
		if d.ByGateway {
			byGateway++
		}
	}
	if missing+twice+byGateway > 0 {
		t.Errorf("of %d client closes: %d without closing, %d with more than one, %d counted as the gateway's; want one closing each",
			clients, missing, twice, byGateway)
	}
}

func TestFunctionRuntimeFaults(t *testing.T) {
	for _, concurrency := range []int{1, 8} {
		t.Run(fmt.Sprint("concurrency=", concurrency), func(t *testing.T) {
			f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: time.Second, Concurrency: concurrency})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			first, err := invokeData(t, f, "hello")
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			pid := first["pid"]
			tests := []struct {
				give     string
				wantKind string
				wantNew  bool // a new process answers the next invoke
			}{
				// A timed-out instance that takes one invoke at a time is
				// replaced; one process standing in for many is kept while
				// it answers Ping.
				{"sleep", "timeout", concurrency == 1},
				{"panic", "error", true}, // ShouldExit: replaced
				{"exit", "crash", true},
			}
			for _, tt := range tests {
				_, err := invokeData(t, f, tt.give)
				var ie *InvokeError
				if !errors.As(err, &ie) || ie.Kind != tt.wantKind {
					t.Errorf("invoke(%s) = %v; want a %s", tt.give, err, tt.wantKind)
				}
				next, err := invokeData(t, f, "hello")
				if err != nil {
					t.Fatalf("invoke after %s: %v", tt.give, err)
				}
				if changed := next["pid"] != pid; changed != tt.wantNew {
					t.Errorf("after %s, pid %v -> %v; want a new process: %v", tt.give, pid, next["pid"], tt.wantNew)
				}
				pid = next["pid"]
			}
		})
	}
}

// Each instance takes one invoke at a time; invokes go to a free one.
func TestInstancesTakeOneInvokeAtATime(t *testing.T) {
	tests := []struct {
		instances, concurrency int
		give                   string // nap: 100ms; gather: waits for 4 at once
		calls                  int
		wantPids, wantInflight int
	}{
		{3, 1, "nap", 12, 3, 1},
		{1, 4, "gather", 4, 1, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.instances, tt.concurrency), func(t *testing.T) {
			f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: 5 * time.Second, Instances: tt.instances, Concurrency: tt.concurrency})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(f.Pids()); n != tt.instances {
				t.Fatalf("%d processes; want %d", n, tt.instances)
			}
			calls := tt.calls
			replies := make(chan map[string]any, calls)
			for range calls {
				go func() {
					m, err := invokeData(t, f, tt.give)
					if err != nil {
						t.Error(err)
					}
					replies <- m
				}()
			}
			pids, inflight := map[any]bool{}, 0.0
			for range calls {
				m := <-replies
				pids[m["pid"]] = true
				if n, _ := m["inflight"].(float64); n > inflight {
					inflight = n
				}
			}
			if len(pids) != tt.wantPids || inflight != float64(tt.wantInflight) {
				t.Errorf("%d concurrent invokes ran on %d processes, at most %v at once in one; want %d and %d",
					calls, len(pids), inflight, tt.wantPids, tt.wantInflight)
			}
		})
	}
}

func buildBadfn(t testing.TB) string { return testkit.BuildProgram(t, "./testdata/badfn") }

func invokeData(t testing.TB, f *Function, data string) (map[string]any, error) {
	b, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": "a==", "data": data}})
	out, err := f.Invoke(context.Background(), b)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("reply %.100s: %w", out, err)
	}
	return m, nil
}

// A failed transmit invoke drops the client the way the gateway does: no
// close frame, just the TCP connection closing.
func TestGatewayWithMisbehavingFunction(t *testing.T) {
	f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := startGateway(t, f, Options{})

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, g.url, &websocket.DialOptions{Subprotocols: []string{"refuse"}})
	if err == nil || resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Scfws-Errno") != "4001" {
		t.Errorf("handshake the function refuses: %v %v; want 403 errNo 4001", err, resp)
	}
	for _, give := range []string{"exit", "sleep", "panic"} {
		c := rawDial(t, g.url)
		id := g.onlyID(t)
		c.sendText(t, give)
		ops := c.frames(t)
		d := g.obs.disconnect(t, id)
		if hasClose(ops) || !d.ByGateway || !d.Abrupt || !strings.Contains(d.Why, "transmit invoke failed") {
			t.Errorf("after %q: frames %v, %+v; want the TCP connection dropped without a close frame", give, ops, d)
		}
	}
	// The next client is served by a fresh process: its frame's invoke
	// succeeds, and it stays until it closes itself.
	c, id := g.dialID(t, g.url)
	write(t, c, websocket.MessageText, []byte("fine"))
	inv := g.obs.invoked(t, "the transmit of fine", func(i Invocation) bool { return i.ConnectionID == id && i.Action == "data send" })
	if inv.Err != nil {
		t.Errorf("transmit after the faults: %v; want success", inv.Err)
	}
	c.Close(websocket.StatusNormalClosure, "")
	if d := g.obs.disconnect(t, id); d.ByGateway || !d.ClosingSent || d.ClosingErr != nil {
		t.Errorf("the last client: %+v; want its own close and a closing that succeeded", d)
	}
	if pids := f.Pids(); len(pids) != 1 {
		t.Errorf("pids %v; want one running process", pids)
	}
}

// SCF refuses events over 6 MB: the size that counts is the event's, after
// JSON escaping (a control byte becomes \u0001, six bytes) or base64.
func TestEventLimit(t *testing.T) {
	f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := startGateway(t, f, Options{MaxMessageBytes: 8 << 20})
	tests := []struct {
		name     string
		typ      websocket.MessageType
		give     []byte
		wantDrop bool
	}{
		{"1 MiB of text", websocket.MessageText, bytes.Repeat([]byte("a"), 1<<20), false},
		{"4 MiB of text", websocket.MessageText, bytes.Repeat([]byte("a"), 4<<20), false},
		{"1.1 MiB of \\x01 (6.6 MB escaped)", websocket.MessageText, bytes.Repeat([]byte{1}, 1100<<10), true},
		{"4 MiB binary (5.6 MB base64)", websocket.MessageBinary, bytes.Repeat([]byte{0xff}, 4<<20), false},
		{"4.6 MiB binary (6.1 MiB base64)", websocket.MessageBinary, bytes.Repeat([]byte{0xff}, 4700<<10), true},
	}
	// Replies too: a 7 MB one fails the invoke.
	var ie *InvokeError
	if _, err := invokeData(t, f, "big"); !errors.As(err, &ie) || ie.Kind != "too large" {
		t.Errorf("invoke(big) = %v; want a too large reply", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, id := g.dialID(t, g.url)
			c.SetReadLimit(1 << 20)
			write(t, c, tt.typ, tt.give)
			inv := g.obs.invoked(t, "the transmit", func(i Invocation) bool { return i.ConnectionID == id && i.Action == "data send" })
			var ie *InvokeError
			if tt.wantDrop != (errors.As(inv.Err, &ie) && ie.Kind == "too large") {
				t.Fatalf("transmit: %v; want refused as too large: %v", inv.Err, tt.wantDrop)
			}
			if !tt.wantDrop {
				c.Close(websocket.StatusNormalClosure, "")
				return
			}
			_, _, err := read(t, c)
			if d := g.obs.disconnect(t, id); !d.Abrupt || websocket.CloseStatus(err) != -1 {
				t.Errorf("client read %v, %+v; want dropped with no close frame", err, d)
			}
		})
	}
}

// One client's frames: in order, one at a time by default; all at once
// with ConcurrentFrames.
func TestConcurrentFrames(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprint("concurrent=", concurrent), func(t *testing.T) {
			fn := newFakeFn()
			fn.hold = make(chan struct{})
			g := startGateway(t, fn, Options{ConcurrentFrames: concurrent})
			c, id := g.dialID(t, g.url)
			for i := range 3 {
				write(t, c, websocket.MessageText, fmt.Appendf(nil, "m%d", i))
			}
			// All three have arrived, and are waiting for or in an invoke.
			fn.waitFor(t, "the first transmit", func() bool { return fn.count(id, "data send") >= 1 })
			waitPending(t, g, id, 3)
			if concurrent {
				fn.waitFor(t, "three transmits at once", func() bool { return fn.count(id, "data send") == 3 })
			}
			if got, want := g.Status().Invoking, map[bool]int64{false: 1, true: 3}[concurrent]; got != want {
				t.Errorf("status: %d invokes in flight; want %d", got, want)
			}
			close(fn.hold)
			fn.waitFor(t, "three transmits", func() bool { return fn.count(id, "data send") == 3 })
			waitPending(t, g, id, 0)
			if s := g.Status(); s.Invoking != 0 || s.Pushing != 0 || s.Buffered != 0 {
				t.Errorf("status %+v; want nothing in flight", s)
			}
			fn.mu.Lock()
			most := fn.most[id]
			fn.mu.Unlock()
			got := fn.data(id)
			if want := map[bool]int{false: 1, true: 3}[concurrent]; most != want {
				t.Errorf("at most %d transmits of one client at once; want %d", most, want)
			}
			if !concurrent && strings.Join(got, ",") != "m0,m1,m2" {
				t.Errorf("transmits %q; want in order", got)
			}
		})
	}
}

// waitPending waits until id has n frames waiting for or in their invoke.
func waitPending(t testing.TB, g *gw, id string, n int) {
	t.Helper()
	testkit.Eventually(t, wait, fmt.Sprintf("%d pending frames of %s", n, id), func() bool {
		for _, ci := range g.Connections() {
			if ci.ID == id && ci.Pending == n {
				return true
			}
		}
		return false
	})
}

// The idle timer follows frame arrivals: heartbeats sent while the
// function is slow keep the client, although no invoke returns meanwhile.
// A silent client connected after it proves the idle timeout passed.
func TestIdleFollowsArrivals(t *testing.T) {
	fn := newFakeFn()
	fn.hold = make(chan struct{})
	g := startGateway(t, fn, Options{IdleTimeout: time.Second, ReceiveBufferBytes: 64})
	c, id := g.dialID(t, g.url)
	write(t, c, websocket.MessageText, []byte("first"))
	fn.waitFor(t, "the first transmit", func() bool { return fn.count(id, "data send") == 1 })
	silentID := g.silent(t)
	most := 0
	sent := 1
	tick := time.NewTicker(100 * time.Millisecond) // the client's heartbeats
	defer tick.Stop()
	for !g.obs.disconnected(silentID) {
		<-tick.C
		write(t, c, websocket.MessageText, []byte("__heartbeat__ 24 bytes.."))
		sent++
		for _, ci := range g.Connections() {
			if ci.ID == id {
				most = max(most, ci.Pending)
			}
		}
		if sent > 400 {
			t.Fatal("the silent client was never closed")
		}
	}
	if g.obs.disconnected(id) {
		t.Fatalf("the client sending heartbeats every 100ms was closed: %+v", g.obs.disconnect(t, id))
	}
	close(fn.hold)
	fn.waitFor(t, "every frame invoked", func() bool { return fn.count(id, "data send") == sent })
	// 64 bytes hold the frame in its invoke and one more; then the gateway
	// stops reading (and its idle timer) until one is done.
	if most > 3 {
		t.Errorf("%d frames were pending at once; want the 64-byte receive buffer to hold at most 3", most)
	}
	if g.obs.disconnected(id) {
		t.Errorf("the client was closed: %+v", g.obs.disconnect(t, id))
	}
}

func TestIdleCountsPings(t *testing.T) {
	for _, counts := range []bool{false, true} {
		t.Run(fmt.Sprint("idle-counts-pings=", counts), func(t *testing.T) {
			g := startGateway(t, newFakeFn(), Options{IdleTimeout: time.Second, IdleCountsPings: counts})
			c, id := g.dialID(t, g.url)
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			go func() { _, _, _ = c.Read(ctx) }() // a pong is read by a reader
			silentID := g.silent(t)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for !g.obs.disconnected(silentID) && !g.obs.disconnected(id) {
				<-tick.C
				pctx, cancel := context.WithTimeout(ctx, wait)
				_ = c.Ping(pctx)
				cancel()
			}
			if !counts {
				if d := g.obs.disconnect(t, id); !strings.Contains(d.Why, "idle timeout") {
					t.Errorf("%+v; want closed as idle despite pings", d)
				}
				return
			}
			if g.obs.disconnected(id) {
				t.Errorf("closed although it pinged: %+v", g.obs.disconnect(t, id))
			}
		})
	}
}

func TestUnknownPushStatus(t *testing.T) {
	tests := []struct {
		give, want int
	}{
		{0, 404},
		{410, 410},
		{200, 200},
	}
	for _, tt := range tests {
		g := startGateway(t, newFakeFn(), Options{UnknownPushStatus: tt.give})
		if status, _ := pushTo(t, g.push, pushBody("data send", "nobody==", "x")); status != tt.want {
			t.Errorf("UnknownPushStatus %d: push to nobody = %d; want %d", tt.give, status, tt.want)
		}
	}
}

// Above PushRateLimit pushes a second the push address answers 429 with
// Retry-After and API Gateway's body.
func TestPushRateLimit(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{PushRateLimit: 5})
	now := time.Now()
	g.rate = newBucket(5, func() time.Time { return now })
	_, id := g.dialID(t, g.url)
	statuses := func(n int) (ok, limited int) {
		for range n {
			resp, err := http.Post(g.push, "application/json", strings.NewReader(pushBody("data send", id, "x")))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok++
			case 429:
				limited++
				if string(body) != `{"errNo":429,"errMsg":"API rate limit exceeded"}`+"\n" || resp.Header.Get("Retry-After") != "1" {
					t.Errorf("429 with body %q, Retry-After %q", body, resp.Header.Get("Retry-After"))
				}
			default:
				t.Errorf("push = %d", resp.StatusCode)
			}
		}
		return ok, limited
	}
	if ok, limited := statuses(8); ok != 5 || limited != 3 {
		t.Errorf("8 pushes at once: %d ok, %d limited; want 5 and 3", ok, limited)
	}
	now = now.Add(400 * time.Millisecond) // two tokens back
	if ok, limited := statuses(3); ok != 2 || limited != 1 {
		t.Errorf("0.4s later, 3 pushes: %d ok, %d limited; want 2 and 1", ok, limited)
	}
}

// With HandshakeExtras the connecting event has the handshake's headers and
// query string, at the top level; without, neither.
func TestHandshakeExtras(t *testing.T) {
	for _, extras := range []bool{false, true} {
		fn := newFakeFn()
		g := startGateway(t, fn, Options{HandshakeExtras: extras})
		_ = dial(t, g.url+"?room=a%2Bb&room=c&x=1", &websocket.DialOptions{HTTPHeader: http.Header{"X-Custom": {"v1", "v2"}}, Subprotocols: []string{"chat"}})
		ev := fn.first(t)
		host := strings.TrimPrefix(g.srv.URL, "http://")
		if !extras {
			if ev.Headers != nil || ev.QueryString != nil {
				t.Errorf("without extras: headers %v, queryString %v; want neither", ev.Headers, ev.QueryString)
			}
			continue
		}
		if ev.Headers["Host"] != host || ev.Headers["X-Custom"] != "v1, v2" || ev.Headers["Sec-Websocket-Protocol"] != "chat" ||
			ev.QueryString["room"] != "a+b,c" || ev.QueryString["x"] != "1" {
			t.Errorf("with extras: headers %v, queryString %v", ev.Headers, ev.QueryString)
		}
	}
}

// A push whose body stalls is answered (408) and its connection closed
// once PushReadTimeout passes, instead of being held forever.
func TestPushBodyReadTimeout(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{PushReadTimeout: 200 * time.Millisecond})
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(g.srv.URL, "http://"), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /sendback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"websocket\":")
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled push body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled push body = %d; want 408", resp.StatusCode)
	}
}

// The push address and /_scfws/ answer programs on this machine, and the
// emulator's own page; never another web page.
func TestPushAndAdminAreLocalOnly(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{})
	_, id := g.dialID(t, g.url)
	host := strings.TrimPrefix(g.srv.URL, "http://")
	push := pushBody("data send", id, "x")
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   string
		want   int
	}{
		{"push", "POST", "/sendback", map[string]string{"Content-Type": "application/json"}, push, 200},
		{"push, JSON with charset", "POST", "/sendback", map[string]string{"Content-Type": "application/json; charset=utf-8"}, push, 200},
		{"push as text/plain (no preflight)", "POST", "/sendback", map[string]string{"Content-Type": "text/plain"}, push, 415},
		{"push as a form", "POST", "/sendback", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, push, 415},
		{"push, no Content-Type", "POST", "/sendback", nil, push, 415},
		{"push from a page", "POST", "/sendback", map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, push, 403},
		{"push from the page itself", "POST", "/sendback", map[string]string{"Content-Type": "application/json", "Origin": "http://" + host}, push, 403},
		{"push, Sec-Fetch-Site", "POST", "/sendback", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}, push, 403},
		{"push, rebound host", "POST", "/sendback", map[string]string{"Content-Type": "application/json", "Host": "evil.example"}, push, 403},
		{"connections, program", "GET", "/_scfws/connections", nil, "", 200},
		{"connections, localhost", "GET", "/_scfws/connections", map[string]string{"Host": "localhost:1"}, "", 200},
		{"status, own page", "GET", "/_scfws/status", map[string]string{"Sec-Fetch-Site": "same-origin"}, "", 200},
		{"config, own page with Origin", "GET", "/_scfws/config", map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, "", 200},
		{"status, address bar", "GET", "/_scfws/status", map[string]string{"Sec-Fetch-Site": "none"}, "", 200},
		{"connections, other site", "GET", "/_scfws/connections", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "", 403},
		{"connections, no-cors from other site", "GET", "/_scfws/connections", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 403},
		{"connections, rebound host", "GET", "/_scfws/connections", map[string]string{"Host": "evil.example:80"}, "", 403},
		{"status, POST", "POST", "/_scfws/status", map[string]string{"Content-Type": "application/json"}, "{}", 405},
		{"drop, program", "POST", "/_scfws/connections/none%2F%2B==/drop", nil, "", 404},
		{"drop, GET", "GET", "/_scfws/connections/none==/drop", nil, "", 405},
		{"drop, other site", "POST", "/_scfws/connections/none==/drop", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "", 403},
		{"drop, rebound host", "POST", "/_scfws/connections/none==/drop", map[string]string{"Host": "evil.example:80"}, "", 403},
		{"page, any host", "GET", "/", map[string]string{"Host": "evil.example"}, "", 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, g.srv.URL+tt.path, strings.NewReader(tt.body))
		for k, v := range tt.header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %s %s = %d; want %d", tt.name, tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
	// -public serves any Host, still to programs only.
	pub := startGateway(t, newFakeFn(), Options{AnyHost: true})
	req, _ := http.NewRequest("GET", pub.srv.URL+"/_scfws/status", nil)
	req.Host = "192.168.1.20:8080"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("AnyHost: status by LAN address = %d; want 200", resp.StatusCode)
	}
}

// A bearer.<JWT> subprotocol entry never reaches the log, the refusal's
// body or /_scfws/status, whatever the function does with it.
func TestBearerTokenNeverLoggedOrEchoed(t *testing.T) {
	const secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
	f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var logs testkit.SyncBuffer
	fn := &acceptFirst{Invoker: f}
	g := New(fn, NewConsole(&logs).Logger(zapcore.DebugLevel), Options{})
	srv := httptest.NewServer(g)
	defer srv.Close()
	defer g.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/websocket"

	// Refused, with the offered subprotocols echoed in errMsg.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"bearer." + secret, "echo"}})
	if err == nil {
		t.Fatal("the handshake was accepted; want refused")
	}
	body, _ := io.ReadAll(resp.Body)
	status, _ := json.Marshal(g.Status())
	// Accepted, with the token chosen as the subprotocol (badfn picks none;
	// a function may pick the first offered).
	fn.on.Store(true)
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"bearer." + secret, "chat"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close(websocket.StatusNormalClosure, "bye bearer."+secret)
	g.Close()
	for what, s := range map[string]string{"the refusal's body": string(body), "/_scfws/status": string(status), "the log": logs.String()} {
		if strings.Contains(s, secret) || strings.Contains(s, "eyJ") {
			t.Errorf("%s holds the bearer token:\n%s", what, s)
		}
	}
	if !strings.Contains(logs.String(), "subprotocol=bearer.[redacted]") || !strings.Contains(string(body), "bearer.[redacted]") {
		t.Errorf("want the token shown as bearer.[redacted]; log:\n%s\nbody: %s", logs.String(), body)
	}
}

// acceptFirst, once on, accepts every handshake with the first offered
// subprotocol.
type acceptFirst struct {
	Invoker
	on atomic.Bool
}

func (a *acceptFirst) Invoke(ctx context.Context, p []byte) ([]byte, error) {
	var ev event
	_ = json.Unmarshal(p, &ev)
	if !a.on.Load() || ev.WebSocket.Action != "connecting" {
		return a.Invoker.Invoke(ctx, p)
	}
	first, _, _ := strings.Cut(ev.WebSocket.SecWebSocketProtocol, ",")
	return json.Marshal(map[string]any{"errNo": 0, "errMsg": "ok", "websocket": map[string]string{"secWebSocketProtocol": strings.TrimSpace(first)}})
}

// A closing push closes the client after the frames pushed before it, even
// when they are still queued (here: behind full TCP buffers).
func TestClosingPushComesAfterQueuedFrames(t *testing.T) {
	// The client reads nothing until the last push: with the default 5s
	// write timeout a loaded machine could drop it as slow first.
	g := startGateway(t, newFakeFn(), Options{SendBufferBytes: 16 << 20, WriteTimeout: time.Minute})
	c, id := g.dialID(t, g.url)
	c.SetReadLimit(1 << 20)
	const frames = 200 // 12.5 MiB: more than the kernel buffers hold
	big := strings.Repeat("x", 64<<10)
	for i := range frames {
		if status, _ := pushTo(t, g.push, pushBody("data send", id, fmt.Sprintf("%03d%s", i, big))); status != 200 {
			t.Fatalf("push %d = %d", i, status)
		}
	}
	queued := 0
	for _, ci := range g.Connections() {
		queued = ci.Buffered
	}
	if status, _ := pushTo(t, g.push, pushBody("closing", id, "")); status != 200 {
		t.Fatalf("closing push = %d", status)
	}
	got := 0
	for {
		_, data, err := read(t, c)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure || got != frames {
				t.Errorf("read %d frames, then %v; want all %d (%d bytes were queued at the closing push), then close 1000", got, err, frames, queued)
			}
			return
		}
		if want := fmt.Sprintf("%03d", got); string(data[:3]) != want {
			t.Fatalf("frame %s; want %s", data[:3], want)
		}
		got++
	}
}

// Instances started at once each get their own port and process. (A guard:
// without spawnMu this did not fail in 15 rounds here, but two children
// could be handed the same port.)
func TestInstancesStartTogether(t *testing.T) {
	for range 3 {
		f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: 5 * time.Second, Instances: 16})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Start(context.Background()); err != nil {
			f.Close()
			t.Fatalf("start 16 instances: %v", err)
		}
		replies := make(chan map[string]any, 32)
		for range 32 {
			go func() {
				m, err := invokeData(t, f, "nap")
				if err != nil {
					t.Error(err)
				}
				replies <- m
			}()
		}
		answered := map[float64]bool{}
		for range 32 {
			if pid, ok := (<-replies)["pid"].(float64); ok {
				answered[pid] = true
			}
		}
		pids := f.Pids()
		f.Close()
		if len(answered) != 16 || len(pids) != 16 {
			t.Fatalf("16 instances: pids %v, %d answered; want 16 processes, each answering", pids, len(answered))
		}
	}
}

// A child that exits before it serves its port (another process took the
// port between its pick and the child's bind) is started again on a new
// port, twice at most; a binary that always exits fails after three tries.
func TestSpawnRetriesAChildThatExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho x >> "+p+".starts\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	starts := func(p string) int {
		b, _ := os.ReadFile(p + ".starts")
		return strings.Count(string(b), "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	once := script("once", `[ -e "$0.failed" ] || { touch "$0.failed"; exit 1; }; exec `+buildBadfn(t))
	f, err := NewFunction(once, FunctionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Start(ctx); err != nil || starts(once) != 2 {
		t.Errorf("a child that fails once: Start = %v after %d starts; want nil after 2", err, starts(once))
	}

	always := script("always", "exit 1")
	g, err := NewFunction(always, FunctionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Start(ctx); err == nil || !strings.Contains(err.Error(), "exited before serving") || starts(always) != 3 {
		t.Errorf("a child that always exits: Start = %v after %d starts; want exited before serving after 3", err, starts(always))
	}
}

// The token endpoint passes the roles a request names on to the minter:
// nil when it names none (the chat page's set), empty for roles= or none.
func TestTokenEndpointRoles(t *testing.T) {
	var mu sync.Mutex
	var got []string
	g := startGateway(t, newFakeFn(), Options{Token: func(sub string, roles []string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		got = roles
		if roles == nil {
			got = []string{"<nil>"}
		}
		return "tok-" + sub, nil
	}})
	tests := []struct {
		give string
		want string
	}{
		{"sub=ann", "<nil>"},
		{"sub=ann&roles=", ""},
		{"sub=ann&roles=none", ""},
		{"sub=ann&roles=joinLeaveGroup.lobby,%20sendToGroup.lobby", "joinLeaveGroup.lobby|sendToGroup.lobby"},
	}
	for _, tt := range tests {
		resp, err := http.Get(g.srv.URL + "/_scfws/token?" + tt.give)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		mu.Lock()
		roles := strings.Join(got, "|")
		mu.Unlock()
		if resp.StatusCode != http.StatusOK || roles != tt.want {
			t.Errorf("GET /_scfws/token?%s: HTTP %d, roles %q; want 200, %q", tt.give, resp.StatusCode, roles, tt.want)
		}
	}
}

// POST /_scfws/connections/{id}/drop drops one connection once, as a
// refused push does: no close frame, no closing invoke; the others stay,
// and a second drop finds nothing.
func TestDropOnce(t *testing.T) {
	g := startGateway(t, newFakeFn(), Options{})
	c := rawDial(t, g.url)
	id := g.onlyID(t)
	_, other := g.dialID(t, g.url)
	drop := func(id string, headers map[string]string) int {
		req, _ := http.NewRequest("POST", g.srv.URL+"/_scfws/connections/"+url.PathEscape(id)+"/drop", nil)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := drop(id, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); got != 403 {
		t.Errorf("drop from another site = %d; want 403", got)
	}
	if got := drop(id, nil); got != 200 {
		t.Fatalf("drop = %d; want 200", got)
	}
	ops := c.frames(t)
	if d := g.obs.disconnect(t, id); hasClose(ops) || !d.ByGateway || !d.Abrupt || d.ClosingSent {
		t.Errorf("frames %v, %+v; want the TCP connection dropped with no close frame, no closing", ops, d)
	}
	tests := []struct {
		name      string
		got, want int
	}{
		{"a push to the dropped one", first(pushTo(t, g.push, pushBody("data send", id, "x"))), 404},
		{"a push to the other", first(pushTo(t, g.push, pushBody("data send", other, "x"))), 200},
		{"a second drop", drop(id, nil), 404},
		{"a drop of an unknown ID", drop("no-such==", nil), 404},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d; want %d", tt.name, tt.got, tt.want)
		}
	}
}

func first[A, B any](a A, _ B) A { return a }
