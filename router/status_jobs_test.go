package router_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// status counts the fan-out jobs in progress when the registry keeps
// jobs, and leaves jobsRunning out when it keeps none.
func TestStatusJobsRunning(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	for _, id := range []string{"a", "b"} {
		if err := mem.CreateJob(context.Background(), proto.NewJob{ID: id, Recipients: 10, StallAfter: time.Hour, TTL: time.Hour}, proto.KeyRange{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mem.Commit(context.Background(), "b", 0, "", "", proto.Counts{Delivered: 10}, true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fan  router.Fanout
		want *int
	}{
		{"jobs kept", mem, new(1)},
		{"no jobs kept", nil, nil},
	}
	for _, tt := range tests {
		r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: nopPusher{}, Fanout: tt.fan}))
		reply := r.Handle(context.Background(), []byte(`{"scfws":{"op":"status"}}`))
		if reply.ErrNo != 0 || reply.Counts == nil || (reply.JobsRunning == nil) != (tt.want == nil) ||
			(tt.want != nil && *reply.JobsRunning != *tt.want) {
			t.Errorf("%s: status = %d %q, counts %+v; want jobsRunning %v", tt.name, reply.ErrNo, reply.ErrMsg, reply.Counts, tt.want)
		}
	}
}
