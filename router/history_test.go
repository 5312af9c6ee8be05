package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// connPusher records each push per connection, in order, with how many
// connections the push named; pushes to a connection in fail answer an
// error that says it is gone, once the connection's first ok pushes are
// through.
type connPusher struct {
	mu     sync.Mutex
	frames map[string][]string
	widths map[string][]int
	ok     map[string]int // pushes a failing connection still gets
	fail   map[string]bool
}

func newConnPusher() *connPusher {
	return &connPusher{frames: map[string][]string{}, widths: map[string][]int{}, ok: map[string]int{}, fail: map[string]bool{}}
}

func (p *connPusher) Broadcast(_ context.Context, ids []string, _, data string) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make([]error, len(ids))
	for i, id := range ids {
		if p.fail[id] {
			if p.ok[id] == 0 {
				errs[i] = goneErr{}
				continue
			}
			p.ok[id]--
		}
		p.frames[id] = append(p.frames[id], data)
		p.widths[id] = append(p.widths[id], len(ids))
	}
	return errs
}

func (p *connPusher) Disconnect(_ context.Context, ids []string) []error {
	return make([]error, len(ids))
}

// take returns and forgets what id got.
func (p *connPusher) take(id string) (frames []string, widths []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	frames, widths = p.frames[id], p.widths[id]
	delete(p.frames, id)
	delete(p.widths, id)
	return frames, widths
}

// historyRig is a router with history on, over the memory store.
type historyRig struct {
	t    *testing.T
	mem  *store.Memory
	push *connPusher
	r    *router.Router
	ctx  context.Context
	keep proto.Retention
}

func newHistoryRig(t *testing.T, size int) *historyRig {
	t.Helper()
	keep := proto.Retention{Size: size, TTL: time.Hour}
	mem := store.NewMemory(time.Hour, nil)
	push := newConnPusher()
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, History: mem, Pusher: push,
		Options: router.Options{History: keep, DefaultRoles: []string{"joinLeaveGroup", "sendToGroup", "sendToUser"},
			MaxMessageBytes: 4 << 20, SweepEvery: time.Hour}}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return &historyRig{t: t, mem: mem, push: push, r: r, ctx: ctx, keep: keep}
}

func (h *historyRig) connect(id, user string, groups ...string) {
	h.t.Helper()
	if _, err := h.mem.Register(h.ctx, proto.Conn{ID: id, V1: true, UserID: user}, groups); err != nil {
		h.t.Fatal(err)
	}
}

// frame sends req from id and returns the ack.
func (h *historyRig) frame(id string, req map[string]any) map[string]any {
	h.t.Helper()
	req["ackId"] = 1
	data, _ := json.Marshal(req)
	ev, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": id, "dataType": "text", "data": string(data)}})
	h.r.Handle(h.ctx, ev)
	frames, _ := h.push.take(id)
	var ack map[string]any
	for _, f := range frames {
		if strings.HasPrefix(f, `{"type":"ack"`) {
			_ = json.Unmarshal([]byte(f), &ack)
		}
	}
	if ack == nil {
		h.t.Fatalf("%v from %s: no ack in %q", req, id, frames)
	}
	return ack
}

// send sends n messages m1..mn from id to group.
func (h *historyRig) send(id, group string, n int) {
	h.t.Helper()
	for i := 1; i <= n; i++ {
		if a := h.frame(id, map[string]any{"type": "sendToGroup", "group": group, "data": fmt.Sprint("m", i)}); a["success"] != true {
			h.t.Fatalf("send: %v", a)
		}
	}
}

// replayed is what id got, as offsets of messages and whether each came
// alone (one push per message), ending with the ack.
func (h *historyRig) replayed(id string) (offsets []uint64, alone bool, ack map[string]any) {
	frames, widths := h.push.take(id)
	alone = true
	for i, f := range frames {
		var m struct {
			Type   string
			Offset uint64
		}
		_ = json.Unmarshal([]byte(f), &m)
		switch m.Type {
		case "message":
			offsets = append(offsets, m.Offset)
			alone = alone && widths[i] == 1
		case "ack":
			_ = json.Unmarshal([]byte(f), &ack)
			if i != len(frames)-1 {
				h.t.Errorf("the ack came before %d replayed messages", len(frames)-1-i)
			}
		}
	}
	return offsets, alone, ack
}

