package router

import (
	"fmt"
	"strings"
	"testing"

	"github.com/scfws/scfws/proto"
)

// A secConnectionID that the JSON decoder can only turn into U+FFFD (a
// lone surrogate escape, an invalid byte) is refused with 103 on every
// WebSocket step, so that "\ud800", "\udfff" and a real U+FFFD never share
// a row; a real U+FFFD, literal or escaped, is an ID like any other.
func TestReplacementCharIDs(t *testing.T) {
	const real = "abc\uFFFD"
	tests := []struct {
		raw  string // the secConnectionID as it appears in the event
		want int    // errNo of connecting
	}{
		{`"abc\ud800"`, proto.CodeBadConnectionID},
		{`"abc\udfff"`, proto.CodeBadConnectionID},
		{`"abc\uDBFF"`, proto.CodeBadConnectionID},
		{`"abc\ud800\u0041"`, proto.CodeBadConnectionID},
		{`"abc\ud800\ufffd"`, proto.CodeBadConnectionID}, // two U+FFFD decoded, one sent
		{`"abc\udc00\ud800"`, proto.CodeBadConnectionID}, // a pair in the wrong order
		{"\"abc\xff\"", proto.CodeBadConnectionID},
		{"\"abc\xed\xa0\x80\"", proto.CodeBadConnectionID}, // a surrogate in UTF-8 bytes
		{`"\\ufffd\ud800"`, proto.CodeBadConnectionID},     // an escaped backslash is no \ufffd escape
		{`"abc` + "\uFFFD" + `"`, 0},
		{`"abc\ufffd"`, 0},
		{`"abc\uFFFD"`, 0},
		{`"abc\uFffD"`, 0},
		{`"\ufffd\ufffd` + "\uFFFD" + `x"`, 0},
		{`"\\ufffd` + "\uFFFD" + `"`, 0},
		{`"\ud83d\ude00"`, 0}, // a valid pair: U+1F600
	}
	for _, tt := range tests {
		for _, action := range []string{ActionConnecting, ActionDataSend, ActionDataRecv, ActionClosing} {
			reg := newFakeRegistry(real, "other")
			r, _ := newObserved(Fixed(&Deps{Registry: reg, Pusher: &fakePusher{}, Options: Options{MaxMessageBytes: 100}}))
			payload := fmt.Sprintf(`{"websocket":{"action":%q,"secConnectionID":%s,"dataType":"text","data":"hi"}}`, action, tt.raw)
			reply := handle(t, r, []byte(payload))
			if tt.want != 0 {
				if reply.ErrNo != tt.want || reply.ErrMsg != "secConnectionID is not UTF-8" {
					t.Errorf("%s %s = %d %q; want %d %q", action, tt.raw, reply.ErrNo, reply.ErrMsg, tt.want, "secConnectionID is not UTF-8")
				}
				if len(reg.ids) != 2 || !reg.ids[real] || len(reg.removed) != 0 {
					t.Errorf("%s %s changed the registry: %v, removed %q", action, tt.raw, reg.ids, reg.removed)
				}
				continue
			}
			if reply.ErrNo == proto.CodeBadConnectionID || action == ActionConnecting && reply.ErrNo != 0 {
				t.Errorf("%s %s = %d %q; want it accepted", action, tt.raw, reply.ErrNo, reply.ErrMsg)
			}
		}
	}
}

// The raw check itself, as decode calls it: only for an ID holding U+FFFD.
func TestRawIDValid(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{`"abc\ud800"`, false},
		{`"abc\udfff"`, false},
		{"\"a\xffb\"", false},
		{`"abc` + "\uFFFD" + `"`, true},
		{`"abc\ufffd"`, true},
		{`"abc\UFFFD"`, false}, // not an escape: the decoder refuses the event first
		{`"\\\ufffd"`, true},   // an escaped backslash, then an escape
		{`"\\ufffd\udfff"`, false},
		{`"` + strings.Repeat(`\ufffd`, 40) + `"`, true},
		{`"` + strings.Repeat(`\ufffd`, 40) + `\ud800"`, false},
	}
	for _, tt := range tests {
		payload := []byte(`{"websocket":{"action":"connecting","secConnectionID":` + tt.raw + `}}`)
		var ev Event
		if _, err := decode(payload, &ev); err != nil && tt.want {
			t.Errorf("decode(%s) = %v; want the ID accepted", tt.raw, err)
		}
		if ev.WebSocket == nil {
			continue // not JSON: decode refused it
		}
		if got := rawIDValid(payload, ev.WebSocket.SecConnectionID); got != tt.want {
			t.Errorf("rawIDValid(%s) = %v; want %v", tt.raw, got, tt.want)
		}
	}
}
