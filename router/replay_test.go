package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

const publishSecret = "router-test-publish-secret-32-bytes!"

// signed is a request on the signed route: body signed at ts.
func signed(t testing.TB, ts int64, body string) []byte {
	t.Helper()
	stamp := strconv.FormatInt(ts, 10)
	b, err := json.Marshal(map[string]any{"httpMethod": "POST", "path": "/publish", "body": body,
		"headers": map[string]string{proto.HeaderTimestamp: stamp, proto.HeaderSignature: proto.RouteSignature([]byte(publishSecret), stamp, []byte(body))}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// answer is the HTTP status and errNo a request on the route got.
func answer(t testing.TB, r *router.Router, ev []byte) (status, errNo int) {
	t.Helper()
	out, _ := r.Invoke(context.Background(), ev)
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	var reply router.Reply
	if json.Unmarshal(out, &resp) != nil || json.Unmarshal([]byte(resp.Body), &reply) != nil {
		t.Fatalf("not an integration response: %s", out)
	}
	return resp.StatusCode, reply.ErrNo
}

// A signed request runs once: the same signature again, on the instance
// that took it or on another sharing the registry, is refused with 409
// and errNo 401, and sends nothing; a new body or a new timestamp is a
// new request.
func TestSignedRouteRefusesReplays(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	var pushed [2]recPusher
	instance := func(i int) *router.Router {
		return router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: &pushed[i],
			Options: router.Options{PublishSecret: publishSecret}}))
	}
	a, b := instance(0), instance(1)
	if _, err := mem.Register(context.Background(), proto.Conn{ID: "plain=="}, nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	hi := `{"scfws":{"op":"sendToAll","dataType":"text","data":"hi"}}`
	tests := []struct {
		name       string
		on         *router.Router
		give       []byte
		wantStatus int
		wantErrNo  int
	}{
		{"first", a, signed(t, now, hi), 200, 0},
		{"replayed on the same instance", a, signed(t, now, hi), 409, proto.CodeUnauthorized},
		{"replayed on another instance", b, signed(t, now, hi), 409, proto.CodeUnauthorized},
		{"another body, same second", b, signed(t, now, `{"scfws":{"op":"sendToAll","dataType":"text","data":"ho"}}`), 200, 0},
		{"same body, a new timestamp", b, signed(t, now+1, hi), 200, 0},
	}
	for _, tt := range tests {
		if status, errNo := answer(t, tt.on, tt.give); status != tt.wantStatus || errNo != tt.wantErrNo {
			t.Errorf("%s: HTTP %d errNo %d; want %d, %d", tt.name, status, errNo, tt.wantStatus, tt.wantErrNo)
		}
	}
	if got := len(pushed[0].data) + len(pushed[1].data); got != 3 {
		t.Errorf("%d frames sent; want 3, one per request that ran", got)
	}
}

// nonceRegistry fails ClaimNonce as told.
type nonceRegistry struct {
	*store.Memory
	err error
}

func (r nonceRegistry) ClaimNonce(context.Context, []byte, time.Time) (bool, error) {
	return false, r.err
}

type unavailable struct{}

func (unavailable) Error() string     { return "no nonce table" }
func (unavailable) Unavailable() bool { return true }

// A signature the registry cannot record refuses the request, and nothing
// is sent: the route fails closed rather than run a request twice.
func TestSignedRouteFailsClosed(t *testing.T) {
	tests := []struct {
		name       string
		give       error
		wantStatus int
		wantErrNo  int
	}{
		{"registry down", errors.New("connection refused"), 500, proto.CodeRegistry},
		{"no nonce table", unavailable{}, 500, proto.CodeNotReady},
	}
	for _, tt := range tests {
		var p recPusher
		reg := nonceRegistry{store.NewMemory(time.Hour, nil), tt.give}
		if _, err := reg.Register(context.Background(), proto.Conn{ID: "plain=="}, nil); err != nil {
			t.Fatal(err)
		}
		r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: reg, Pusher: &p, Options: router.Options{PublishSecret: publishSecret}}))
		status, errNo := answer(t, r, signed(t, time.Now().Unix(), `{"scfws":{"op":"sendToAll","data":"hi"}}`))
		if status != tt.wantStatus || errNo != tt.wantErrNo || len(p.data) != 0 {
			t.Errorf("%s: HTTP %d errNo %d, %d sent; want %d, %d, none", tt.name, status, errNo, len(p.data), tt.wantStatus, tt.wantErrNo)
		}
	}
}
