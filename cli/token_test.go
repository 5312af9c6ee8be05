package cli

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/config"
)

const testSecret = "token-test-secret-0123456789abcdef"

// scfws token mints what the function accepts.
func TestToken(t *testing.T) {
	var out, errOut bytes.Buffer
	env := config.FromMap(map[string]string{"AUTH_SECRET": testSecret})
	err := runToken([]string{"-sub", "alice", "-groups", "lobby, dev", "-roles", "sendToUser,sendToGroup.dev", "-ttl", "2h"}, env, &out, &errOut)
	if err != nil {
		t.Fatalf("token = %v (%s)", err, errOut.String())
	}
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("the printed token does not verify: %v", err)
	}
	if id.UserID != "alice" || strings.Join(id.Groups, ",") != "dev,lobby" || strings.Join(id.Roles, ",") != "sendToGroup.dev,sendToUser" {
		t.Errorf("identity = %+v; want alice in dev and lobby with two roles", id)
	}
	if d := time.Until(id.Expires); d < time.Hour+59*time.Minute || d > 2*time.Hour {
		t.Errorf("expires in %s; want 2h", d)
	}
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name  string
		give  []string
		env   map[string]string
		want  string
		usage bool
	}{
		{"no sub", []string{}, map[string]string{"AUTH_SECRET": testSecret}, "-sub is required", true},
		{"bad role", []string{"-sub", "a", "-roles", "admin"}, map[string]string{"AUTH_SECRET": testSecret}, `"admin" is not a role`, true},
		{"no secret", []string{"-sub", "a"}, nil, "AUTH_SECRET is not set", false},
		{"no secret says -endpoint", []string{"-sub", "a"}, nil, "add -endpoint http://127.0.0.1:8080", false},
		{"short secret", []string{"-sub", "a"}, map[string]string{"AUTH_SECRET": "short"}, "secret", false},
		{"bad group", []string{"-sub", "a", "-groups", "ok,bad\x07"}, map[string]string{"AUTH_SECRET": testSecret}, "group", false},
		{"argument", []string{"-sub", "a", "extra"}, map[string]string{"AUTH_SECRET": testSecret}, "no arguments", true},
		{"ttl over AUTH_MAX_TOKEN_AGE", []string{"-sub", "a", "-ttl", "2h"}, map[string]string{"AUTH_SECRET": testSecret, "AUTH_MAX_TOKEN_AGE": "3600"},
			"-ttl 2h0m0s is over AUTH_MAX_TOKEN_AGE (1h0m0s)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runToken(tt.give, config.FromMap(tt.env), &out, &errOut)
			var u usageError
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.As(err, &u) != tt.usage {
				t.Errorf("runToken(%q) = %v; want an error with %q (usage %v)", tt.give, err, tt.want, tt.usage)
			}
			if strings.Contains(err.Error()+out.String()+errOut.String(), testSecret) {
				t.Errorf("output contains the secret")
			}
		})
	}
}

// scfws token -endpoint asks scfws local, which signs with its session's
// AUTH_SECRET: no secret needed here. Other claims are refused, not
// silently dropped; a wrong address says what to do.
func TestTokenFromLocal(t *testing.T) {
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_scfws/token" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"token":"signed-for-%s"}`+"\n", r.URL.Query().Get("sub"))
	}))
	defer local.Close()
	tests := []struct {
		name  string
		give  []string
		want  string // stdout, or in the error
		usage bool
	}{
		{name: "asks local", give: []string{"-endpoint", local.URL, "-sub", "alice b"}, want: "signed-for-alice b\n"},
		{name: "trailing slash", give: []string{"-endpoint", local.URL + "/", "-sub", "bob"}, want: "signed-for-bob\n"},
		{name: "with -groups", give: []string{"-endpoint", local.URL, "-sub", "a", "-groups", "lobby"}, want: "-groups with -endpoint: scfws local signs -sub only", usage: true},
		{name: "no scheme", give: []string{"-endpoint", "127.0.0.1:8080", "-sub", "a"}, want: "not an http(s) URL", usage: true},
		{name: "not local", give: []string{"-endpoint", local.URL + "/elsewhere", "-sub", "a"}, want: "HTTP 404"},
		{name: "nobody there", give: []string{"-endpoint", "http://127.0.0.1:1", "-sub", "a"}, want: "what to do: is scfws local running at http://127.0.0.1:1?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runToken(tt.give, config.FromMap(nil), &out, &errOut)
			var u usageError
			switch {
			case err == nil && out.String() != tt.want:
				t.Errorf("token %q printed %q; want %q", tt.give, out.String(), tt.want)
			case err != nil && (!strings.Contains(err.Error(), tt.want) || errors.As(err, &u) != tt.usage):
				t.Errorf("token %q = %v; want an error with %q (usage %v)", tt.give, err, tt.want, tt.usage)
			}
		})
	}
}
