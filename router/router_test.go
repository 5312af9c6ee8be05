package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/proto"
)

// fakeRegistry is a map, with knobs to fail or panic.
type fakeRegistry struct {
	mu      sync.Mutex
	ids     map[string]bool
	err     error // returned by every call
	panics  bool
	removed []string
	sweeps  int
}

func newFakeRegistry(ids ...string) *fakeRegistry {
	f := &fakeRegistry{ids: map[string]bool{}}
	for _, id := range ids {
		f.ids[id] = true
	}
	return f
}

func (f *fakeRegistry) check() error {
	if f.panics {
		panic("registry exploded")
	}
	return f.err
}

func (f *fakeRegistry) Register(_ context.Context, c proto.Conn, _ []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	f.ids[c.ID] = true
	return nil, nil
}

func (f *fakeRegistry) Touch(_ context.Context, id string) (proto.Conn, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return proto.Conn{}, false, err
	}
	return proto.Conn{ID: id}, f.ids[id], nil
}

func (f *fakeRegistry) Lookup(ctx context.Context, id string) (proto.Conn, bool, error) {
	return f.Touch(ctx, id)
}

func (f *fakeRegistry) Remove(_ context.Context, ids ...string) ([]proto.Membership, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		delete(f.ids, id)
	}
	f.removed = append(f.removed, ids...)
	return nil, nil
}

// The fake has plain connections only; v1 behaviour is tested against the
// in-memory store (v1_test.go).
func (f *fakeRegistry) LiveV1(context.Context) ([]string, error) { return nil, f.check() }
func (f *fakeRegistry) Counts(ctx context.Context) (int, int, int, error) {
	ids, err := f.Live(ctx)
	return len(ids), 0, 0, err
}
func (f *fakeRegistry) Join(context.Context, string, string, int) (bool, error) {
	return false, errors.New("not v1")
}
func (f *fakeRegistry) Leave(context.Context, string, string) (bool, error)  { return false, f.check() }
func (f *fakeRegistry) GroupConns(context.Context, string) ([]string, error) { return nil, f.check() }
func (f *fakeRegistry) UserConns(context.Context, string) ([]string, error)  { return nil, f.check() }
func (f *fakeRegistry) IsMember(context.Context, string, string) (bool, error) {
	return false, f.check()
}
func (f *fakeRegistry) GroupUsers(context.Context, string, int) ([]proto.UserCount, int, bool, error) {
	return nil, 0, false, f.check()
}
func (f *fakeRegistry) ClaimNonce(context.Context, []byte, time.Time) (bool, error) {
	return true, f.check()
}

func (f *fakeRegistry) Live(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	var out []string
	for id := range f.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeRegistry) Sweep(context.Context) (int64, []proto.Membership, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweeps++
	return 0, nil, f.check()
}

// pushErr is what a Pusher reports per recipient.
type pushErr struct{ gone, skipped bool }

func (e pushErr) Error() string { return "push failed" }
func (e pushErr) Gone() bool    { return e.gone }
func (e pushErr) Skipped() bool { return e.skipped }

// fakePusher answers by recipient: outcome[id], default delivered.
type fakePusher struct {
	mu      sync.Mutex
	outcome map[string]error
	got     map[string]string // id -> data
}

func (p *fakePusher) Broadcast(_ context.Context, ids []string, _, data string) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.got == nil {
		p.got = map[string]string{}
	}
	errs := make([]error, len(ids))
	for i, id := range ids {
		p.got[id] = data
		errs[i] = p.outcome[id]
	}
	return errs
}

func (p *fakePusher) Disconnect(ctx context.Context, ids []string) []error {
	return p.Broadcast(ctx, ids, "closing", "")
}

func event(action, id, data string) []byte {
	b, _ := json.Marshal(Event{WebSocket: &WebSocket{Action: action, SecConnectionID: id, Data: data}})
	return b
}

func newObserved(load Loader) (*Router, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return New(zap.New(core), load), logs
}

