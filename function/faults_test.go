package function

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/internal/testkit/faultproxy"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
)

// app is the function as main wires it, configured through its settings.
type app struct {
	r    *router.Router
	push *pushtest.Server
	logs *observer.ObservedLogs
}

// newApp wires the function with env on top of a push endpoint of its own;
// a SENDBACK_HOST in env that starts with "/" is a path on that endpoint.
func newApp(t *testing.T, env map[string]string) *app {
	t.Helper()
	push := pushtest.Start()
	t.Cleanup(push.Close)
	settings := map[string]string{"SENDBACK_HOST": push.URL + "/api-faults"}
	for k, v := range env {
		if k == "SENDBACK_HOST" && strings.HasPrefix(v, "/") {
			v = push.URL + v
		}
		settings[k] = v
	}
	// Observed, not written to t: the driver may still log as a pool
	// closes after the test, and t panics on that. A failure prints them.
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("%s %s %v", e.Level, e.Message, e.ContextMap())
			}
		}
	})
	// Each registry the loader opens is closed with the test, not leaked
	// into the next one.
	open := func(ctx context.Context, cfg config.Config, log *zap.Logger) (router.Registry, error) {
		reg, err := openRegistry(ctx, cfg, log)
		if c, ok := reg.(io.Closer); ok {
			t.Cleanup(func() { _ = c.Close() })
		}
		return reg, err
	}
	load := loaderFrom(config.FromMap(settings), log, zap.NewAtomicLevel(), open)
	return &app{r: router.New(log, load), push: push, logs: logs}
}

func (a *app) do(t *testing.T, timeout time.Duration, action, id, data string) router.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ev, _ := json.Marshal(router.Event{WebSocket: &router.WebSocket{Action: action, SecConnectionID: id, Data: data}})
	payload, err := a.r.Invoke(ctx, ev)
	if err != nil {
		t.Fatalf("Invoke(%s) error %v; want a reply", action, err)
	}
	var reply router.Reply
	if err := json.Unmarshal(payload, &reply); err != nil {
		t.Fatal(err)
	}
	if _, ok := ctx.Deadline(); ok && ctx.Err() != nil {
		t.Errorf("Invoke(%s) answered after its deadline", action)
	}
	return reply
}

func dbEnv(db *mysqltest.DB, port int) map[string]string {
	return map[string]string{"STORE": "mysql", "DB_HOST": "127.0.0.1", "DB_PORT": strconv.Itoa(port),
		"DB_USER": db.User, "DB_PASSWORD": db.Password, "DB_NAME": db.Name, "PUSH_RETRIES": "0"}
}