func (h *historyRig) position(s proto.Stream) proto.Position {
	p, err := h.mem.Position(h.ctx, s, h.keep)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func stream(group string, p proto.Position) map[string]any {
	return map[string]any{"group": group, "offset": p.Offset, "epoch": p.Epoch}
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// A resume pushes what the client missed, each message once, oldest
// first, one push at a time, then the ack with each stream's latest.
func TestResumeReplaysInOrder(t *testing.T) {
	h := newHistoryRig(t, 10)
	h.connect("a==", "alice", "lobby")
	h.connect("b==", "bob", "lobby")
	h.send("b==", "lobby", 7)
	h.frame("b==", map[string]any{"type": "sendToUser", "userId": "alice", "data": "dm"})
	h.push.take("a==")
	lobby, mine := h.position(proto.Stream{Group: "lobby"}), h.position(proto.Stream{UserID: "alice"})
	since := proto.Position{Offset: 3, Epoch: lobby.Epoch}
	h.r.Handle(h.ctx, resumeEvent("a==", stream("lobby", since), map[string]any{"user": true, "offset": 0, "epoch": ""}))
	got, alone, ack := h.replayed("a==")
	if want := append(seq(4, 7), 1); !slices.Equal(got, want) || !alone {
		t.Errorf("replayed %v (one at a time: %v); want %v, one at a time", got, alone, want)
	}
	// (Keys in order: the ack went through a map.)
	want := fmt.Sprintf(`[{"epoch":%q,"group":"lobby","offset":7,"recovered":true},{"epoch":%q,"offset":1,"recovered":true,"user":true}]`, lobby.Epoch, mine.Epoch)
	if b, _ := json.Marshal(ack["streams"]); string(b) != want {
		t.Errorf("ack streams %s; want %s", b, want)
	}
}

func resumeEvent(id string, streams ...any) []byte {
	data, _ := json.Marshal(map[string]any{"type": "resume", "streams": streams, "ackId": 9})
	ev, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": id, "dataType": "text", "data": string(data)}})
	return ev
}

// What cannot be recovered whole is not recovered at all: the client
// reloads, and gets nothing it would have to sort out.
func TestResumeNotRecovered(t *testing.T) {
	tests := []struct {
		name  string
		sent  int
		since func(h *historyRig, p proto.Position) proto.Position
	}{
		{"gap larger than HISTORY_SIZE", 25, func(_ *historyRig, p proto.Position) proto.Position { return proto.Position{Offset: 2, Epoch: p.Epoch} }},
		{"gap of the size, its oldest overwritten", 25, func(_ *historyRig, p proto.Position) proto.Position {
			return proto.Position{Offset: 14, Epoch: p.Epoch}
		}},
		{"another epoch", 3, func(_ *historyRig, p proto.Position) proto.Position {
			return proto.Position{Offset: 1, Epoch: "0000000000000000"}
		}},
		{"ahead of the stream", 3, func(_ *historyRig, p proto.Position) proto.Position { return proto.Position{Offset: 4, Epoch: p.Epoch} }},
		{"expired", 3, func(h *historyRig, p proto.Position) proto.Position {
			h.mem.AgeStream(proto.Stream{Group: "lobby"}, 2*time.Hour)
			return proto.Position{Offset: 1, Epoch: p.Epoch}
		}},
		{"expired and started again", 3, func(h *historyRig, p proto.Position) proto.Position {
			h.mem.AgeStream(proto.Stream{Group: "lobby"}, 2*time.Hour)
			h.send("b==", "lobby", 2)
			return proto.Position{Offset: 1, Epoch: p.Epoch}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistoryRig(t, 10)
			h.connect("a==", "alice", "lobby")
			h.connect("b==", "bob", "lobby")
			h.send("b==", "lobby", tt.sent)
			since := tt.since(h, h.position(proto.Stream{Group: "lobby"}))
			h.push.take("a==")
			h.r.Handle(h.ctx, resumeEvent("a==", stream("lobby", since)))
			got, _, ack := h.replayed("a==")
			st, _ := ack["streams"].([]any)
			if len(got) != 0 || len(st) != 1 || st[0].(map[string]any)["recovered"] != false {
				t.Errorf("replayed %v, ack %v; want nothing, recovered false", got, ack)
			}
		})
	}
}

// One resume pushes at most proto.MaxResumeMessages: a stream past the
// bound is not recovered, and the ones before it are.
func TestResumeBound(t *testing.T) {
	h := newHistoryRig(t, 1000)
	h.connect("a==", "alice", "one", "two")
	h.connect("b==", "bob", "one", "two")
	for _, g := range []string{"one", "two"} {
		for range 600 {
			if _, err := h.mem.Append(h.ctx, proto.Stream{Group: g}, []byte(`{"type":"message","id":"x"}`), h.keep); err != nil {
				t.Fatal(err)
			}
		}
	}
	one, two := h.position(proto.Stream{Group: "one"}), h.position(proto.Stream{Group: "two"})
	h.r.Handle(h.ctx, resumeEvent("a==", stream("one", proto.Position{Epoch: one.Epoch}), stream("two", proto.Position{Epoch: two.Epoch})))
	got, _, ack := h.replayed("a==")
	st, _ := ack["streams"].([]any)
	if len(got) != 600 || len(st) != 2 || st[0].(map[string]any)["recovered"] != true || st[1].(map[string]any)["recovered"] != false {
		t.Errorf("replayed %d, streams %v; want 600 and the first recovered, the second not", len(got), st)
	}
}

// A replay stops at the first push that does not arrive: the rest would
// be lost too, and out of order.
func TestResumeStopsWhenAPushFails(t *testing.T) {
	h := newHistoryRig(t, 10)
	h.connect("a==", "alice", "lobby", "dev")
	h.connect("b==", "bob", "lobby", "dev")
	h.send("b==", "lobby", 5)
	h.send("b==", "dev", 5)
	lobby, dev := h.position(proto.Stream{Group: "lobby"}), h.position(proto.Stream{Group: "dev"})
	h.push.take("a==")
	h.push.fail["a=="], h.push.ok["a=="] = true, 2
	h.r.Handle(h.ctx, resumeEvent("a==", stream("lobby", proto.Position{Epoch: lobby.Epoch}), stream("dev", proto.Position{Epoch: dev.Epoch})))
	if got, _, _ := h.replayed("a=="); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("pushed %v; want 1 2, then nothing after the failed push", got)
	}
	if in, _ := h.mem.IsMember(h.ctx, "a==", "lobby"); in {
		t.Errorf("the gone connection is still a member")
	}
}

// joinGroup with since joins, then pushes what came after since.
func TestJoinGroupSince(t *testing.T) {
	h := newHistoryRig(t, 10)
	h.connect("a==", "alice")
	h.connect("b==", "bob", "lobby")
	h.send("b==", "lobby", 4)
	p := h.position(proto.Stream{Group: "lobby"})
	data, _ := json.Marshal(map[string]any{"type": "joinGroup", "group": "lobby", "since": map[string]any{"offset": 1, "epoch": p.Epoch}, "ackId": 1})
	ev, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": "a==", "dataType": "text", "data": string(data)}})
	h.r.Handle(h.ctx, ev)
	got, _, ack := h.replayed("a==")
	if !slices.Equal(got, seq(2, 4)) || ack["success"] != true {
		t.Errorf("replayed %v, ack %v; want 2-4 after the join", got, ack)
	}
	if in, _ := h.mem.IsMember(h.ctx, "a==", "lobby"); !in {
		t.Errorf("not joined")
	}
}

// A group's history is its members'; a user's stream, its own
// connections': user:true always names the connection's own user.
func TestHistoryPermissions(t *testing.T) {
	h := newHistoryRig(t, 10)
	h.connect("a==", "alice", "lobby")
	h.connect("b==", "bob", "lobby")
	h.connect("c==", "carol")
	h.connect("anon==", "")
	h.send("b==", "lobby", 2)
	h.frame("b==", map[string]any{"type": "sendToUser", "userId": "alice", "data": "for alice"})
	tests := []struct {
		id   string
		req  map[string]any
		want string // the ack's error name, or the data of the messages
	}{
		{"a==", map[string]any{"type": "history", "group": "lobby"}, "m1 m2"},
		{"c==", map[string]any{"type": "history", "group": "lobby"}, "Forbidden"},
		{"a==", map[string]any{"type": "history", "user": true}, "for alice"},
		{"b==", map[string]any{"type": "history", "user": true}, ""},
		{"anon==", map[string]any{"type": "history", "user": true}, "Forbidden"},
		{"a==", map[string]any{"type": "history", "user": true, "group": "lobby"}, "InvalidMessage"},
		{"a==", map[string]any{"type": "history", "group": "lobby", "limit": -1}, "InvalidMessage"},
		{"c==", map[string]any{"type": "resume", "streams": []any{map[string]any{"group": "lobby", "offset": 0, "epoch": ""}}}, "Forbidden"},
		{"anon==", map[string]any{"type": "resume", "streams": []any{map[string]any{"user": true, "offset": 0, "epoch": ""}}}, "Forbidden"},
		{"a==", map[string]any{"type": "resume", "streams": []any{}}, "InvalidMessage"},
		{"a==", map[string]any{"type": "resume", "streams": make([]any, proto.MaxResumeStreams+1)}, "InvalidMessage"},
	}
	for _, tt := range tests {
		ack := h.frame(tt.id, tt.req)
		got := ""
		if e, ok := ack["error"].(map[string]any); ok {
			got = e["name"].(string)
		}
		if msgs, ok := ack["messages"].([]any); ok {
			var data []string
			for _, m := range msgs {
				data = append(data, m.(map[string]any)["data"].(string))
			}
			got = strings.Join(data, " ")
		}
		if got != tt.want {
			t.Errorf("%s %v: %q (%v); want %q", tt.id, tt.req, got, ack, tt.want)
		}
	}
}

// A history answer holds at most about a megabyte of messages, the newest
// (always at least one); the rest are for a request with before.
func TestHistoryAnswerBounded(t *testing.T) {
	h := newHistoryRig(t, 10)
	h.connect("a==", "alice", "lobby")
	big := strings.Repeat("x", 300<<10)
	for i := range 6 {
		h.frame("a==", map[string]any{"type": "sendToGroup", "group": "lobby", "data": fmt.Sprint(i, big), "noEcho": true})
	}
	ack := h.frame("a==", map[string]any{"type": "history", "group": "lobby"})
	msgs, _ := ack["messages"].([]any)
	if len(msgs) != 3 || msgs[2].(map[string]any)["offset"] != float64(6) {
		t.Errorf("history of 6 messages of 300 KiB answered %d; want the newest 3", len(msgs))
	}
}

// With history off nothing is kept and every stream answers
// recovered:false; messages still carry ids.
func TestHistoryOff(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	push := newConnPusher()
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: push,
		Options: router.Options{DefaultRoles: []string{"sendToGroup"}}}))
	h := &historyRig{t: t, mem: mem, push: push, r: r, ctx: context.Background()}
	h.connect("a==", "alice", "lobby")
	ack := h.frame("a==", map[string]any{"type": "sendToGroup", "group": "lobby", "data": "hi", "noEcho": true})
	if id, _ := ack["id"].(string); len(id) != 26 || ack["offset"] != nil {
		t.Errorf("ack %v; want an id of 26 characters and no offset", ack)
	}
	if n := mem.Kept(); n != 0 {
		t.Errorf("%d messages kept with history off", n)
	}
}

// The registry's failure to keep a message refuses the send: nobody gets
// a message that a resume could not find.
func TestSendRefusedWhenHistoryFails(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	push := newConnPusher()
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, History: failingHistory{mem}, Pusher: push,
		Options: router.Options{DefaultRoles: []string{"sendToGroup"}, History: proto.Retention{Size: 5, TTL: time.Hour}}}))
	h := &historyRig{t: t, mem: mem, push: push, r: r, ctx: context.Background()}
	h.connect("a==", "alice", "lobby")
	h.connect("b==", "bob", "lobby")
	ack := h.frame("a==", map[string]any{"type": "sendToGroup", "group": "lobby", "data": "hi"})
	if e, _ := ack["error"].(map[string]any); e["name"] != proto.RefusedInternal {
		t.Errorf("ack %v; want Internal", ack)
	}
	if got, _ := push.take("b=="); len(got) != 0 {
		t.Errorf("b got %q; want nothing", got)
	}
}

type failingHistory struct{ *store.Memory }

func (failingHistory) Append(context.Context, proto.Stream, []byte, proto.Retention) (proto.Position, error) {
	return proto.Position{}, errors.New("database down")
}
