package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scfws/scfws/proto"
)

// now is the verifiers' clock in tests.
var now = time.Unix(1_800_000_000, 0)

func clock() time.Time { return now }

var (
	secret      = []byte("test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ") // 60 bytes
	otherSecret = []byte("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDE")
)

// allReasons is every Reason Verify may give.
var allReasons = []string{
	reasonRequired, reasonTooLarge, reasonMalformed, reasonAlgorithm, reasonSignature,
	reasonClaims, reasonNoExp, reasonExpired, reasonNotYet, reasonAudience, reasonIssuer,
	reasonNoSub, reasonSub, reasonTooManyGroups, reasonGroup, reasonTooManyRoles, reasonRole,
	reasonNoIat, reasonLifetime,
}

// keySet is generated once per test binary: RSA key generation is slow.
type keySet struct {
	rsa1, rsa2 *rsa.PrivateKey
	ec1, ec2   *ecdsa.PrivateKey // P-256
	ec384      *ecdsa.PrivateKey
}

var testKeys = sync.OnceValue(func() keySet {
	must := func(k any, err error) any {
		if err != nil {
			panic(err)
		}
		return k
	}
	return keySet{
		rsa1:  must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		rsa2:  must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		ec1:   must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)).(*ecdsa.PrivateKey),
		ec2:   must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)).(*ecdsa.PrivateKey),
		ec384: must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)).(*ecdsa.PrivateKey),
	}
})