func startProxy(t *testing.T, db *mysqltest.DB) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(net.JoinHostPort(db.Host, strconv.Itoa(db.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestDatabaseDownAndBack(t *testing.T) {
	db := mysqltest.New(t)
	proxy := startProxy(t, db)
	a := newApp(t, dbEnv(db, proxy.Port()))

	// Down before the first invoke: the function cannot open the registry.
	proxy.Set(faultproxy.Down)
	if r := a.do(t, 3*time.Second, "connecting", "a==", ""); r.ErrNo != proto.CodeRegistry || r.ErrMsg != "registry unavailable" {
		t.Errorf("register with the DB down at start = %d %q; want %d registry unavailable", r.ErrNo, r.ErrMsg, proto.CodeRegistry)
	}
	proxy.Set(faultproxy.Up)
	for _, id := range []string{"a==", "b=="} {
		if r := a.do(t, 3*time.Second, "connecting", id, ""); r.ErrNo != 0 {
			t.Fatalf("register(%s) after the DB came back = %d %q; want 0", id, r.ErrNo, r.ErrMsg)
		}
	}

	// Down while warm: the pool's connections are cut under it.
	proxy.Set(faultproxy.Down)
	if r := a.do(t, 3*time.Second, "connecting", "c==", ""); r.ErrNo != proto.CodeRegistry {
		t.Errorf("register with the DB down = %d %q; want %d (refused: nobody is connected unregistered)", r.ErrNo, r.ErrMsg, proto.CodeRegistry)
	}
	r := a.do(t, 3*time.Second, "data send", "a==", "hi")
	if r.ErrNo != proto.CodeRegistry || r.Summary == nil || r.Recipients != 0 {
		t.Errorf("transmit with the DB down = %+v; want errNo %d with an empty summary", r, proto.CodeRegistry)
	}
	if r := a.do(t, 3*time.Second, "closing", "b==", ""); r.ErrNo != proto.CodeRegistry {
		t.Errorf("cleanup with the DB down = %d; want %d", r.ErrNo, proto.CodeRegistry)
	}
	// The driver's own complaint about the cut joins the function's log.
	if n := a.logs.FilterLoggerName("mysql").Len(); n == 0 {
		t.Errorf("no log line from the MySQL driver after its connections were cut; want its messages in our log")
	}

	proxy.Set(faultproxy.Up)
	r = a.do(t, 3*time.Second, "data send", "a==", "back")
	if r.ErrNo != 0 || r.Recipients != 1 || r.Delivered != 1 {
		t.Errorf("transmit after the DB came back = %+v; want 1 recipient delivered", r)
	}
	if got := db.IDs(t, "ConnectionID_List"); strings.Join(got, ",") != "a==,b==" {
		t.Errorf("registry = %q; want a==, b== (c== was refused)", got)
	}
}

// A database that accepts and never answers must not hold an invoke past its
// deadline: the context reaches every query.
func TestDatabaseHangs(t *testing.T) {
	db := mysqltest.New(t)
	proxy := startProxy(t, db)
	a := newApp(t, dbEnv(db, proxy.Port()))
	if r := a.do(t, 3*time.Second, "connecting", "a==", ""); r.ErrNo != 0 {
		t.Fatalf("register = %d %q", r.ErrNo, r.ErrMsg)
	}
	proxy.Set(faultproxy.Hang)
	for _, action := range []string{"connecting", "data send", "closing"} {
		if r := a.do(t, time.Second, action, "a==", "x"); r.ErrNo != proto.CodeRegistry {
			t.Errorf("%s with a hung DB = %d %q; want %d", action, r.ErrNo, r.ErrMsg, proto.CodeRegistry)
		}
	}
	proxy.Set(faultproxy.Up)
	if r := a.do(t, 3*time.Second, "data send", "a==", "x"); r.ErrNo != 0 {
		t.Errorf("transmit after the hang = %d %q; want 0", r.ErrNo, r.ErrMsg)
	}
}

// A cold instance whose database hangs from the start: the first invokes
// (which load the settings and open the registry) answer before their
// deadlines too, with a fixed message that names no host, and the instance
// recovers when the database answers again.
func TestDatabaseHangsAtColdStart(t *testing.T) {
	db := mysqltest.New(t)
	proxy := startProxy(t, db)
	proxy.Set(faultproxy.Hang)
	a := newApp(t, dbEnv(db, proxy.Port()))
	// SCF's shortest timeout is 1s; 500ms still leaves a 100ms reserve for
	// a machine shared with the rest of CI.
	for _, timeout := range []time.Duration{time.Second, 500 * time.Millisecond, 2 * time.Second} {
		r := a.do(t, timeout, "connecting", "a==", "") // fails the test if it answers late
		if r.ErrNo != proto.CodeRegistry || r.ErrMsg != "registry unavailable" {
			t.Errorf("cold invoke with a hung DB, %s deadline = %d %q; want %d %q", timeout, r.ErrNo, r.ErrMsg, proto.CodeRegistry, "registry unavailable")
		}
	}
	proxy.Set(faultproxy.Up)
	if r := a.do(t, 3*time.Second, "connecting", "a==", ""); r.ErrNo != 0 {
		t.Errorf("after the hang, register = %d %q; want 0", r.ErrNo, r.ErrMsg)
	}
}

// A push address that refuses every push (a mistyped path answers 404 to
// all) must never wipe the registry: a 1,000-recipient broadcast deletes no
// row, counts them failed, and the reply and the log say why.
func TestWrongPushAddressKeepsRegistry(t *testing.T) {
	db := mysqltest.New(t)
	env := dbEnv(db, db.Port)
	env["SENDBACK_HOST"] = "/wrong-path/api-x"
	a := newApp(t, env)
	if r := a.do(t, 3*time.Second, "connecting", "sender==", ""); r.ErrNo != 0 {
		t.Fatalf("register = %d %q", r.ErrNo, r.ErrMsg)
	}
	db.Exec(t, "INSERT INTO ConnectionID_List (ConnectionID, Date) SELECT CONCAT('peer-', seq), UTC_TIMESTAMP(3) FROM seq_1_to_1000")
	// Time enough for all 1,000 to be tried: this is about the address.
	r := a.do(t, 10*time.Second, "data send", "sender==", "hello")
	if r.ErrNo != 0 || r.Summary == nil || r.Recipients != 1000 || r.Failed != 1000 || r.Pruned != 0 {
		t.Fatalf("transmit = %+v; want errNo 0, 1000 recipients, all failed, none pruned", r)
	}
	if !strings.Contains(r.ErrMsg, "push address looks wrong") || !strings.Contains(r.ErrMsg, "HTTP 404") {
		t.Errorf("errMsg = %q; want it to say the push address looks wrong", r.ErrMsg)
	}
	if n := len(db.IDs(t, "ConnectionID_List")); n != 1001 {
		t.Errorf("registry has %d rows after the broadcast; want all 1001", n)
	}
	if n := a.logs.FilterMessage("invoke").FilterLevelExact(zapcore.WarnLevel).Filter(func(e observer.LoggedEntry) bool {
		return strings.Contains(fmt.Sprint(e.ContextMap()["errMsg"]), "push address looks wrong")
	}).Len(); n != 1 {
		t.Errorf("%d warning log lines say the push address looks wrong; want 1", n)
	}
}

func TestPushEndpointFaults(t *testing.T) {
	ids := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s%02d==", prefix, i))
		}
		return out
	}
	tests := []struct {
		name    string
		peers   []string
		down    bool
		timeout time.Duration
		want    proto.Summary // ElapsedMs and Swept ignored
		wantReg int           // rows after, sender included
	}{
		{name: "down", peers: ids("p", 5), down: true, timeout: 3 * time.Second,
			want: proto.Summary{Recipients: 5, Failed: 5}, wantReg: 6},
		// A non-200 answer means the gateway dropped that client; one peer
		// that gets the frame shows the address works.
		{name: "500", peers: append(ids("fail-", 5), "ok=="), timeout: 3 * time.Second,
			want: proto.Summary{Recipients: 6, Delivered: 1, Pruned: 5}, wantReg: 2},
		{name: "404 and errNo", peers: append(append(ids("gone-", 3), ids("errno-", 2)...), "ok=="), timeout: 3 * time.Second,
			want: proto.Summary{Recipients: 6, Delivered: 1, Pruned: 5}, wantReg: 2},
		// Every push refused: the address's fault, nothing pruned.
		{name: "all refused", peers: ids("gone-", 5), timeout: 3 * time.Second,
			want: proto.Summary{Recipients: 5, Failed: 5}, wantReg: 6},
		// Rate limited past the retries: failed, kept.
		{name: "429", peers: ids("busy-", 5), timeout: 3 * time.Second,
			want: proto.Summary{Recipients: 5, Failed: 5}, wantReg: 6},
		// PUSH_TIMEOUT is 2s and the invoke has 1.5s: every push is cut at
		// the deadline's reserve, and the reply still gets out.
		{name: "slow", peers: ids("slow-", 5), timeout: 1500 * time.Millisecond,
			want: proto.Summary{Recipients: 5, Failed: 5}, wantReg: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(t, map[string]string{"STORE": "memory"})
			for _, id := range append([]string{"sender=="}, tt.peers...) {
				if r := a.do(t, 3*time.Second, "connecting", id, ""); r.ErrNo != 0 {
					t.Fatal(r.ErrMsg)
				}
			}
			if tt.down {
				a.push.Close()
			}
			r := a.do(t, tt.timeout, "data send", "sender==", "hello")
			if r.ErrNo != 0 || r.Summary == nil {
				t.Fatalf("transmit = %+v; want errNo 0 and a summary", r)
			}
			got := *r.Summary
			got.ElapsedMs, got.Swept = 0, 0
			if got != tt.want {
				t.Errorf("summary = %+v; want %+v", got, tt.want)
			}
			if r := a.do(t, 3*time.Second, "data send", "sender==", "__count__"); r.Recipients != tt.wantReg-1 {
				t.Errorf("after, %d recipients; want %d", r.Recipients, tt.wantReg-1)
			}
		})
	}
}

