package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/scfws/scfws/gateway"
	"github.com/scfws/scfws/internal/testbin"
	"github.com/scfws/scfws/internal/wire"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"

	_ "github.com/scfws/scfws/internal/golden" // for go test ./... -update
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// routerInvoker is the scfws function in process, through its raw-bytes
// handler; set once the gateway's push URL is known.
type routerInvoker struct{ r *router.Router }

func (i *routerInvoker) Invoke(ctx context.Context, p []byte) ([]byte, error) {
	return i.r.Invoke(ctx, p)
}

type env struct {
	srv *httptest.Server
	gw  *Gateway
	reg *store.Memory
	url string // ws://.../websocket
}

// start runs a gateway in front of the real scfws router with an in-memory
// registry; load, if set, replaces the router's dependencies.
func start(t *testing.T, o Options, ro router.Options, load router.Loader) *env {
	t.Helper()
	log := zaptest.NewLogger(t)
	inv := &routerInvoker{}
	gw := New(inv, log, o)
	srv := httptest.NewServer(gw)
	push, err := gateway.New(srv.URL+"/sendback", gateway.Options{Concurrency: 16})
	if err != nil {
		t.Fatal(err)
	}
	reg := store.NewMemory(time.Hour, nil)
	if ro.MaxMessageBytes == 0 {
		ro.MaxMessageBytes = 1 << 20
	}
	if load == nil {
		load = router.Fixed(&router.Deps{Registry: wire.Registry(reg), Pusher: push, Options: ro})
	}
	inv.r = router.New(log, load)
	t.Cleanup(func() {
		gw.Close()
		srv.Close()
		push.CloseIdle()
	})
	return &env{srv: srv, gw: gw, reg: reg, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/websocket"}
}

func dial(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func read(t *testing.T, c *websocket.Conn) (websocket.MessageType, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Read(ctx)
}

func write(t *testing.T, c *websocket.Conn, typ websocket.MessageType, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, data); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) waitConns(t *testing.T, n int) []ConnectionInfo {
	t.Helper()
	var got []ConnectionInfo
	waitFor(t, fmt.Sprintf("%d connections", n), func() bool { got = e.gw.Connections(); return len(got) == n })
	return got
}

func TestTextAndBinaryThroughTheFunction(t *testing.T) {
	e := start(t, Options{}, router.Options{}, nil)
	a := dial(t, e.url, nil)
	b := dial(t, e.url, nil)
	e.waitConns(t, 2)
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

func TestHandshakeRefusedByTheFunction(t *testing.T) {
	e := start(t, Options{}, router.Options{}, func(context.Context) (*router.Deps, error) {
		return nil, router.NotConfigured(errors.New("DB_HOST: required when STORE=mysql"))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.url, nil)
	if err == nil {
		t.Fatal("dial succeeded; want the handshake refused")
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Scfws-Errno") != "501" ||
		!strings.Contains(string(body), "errNo 501: not ready: DB_HOST: required") {
		t.Errorf("refusal = %d %q %q; want 403, errNo 501 and the function's errMsg", resp.StatusCode, resp.Header.Get("X-Scfws-Errno"), body)
	}
	if n := len(e.gw.Connections()); n != 0 {
		t.Errorf("%d connections after a refused handshake; want 0", n)
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
	e := start(t, Options{}, router.Options{}, nil)
	resp, err := http.Get(e.srv.URL + "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("GET without upgrade = %d; want 426", resp.StatusCode)
	}
}

func pushTo(t *testing.T, url, body string) (int, map[string]any) {
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

func TestPushEndpoint(t *testing.T) {
	e := start(t, Options{}, router.Options{}, nil)
	c := dial(t, e.url, nil)
	id := e.waitConns(t, 1)[0].ID
	idJSON, _ := json.Marshal(id)
	push := e.srv.URL + "/sendback"
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
		{"no data", `{"websocket":{"action":"data send","secConnectionID":` + string(idJSON) + `}}`, 400, "missing websocket.data", ""},
		{"unknown action", `{"websocket":{"action":"explode","secConnectionID":"x"}}`, 400, `unknown action "explode"`, ""},
		{"bad base64", `{"websocket":{"action":"data send","secConnectionID":"x","dataType":"binary","data":"!!"}}`, 400, "not base64", ""},
		{"bad dataType", `{"websocket":{"action":"data send","secConnectionID":"x","dataType":"json","data":"{}"}}`, 400, `unknown dataType "json"`, ""},
		{"unknown id", `{"websocket":{"action":"data send","secConnectionID":"nobody==","data":"x"}}`, 404, "connection not found", ""},
		{"text", `{"websocket":{"action":"data send","secConnectionID":` + string(idJSON) + `,"dataType":"text","data":"pushed"}}`, 200, "ok", "pushed"},
		{"no dataType", `{"websocket":{"action":"data send","secConnectionID":` + string(idJSON) + `,"data":"plain"}}`, 200, "ok", "plain"},
	}
	for _, tt := range tests {
		status, body := pushTo(t, push, tt.give)
		if status != tt.wantStatus || !strings.Contains(fmt.Sprint(body["errMsg"]), tt.wantMsg) || body["errNo"] != float64(map[int]int{200: 0}[status]+map[bool]int{true: status}[status != 200]) {
			t.Errorf("%s: push = %d %v; want %d with errMsg %q", tt.name, status, body, tt.wantStatus, tt.wantMsg)
		}
		if tt.wantFrame != "" {
			if _, data, err := read(t, c); err != nil || string(data) != tt.wantFrame {
				t.Errorf("%s: client read %q %v; want %q", tt.name, data, err, tt.wantFrame)
			}
		}
	}
	resp, err := http.Get(push)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET push = %d; want 405", resp.StatusCode)
	}

	// closing: the client is closed normally, and the ID is gone.
	if status, _ := pushTo(t, push, `{"websocket":{"action":"closing","secConnectionID":`+string(idJSON)+`}}`); status != 200 {
		t.Fatalf("closing push = %d; want 200", status)
	}
	if _, _, err := read(t, c); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after closing, client read error %v; want close 1000", err)
	}
	if status, _ := pushTo(t, push, `{"websocket":{"action":"data send","secConnectionID":`+string(idJSON)+`,"data":"x"}}`); status != 404 {
		t.Errorf("push after closing = %d; want 404", status)
	}
}

func TestClientCloseSendsClosing(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprint("drop-cleanup=", drop), func(t *testing.T) {
			e := start(t, Options{DropCleanup: drop}, router.Options{}, nil)
			c := dial(t, e.url, nil)
			id := e.waitConns(t, 1)[0].ID
			c.Close(websocket.StatusNormalClosure, "bye")
			e.waitConns(t, 0)
			if drop {
				time.Sleep(100 * time.Millisecond) // a closing invoke would have landed by now
				if got := e.reg.All(); !slices.Equal(got, []string{id}) {
					t.Errorf("registry = %q; want %s kept (no closing with -drop-cleanup)", got, id)
				}
				return
			}
			waitFor(t, "the closing invoke", func() bool { return len(e.reg.All()) == 0 })
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	for _, cleanup := range []bool{false, true} {
		t.Run(fmt.Sprint("idle-cleanup=", cleanup), func(t *testing.T) {
			e := start(t, Options{IdleTimeout: 300 * time.Millisecond, IdleCleanup: cleanup}, router.Options{}, nil)
			c := dial(t, e.url, nil)
			id := e.waitConns(t, 1)[0].ID
			_, _, err := read(t, c)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "idle timeout" {
				t.Fatalf("idle client read %v; want close 1001 idle timeout", err)
			}
			if cleanup {
				waitFor(t, "the closing invoke", func() bool { return len(e.reg.All()) == 0 })
				return
			}
			time.Sleep(100 * time.Millisecond)
			if got := e.reg.All(); !slices.Equal(got, []string{id}) {
				t.Errorf("registry = %q; want %s kept: no closing on idle by default", got, id)
			}
		})
	}
}

func TestFramesKeepAliveAndHeartbeat(t *testing.T) {
	e := start(t, Options{IdleTimeout: time.Second}, router.Options{HeartbeatMessage: "__hb__"}, nil)
	a := dial(t, e.url, nil)
	b := dial(t, e.url, nil)
	e.waitConns(t, 2)
	for range 10 { // 2.5s of heartbeats every 250ms: two and a half idle timeouts
		write(t, a, websocket.MessageText, []byte("__hb__"))
		write(t, b, websocket.MessageText, []byte("__hb__"))
		time.Sleep(250 * time.Millisecond)
	}
	write(t, a, websocket.MessageText, []byte("still here"))
	if _, data, err := read(t, b); err != nil || string(data) != "still here" {
		t.Errorf("b read %q %v; want still here (and no heartbeat)", data, err)
	}
}

func TestOversizeFrameCloses1009(t *testing.T) {
	e := start(t, Options{MaxMessageBytes: 10}, router.Options{}, nil)
	c := dial(t, e.url, nil)
	e.waitConns(t, 1)
	write(t, c, websocket.MessageText, []byte("0123456789")) // at the limit: fine
	write(t, c, websocket.MessageText, []byte("0123456789A"))
	if _, _, err := read(t, c); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("after an 11-byte frame, read %v; want close 1009", err)
	}
	e.waitConns(t, 0)
	// The gateway made that close: no closing event, the row waits for the sweep.
	time.Sleep(100 * time.Millisecond)
	if n := len(e.reg.All()); n != 1 {
		t.Errorf("registry has %d rows after a gateway-side close; want 1 (no closing sent)", n)
	}
}

func TestFailPushInjection(t *testing.T) {
	e := start(t, Options{}, router.Options{}, nil)
	a := dial(t, e.url, nil)
	_ = dial(t, e.url, nil)
	_ = dial(t, e.url+"?fail-push=500", nil)
	e.waitConns(t, 3)
	write(t, a, websocket.MessageText, []byte("x"))
	// A non-200 answer means the gateway dropped that client: the function
	// prunes it (the delivery to the other shows the address works).
	waitFor(t, "the 500 prune", func() bool { return len(e.reg.All()) == 2 })
}

// A client that does not read must not hold up pushes to the others.
func TestSlowClientIsClosedNotWaitedFor(t *testing.T) {
	e := start(t, Options{SendBuffer: 8, WriteTimeout: 200 * time.Millisecond}, router.Options{}, nil)
	slow := dial(t, e.url, nil)
	slowID := e.waitConns(t, 1)[0].ID
	fast := dial(t, e.url, nil)
	var fastID string
	for _, c := range e.waitConns(t, 2) {
		if c.ID != slowID {
			fastID = c.ID
		}
	}
	body := func(id, data string) string {
		b, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": id, "data": data}})
		return string(b)
	}
	big := strings.Repeat("x", 256<<10) // the slow client's TCP buffers fill after a few
	var wg sync.WaitGroup
	got := 0
	wg.Go(func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _, err := fast.Read(ctx)
			cancel()
			if err != nil {
				return
			}
			got++
			if got == 40 {
				return
			}
		}
	})
	slowClosed := false
	for range 40 {
		if status, _ := pushTo(t, e.srv.URL+"/sendback", body(slowID, big)); status == 404 {
			slowClosed = true
		}
		if status, _ := pushTo(t, e.srv.URL+"/sendback", body(fastID, "small")); status != 200 {
			t.Fatalf("push to the fast client = %d; want 200", status)
		}
	}
	wg.Wait()
	if !slowClosed || got != 40 {
		t.Errorf("slow client closed %v, fast client got %d of 40; want closed and all 40", slowClosed, got)
	}
	_ = slow
}

func buildBadfn(t *testing.T) string { return testbin.Build(t, "./testdata/badfn") }

func invokeData(t *testing.T, f *Function, data string) (map[string]any, error) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": "a==", "data": data}})
	out, err := f.Invoke(context.Background(), b)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("reply %s: %v", out, err)
	}
	return m, nil
}