// pemOf is pub as a PKIX PUBLIC KEY block.
func pemOf(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// The forms a single-line console setting forces on PEM text.
func escaped(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }
func spaced(s string) string  { return strings.ReplaceAll(s, "\n", " ") }
func b64(s string) string     { return base64.StdEncoding.EncodeToString([]byte(s)) }

// claimsWith is a valid payload changed by kv pairs; a nil value deletes.
func claimsWith(kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "user-1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// mint signs c with the jwt library.
func mint(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// craft builds a token by hand from raw header and payload JSON, signed
// with HMAC-SHA256 under key (no signature when key is nil).
func craft(header, payload string, key []byte) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(payload))
	if key == nil {
		return in + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func payload(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return "not an *auth.Error: " + err.Error()
	}
	return e.Reason
}

func names(prefix string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = prefix + strings.Repeat("x", i)
	}
	return out
}

type verifyCase struct {
	name string
	conf Config
	give string
	want string // the Reason; "" when accepted
}

// verifyCases is every token case, shared by TestVerify and
// TestErrorsNeverQuoteSecrets.
func verifyCases(t testing.TB) []verifyCase {
	k := testKeys()
	rsaPEM, rsa2PEM := pemOf(t, &k.rsa1.PublicKey), pemOf(t, &k.rsa2.PublicKey)
	ecPEM, ec2PEM := pemOf(t, &k.ec1.PublicKey), pemOf(t, &k.ec2.PublicKey)
	ec384PEM := pemOf(t, &k.ec384.PublicKey)

	hs := Config{Secret: secret, Now: clock}
	rs := Config{PublicKeysPEM: rsaPEM, Now: clock}
	es := Config{PublicKeysPEM: ecPEM, Now: clock}
	both := Config{Secret: secret, PublicKeysPEM: rsaPEM + ecPEM, Now: clock}
	hsRS := Config{Secret: secret, PublicKeysPEM: rsaPEM, Now: clock}
	rotated := Config{PublicKeysPEM: rsaPEM + ec2PEM + "\n" + rsa2PEM + ecPEM, Now: clock}
	audIss := Config{Secret: secret, Audience: "scfws", Issuer: "https://id.example.com/", Now: clock}
	capped := Config{Secret: secret, MaxAge: time.Hour, Now: clock}

	valid := claimsWith()
	hs256 := mint(t, jwt.SigningMethodHS256, secret, valid)
	rs256 := mint(t, jwt.SigningMethodRS256, k.rsa1, valid)
	es256 := mint(t, jwt.SigningMethodES256, k.ec1, valid)
	hsWith := func(kv ...any) string { return mint(t, jwt.SigningMethodHS256, secret, claimsWith(kv...)) }
	parts := strings.Split(hs256, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(payload(t, claimsWith("sub", "admin")))) + "." + parts[2]

	return []verifyCase{
		{"HS256", hs, hs256, ""},
		{"HS384", hs, mint(t, jwt.SigningMethodHS384, secret, valid), ""},
		{"HS512", hs, mint(t, jwt.SigningMethodHS512, secret, valid), ""},
		{"RS256", rs, rs256, ""},
		{"RS384", rs, mint(t, jwt.SigningMethodRS384, k.rsa1, valid), ""},
		{"RS512", rs, mint(t, jwt.SigningMethodRS512, k.rsa1, valid), ""},
		{"PS256", rs, mint(t, jwt.SigningMethodPS256, k.rsa1, valid), ""},
		{"RS256 PEM with \\n escapes", Config{PublicKeysPEM: escaped(rsaPEM), Now: clock}, rs256, ""},
		{"RS256 PEM in base64", Config{PublicKeysPEM: b64(rsaPEM), Now: clock}, rs256, ""},
		{"RS256 PEM with spaces for newlines", Config{PublicKeysPEM: spaced(rsaPEM), Now: clock}, rs256, ""},
		{"RS256 PEM with CRLF", Config{PublicKeysPEM: strings.ReplaceAll(rsaPEM, "\n", "\r\n"), Now: clock}, rs256, ""},
		{"ES256", es, es256, ""},
		{"ES256 PEM with \\n escapes", Config{PublicKeysPEM: escaped(ecPEM), Now: clock}, es256, ""},
		{"ES256 PEM in base64", Config{PublicKeysPEM: b64(ecPEM), Now: clock}, es256, ""},
		{"ES256 PEM with escapes in base64", Config{PublicKeysPEM: b64(escaped(ecPEM)), Now: clock}, es256, ""},
		{"ES384 with a P-384 key", Config{PublicKeysPEM: ec384PEM, Now: clock}, mint(t, jwt.SigningMethodES384, k.ec384, valid), ""},
		{"ES384 without a P-384 key", es, mint(t, jwt.SigningMethodES384, k.ec384, valid), reasonAlgorithm},
		{"HS256 with secret and keys", both, hs256, ""},
		{"RS256 with secret and keys", both, rs256, ""},
		{"ES256 with secret and keys", both, es256, ""},

		{"rotation: RS256 by the second key", rotated, mint(t, jwt.SigningMethodRS256, k.rsa2, valid), ""},
		{"rotation: RS256 by the first key", rotated, rs256, ""},
		{"rotation: ES256 by the second key", rotated, es256, ""},
		{"rotation: kid is not required to match", rotated, func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, valid)
			tok.Header["kid"] = "no-such-kid"
			s, _ := tok.SignedString(k.ec2)
			return s
		}(), ""},
		{"rotation: a retired key", Config{PublicKeysPEM: rsa2PEM, Now: clock}, rs256, reasonSignature},

		{"empty", hs, "", reasonRequired},
		{"oversize", hs, hsWith("pad", strings.Repeat("a", MaxTokenBytes)), reasonTooLarge},
		{"not a JWT", hs, "hello", reasonMalformed},
		{"two segments", hs, parts[0] + "." + parts[1], reasonMalformed},
		{"four segments", hs, hs256 + ".x", reasonMalformed},
		{"with bearer prefix", hs, "bearer." + hs256, reasonMalformed},
		{"with a space", hs, "Bearer " + hs256, reasonMalformed},
		{"with a line break", hs, parts[0] + ".\n" + parts[1] + "." + parts[2], reasonMalformed},
		{"base64 padding", hs, hs256 + "=", reasonMalformed},
		{"header not JSON", hs, "bm90anNvbg." + parts[1] + "." + parts[2], reasonMalformed},
		{"payload not an object", hs, craft(`{"alg":"HS256"}`, `["sub"]`, secret), reasonMalformed},
		{"payload null", hs, craft(`{"alg":"HS256"}`, `null`, secret), reasonNoExp},
		{"no alg", hs, craft(`{"typ":"JWT"}`, payload(t, valid), secret), reasonMalformed},
		{"alg not a string", hs, craft(`{"alg":256}`, payload(t, valid), secret), reasonMalformed},
		{"unknown alg", hs, craft(`{"alg":"HS1024"}`, payload(t, valid), secret), reasonAlgorithm},
		{"crit header", hs, craft(`{"alg":"HS256","crit":["b64"],"b64":false}`, payload(t, valid), secret), reasonMalformed},

		{"bad signature: other secret", hs, mint(t, jwt.SigningMethodHS256, otherSecret, valid), reasonSignature},
		{"bad signature: tampered payload", hs, tampered, reasonSignature},
		{"bad signature: other RSA key", rs, mint(t, jwt.SigningMethodRS256, k.rsa2, valid), reasonSignature},
		{"bad signature: other EC key", es, mint(t, jwt.SigningMethodES256, k.ec2, valid), reasonSignature},
		{"bad signature: truncated", hs, hs256[:len(hs256)-3], reasonSignature},
		{"bad signature: empty", hs, parts[0] + "." + parts[1] + ".", reasonSignature},
		{"alg none, no signature", both, craft(`{"alg":"none","typ":"JWT"}`, payload(t, valid), nil), reasonAlgorithm},
		{"alg none, a signature", both, craft(`{"alg":"none"}`, payload(t, valid), secret), reasonAlgorithm},
		{"alg None", both, craft(`{"alg":"None"}`, payload(t, valid), nil), reasonAlgorithm},
		{"HS256 against RS only", rs, hs256, reasonAlgorithm},
		{"RS256 against HS only", hs, rs256, reasonAlgorithm},
		{"ES256 against RS only", rs, es256, reasonAlgorithm},
		{"HS/RS confusion: HMAC keyed with the PEM", hsRS,
			craft(`{"alg":"HS256","typ":"JWT"}`, payload(t, valid), []byte(rsaPEM)), reasonSignature},
		{"HS/RS confusion: HMAC keyed with the DER", hsRS, func() string {
			der, _ := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
			return craft(`{"alg":"HS256"}`, payload(t, valid), der)
		}(), reasonSignature},
		{"HS/RS confusion: HMAC keyed with the setting's text", Config{Secret: secret, PublicKeysPEM: escaped(rsaPEM), Now: clock},
			craft(`{"alg":"HS256"}`, payload(t, valid), []byte(escaped(rsaPEM))), reasonSignature},
		{"HS/RS confusion against RS only", rs,
			craft(`{"alg":"HS256"}`, payload(t, valid), []byte(rsaPEM)), reasonAlgorithm},

		{"expired", hs, hsWith("exp", now.Add(-time.Minute).Unix()), reasonExpired},
		{"expired within leeway", hs, hsWith("exp", now.Add(-20*time.Second).Unix()), ""},
		{"expired beyond a 5s leeway", Config{Secret: secret, Leeway: 5 * time.Second, Now: clock},
			hsWith("exp", now.Add(-20*time.Second).Unix()), reasonExpired},
		{"nbf in the future", hs, hsWith("nbf", now.Add(time.Minute).Unix()), reasonNotYet},
		{"nbf within leeway", hs, hsWith("nbf", now.Add(20*time.Second).Unix()), ""},
		{"iat in the future", hs, hsWith("iat", now.Add(time.Minute).Unix()), reasonNotYet},
		{"iat within leeway", hs, hsWith("iat", now.Add(20*time.Second).Unix()), ""},
		{"no iat", hs, hsWith("iat", nil), ""},
		{"missing exp", hs, hsWith("exp", nil), reasonNoExp},
		{"exp null", hs, hsWith("exp", json.RawMessage("null")), reasonNoExp},
		{"exp a string", hs, hsWith("exp", "1800003600"), reasonClaims},
		{"exp an object", hs, hsWith("exp", map[string]int{"s": 1}), reasonClaims},
		{"exp fractional", hs, hsWith("exp", float64(now.Unix())+3600.5), ""},
		{"exp huge", hs, hsWith("exp", json.RawMessage("1e300")), reasonClaims},
		{"exp negative", hs, hsWith("exp", -1), reasonClaims},
		{"exp in year 9999", hs, hsWith("exp", int64(maxUnixSeconds)), ""},
		{"nbf a string", hs, hsWith("nbf", "0"), reasonClaims},
		{"expired with a bad signature", hs, mint(t, jwt.SigningMethodHS256, otherSecret, claimsWith("exp", now.Add(-time.Hour).Unix())), reasonSignature},
		{"expired and wrong audience", audIss, hsWith("exp", now.Add(-time.Hour).Unix(), "aud", "x"), reasonExpired},

		{"audience", audIss, hsWith("aud", "scfws", "iss", "https://id.example.com/"), ""},
		{"audience in a list", audIss, hsWith("aud", []string{"other", "scfws"}, "iss", "https://id.example.com/"), ""},
		{"wrong audience", audIss, hsWith("aud", "other", "iss", "https://id.example.com/"), reasonAudience},
		{"no audience", audIss, hsWith("iss", "https://id.example.com/"), reasonAudience},
		{"audience not a string", audIss, hsWith("aud", 7, "iss", "https://id.example.com/"), reasonClaims},
		{"wrong issuer", audIss, hsWith("aud", "scfws", "iss", "https://evil.example.com/"), reasonIssuer},
		{"no issuer", audIss, hsWith("aud", "scfws"), reasonIssuer},
		{"aud and iss not configured", hs, hsWith("aud", "other", "iss", "anyone"), ""},

		{"missing sub", hs, hsWith("sub", nil), reasonNoSub},
		{"empty sub", hs, hsWith("sub", ""), reasonNoSub},
		{"sub is case-sensitive", hs, hsWith("sub", nil, "SUB", "user-1"), reasonNoSub},
		{"sub a number", hs, hsWith("sub", 42), reasonClaims},
		{"sub with a control character", hs, hsWith("sub", "user\x1b[31m"), reasonSub},
		{"sub of 129 bytes", hs, hsWith("sub", strings.Repeat("u", 129)), reasonSub},
		{"sub of 128 bytes", hs, hsWith("sub", strings.Repeat("u", 128)), ""},

		{"32 groups", hs, hsWith("groups", names("g", 32)), ""},
		{"too many groups", hs, hsWith("groups", names("g", 33)), reasonTooManyGroups},
		{"group with a control character", hs, hsWith("groups", []string{"lobby", "a\nb"}), reasonGroup},
		{"empty group name", hs, hsWith("groups", []string{""}), reasonGroup},
		{"group name of 129 bytes", hs, hsWith("groups", []string{strings.Repeat("g", 129)}), reasonGroup},
		{"groups a string", hs, hsWith("groups", "lobby"), reasonClaims},
		{"groups with a number", hs, hsWith("groups", []any{"lobby", 1}), reasonClaims},
		{"too many roles", hs, hsWith("roles", names("r", 33)), reasonTooManyRoles},
		{"role with a control character", hs, hsWith("roles", []string{"sendToUser\t"}), reasonRole},
		{"role for a 128-byte group", hs, hsWith("roles", []string{"sendToGroup." + strings.Repeat("g", 128)}), ""},
		// AUTH_MAX_TOKEN_AGE: the lifetime is exp - iat; without iat it is unknown.
		{"lifetime at the cap", capped, hsWith("exp", now.Add(time.Hour).Unix()), ""},
		{"lifetime over the cap", capped, hsWith("exp", now.Add(time.Hour+time.Second).Unix()), reasonLifetime},
		{"long-lived token issued long ago", capped, hsWith("iat", now.Add(-30*24*time.Hour).Unix(), "exp", now.Add(time.Minute).Unix()), reasonLifetime},
		{"no iat under a cap", capped, hsWith("iat", nil), reasonNoIat},
		{"no iat without a cap", hs, hsWith("iat", nil), ""},
		{"year-long token without a cap", hs, hsWith("exp", now.Add(365*24*time.Hour).Unix()), ""},
		{"capped RS token", Config{PublicKeysPEM: rsaPEM, MaxAge: time.Hour, Now: clock},
			mint(t, jwt.SigningMethodRS256, k.rsa1, claimsWith("exp", now.Add(2*time.Hour).Unix())), reasonLifetime},
	}
}