// Short deadlines: every invoke answers before its deadline, with what it
// could do. Deadlines are SCF's own (1 s is its shortest) or a little under,
// with a slow push address making the broadcast longer than the deadline,
// so that the cut is exercised; sub-second deadlines at 50-150 ms measured
// the machine's scheduler more than the function on a loaded CI runner.
func TestShortDeadlines(t *testing.T) {
	db := mysqltest.New(t)
	a := newApp(t, dbEnv(db, db.Port))
	if r := a.do(t, 3*time.Second, "connecting", "sender==", ""); r.ErrNo != 0 {
		t.Fatalf("register = %d %q", r.ErrNo, r.ErrMsg)
	}
	for _, timeout := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		if r := a.do(t, timeout, "connecting", fmt.Sprint("c-", timeout), ""); r.ErrNo != 0 {
			t.Errorf("register with a %s deadline = %d %q; want 0", timeout, r.ErrNo, r.ErrMsg)
		}
	}
	// 300 recipients behind a push address that takes 400 ms: three waves
	// of 128 pushes need 1.2 s, so a 1 s deadline cuts the broadcast short
	// (what is in flight at the cut unwinds before the reply). How much
	// gets through before the cut depends on the machine's load (the cut
	// comes earlier when pushes take longer), so only the accounting is
	// asserted, with the reply in time.
	db.Exec(t, "INSERT INTO ConnectionID_List (ConnectionID, Date) SELECT CONCAT('peer-', seq), UTC_TIMESTAMP(3) FROM seq_1_to_300")
	a.push.SetLatency(400 * time.Millisecond)
	for _, timeout := range []time.Duration{time.Second, 3 * time.Second} {
		r := a.do(t, timeout, "data send", "sender==", "hi")
		if r.ErrNo != 0 || r.Summary == nil {
			t.Fatalf("transmit with a %s deadline = %d %q; want errNo 0 and counts", timeout, r.ErrNo, r.ErrMsg)
		}
		if sum := r.Delivered + r.Failed + r.Skipped + r.Pruned; r.Recipients != 303 || sum != r.Recipients {
			t.Errorf("transmit with a %s deadline = %+v; want 303 recipients, each delivered, failed, skipped or pruned", timeout, *r.Summary)
		}
		if timeout == time.Second && r.Skipped == 0 {
			t.Errorf("transmit with a 1s deadline = %+v; want the broadcast cut short (skipped)", *r.Summary)
		}
	}
}