func handle(t *testing.T, r *Router, payload []byte) Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, err := r.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke(%s) error = %v; want nil always", payload, err)
	}
	var reply Reply
	if err := json.Unmarshal(out, &reply); err != nil {
		t.Fatalf("Invoke(%s) = %s: not JSON: %v", payload, out, err)
	}
	return reply
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		give    string
		allowed []string
		want    string
	}{
		{"", nil, ""},
		{"chat,binary", nil, "chat"},
		{" chat , binary ", []string{"binary"}, "binary"},
		{"chat", []string{"json"}, ""},
		{"a b, c\r\nX: y, ok", nil, "ok"},
		{"v1.chat", []string{"v1.chat"}, "v1.chat"},
		{",,,", nil, ""},
		{`"quoted", plain`, nil, "plain"},
		// Only the first 16 entries count: an allowed 17th is not chosen.
		{strings.Repeat("x,", 15) + "ok", []string{"ok"}, "ok"},
		{strings.Repeat("x,", 16) + "ok", []string{"ok"}, ""},
	}
	for _, tt := range tests {
		if got := negotiate(tt.give, tt.allowed); got != tt.want {
			t.Errorf("negotiate(%q, %q) = %q; want %q", tt.give, tt.allowed, got, tt.want)
		}
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		give string
		want string // "" = valid
	}{
		{"xawexasdfewezdfsdfeasdfffa==", ""},
		{"a+b/c=", ""},
		{"'; DROP TABLE t; --", ""},
		{"连接🙂", ""},
		{strings.Repeat("a", 255), ""},
		{strings.Repeat("a", 256), "at most 255"},
		{"", "missing"},
		{"a\x00b", "control"},
		{"a\nb", "control"},
		{"\xff\xfe", "not UTF-8"},
	}
	for _, tt := range tests {
		err := checkID(tt.give)
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkID(%q) = %v; want %q", clip(tt.give), err, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct{ give, want string }{
		{"short", "short"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64) + "…(100 bytes)"},
		{strings.Repeat("连", 30), strings.Repeat("连", 21) + "…(90 bytes)"}, // never cuts a rune
	}
	for _, tt := range tests {
		if got := clip(tt.give); got != tt.want {
			t.Errorf("clip(%q) = %q; want %q", tt.give, got, tt.want)
		}
	}
}

func TestTransmitClassifiesOutcomes(t *testing.T) {
	reg := newFakeRegistry("me", "ok1", "ok2", "gone1", "failed1", "skipped1")
	push := &fakePusher{outcome: map[string]error{
		"gone1": pushErr{gone: true}, "failed1": errors.New("connection refused"), "skipped1": pushErr{skipped: true},
	}}
	r, logs := newObserved(Fixed(&Deps{Registry: reg, Pusher: push, Options: Options{MaxMessageBytes: 100}}))
	reply := handle(t, r, event(ActionDataSend, "me", "hi"))
	want := proto.Summary{Recipients: 5, Delivered: 2, Pruned: 1, Failed: 1, Skipped: 1}
	got := *reply.Summary
	got.ElapsedMs = 0
	if reply.ErrNo != 0 || got != want {
		t.Errorf("transmit = %d %+v; want 0 %+v", reply.ErrNo, got, want)
	}
	if !slices.Equal(reg.removed, []string{"gone1"}) {
		t.Errorf("removed %q; want only gone1", reg.removed)
	}
	if _, ok := push.got["me"]; ok {
		t.Errorf("the sender got its own frame; want not (BROADCAST_TO_SENDER off)")
	}
	entries := logs.All()
	if len(entries) != 1 || entries[0].Level != zapcore.WarnLevel || !strings.Contains(entries[0].ContextMap()["error"].(string), "1 pushes failed") {
		t.Errorf("logged %+v; want one warning naming the failed push", entries)
	}
}