func TestVerify(t *testing.T) {
	for _, tt := range verifyCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.conf)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			_, err = v.Verify(tt.give)
			if got := reasonOf(err); got != tt.want {
				t.Errorf("Verify(%.40q...) = %q; want %q (cause: %v)", tt.give, got, tt.want, errors.Unwrap(err))
			}
		})
	}
}

func TestVerifyIdentity(t *testing.T) {
	v, err := NewVerifier(Config{Secret: secret, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	exp := now.Add(time.Hour)
	tok := mint(t, jwt.SigningMethodHS256, secret, claimsWith(
		"sub", "用户-7", "exp", exp.Unix(),
		"groups", []string{"lobby", "room 2", "lobby"},
		"roles", []string{"sendToUser", "joinLeaveGroup", "sendToGroup.lobby"},
		"other", map[string]any{"ignored": true}))
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{
		Principal: proto.Principal{
			UserID: "用户-7",
			Groups: []string{"lobby", "room 2"},
			Roles:  []string{"joinLeaveGroup", "sendToGroup.lobby", "sendToUser"},
		},
		Expires: exp,
	}
	if got.UserID != want.UserID || !slices.Equal(got.Groups, want.Groups) ||
		!slices.Equal(got.Roles, want.Roles) || !got.Expires.Equal(want.Expires) {
		t.Errorf("Verify = %+v; want %+v", got, want)
	}
}

// TestErrorsNeverQuoteSecrets: a refusal (and every error it wraps) never
// contains the token, a segment of it, the secret or key material.
func TestErrorsNeverQuoteSecrets(t *testing.T) {
	k := testKeys()
	der, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{string(secret), base64.StdEncoding.EncodeToString(der)[:40]}
	checked := 0
	for _, tt := range verifyCases(t) {
		v, err := NewVerifier(tt.conf)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(tt.give)
		if err == nil {
			continue
		}
		checked++
		bad := slices.Clone(forbidden)
		if len(tt.give) >= 8 {
			bad = append(bad, tt.give)
		}
		for _, seg := range strings.Split(tt.give, ".") {
			if len(seg) >= 8 {
				bad = append(bad, seg)
			}
		}
		for _, msg := range chain(err) {
			for _, b := range bad {
				if strings.Contains(msg, b) {
					t.Errorf("%s: error %q quotes %.20q...", tt.name, msg, b)
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d refusals checked", checked)
	}
}

// chain is the text of err and of every error it wraps.
func chain(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, chain(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, chain(e)...)
		}
	}
	return out
}

func TestErrorIsReasonOnly(t *testing.T) {
	v, err := NewVerifier(Config{Secret: secret, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(mint(t, jwt.SigningMethodHS256, secret, claimsWith("exp", now.Add(-time.Hour).Unix())))
	if err == nil || err.Error() != reasonExpired {
		t.Fatalf("Verify(expired) = %v; want %q", err, reasonExpired)
	}
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("errors.Is(%v, jwt.ErrTokenExpired) = false; want the cause wrapped", err)
	}
}

func TestAlgorithmsOfSecretAndKeys(t *testing.T) {
	k := testKeys()
	v, err := NewVerifier(Config{Secret: secret, PublicKeysPEM: pemOf(t, &k.ec1.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ES256", "HS256", "HS384", "HS512"}
	if got := v.Algorithms(); !slices.Equal(got, want) {
		t.Errorf("Algorithms() = %v; want %v", got, want)
	}
}

func TestSecretIsCopied(t *testing.T) {
	s := slices.Clone(secret)
	v, err := NewVerifier(Config{Secret: s, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, jwt.SigningMethodHS256, secret, claimsWith())
	clear(s)
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("Verify after the caller reused its secret buffer = %v; want nil", err)
	}
}

func TestVerifyConcurrently(t *testing.T) {
	k := testKeys()
	v, err := NewVerifier(Config{Secret: secret, PublicKeysPEM: pemOf(t, &k.ec1.PublicKey), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	toks := []string{
		mint(t, jwt.SigningMethodHS256, secret, claimsWith()),
		mint(t, jwt.SigningMethodES256, k.ec1, claimsWith()),
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := v.Verify(toks[i%2]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