// BenchmarkDeadlineCurve is the share of a 10,000-recipient broadcast (2ms
// push endpoint, MySQL registry) that a function timeout of each length
// delivers; the rest is skipped, and every invoke answers in time.
func BenchmarkDeadlineCurve(b *testing.B) {
	db := mysqltest.New(b)
	for _, timeout := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 3 * time.Second} {
		b.Run(timeout.String(), func(b *testing.B) {
			push := pushtest.Start()
			defer push.Close()
			push.Discard()
			push.SetLatency(2 * time.Millisecond)
			settings := dbEnv(db, db.Port)
			settings["SENDBACK_HOST"] = push.URL
			settings["LOG_LEVEL"] = "error"
			r := router.New(zap.NewNop(), loaderFrom(config.FromMap(settings), zap.NewNop(), zap.NewAtomicLevel(), openRegistry))
			warm, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = r.Invoke(warm, []byte(`{"websocket":{"action":"connecting","secConnectionID":"sender=="}}`))
			cancel()
			db.Exec(b, "DELETE FROM ConnectionID_List WHERE ConnectionID <> 'sender=='")
			db.Exec(b, "INSERT INTO ConnectionID_List (ConnectionID, Date) SELECT CONCAT('peer-', seq), UTC_TIMESTAMP(3) FROM seq_1_to_9999")
			var delivered, late int
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				out, _ := r.Invoke(ctx, []byte(`{"websocket":{"action":"data send","secConnectionID":"sender==","data":"x"}}`))
				if ctx.Err() != nil {
					late++
				}
				cancel()
				var reply router.Reply
				if err := json.Unmarshal(out, &reply); err != nil || reply.Summary == nil {
					b.Fatalf("reply %s", out)
				}
				delivered += reply.Delivered
			}
			b.ReportMetric(float64(delivered)/float64(b.N)/9999*100, "%delivered")
			b.ReportMetric(float64(late), "late")
		})
	}
}