// The invoke's one log line carries what a log query charts (SCF's log
// service, scfws local's metrics): action, outcome, duration, and for a
// send its counts, handedOff included.
func TestLogLineForCharts(t *testing.T) {
	push := &fakePusher{outcome: map[string]error{"failed1": errors.New("connection refused")}}
	tests := []struct {
		name        string
		reg         *fakeRegistry
		give        []byte
		wantOutcome string
		wantCounts  map[string]any // nil: no counts on the line
	}{
		{"sent", newFakeRegistry("me", "ok1", "ok2"), event(ActionDataSend, "me", "hi"), "ok",
			map[string]any{"recipients": int64(2), "delivered": int64(2), "pruned": int64(0), "failed": int64(0), "skipped": int64(0), "handedOff": int64(0)}},
		{"a push failed", newFakeRegistry("me", "ok1", "failed1"), event(ActionDataSend, "me", "hi"), "warning",
			map[string]any{"recipients": int64(2), "delivered": int64(1), "failed": int64(1), "handedOff": int64(0)}},
		{"refused", newFakeRegistry(), event("dance", "me", ""), "refused", nil},
		{"registry down", &fakeRegistry{ids: map[string]bool{}, err: errors.New("db gone")}, event(ActionDataSend, "me", "hi"), "error",
			map[string]any{"recipients": int64(0), "handedOff": int64(0)}},
	}
	for _, tt := range tests {
		r, logs := newObserved(Fixed(&Deps{Registry: tt.reg, Pusher: push, Options: Options{MaxMessageBytes: 100}}))
		handle(t, r, tt.give)
		entries := logs.All()
		if len(entries) != 1 {
			t.Fatalf("%s: %d log lines; want 1", tt.name, len(entries))
		}
		m := entries[0].ContextMap()
		if m["outcome"] != tt.wantOutcome || m["action"] == nil || m["durationMs"] == nil {
			t.Errorf("%s: line %v; want outcome %q, an action and durationMs", tt.name, m, tt.wantOutcome)
		}
		for k, want := range tt.wantCounts {
			if m[k] != want {
				t.Errorf("%s: %s = %v; want %v", tt.name, k, m[k], want)
			}
		}
		if _, has := m["recipients"]; has != (tt.wantCounts != nil) {
			t.Errorf("%s: line %v has counts %v; want %v", tt.name, m, has, tt.wantCounts != nil)
		}
	}
}

func TestPruneFailureIsAWarning(t *testing.T) {
	reg := &failingRemove{fakeRegistry: newFakeRegistry("me", "gone1")}
	push := &fakePusher{outcome: map[string]error{"gone1": pushErr{gone: true}}}
	r, logs := newObserved(Fixed(&Deps{Registry: reg, Pusher: push, Options: Options{MaxMessageBytes: 100}}))
	reply := handle(t, r, event(ActionDataSend, "me", "hi"))
	if reply.ErrNo != 0 || reply.Pruned != 0 || reply.Recipients != 1 {
		t.Errorf("transmit with a failing prune = %d %+v; want errNo 0, pruned 0", reply.ErrNo, reply.Summary)
	}
	if e := logs.All(); len(e) != 1 || !strings.Contains(e[0].ContextMap()["error"].(string), "prune 1 gone connections") {
		t.Errorf("log = %+v; want one line naming the prune failure", e)
	}
}

type failingRemove struct{ *fakeRegistry }

func (f *failingRemove) Remove(context.Context, ...string) ([]proto.Membership, error) {
	return nil, errors.New("db gone")
}

