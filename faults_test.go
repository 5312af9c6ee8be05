package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/internal/faultproxy"
	"github.com/scfws/scfws/internal/pushtest"
	"github.com/scfws/scfws/internal/testdb"
	"github.com/scfws/scfws/router"
)

// app is the function as main wires it, configured through the environment.
type app struct {
	r    *router.Router
	push *pushtest.Server
}

func newApp(t *testing.T, env map[string]string) *app {
	t.Helper()
	push := pushtest.Start()
	t.Cleanup(push.Close)
	for _, k := range config.Keys() {
		t.Setenv(k, "")
	}
	t.Setenv("SENDBACK_HOST", push.URL+"/api-faults")
	for k, v := range env {
		t.Setenv(k, v)
	}
	log := zaptest.NewLogger(t)
	routeDriverLog(log)
	t.Cleanup(func() { routeDriverLog(zap.NewNop()) })
	return &app{r: router.New(log, loader(log, zap.NewAtomicLevel())), push: push}
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

func dbEnv(db *testdb.DB, port int) map[string]string {
	return map[string]string{"STORE": "mysql", "DB_HOST": "127.0.0.1", "DB_PORT": strconv.Itoa(port),
		"DB_USER": db.User, "DB_PASSWORD": db.Password, "DB_NAME": db.Name, "PUSH_RETRIES": "0"}
}

func startProxy(t *testing.T, db *testdb.DB) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(net.JoinHostPort(db.Host, strconv.Itoa(db.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestDatabaseDownAndBack(t *testing.T) {
	db := testdb.New(t)
	proxy := startProxy(t, db)
	a := newApp(t, dbEnv(db, proxy.Port()))

	// Down before the first invoke: the function cannot open the registry.
	proxy.Set(faultproxy.Down)
	if r := a.do(t, 3*time.Second, "connecting", "a==", ""); r.ErrNo != router.CodeRegistry || r.ErrMsg != "registry unavailable" {
		t.Errorf("register with the DB down at start = %d %q; want %d registry unavailable", r.ErrNo, r.ErrMsg, router.CodeRegistry)
	}
	proxy.Set(faultproxy.Up)
	for _, id := range []string{"a==", "b=="} {
		if r := a.do(t, 3*time.Second, "connecting", id, ""); r.ErrNo != 0 {
			t.Fatalf("register(%s) after the DB came back = %d %q; want 0", id, r.ErrNo, r.ErrMsg)
		}
	}

	// Down while warm: the pool's connections are cut under it.
	proxy.Set(faultproxy.Down)
	if r := a.do(t, 3*time.Second, "connecting", "c==", ""); r.ErrNo != router.CodeRegistry {
		t.Errorf("register with the DB down = %d %q; want %d (refused: nobody is connected unregistered)", r.ErrNo, r.ErrMsg, router.CodeRegistry)
	}
	r := a.do(t, 3*time.Second, "data send", "a==", "hi")
	if r.ErrNo != router.CodeRegistry || r.Summary == nil || r.Recipients != 0 {
		t.Errorf("transmit with the DB down = %+v; want errNo %d with an empty summary", r, router.CodeRegistry)
	}
	if r := a.do(t, 3*time.Second, "closing", "b==", ""); r.ErrNo != router.CodeRegistry {
		t.Errorf("cleanup with the DB down = %d; want %d", r.ErrNo, router.CodeRegistry)
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
	db := testdb.New(t)
	proxy := startProxy(t, db)
	a := newApp(t, dbEnv(db, proxy.Port()))
	if r := a.do(t, 3*time.Second, "connecting", "a==", ""); r.ErrNo != 0 {
		t.Fatalf("register = %d %q", r.ErrNo, r.ErrMsg)
	}
	proxy.Set(faultproxy.Hang)
	for _, action := range []string{"connecting", "data send", "closing"} {
		if r := a.do(t, time.Second, action, "a==", "x"); r.ErrNo != router.CodeRegistry {
			t.Errorf("%s with a hung DB = %d %q; want %d", action, r.ErrNo, r.ErrMsg, router.CodeRegistry)
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
	db := testdb.New(t)
	proxy := startProxy(t, db)
	proxy.Set(faultproxy.Hang)
	a := newApp(t, dbEnv(db, proxy.Port()))
	for _, timeout := range []time.Duration{time.Second, 300 * time.Millisecond, 2 * time.Second} {
		r := a.do(t, timeout, "connecting", "a==", "") // fails the test if it answers late
		if r.ErrNo != router.CodeRegistry || r.ErrMsg != "registry unavailable" {
			t.Errorf("cold invoke with a hung DB, %s deadline = %d %q; want %d %q", timeout, r.ErrNo, r.ErrMsg, router.CodeRegistry, "registry unavailable")
		}
	}
	proxy.Set(faultproxy.Up)
	if r := a.do(t, 3*time.Second, "connecting", "a==", ""); r.ErrNo != 0 {
		t.Errorf("after the hang, register = %d %q; want 0", r.ErrNo, r.ErrMsg)
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
		want    router.Summary // ElapsedMs and Swept ignored
		wantReg int            // rows after, sender included
	}{
		{name: "down", peers: ids("p", 5), down: true, timeout: 3 * time.Second,
			want: router.Summary{Recipients: 5, Failed: 5}, wantReg: 6},
		// A non-200 answer means the gateway dropped that client; one peer
		// that gets the frame shows the address works.
		{name: "500", peers: append(ids("fail-", 5), "ok=="), timeout: 3 * time.Second,
			want: router.Summary{Recipients: 6, Delivered: 1, Pruned: 5}, wantReg: 2},
		{name: "404 and errNo", peers: append(append(ids("gone-", 3), ids("errno-", 2)...), "ok=="), timeout: 3 * time.Second,
			want: router.Summary{Recipients: 6, Delivered: 1, Pruned: 5}, wantReg: 2},
		// Every push refused: the address's fault, nothing pruned.
		{name: "all refused", peers: ids("gone-", 5), timeout: 3 * time.Second,
			want: router.Summary{Recipients: 5, Failed: 5}, wantReg: 6},
		// Rate limited past the retries: failed, kept.
		{name: "429", peers: ids("busy-", 5), timeout: 3 * time.Second,
			want: router.Summary{Recipients: 5, Failed: 5}, wantReg: 6},
		// PUSH_TIMEOUT is 2s and the invoke has 1.5s: every push is cut at
		// the deadline's reserve, and the reply still gets out.
		{name: "slow", peers: ids("slow-", 5), timeout: 1500 * time.Millisecond,
			want: router.Summary{Recipients: 5, Failed: 5}, wantReg: 6},
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