// BenchmarkFanout10k compares, in one run against MariaDB and one 2ms push
// endpoint, the ways a message reaches 10,000 connections with today's
// broadcast (a plain client's frame to 10,000 plain connections), each
// pair interleaved so that load from elsewhere hits both alike: a scfws.v1
// sendToGroup to a group of 10,000, and a backend's sendToAll to 10,000.
func BenchmarkFanout10k(b *testing.B) {
	for _, kind := range []struct{ name, event string }{
		{"sendToGroup", `{"websocket":{"action":"data send","secConnectionID":"v1-sender","data":"{\"type\":\"sendToGroup\",\"group\":\"lobby\",\"noEcho\":true,\"data\":\"hello, everyone\"}"}}`},
		{"sendToAll", `{"scfws":{"op":"sendToAll","dataType":"text","data":"hello, everyone"}}`},
	} {
		b.Run(kind.name, func(b *testing.B) {
			db := mysqltest.New(b)
			push := pushtest.Start()
			defer push.Close()
			push.Discard()
			push.SetLatency(2 * time.Millisecond)
			settings := dbEnv(db, db.Port)
			settings["SENDBACK_HOST"] = push.URL
			settings["LOG_LEVEL"] = "error"
			settings["DEFAULT_ROLES"] = "sendToGroup" // the sender connects without a token
			r := router.New(zap.NewNop(), loaderFrom(config.FromMap(settings), zap.NewNop(), zap.NewAtomicLevel(), openRegistry))
			invoke := func(b *testing.B, event string) int {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				out, _ := r.Invoke(ctx, []byte(event))
				var reply router.Reply
				if err := json.Unmarshal(out, &reply); err != nil || reply.ErrNo != 0 {
					b.Fatalf("%s: reply %s", event, out)
				}
				if reply.Summary == nil {
					return 0
				}
				return reply.Delivered
			}
			invoke(b, `{"websocket":{"action":"connecting","secConnectionID":"plain-sender"}}`)
			invoke(b, `{"websocket":{"action":"connecting","secConnectionID":"v1-sender","secWebSocketProtocol":"scfws.v1"}}`)
			db.Exec(b, "INSERT INTO ConnectionID_List (ConnectionID, Date) SELECT CONCAT('plain-', seq), UTC_TIMESTAMP(3) FROM seq_1_to_9999")
			if kind.name == "sendToGroup" {
				db.Exec(b, "INSERT INTO ConnectionID_List_v1 (ID, UserID, LastSeen) SELECT CONCAT('v1-', seq), CONCAT('user-', seq % 1000), UTC_TIMESTAMP(3) FROM seq_1_to_10000")
				db.Exec(b, "INSERT INTO ConnectionID_List_groups (GroupName, ConnectionID, UserID) SELECT 'lobby', CONCAT('v1-', seq), CONCAT('user-', seq % 1000) FROM seq_1_to_10000")
			} else {
				db.Exec(b, "DELETE FROM ConnectionID_List_v1")
			}
			var broadcast, other time.Duration
			first := true
			for b.Loop() {
				// Alternating which goes first: the second of a pair pays
				// for the first's garbage.
				for _, plain := range []bool{first, !first} {
					began := time.Now()
					if plain {
						if n := invoke(b, `{"websocket":{"action":"data send","secConnectionID":"plain-sender","data":"hello, everyone"}}`); n != 9999 {
							b.Fatalf("broadcast delivered %d; want 9,999 (10,000 with the sender)", n)
						}
						broadcast += time.Since(began)
					} else {
						if n := invoke(b, kind.event); n != 10000 {
							b.Fatalf("%s delivered %d; want 10,000", kind.name, n)
						}
						other += time.Since(began)
					}
				}
				first = !first
			}
			b.ReportMetric(float64(broadcast.Milliseconds())/float64(b.N), "broadcast-ms")
			b.ReportMetric(float64(other.Milliseconds())/float64(b.N), kind.name+"-ms")
			b.ReportMetric(float64(other)/float64(broadcast), "ratio")
		})
	}
}
