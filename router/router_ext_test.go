package router_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// nopPusher delivers everything.
type nopPusher struct{}

func (nopPusher) Broadcast(_ context.Context, ids []string, _, _ string) []error {
	return make([]error, len(ids))
}
func (nopPusher) Disconnect(_ context.Context, ids []string) []error { return make([]error, len(ids)) }

// recPusher delivers everything and keeps what it delivered.
type recPusher struct {
	nopPusher
	mu   sync.Mutex
	data []string
}

func (p *recPusher) Broadcast(_ context.Context, ids []string, _, data string) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.data = append(p.data, data)
	return make([]error, len(ids))
}

func (p *recPusher) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.data) == 0 {
		return ""
	}
	return p.data[len(p.data)-1]
}

const probeSecret = "router-test-probe-secret-of-32-bytes"

// With PROBE_SECRET, register keeps the names of a probe connection's
// connecting event keys (never their values) for scfws probe, in the
// registry: a later frame may land on another instance.
func TestProbeKeepsHandshakeKeyNames(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: nopPusher{},
		Options: router.Options{ProbeSecret: probeSecret}}))
	offer := "scfws.v1, " + proto.ProbeConnection + proto.ProbeConnectionTag(probeSecret)
	ev := `{"requestContext":{"serviceId":"s","sourceIp":"10.0.0.1"},"headers":{"Authorization":"Bearer value-never-kept"},` +
		`"queryString":{"token":"never-kept"},"websocket":{"action":"connecting","secConnectionID":"p==","secWebSocketProtocol":"` + offer + `"}}`
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if reply := r.Handle(ctx, []byte(ev)); reply.ErrNo != 0 || *reply.WebSocket.SecWebSocketProtocol != "scfws.v1" {
		t.Fatalf("register = %d %q %+v", reply.ErrNo, reply.ErrMsg, reply.WebSocket)
	}
	c, ok, _ := mem.Lookup(ctx, "p==")
	var info map[string][]string
	if !ok || json.Unmarshal([]byte(c.Info), &info) != nil {
		t.Fatalf("connection %+v: no handshake info", c)
	}
	if strings.Join(info["top"], ",") != "headers,queryString,requestContext,websocket" ||
		strings.Join(info["headers"], ",") != "Authorization" || strings.Join(info["requestContext"], ",") != "serviceId,sourceIp" {
		t.Errorf("info = %v; want the key names", info)
	}
	if strings.Contains(c.Info, "never-kept") || strings.Contains(c.Info, "10.0.0.1") {
		t.Errorf("info %s holds values", c.Info)
	}
	// Not for connections that are not the probe's, nor without PROBE_SECRET.
	r.Handle(ctx, []byte(strings.Replace(strings.Replace(ev, "p==", "o==", 1), offer, "scfws.v1, "+proto.ProbeConnection+"0123", 1)))
	if c, _, _ := mem.Lookup(ctx, "o=="); c.Info != "" {
		t.Errorf("with a wrong tag, info = %q; want none", c.Info)
	}
	r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: nopPusher{}}))
	r.Handle(ctx, []byte(strings.Replace(ev, "p==", "q==", 1)))
	if c, _, _ := mem.Lookup(ctx, "q=="); c.Info != "" {
		t.Errorf("without PROBE_SECRET, info = %q; want none", c.Info)
	}
}

