package local

import (
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/config"
)

// A PUBLISH_SECRET or PROBE_SECRET under 32 bytes stops scfws local at
// start, naming it: the function would run without its feature and the
// session would look ready. Never quoted.
func TestLocalRefusesShortOptionalSecrets(t *testing.T) {
	tests := []struct {
		give map[string]string
		want string // "" for started
	}{
		{map[string]string{"PUBLISH_SECRET": "hunter2"}, "PUBLISH_SECRET: must be at least 32 bytes, not 7"},
		{map[string]string{"PROBE_SECRET": "hunter2"}, "PROBE_SECRET: must be at least 32 bytes, not 7"},
		{map[string]string{"PUBLISH_SECRET": strings.Repeat("p", 32), "PROBE_SECRET": strings.Repeat("q", 32)}, ""},
		// Refused outright, this shows on the readiness line and the chat page.
		{map[string]string{"PUSH_TIMEOUT": "abc"}, ""},
	}
	for _, tt := range tests {
		for _, k := range config.Keys() {
			t.Setenv(k, "")
		}
		for k, v := range tt.give {
			t.Setenv(k, v)
		}
		_, err := newSession(testFlags(t))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("newSession with %v = %v; want started", tt.give, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2")):
			t.Errorf("newSession with %v = %v; want %q, the secret not quoted", tt.give, err, tt.want)
		}
	}
}

// The chat page's tokens live 12 hours, or less when AUTH_MAX_TOKEN_AGE
// caps a token's lifetime: the function would refuse a longer one.
func TestTokenTTL(t *testing.T) {
	tests := []struct {
		give string // AUTH_MAX_TOKEN_AGE
		want time.Duration
	}{
		{"", 12 * time.Hour},
		{"1h", time.Hour},
		{"600", 10 * time.Minute},
		{"48h", 12 * time.Hour},
		{"soon", 12 * time.Hour}, // the function refuses it; the readiness line says so
	}
	for _, tt := range tests {
		if got := tokenTTL(map[string]string{"AUTH_MAX_TOKEN_AGE": tt.give}); got != tt.want {
			t.Errorf("tokenTTL(AUTH_MAX_TOKEN_AGE=%q) = %s; want %s", tt.give, got, tt.want)
		}
	}
}

// local's own route refuses a body over the function's limit itself: the
// limit follows the function's MAX_MESSAGE_BYTES.
func TestOwnRouteBodyLimit(t *testing.T) {
	tests := []struct {
		give string // MAX_MESSAGE_BYTES
		want int
	}{
		{"", 2*262144 + 64<<10},
		{"1000", 2*1000 + 64<<10},
		{"lots", 2*262144 + 64<<10}, // the function refuses it; the readiness line says so
	}
	for _, tt := range tests {
		s := &session{f: testFlags(t), env: map[string]string{"MAX_MESSAGE_BYTES": tt.give}}
		if got := s.ownGateway(s.gatewayOptions()).RouteMaxBodyBytes; got != tt.want {
			t.Errorf("MAX_MESSAGE_BYTES=%q: the route's limit is %d; want %d", tt.give, got, tt.want)
		}
	}
}
