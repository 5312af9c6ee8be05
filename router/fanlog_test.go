package router_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scfws/scfws/router"
)

// A send that hands off says how many recipients in its log line
// (handedOff, which CLS and scfws local's metrics add up), and which job.
func TestLogLineCountsWhatWasHandedOff(t *testing.T) {
	e := newFanEnv(t, 3000, router.Options{}, nil)
	core, logs := observer.New(zapcore.InfoLevel)
	r := router.New(zap.New(core), router.Fixed(&router.Deps{Registry: e.mem, Pusher: e.push, Fanout: e.mem, Invoker: e.scf,
		Options: router.Options{PushRate: 1000, Fanout: router.FanoutOptions{ShardSize: 700, PageSize: 200}}}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	reply := r.Handle(ctx, []byte(`{"scfws":{"op":"sendToAll","data":"hi"}}`))
	h := reply.Handoff
	if h == nil || h.Recipients == 0 {
		t.Fatalf("reply = %+v, handoff %+v; want a hand-off", reply.Summary, h)
	}
	lines := logs.FilterMessage("invoke").All()
	if len(lines) != 1 {
		t.Fatalf("%d invoke lines; want 1", len(lines))
	}
	m := lines[0].ContextMap()
	if m["handedOff"] != int64(h.Recipients) || m["job"] != h.Job || m["shards"] != int64(h.Shards) {
		t.Errorf("log line handedOff %v, job %v, shards %v; want %d, %s, %d", m["handedOff"], m["job"], m["shards"], h.Recipients, h.Job, h.Shards)
	}
}
