//go:build !scfws_function

package cli

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A command that got no reply says, in English, what went wrong and what
// to do, once ("scfws:" is Main's prefix), whatever Tencent's message's
// language.
func TestPublishFailureSaysWhatToDo(t *testing.T) {
	route := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/off":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errNo":403,"errMsg":"the signed route is off: PUBLISH_SECRET is not set"}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errNo":401,"errMsg":"bad signature"}`)
		}
	}))
	defer route.Close()
	tests := []struct {
		name string
		give []string // after the way to the function
		env  map[string]string
		want []string // in the message, in order
	}{
		{name: "no such function", give: []string{"-function", "nope"},
			want: []string{"SCF Invoke of default/nope in ap-guangzhou (scf:InvokeFunction): ResourceNotFound.Function: no function of that name",
				"\n  what to do: check -function"}},
		{name: "wrong key", give: []string{"-function", "chat"}, env: map[string]string{envSecretKey: "wrong-key-wrong-key"},
			want: []string{"AuthFailure.SignatureFailure: the API key is not valid", "what to do: check TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY"}},
		{name: "nobody listening", give: []string{"-function", "chat", "-endpoint", "http://127.0.0.1:1"},
			want: []string{"SCF Invoke of default/chat", "connection refused", "what to do: nothing listens at http://127.0.0.1:1: is scfws local running"}},
		{name: "bad signature", give: []string{"-url", route.URL + "/publish"}, env: map[string]string{envPublishSecret: strings.Repeat("s", 32)},
			want: []string{"the signed route " + route.URL + "/publish: HTTP 401", "bad signature",
				"what to do: give publish the function's PUBLISH_SECRET"}},
		{name: "route off", give: []string{"-url", route.URL + "/off"}, env: map[string]string{envPublishSecret: strings.Repeat("s", 32)},
			want: []string{"HTTP 403", "what to do: set PUBLISH_SECRET on the function"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint, _ := publishAPI(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.give
			if args[0] == "-function" && len(args) == 2 {
				args = append(args, "-endpoint", endpoint, "-region", "ap-guangzhou")
			}
			_, _, err := runPublish(append(args, "-all", "hi"), "")
			var u usageError
			if err == nil || errors.As(err, &u) {
				t.Fatalf("publish = %v; want a failure (exit 1)", err)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("publish = %q; want %q (in this order: %q)", msg, w, tt.want)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(msg, "scfws scf:") || strings.Contains(msg, "scfws http:") || strings.Contains(msg, ": default/") {
				t.Errorf("publish = %q; want no prefix of the client package's (Main adds scfws:), the function named once", msg)
			}
		})
	}
}
