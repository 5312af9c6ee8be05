package auth

import (
	"errors"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scfws/scfws/proto"
)

func FuzzVerify(f *testing.F) {
	k := testKeys()
	v, err := NewVerifier(Config{Secret: secret, PublicKeysPEM: pemOf(f, &k.ec1.PublicKey), Audience: "scfws", Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	for _, tt := range verifyCases(f) {
		f.Add(tt.give)
	}
	f.Add(mint(f, jwt.SigningMethodHS256, secret, claimsWith("aud", "scfws", "groups", []string{"a"})))
	f.Fuzz(func(t *testing.T, token string) {
		checkVerified(t, token, v)
	})
}

// FuzzVerifySigned signs what it is given with the verifier's secret, so that
// the paths after the signature check (claims decoding and validation, the
// limits) see arbitrary headers and payloads too.
func FuzzVerifySigned(f *testing.F) {
	v, err := NewVerifier(Config{Secret: secret, Issuer: "scfws", Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`{"alg":"HS256"}`, payload(f, claimsWith("iss", "scfws", "groups", []string{"a", "b"}, "roles", []string{"sendToUser"})))
	f.Add(`{"alg":"HS256","crit":["x"]}`, `{"sub":"u","exp":1800003600}`)
	f.Add(`{"alg":"none"}`, `null`)
	f.Add(`{"alg":"HS256"}`, `{"sub":"u\u0000","exp":1e300,"nbf":"1","groups":[1],"aud":{}}`)
	f.Fuzz(func(t *testing.T, header, payload string) {
		token := craft(header, payload, secret)
		checkVerified(t, token, v)
	})
}

// checkVerified fails t unless v refuses token with a known reason, or
// accepts it with an identity inside every limit: sorted lists of valid
// names.
func checkVerified(t *testing.T, token string, v *Verifier) {
	t.Helper()
	id, err := v.Verify(token)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !slices.Contains(allReasons, e.Reason) || err.Error() != e.Reason {
			t.Fatalf("Verify(%q) = %#v; want an *Error with a known reason", token, err)
		}
		return
	}
	if !proto.ValidName(id.UserID) || len(id.Groups) > MaxGroups || len(id.Roles) > MaxRoles || id.Expires.IsZero() ||
		!slices.IsSorted(id.Groups) || !slices.IsSorted(id.Roles) {
		t.Fatalf("Verify(%q) accepted %+v", token, id)
	}
	for _, g := range id.Groups {
		if !proto.ValidName(g) {
			t.Fatalf("Verify(%q) accepted group %q", token, g)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKeys()
	rsaPEM, ecPEM := pemOf(b, &k.rsa1.PublicKey), pemOf(b, &k.ec1.PublicKey)
	c := claimsWith("groups", []string{"lobby", "room-2"}, "roles", []string{"joinLeaveGroup", "sendToGroup.lobby"})
	benches := []struct {
		name  string
		conf  Config
		token string
	}{
		{"HS256", Config{Secret: secret, Now: clock}, mint(b, jwt.SigningMethodHS256, secret, c)},
		{"ES256", Config{PublicKeysPEM: ecPEM, Now: clock}, mint(b, jwt.SigningMethodES256, k.ec1, c)},
		{"RS256", Config{PublicKeysPEM: rsaPEM, Now: clock}, mint(b, jwt.SigningMethodRS256, k.rsa1, c)},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			v, err := NewVerifier(bb.conf)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(bb.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
