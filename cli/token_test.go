package cli

import (
	"bytes"
	"errors"
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