func TestFunctionRuntimeFaults(t *testing.T) {
	f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: 300 * time.Millisecond})
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
		{"sleep", "timeout", false}, // still answers Ping: kept
		{"panic", "error", true},    // ShouldExit: replaced
		{"exit", "crash", true},
	}
	for _, tt := range tests {
		_, err := invokeData(t, f, tt.give)
		var ie *InvokeError
		if !errors.As(err, &ie) || ie.Kind != tt.wantKind {
			t.Errorf("invoke(%s) = %v; want a %s", tt.give, err, tt.wantKind)
		}
		time.Sleep(50 * time.Millisecond)
		next, err := invokeData(t, f, "hello")
		if err != nil {
			t.Fatalf("invoke after %s: %v", tt.give, err)
		}
		if changed := next["pid"] != pid; changed != tt.wantNew {
			t.Errorf("after %s, pid %v -> %v; want a new process: %v", tt.give, pid, next["pid"], tt.wantNew)
		}
		pid = next["pid"]
	}
}

func TestGatewayWithMisbehavingFunction(t *testing.T) {
	f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gw := New(f, zaptest.NewLogger(t), Options{})
	srv := httptest.NewServer(gw)
	defer srv.Close()
	defer gw.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/websocket"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"refuse"}})
	if err == nil || resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Scfws-Errno") != "4001" {
		t.Errorf("handshake the function refuses: %v %v; want 403 errNo 4001", err, resp)
	}
	// A transmit invoke that fails (here, the process dies) closes that client, 1011.
	for _, give := range []string{"exit", "sleep"} {
		c := dial(t, url, nil)
		write(t, c, websocket.MessageText, []byte(give))
		if _, _, err := read(t, c); websocket.CloseStatus(err) != websocket.StatusInternalError {
			t.Errorf("after %q, client read %v; want close 1011", give, err)
		}
	}
	// And the next client is served by a fresh process.
	c := dial(t, url, nil)
	write(t, c, websocket.MessageText, []byte("fine"))
	c.Close(websocket.StatusNormalClosure, "")
}
