package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/client"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// A send's hand-off and the job op's answer come back decoded.
func TestHandoffAndJobDecoded(t *testing.T) {
	ctx := context.Background()
	ft := &fakeTransport{reply: `{"errNo":0,"errMsg":"ok","recipients":9,"delivered":2,"pruned":0,"failed":0,"skipped":0,"elapsedMs":5,` +
		`"id":"M","handoff":{"job":"J1","shards":3,"recipients":7}}`}
	r, err := client.New(ft).SendToAll(ctx, client.Text("hi"))
	if err != nil || r.Handoff == nil || *r.Handoff != (client.Handoff{Job: "J1", Shards: 3, Recipients: 7}) || r.Delivered != 2 {
		t.Errorf("SendToAll = %+v (handoff %+v), %v; want job J1 of 3 shards, 7 recipients", r, r.Handoff, err)
	}
	ft = &fakeTransport{reply: `{"errNo":0,"errMsg":"ok","job":{"job":"J1","state":"done","recipients":9,"delivered":8,"pruned":1,"failed":0,` +
		`"shards":{"done":4,"total":4},"started":"2026-12-06T06:00:00Z","finished":"2026-12-06T06:00:03Z"}}`}
	j, err := client.New(ft).Job(ctx, "J1")
	if err != nil || j.State != client.JobDone || j.Delivered != 8 || j.Shards.Total != 4 || j.Finished == nil || j.Finished.Sub(j.Started) != 3*time.Second {
		t.Errorf("Job = %+v, %v; want done, 8 delivered, 4 shards, 3 s", j, err)
	}
	if want := `{"scfws":{"op":"job","job":"J1"}}`; string(ft.got) != want {
		t.Errorf("sent %s; want %s", ft.got, want)
	}
	for _, tt := range []struct{ name, reply, id, want string }{
		{"no id", "", "", "job is empty"},
		{"no job in the reply", `{"errNo":0,"errMsg":"ok"}`, "J1", "no job"},
		{"unknown", `{"errNo":109,"errMsg":"no such job"}`, "J2", "errNo 109"},
	} {
		if _, err := client.New(&fakeTransport{reply: tt.reply}).Job(ctx, tt.id); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Job = %v; want an error with %q", tt.name, err, tt.want)
		}
	}
}

// fanFunction is the function itself (a router over a memory registry)
// behind the fake SCF API, with 1 s to answer each invoke, and running
// its own shards (handed-off parts of a send) in goroutines as SCF's
// asynchronous invocations, retrying a failed one twice.
type fanFunction struct {
	r       *router.Router
	timeout time.Duration
	wg      sync.WaitGroup
}

func newFanFunction(t *testing.T, n int) *fanFunction {
	t.Helper()
	f := &fanFunction{timeout: time.Second}
	mem := store.NewMemory(time.Hour, nil)
	for i := range n {
		if _, err := mem.Register(context.Background(), proto.Conn{ID: fmt.Sprintf("c-%05d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	o := router.Options{PushRate: 1000, Fanout: router.FanoutOptions{ShardSize: 300, PageSize: 100}}
	f.r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: allPushed{}, Fanout: mem, Invoker: shards{f}, Options: o}))
	t.Cleanup(f.wg.Wait)
	return f
}

// Invoke is SCF's synchronous invoke of the function.
func (f *fanFunction) Invoke(ctx context.Context, _, _ string, event []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return f.r.Invoke(ctx, event)
}

// shards is the function's router.Invoker: SCF's asynchronous invoke.
type shards struct{ f *fanFunction }

func (shards) Ready(context.Context) string { return "" }

func (s shards) Invoke(_ context.Context, event []byte) error {
	s.f.wg.Go(func() {
		for range 3 {
			if _, err := s.f.Invoke(context.Background(), "", "", event); err == nil {
				return
			}
		}
	})
	return nil
}

// allPushed delivers every push at once.
type allPushed struct{}

func (allPushed) Broadcast(_ context.Context, ids []string, _, _ string) []error {
	return make([]error, len(ids))
}
func (allPushed) Disconnect(_ context.Context, ids []string) []error { return make([]error, len(ids)) }

// A send the function hands off says so, and its job can be followed to
// the end through SCF's Invoke API.
func TestJobOfAHandedOffSend(t *testing.T) {
	c := newCloud(t)
	fn := newFanFunction(t, 1500)
	c.fns.fan = fn
	cl := c.client(t, func(cfg *client.SCFConfig) { cfg.Function = "fan" })
	ctx := context.Background()
	res, err := cl.SendToAll(ctx, client.Text("hi"))
	if err != nil || res.Handoff == nil || res.Handoff.Job == "" || res.Handoff.Shards == 0 || res.Recipients != 1500 {
		t.Fatalf("SendToAll = %+v (handoff %+v), %v; want a hand-off of 1500 recipients (PUSH_RATE 1000, 1 s)", res, res.Handoff, err)
	}
	fn.wg.Wait()
	j, err := cl.Job(ctx, res.Handoff.Job)
	if err != nil || j.State != client.JobDone || j.Recipients != 1500 || j.Delivered != 1500 || j.Shards.Done != j.Shards.Total || j.Finished == nil {
		t.Errorf("Job = %+v, %v; want done, 1500 delivered", j, err)
	}
	_, err = cl.Job(ctx, "nope")
	var e *client.Error
	if !errors.As(err, &e) || e.ErrNo != client.ErrNoBadArgument {
		t.Errorf("Job(nope) = %v; want errNo %d", err, client.ErrNoBadArgument)
	}
}