func TestErrorsBecomeReplies(t *testing.T) {
	dbDown := errors.New("dial tcp 10.0.0.5:3306: connect: connection refused")
	tests := []struct {
		name      string
		reg       *fakeRegistry
		give      []byte
		wantNo    int
		wantMsg   string
		wantLevel zapcore.Level
	}{
		{"register ok", newFakeRegistry(), event(ActionConnecting, "a", ""), proto.CodeOK, "ok", zapcore.InfoLevel},
		{"register, DB down", &fakeRegistry{err: dbDown}, event(ActionConnecting, "a", ""), proto.CodeRegistry, "registry unavailable", zapcore.ErrorLevel},
		{"transmit, DB down", &fakeRegistry{err: dbDown}, event(ActionDataSend, "a", "x"), proto.CodeRegistry, "registry unavailable", zapcore.ErrorLevel},
		{"cleanup, DB down", &fakeRegistry{err: dbDown}, event(ActionClosing, "a", ""), proto.CodeRegistry, "registry unavailable", zapcore.ErrorLevel},
		{"registry panics", &fakeRegistry{panics: true}, event(ActionConnecting, "a", ""), proto.CodeInternal, "internal error", zapcore.ErrorLevel},
		{"unknown action", newFakeRegistry(), event("dance", "a", ""), proto.CodeUnknownAction, `unknown action "dance"`, zapcore.WarnLevel},
		{"oversize", newFakeRegistry("a"), event(ActionDataSend, "a", "12345678901"), proto.CodeTooLarge, "message of 11 bytes: at most 10 (MAX_MESSAGE_BYTES)", zapcore.WarnLevel},
		{"no websocket", newFakeRegistry(), []byte(`{"requestContext":{}}`), proto.CodeNoWebSocket, "not found websocket", zapcore.WarnLevel},
		{"null", newFakeRegistry(), []byte(`null`), proto.CodeNoWebSocket, "not found websocket", zapcore.WarnLevel},
		// Keys matching the timer's Type and Message in any case, of any
		// type, change nothing for other events.
		{"a websocket event with a TYPE object", newFakeRegistry(), []byte(`{"websocket":{"action":"connecting","secConnectionID":"a"},"TYPE":{},"message":[1]}`), proto.CodeOK, "ok", zapcore.InfoLevel},
		{"a timer whose Message is not a string", newFakeRegistry(), []byte(`{"Type":"Timer","Message":{"scfws":{"op":"status"}}}`), proto.CodeMalformedEvent, "timer event: its Message must be a backend command", zapcore.WarnLevel},
		{"a type that is not a timer", newFakeRegistry(), []byte(`{"type":1,"message":"x"}`), proto.CodeNoWebSocket, "not found websocket", zapcore.WarnLevel},
		{"number", newFakeRegistry(), []byte(`42`), proto.CodeMalformedEvent, "malformed event: json: cannot unmarshal number", zapcore.WarnLevel},
		{"websocket is a string", newFakeRegistry(), []byte(`{"websocket":"connecting"}`), proto.CodeMalformedEvent, "malformed event", zapcore.WarnLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, logs := newObserved(Fixed(&Deps{Registry: tt.reg, Pusher: &fakePusher{}, Options: Options{MaxMessageBytes: 10}}))
			reply := handle(t, r, tt.give)
			if reply.ErrNo != tt.wantNo || !strings.HasPrefix(reply.ErrMsg, tt.wantMsg) {
				t.Errorf("Handle(%s) = %d %q; want %d %q", tt.give, reply.ErrNo, reply.ErrMsg, tt.wantNo, tt.wantMsg)
			}
			if strings.Contains(reply.ErrMsg, "10.0.0.5") || strings.Contains(reply.ErrMsg, "panic") {
				t.Errorf("reply %q exposes internals; they belong in the log", reply.ErrMsg)
			}
			entries := logs.All()
			if len(entries) != 1 || entries[0].Level != tt.wantLevel {
				t.Fatalf("logged %d lines %+v; want one at %s", len(entries), entries, tt.wantLevel)
			}
			if tt.wantNo == proto.CodeRegistry && !strings.Contains(entries[0].ContextMap()["error"].(string), "10.0.0.5") {
				t.Errorf("log line lacks the cause: %+v", entries[0].ContextMap())
			}
		})
	}
}

