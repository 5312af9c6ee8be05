package router_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/internal/wire"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// nopPusher delivers everything.
type nopPusher struct{}

func (nopPusher) Broadcast(_ context.Context, ids []string, _, _ string) []error {
	return make([]error, len(ids))
}
func (nopPusher) Disconnect(_ context.Context, ids []string) []error { return make([]error, len(ids)) }

// With PROBE_SECRET, register keeps the names of the connecting event's
// keys (never their values) for scfws probe, in the registry: a later
// frame may land on another instance.
func TestProbeKeepsHandshakeKeyNames(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: wire.Registry(mem), Pusher: nopPusher{},
		Options: router.Options{ProbeSecret: "s3cret"}}))
	ev := `{"requestContext":{"serviceId":"s","sourceIp":"10.0.0.1"},"headers":{"Authorization":"Bearer value-never-kept"},` +
		`"queryString":{"token":"never-kept"},"websocket":{"action":"connecting","secConnectionID":"p==","secWebSocketProtocol":"scfws.v1"}}`
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if reply := r.Handle(ctx, []byte(ev)); reply.ErrNo != 0 {
		t.Fatalf("register = %d %q", reply.ErrNo, reply.ErrMsg)
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
	// Without PROBE_SECRET nothing is kept.
	r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: wire.Registry(mem), Pusher: nopPusher{}}))
	r.Handle(ctx, []byte(strings.Replace(ev, "p==", "q==", 1)))
	if c, _, _ := mem.Lookup(ctx, "q=="); c.Info != "" {
		t.Errorf("without PROBE_SECRET, info = %q; want none", c.Info)
	}
}