// PROBE_SECRET reaches only the probe's own connections: its ops may name
// those, or IDs no live connection has, never anyone else.
func TestProbeTargetsOnlyItsOwnConnections(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	mem := store.NewMemory(time.Hour, func() time.Time { return time.Unix(0, clock.Load()) })
	push := &recPusher{}
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: push,
		Options: router.Options{ProbeSecret: probeSecret, SweepEvery: time.Hour}}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	connect := func(id, offer string) {
		ev, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "connecting", "secConnectionID": id, "secWebSocketProtocol": offer}})
		if reply := r.Handle(ctx, ev); reply.ErrNo != 0 {
			t.Fatalf("register %s = %d %q", id, reply.ErrNo, reply.ErrMsg)
		}
	}
	// A client may outlive its row's lease (it only pings): stale, past the
	// idle timeout, is still someone else's.
	connect("stale==", "scfws.v1")
	// Its one frame takes this process's sweep, the next being an hour away.
	r.Handle(ctx, []byte(`{"websocket":{"action":"data send","secConnectionID":"stale==","dataType":"text","data":"{\"type\":\"ping\"}"}}`))
	clock.Add(int64(2 * time.Hour))
	connect("probe-a==", "scfws.v1, "+proto.ProbeConnection+proto.ProbeConnectionTag(probeSecret))
	connect("probe-b==", "scfws.v1, "+proto.ProbeConnection+proto.ProbeConnectionTag(probeSecret))
	connect("user==", "scfws.v1")
	tests := []struct{ target, want string }{
		{"probe-b==", `"known":true`},
		{"never-existed==", `"known":false`},
		{"user==", `"Forbidden"`},
		{"stale==", `"Forbidden"`},
	}
	for _, tt := range tests {
		frame, _ := json.Marshal(map[string]any{"type": "probe", "secret": probeSecret, "op": "lookup", "args": map[string]string{"connectionId": tt.target}, "ackId": 1})
		ev, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": "probe-a==", "dataType": "text", "data": string(frame)}})
		r.Handle(ctx, ev)
		if got := push.last(); !strings.Contains(got, tt.want) {
			t.Errorf("lookup of %s answered %s; want %s (%q)", tt.target, got, tt.want, push.data)
		}
	}
}

// listGroup always answers users, [] when only anonymous connections are in.
func TestListGroupOfAnonymousOnly(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	push := &recPusher{}
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: push,
		Options: router.Options{DefaultRoles: []string{"joinLeaveGroup"}}}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	send := func(frame string) string {
		ev, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": "anon==", "dataType": "text", "data": frame}})
		if reply := r.Handle(ctx, ev); reply.ErrNo != 0 {
			t.Fatalf("%s = %d %q", frame, reply.ErrNo, reply.ErrMsg)
		}
		return push.last()
	}
	r.Handle(ctx, []byte(`{"websocket":{"action":"connecting","secConnectionID":"anon==","secWebSocketProtocol":"scfws.v1"}}`))
	send(`{"type":"joinGroup","group":"solo","ackId":1}`)
	const want = `{"type":"ack","ackId":2,"success":true,"group":"solo","users":[],"anonymous":1,"truncated":false}`
	if got := send(`{"type":"listGroup","group":"solo","ackId":2}`); got != want {
		t.Errorf("listGroup = %s; want %s", got, want)
	}
}

// goneErr is the gateway's answer for a connection it no longer has.
type goneErr struct{}

func (goneErr) Error() string { return "gone" }
func (goneErr) Gone() bool    { return true }

// gonePusher records deliveries per connection and answers gone for some.
type gonePusher struct {
	mu   sync.Mutex
	gone map[string]bool
	got  map[string][]string
}

func (p *gonePusher) Broadcast(_ context.Context, ids []string, _, data string) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make([]error, len(ids))
	for i, id := range ids {
		if p.gone[id] {
			errs[i] = goneErr{}
			continue
		}
		p.got[id] = append(p.got[id], data)
	}
	return errs
}
func (p *gonePusher) Disconnect(ctx context.Context, ids []string) []error {
	return p.Broadcast(ctx, ids, "", "closing")
}

// A departure found while announcing another is announced too: alice
// closes; telling bob finds him gone, so carol hears that both left.
func TestPresenceAnnouncesWhatItsPrunesFind(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	push := &gonePusher{gone: map[string]bool{"b1": true}, got: map[string][]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for id, user := range map[string]string{"a1": "alice", "b1": "bob", "c1": "carol"} {
		if _, err := mem.Register(ctx, proto.Conn{ID: id, V1: true, UserID: user}, []string{"lobby"}); err != nil {
			t.Fatal(err)
		}
	}
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: push,
		Options: router.Options{PresenceEvents: true}}))
	r.Handle(ctx, []byte(`{"websocket":{"action":"closing","secConnectionID":"a1"}}`))
	want := []string{
		`{"type":"system","event":"left","group":"lobby","userId":"alice"}`,
		`{"type":"system","event":"left","group":"lobby","userId":"bob"}`,
	}
	if got := push.got["c1"]; !slices.Equal(got, want) {
		t.Errorf("carol got %q; want %q", got, want)
	}
	if _, live, _ := mem.Lookup(ctx, "b1"); live {
		t.Errorf("bob's gone connection is still registered")
	}
}