func TestLoaderRetriedUntilItWorks(t *testing.T) {
	calls := 0
	deps := &Deps{Registry: newFakeRegistry(), Pusher: &fakePusher{}, Options: Options{MaxMessageBytes: 10}}
	r, logs := newObserved(func(context.Context) (*Deps, error) {
		calls++
		if calls < 3 {
			return nil, NotConfigured(errors.New("DB_HOST: required when STORE=mysql\nSENDBACK_HOST: required"))
		}
		return deps, nil
	})
	for i := range 2 {
		reply := handle(t, r, event(ActionConnecting, "a", ""))
		if reply.ErrNo != proto.CodeNotReady || reply.ErrMsg != "not ready: DB_HOST: required when STORE=mysql; SENDBACK_HOST: required" {
			t.Errorf("invoke %d = %d %q; want %d naming both variables", i, reply.ErrNo, reply.ErrMsg, proto.CodeNotReady)
		}
	}
	for range 2 {
		if reply := handle(t, r, event(ActionConnecting, "a", "")); reply.ErrNo != 0 {
			t.Errorf("after the loader works, reply = %d %q; want 0", reply.ErrNo, reply.ErrMsg)
		}
	}
	if calls != 3 {
		t.Errorf("loader called %d times; want 3 (retried while failing, then cached)", calls)
	}
	if n := logs.FilterField(zap.Int("errNo", proto.CodeNotReady)).Len(); n != 2 {
		t.Errorf("logged %d not-ready lines; want 2", n)
	}
}

func TestSweepAtMostOncePerInterval(t *testing.T) {
	reg := newFakeRegistry("a")
	r := New(zap.NewNop(), Fixed(&Deps{Registry: reg, Pusher: &fakePusher{}, Options: Options{MaxMessageBytes: 10, SweepEvery: time.Minute}}))
	clock := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return clock }
	for _, step := range []time.Duration{0, time.Second, 30 * time.Second, 31 * time.Second, time.Second} {
		clock = clock.Add(step)
		handle(t, r, event(ActionDataSend, "a", "x"))
	}
	if reg.sweeps != 2 {
		t.Errorf("swept %d times over 63s at most once a minute; want 2", reg.sweeps)
	}
}

func TestHeartbeatOnlyTouches(t *testing.T) {
	reg := newFakeRegistry("peer", "me")
	push := &fakePusher{}
	r := New(zap.NewNop(), Fixed(&Deps{Registry: reg, Pusher: push, Options: Options{MaxMessageBytes: 10, HeartbeatMessage: "ping"}}))
	reply := handle(t, r, event(ActionDataSend, "me", "ping"))
	if reply.ErrMsg != "heartbeat" || len(push.got) != 0 || !reg.ids["me"] {
		t.Errorf("heartbeat: reply %q, pushes %v, registered %v; want heartbeat, none, true", reply.ErrMsg, push.got, reg.ids["me"])
	}
	handle(t, r, event(ActionDataSend, "me", "ping!"))
	if push.got["peer"] != "ping!" {
		t.Errorf("a frame that only starts like the heartbeat was not broadcast: %v", push.got)
	}
}

