package router_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// countPusher counts the frames each connection got.
type countPusher struct {
	nopPusher
	mu  sync.Mutex
	got map[string]int // by connection
}

func (p *countPusher) Broadcast(_ context.Context, ids []string, _, _ string) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.got[id]++
	}
	return make([]error, len(ids))
}

// skippedErr is a push not started because the deadline was near.
type skippedErr struct{}

func (skippedErr) Error() string { return "push not started: deadline near" }
func (skippedErr) Skipped() bool { return true }

// hungPusher answers its first broadcast only when the invoke's deadline
// has passed, as a gateway that stopped answering; then it delivers.
type hungPusher struct {
	countPusher
	once sync.Once
}

func (p *hungPusher) Broadcast(ctx context.Context, ids []string, dataType, data string) []error {
	hung := false
	p.once.Do(func() { hung = true })
	if hung {
		<-ctx.Done()
		errs := make([]error, len(ids))
		for i := range errs {
			errs[i] = skippedErr{}
		}
		return errs
	}
	return p.countPusher.Broadcast(ctx, ids, dataType, data)
}

// leaver is a connection in n groups, each with one other member (w-i),
// for a registry that allows that many.
func leaver(t *testing.T, n int) *store.Memory {
	t.Helper()
	mem := store.NewMemory(time.Hour, nil)
	ctx := context.Background()
	groups := make([]string, n)
	for i := range groups {
		groups[i] = fmt.Sprintf("g-%03d", i)
		if _, err := mem.Register(ctx, proto.Conn{ID: fmt.Sprintf("w-%03d", i), V1: true, UserID: fmt.Sprintf("watcher-%03d", i)}, groups[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mem.Register(ctx, proto.Conn{ID: "many==", V1: true, UserID: "many"}, groups); err != nil {
		t.Fatal(err)
	}
	return mem
}

// A connection leaving more groups than the 256 departures an invoke used
// to announce: every group hears of it.
func TestPresenceAnnouncesEveryDeparture(t *testing.T) {
	const groups = 300
	push := &countPusher{got: map[string]int{}}
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: leaver(t, groups), Pusher: push,
		Options: router.Options{PresenceEvents: true, SweepEvery: time.Hour}}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if reply := r.Handle(ctx, []byte(`{"websocket":{"action":"closing","secConnectionID":"many=="}}`)); reply.ErrNo != 0 {
		t.Fatalf("cleanup = %d %q", reply.ErrNo, reply.ErrMsg)
	}
	told := 0
	for i := range groups {
		told += push.got[fmt.Sprintf("w-%03d", i)]
	}
	if told != groups {
		t.Errorf("%d of %d groups were told that many left; want all", told, groups)
	}
}

// What the deadline leaves untold is logged, each group and user: here the
// gateway hangs on the first departure, so none is told.
func TestPresenceLogsWhatItCouldNotAnnounce(t *testing.T) {
	const groups = 40
	push := &hungPusher{countPusher: countPusher{got: map[string]int{}}}
	core, logs := observer.New(zapcore.InfoLevel)
	r := router.New(zap.New(core), router.Fixed(&router.Deps{Registry: leaver(t, groups), Pusher: push,
		Options: router.Options{PresenceEvents: true, SweepEvery: time.Hour}}))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r.Handle(ctx, []byte(`{"websocket":{"action":"closing","secConnectionID":"many=="}}`))
	if ctx.Err() != nil {
		t.Errorf("cleanup answered after its deadline")
	}
	entries := logs.FilterMessage("invoke").All()
	if len(entries) != 1 {
		t.Fatalf("%d invoke lines; want 1", len(entries))
	}
	msg, _ := entries[0].ContextMap()["error"].(string)
	want := fmt.Sprintf("%d presence events not announced", groups)
	if !strings.Contains(msg, want) {
		t.Errorf("log error %q; want it to say %q", msg, want)
	}
	for i := range groups {
		if g := fmt.Sprintf(`left "g-%03d" "many"`, i); !strings.Contains(msg, g) {
			t.Errorf("log error %q; want it to name %q", msg, g)
			break
		}
	}
}

// Past PresenceLimit connections a group gets no joined or left
// events: each would be a push to every member, so that filling a group
// costs the square of its size.
func TestPresenceSkipsLargeGroups(t *testing.T) {
	tests := []struct {
		members int
		want    int // frames the members got when one more joined
	}{
		{members: 4, want: 4},
		{members: 5, want: 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.members), func(t *testing.T) {
			mem := store.NewMemory(time.Hour, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for i := range tt.members {
				if _, err := mem.Register(ctx, proto.Conn{ID: fmt.Sprint("m-", i), V1: true, UserID: fmt.Sprint("u-", i)}, []string{"lobby"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := mem.Register(ctx, proto.Conn{ID: "new==", V1: true, UserID: "new", Roles: []string{"joinLeaveGroup"}}, nil); err != nil {
				t.Fatal(err)
			}
			push := &countPusher{got: map[string]int{}}
			r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: push,
				Options: router.Options{PresenceEvents: true, PresenceLimit: 5, SweepEvery: time.Hour}}))
			r.Handle(ctx, []byte(`{"websocket":{"action":"data send","secConnectionID":"new==","data":"{\"type\":\"joinGroup\",\"group\":\"lobby\"}"}}`))
			got := 0
			for i := range tt.members {
				got += push.got[fmt.Sprint("m-", i)]
			}
			if got != tt.want {
				t.Errorf("a join to %d members pushed %d presence frames; want %d", tt.members, got, tt.want)
			}
		})
	}
}
