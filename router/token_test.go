package router

import (
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
)

// tokenVerifier accepts any token for a fixed principal.
type tokenVerifier struct{ p proto.Principal }

func (v tokenVerifier) Verify(string) (proto.Principal, error) { return v.p, nil }

// A token naming more groups than MAX_GROUPS_PER_CONNECTION is refused
// with a reason, not connected with some of its groups silently dropped.
func TestTokenOverTheGroupCapIsRefused(t *testing.T) {
	offer := proto.Subprotocol + ", bearer.x"
	connecting := func(id string) []byte {
		ev := Event{WebSocket: &WebSocket{Action: ActionConnecting, SecConnectionID: id, SecWebSocketProtocol: &offer}}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		groups  []string
		wantErr string // "" when accepted
	}{
		{groups: []string{"a", "b"}},
		{groups: []string{"a", "b", "c"}, wantErr: "token names 3 groups: at most 2"},
	}
	for _, tt := range tests {
		reg := newFakeRegistry()
		v := tokenVerifier{proto.Principal{UserID: "bob", Groups: tt.groups}}
		r := New(zap.NewNop(), Fixed(&Deps{Registry: reg, Pusher: &fakePusher{}, Verifier: v, Options: Options{MaxGroups: 2}}))
		reply := handle(t, r, connecting("c=="))
		switch {
		case tt.wantErr == "" && reply.ErrNo != proto.CodeOK:
			t.Errorf("%d groups, cap 2: %d %q; want accepted", len(tt.groups), reply.ErrNo, reply.ErrMsg)
		case tt.wantErr != "" && (reply.ErrNo != proto.CodeUnauthorized || !strings.Contains(reply.ErrMsg, tt.wantErr)):
			t.Errorf("%d groups, cap 2: %d %q; want %d %q", len(tt.groups), reply.ErrNo, reply.ErrMsg, proto.CodeUnauthorized, tt.wantErr)
		case tt.wantErr != "" && reg.ids["c=="]:
			t.Errorf("%d groups, cap 2: registered; want nothing stored", len(tt.groups))
		}
	}
}
