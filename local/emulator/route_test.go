package emulator

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scfws/scfws/proto"
)

// countingFn answers every invoke with a 200 integration response and
// counts them.
type countingFn struct{ n atomic.Int32 }

func (f *countingFn) Invoke(context.Context, []byte) ([]byte, error) {
	f.n.Add(1)
	return []byte(`{"isBase64Encoded":false,"statusCode":200,"headers":{},"body":"{\"errNo\":0}"}`), nil
}

// A body over the function's limit is answered 413 by the route itself,
// with a JSON errMsg, and never reaches the function; one at the limit
// does.
func TestRouteRefusesAnOversizedBodyItself(t *testing.T) {
	var fn countingFn
	g := startGateway(t, &fn, Options{RoutePath: "/_scfws/http/", RouteMaxBodyBytes: 1000, MaxEventBytes: DefaultMaxEventBytes})
	tests := []struct {
		give       int // body bytes
		wantStatus int
		wantInvoke int32
	}{
		{1000, http.StatusOK, 1},
		{1001, http.StatusRequestEntityTooLarge, 0},
		{6 << 20, http.StatusRequestEntityTooLarge, 0},
	}
	for _, tt := range tests {
		before := fn.n.Load()
		resp, err := http.Post(g.srv.URL+"/_scfws/http/publish", "application/json", strings.NewReader(strings.Repeat("x", tt.give)))
		if err != nil {
			t.Fatal(err)
		}
		var reply struct {
			ErrNo  int    `json:"errNo"`
			ErrMsg string `json:"errMsg"`
		}
		jsonErr := json.NewDecoder(resp.Body).Decode(&reply)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || fn.n.Load()-before != tt.wantInvoke {
			t.Errorf("a %d-byte body: HTTP %d, %d invokes; want %d, %d", tt.give, resp.StatusCode, fn.n.Load()-before, tt.wantStatus, tt.wantInvoke)
		}
		if tt.wantStatus == http.StatusRequestEntityTooLarge && (jsonErr != nil || reply.ErrNo != proto.CodeTooLarge || reply.ErrMsg != "body over 1000 bytes") {
			t.Errorf("a %d-byte body: reply %+v (%v); want errNo %d, errMsg naming the limit", tt.give, reply, jsonErr, proto.CodeTooLarge)
		}
	}
}
