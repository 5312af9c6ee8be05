package router

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
)

// knownCodes are the errNo values the README documents.
var knownCodes = map[int]bool{proto.CodeOK: true, proto.CodeNoWebSocket: true, proto.CodeBadConnectionID: true, proto.CodeUnknownAction: true,
	proto.CodeMalformedEvent: true, proto.CodeTooLarge: true, proto.CodeBadData: true, proto.CodeUnknownOp: true, proto.CodeBadArgument: true,
	proto.CodeRefused: true, proto.CodeUnauthorized: true, proto.CodeInternal: true, proto.CodeNotReady: true, proto.CodeRegistry: true}

// FuzzInvoke drives the whole raw-bytes handler: whatever arrives, the
// invoke succeeds with a JSON reply carrying a documented errNo, never
// panics, and an event refused with an errNo pushes nothing.
func FuzzInvoke(f *testing.F) {
	files, _ := filepath.Glob("../testdata/golden/*.json")
	if len(files) == 0 {
		f.Fatal("no seeds in ../testdata/golden")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"websocket":{"action":"data send","secConnectionID":"a","dataType":"binary","data":"!!"}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		push := &fakePusher{}
		r := New(zap.NewNop(), Fixed(&Deps{Registry: newFakeRegistry("peer"), Pusher: push,
			Options: Options{MaxMessageBytes: 1 << 10, HeartbeatMessage: "hb", OnlineCountSuffix: true}}))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		out, err := r.Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("Invoke error %v; want nil always", err)
		}
		var reply struct {
			ErrNo  *int    `json:"errNo"`
			ErrMsg *string `json:"errMsg"`
			// An HTTP route's response holds the reply in its body.
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if err := json.Unmarshal(out, &reply); err == nil && reply.StatusCode != 0 {
			out = []byte(reply.Body)
		}
		if err := json.Unmarshal(out, &reply); err != nil || reply.ErrNo == nil || reply.ErrMsg == nil {
			t.Fatalf("reply %s is not a JSON object with errNo and errMsg (%v)", out, err)
		}
		if !knownCodes[*reply.ErrNo] {
			t.Errorf("errNo %d is not a documented code (reply %s)", *reply.ErrNo, out)
		}
		if *reply.ErrNo != proto.CodeOK && len(push.got) != 0 {
			t.Errorf("refused event (errNo %d) pushed %d frames", *reply.ErrNo, len(push.got))
		}
		if !utf8.Valid(out) {
			t.Errorf("reply is not UTF-8: %q", out)
		}
		if *reply.ErrNo == proto.CodeInternal {
			t.Errorf("a recovered panic: %s", out)
		}
	})
}

// FuzzNegotiate: whatever is offered, the answer is empty or one short
// HTTP token that was offered (and allowed).
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"chat, binary", "a b\r\nSet-Cookie: x=1, ok", "", ",,,", "scfws.v1, bearer.abc.def.ghi", strings.Repeat("x,", 100)} {
		f.Add(s, "")
		f.Add(s, "binary,ok")
	}
	f.Fuzz(func(t *testing.T, offered, allowList string) {
		var allowed []string
		for a := range strings.SplitSeq(allowList, ",") {
			if a = strings.TrimSpace(a); a != "" {
				allowed = append(allowed, a)
			}
		}
		got := negotiate(offered, allowed)
		if got == "" {
			return
		}
		if !isToken(got) || len(got) > maxProtocolBytes {
			t.Errorf("negotiate(%q) = %q: not a short token", offered, got)
		}
		if !strings.Contains(offered, got) {
			t.Errorf("negotiate(%q) = %q: not offered", offered, got)
		}
		if len(allowed) > 0 && !contains(allowed, got) {
			t.Errorf("negotiate(%q, %q) = %q: not allowed", offered, allowed, got)
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