// The deadline reaching the registry is the invocation's less the reserve.
func TestRegistryGetsReservedDeadline(t *testing.T) {
	var got time.Duration
	reg := &deadlineRegistry{fakeRegistry: newFakeRegistry(), seen: &got}
	r := New(zap.NewNop(), Fixed(&Deps{Registry: reg, Pusher: &fakePusher{}}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	// A fifth of the 2s left is 400ms, over the 200ms cap. The registry's
	// call falls between these two readings, so the bracket is exact.
	most := time.Until(deadline) - 200*time.Millisecond
	r.Handle(ctx, event(ActionConnecting, "a", ""))
	least := time.Until(deadline) - 200*time.Millisecond
	if got > most || got < least {
		t.Errorf("registry saw %s left; want between %s and %s (deadline less the 200ms reserve)", got, least, most)
	}
}

type deadlineRegistry struct {
	*fakeRegistry
	seen *time.Duration
}

func (d *deadlineRegistry) Register(ctx context.Context, c proto.Conn, g []string) ([]string, error) {
	dl, _ := ctx.Deadline()
	*d.seen = time.Until(dl)
	return d.fakeRegistry.Register(ctx, c, g)
}

// A Loader that fails for want of a database answers a fixed message: the
// host and the driver's words go to the log, never to the caller.
func TestLoaderFailureDoesNotLeak(t *testing.T) {
	r, logs := newObserved(func(context.Context) (*Deps, error) {
		return nil, errors.New("open registry SCF_Demo.ConnectionID_List at 10.0.0.5: inspect table: dial tcp 10.0.0.5:3306: i/o timeout")
	})
	reply := handle(t, r, event(ActionConnecting, "a", ""))
	if reply.ErrNo != proto.CodeRegistry || reply.ErrMsg != "registry unavailable" {
		t.Errorf("reply = %d %q; want %d %q", reply.ErrNo, reply.ErrMsg, proto.CodeRegistry, "registry unavailable")
	}
	if e := logs.All(); len(e) != 1 || !strings.Contains(e[0].ContextMap()["error"].(string), "10.0.0.5") {
		t.Errorf("log = %+v; want one line with the cause", e)
	}
}

// A cold instance whose Loader hangs (a database that accepts and never
// answers) still answers every invoke before its own deadline, and no
// invoke waits on another's: the reserve applies before loading, and no
// lock is held while loading.
func TestColdStartWithHungLoaderAnswersInTime(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var calls sync.Mutex
	n := 0
	r := New(zap.NewNop(), func(ctx context.Context) (*Deps, error) {
		calls.Lock()
		n++
		calls.Unlock()
		select {
		case <-ctx.Done(): // honours the invoke's (reserved) deadline
			return nil, fmt.Errorf("connect: %w", ctx.Err())
		case <-release:
			return nil, errors.New("released")
		}
	})
	// From 300ms: the reserve is then 60ms, room for a loaded CI machine.
	tests := []time.Duration{time.Second, 300 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}
	var wg sync.WaitGroup
	for _, give := range tests {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), give)
			defer cancel()
			out, _ := r.Invoke(ctx, event(ActionConnecting, "a", ""))
			if ctx.Err() != nil {
				t.Errorf("with a %s deadline, the reply came after it", give)
			}
			var reply Reply
			if err := json.Unmarshal(out, &reply); err != nil || reply.ErrNo != proto.CodeRegistry {
				t.Errorf("with a %s deadline, reply %s; want errNo %d", give, out, proto.CodeRegistry)
			}
		})
	}
	wg.Wait()
	calls.Lock()
	defer calls.Unlock()
	if n == 0 {
		t.Errorf("the Loader was never called")
	}
}

// closingRegistry records that the router closed it.
type closingRegistry struct {
	*fakeRegistry
	closed atomic.Bool
}

func (c *closingRegistry) Close() error { c.closed.Store(true); return nil }

// A load its invoke gave up on, finishing after a later one succeeded,
// neither replaces what the later one loaded nor leaks its database pool.
func TestLateLoadIsClosed(t *testing.T) {
	late, first := &closingRegistry{fakeRegistry: newFakeRegistry()}, &closingRegistry{fakeRegistry: newFakeRegistry()}
	release, lateDone := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	r := New(zap.NewNop(), func(ctx context.Context) (*Deps, error) {
		if calls.Add(1) == 1 {
			defer close(lateDone)
			<-release // a Loader that ignores its context
			return &Deps{Registry: late, Pusher: &fakePusher{}}, nil
		}
		return &Deps{Registry: first, Pusher: &fakePusher{}}, nil
	})
	invoke := func(d time.Duration) Reply {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		out, _ := r.Invoke(ctx, event(ActionConnecting, "a", ""))
		var reply Reply
		_ = json.Unmarshal(out, &reply)
		return reply
	}
	if reply := invoke(50 * time.Millisecond); reply.ErrNo != proto.CodeRegistry {
		t.Fatalf("with the load hung, errNo %d; want %d", reply.ErrNo, proto.CodeRegistry)
	}
	if reply := invoke(time.Second); reply.ErrNo != proto.CodeOK {
		t.Fatalf("second load: errNo %d %q; want 0", reply.ErrNo, reply.ErrMsg)
	}
	close(release)
	<-lateDone
	testkit.Eventually(t, 5*time.Second, "the late registry's close", late.closed.Load)
	if first.closed.Load() {
		t.Errorf("the first registry loaded was closed; want it kept")
	}
	if d, _ := r.deps(context.Background()); d == nil || d.Registry != Registry(first) {
		t.Errorf("the router uses %v; want the first loaded", d)
	}
}
