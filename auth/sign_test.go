package auth

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/proto"
)

func TestSign(t *testing.T) {
	v, err := NewVerifier(Config{Secret: secret, Audience: "scfws", Issuer: "scfws-cli", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	base := Claims{Subject: "alice", Groups: []string{"lobby"}, Roles: []string{"sendToUser"},
		TTL: time.Hour, Audience: "scfws", Issuer: "scfws-cli"}
	tests := []struct {
		name string
		alg  string
		give Claims
		want Identity
	}{
		{"default HS256", "", base, Identity{Principal: proto.Principal{UserID: "alice", Groups: []string{"lobby"}, Roles: []string{"sendToUser"}}, Expires: now.Add(time.Hour)}},
		{"HS384", "HS384", base, Identity{Principal: proto.Principal{UserID: "alice", Groups: []string{"lobby"}, Roles: []string{"sendToUser"}}, Expires: now.Add(time.Hour)}},
		{"HS512, no lists", "HS512", Claims{Subject: "bob", TTL: time.Minute, Audience: "scfws", Issuer: "scfws-cli"},
			Identity{Principal: proto.Principal{UserID: "bob"}, Expires: now.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Sign(secret, tt.alg, tt.give, now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify(Sign(%+v)) = %v", tt.give, err)
			}
			if got.UserID != tt.want.UserID || !slices.Equal(got.Groups, tt.want.Groups) ||
				!slices.Equal(got.Roles, tt.want.Roles) || !got.Expires.Equal(tt.want.Expires) {
				t.Errorf("Verify(Sign(%+v)) = %+v; want %+v", tt.give, got, tt.want)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	ok := Claims{Subject: "alice", TTL: time.Hour}
	with := func(f func(*Claims)) Claims { c := ok; f(&c); return c }
	many := make([]string, MaxGroups)
	for i := range many {
		many[i] = strings.Repeat("g", proto.MaxNameBytes-2) + string(rune('A'+i))
	}
	tests := []struct {
		name   string
		secret []byte
		alg    string
		give   Claims
		want   string
	}{
		{"RS256", secret, "RS256", ok, `algorithm "RS256"`},
		{"none", secret, "none", ok, `algorithm "none"`},
		{"short secret", []byte("short"), "", ok, "secret is 5 bytes"},
		{"no subject", secret, "", with(func(c *Claims) { c.Subject = "" }), "subject must be"},
		{"subject with a control character", secret, "", with(func(c *Claims) { c.Subject = "a\x00" }), "subject must be"},
		{"no TTL", secret, "", with(func(c *Claims) { c.TTL = 0 }), "TTL must be at least 1s"},
		{"too many groups", secret, "", with(func(c *Claims) { c.Groups = make([]string, 33) }), "33 groups, at most 32"},
		{"bad group", secret, "", with(func(c *Claims) { c.Groups = []string{"ok", " lead"} }), "group 2"},
		{"bad role", secret, "", with(func(c *Claims) { c.Roles = []string{""} }), "role 1"},
		{"too large", secret, "", with(func(c *Claims) { c.Groups = many; c.Roles = many }), "at most 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Sign(tt.secret, tt.alg, tt.give, now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sign() = %q, %v; want an error with %q", tok, err, tt.want)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}
