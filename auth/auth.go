// Package auth verifies and mints the connect tokens of the scfws.v1
// subprotocol: a client offers "bearer.<JWT>" and the register function
// accepts the connection only for a token that Verify accepts.
//
// Tokens are JWTs (RFC 7519). Which algorithms are accepted follows from the
// keys configured, never from the token: a shared secret enables HS256, HS384
// and HS512; an RSA public key RS256/384/512 and PS256/384/512; an ECDSA key
// the one ES algorithm of its curve. "none" is never accepted, and each
// algorithm is checked only with keys of its own kind, so a token "signed"
// with HMAC keyed by a public key is just a bad signature. Keys named or
// embedded in a token's header (kid, jku, jwk, x5u) are not used: every
// configured key of the token's family is tried, which makes key rotation a
// matter of listing the old and the new key for a while.
//
// The package is a leaf: it knows nothing of the router, the registry or the
// environment. Subprotocol parsing belongs to the router.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scfws/scfws/proto"
)

const (
	// DefaultLeeway absorbs clock differences between the issuer and the
	// function's instances when checking exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// maxLeeway: more would quietly extend every token's life.
	maxLeeway = 5 * time.Minute
)

// Config says which tokens a Verifier accepts. At least one of Secret and
// PublicKeysPEM must be set; with both, each algorithm is verified only with
// its own kind of key.
type Config struct {
	// Secret verifies HS256/384/512 tokens; empty turns HMAC off. At least
	// 32 bytes (RFC 7518 section 3.2), and never a PEM key.
	Secret []byte
	// PublicKeysPEM holds one or more public keys (or certificates) that
	// verify RS*, PS* and ES* tokens, for tokens from an identity provider;
	// empty turns them off. Several blocks allow key rotation. PEM text may
	// have real newlines, literal \n escapes or spaces for newlines, or be
	// base64-encoded whole, because console settings are often single-line.
	PublicKeysPEM string
	// Audience and Issuer, when set, must match the token's aud (one of its
	// values) and iss; when empty they are not checked.
	Audience, Issuer string
	// MaxAge, when positive, caps a token's lifetime, exp - iat: a token
	// minted to live longer, or without iat (its lifetime unknown), is
	// refused. exp is required, so no token outlives its iat by more.
	MaxAge time.Duration
	// Leeway for exp, nbf and iat: 0 means DefaultLeeway, at most 5m.
	// There is deliberately no way to ask for none: the clocks of an
	// identity provider and of SCF instances differ by seconds.
	Leeway time.Duration
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

// Verifier checks tokens. It is immutable and safe for concurrent use.
type Verifier struct {
	parser   *jwt.Parser
	keys     map[string]any // algorithm -> []byte or jwt.VerificationKeySet
	algs     []string
	audience string
	issuer   string
	maxAge   time.Duration
	keyFunc  jwt.Keyfunc
}

// NewVerifier checks c and builds a Verifier. Its errors say which setting is
// wrong and why, and never quote the secret or key material.
func NewVerifier(c Config) (*Verifier, error) {
	hasKeys := strings.TrimSpace(c.PublicKeysPEM) != ""
	if len(c.Secret) == 0 && !hasKeys {
		return nil, errors.New("auth: neither a secret nor public keys configured")
	}
	if c.MaxAge < 0 {
		return nil, fmt.Errorf("auth: max age %s: want 0 (no cap) or more", c.MaxAge)
	}
	v := &Verifier{keys: map[string]any{}, audience: c.Audience, issuer: c.Issuer, maxAge: c.MaxAge}
	if len(c.Secret) > 0 {
		if err := v.addSecret(c.Secret, c.PublicKeysPEM); err != nil {
			return nil, err
		}
	}
	if hasKeys {
		if err := v.addPublicKeys(c.PublicKeysPEM); err != nil {
			return nil, err
		}
	}
	for alg := range v.keys {
		v.algs = append(v.algs, alg)
	}
	slices.Sort(v.algs)
	opts, err := parserOptions(c, v.algs)
	if err != nil {
		return nil, err
	}
	v.parser = jwt.NewParser(opts...)
	v.keyFunc = v.key
	return v, nil
}

// addSecret keys the HMAC algorithms with secret, unless it is unfit or
// the public keys setting itself.
func (v *Verifier) addSecret(secret []byte, publicKeysPEM string) error {
	if err := checkSecret(secret); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if strings.TrimSpace(publicKeysPEM) != "" && strings.TrimSpace(string(secret)) == strings.TrimSpace(publicKeysPEM) {
		return errors.New("auth: the secret is the public keys setting; anyone could sign with it")
	}
	secret = slices.Clone(secret)
	for _, alg := range hmacAlgs {
		v.keys[alg] = secret
	}
	return nil
}

// addPublicKeys keys each algorithm the PEM keys allow with the set of
// those keys.
func (v *Verifier) addPublicKeys(publicKeysPEM string) error {
	pks, err := parsePublicKeys(publicKeysPEM)
	if err != nil {
		return fmt.Errorf("auth: public keys: %w", err)
	}
	sets := map[string]*jwt.VerificationKeySet{}
	for _, pk := range pks {
		for _, alg := range pk.algs {
			if sets[alg] == nil {
				sets[alg] = &jwt.VerificationKeySet{}
			}
			sets[alg].Keys = append(sets[alg].Keys, pk.key)
		}
	}
	for alg, set := range sets {
		v.keys[alg] = *set
	}
	return nil
}

// parserOptions are the checks jwt makes for c: algs only, the leeway,
// the clock, and the audience and issuer when set.
func parserOptions(c Config, algs []string) ([]jwt.ParserOption, error) {
	leeway := c.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0 || leeway > maxLeeway:
		return nil, fmt.Errorf("auth: leeway %s, want 0 (default %s) to %s", leeway, DefaultLeeway, maxLeeway)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	return opts, nil
}

// Algorithms lists the algorithms v accepts, sorted, for a startup log line
// that explains an "algorithm not allowed".
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// Identity is what a verified token says about its holder: the Principal
// the router connects, and when the token expires.
type Identity struct {
	proto.Principal
	// Expires is the token's exp. The connection may outlive it: a token is
	// checked once, at connect time.
	Expires time.Time
}

// Reasons a token is refused: Error.Reason is always one of these.
const (
	reasonRequired      = "token required"
	reasonTooLarge      = "token too large"
	reasonMalformed     = "malformed token"
	reasonAlgorithm     = "algorithm not allowed"
	reasonSignature     = "bad signature"
	reasonClaims        = "invalid claims"
	reasonNoExp         = "missing exp"
	reasonExpired       = "token expired"
	reasonNotYet        = "token not yet valid"
	reasonAudience      = "wrong audience"
	reasonIssuer        = "wrong issuer"
	reasonNoSub         = "missing sub"
	reasonSub           = "invalid sub"
	reasonTooManyGroups = "too many groups"
	reasonGroup         = "invalid group name"
	reasonTooManyRoles  = "too many roles"
	reasonRole          = "invalid role"
	reasonNoIat         = "missing iat"
	reasonLifetime      = "token lifetime too long"
)

// Error is why a token was refused. Its text is Reason alone: short, fixed
// and safe to send to the client, since it never quotes the token, a key or
// a library's message. Unwrap gives the cause from below for errors.Is and
// debugging; its text may quote a claim's value, so it is not for clients.
type Error struct {
	Reason string
	cause  error
}

func (e *Error) Error() string { return e.Reason }

// Unwrap returns the cause, or nil.
func (e *Error) Unwrap() error { return e.cause }

func refuse(reason string, cause error) *Error { return &Error{Reason: reason, cause: cause} }

var (
	errAlgorithm = errors.New("algorithm has no configured key")
	errCrit      = errors.New("crit header: extensions are not supported")
)

// Verify checks token (the JWT, without "bearer.") and says whose it is. A
// refusal is an *Error.
func (v *Verifier) Verify(token string) (Identity, error) {
	switch {
	case token == "":
		return Identity{}, refuse(reasonRequired, nil)
	case len(token) > MaxTokenBytes:
		return Identity{}, refuse(reasonTooLarge, fmt.Errorf("%d bytes, at most %d", len(token), MaxTokenBytes))
	case !jwtChars(token):
		// Base64 decoding would skip line breaks; a token is one header
		// value and has none.
		return Identity{}, refuse(reasonMalformed, errors.New("characters other than base64url and dots"))
	}
	var c claims
	t, err := v.parser.ParseWithClaims(token, &c, v.keyFunc)
	if err != nil {
		return Identity{}, refuse(v.reason(t, &c, err), err)
	}
	if err := v.checkAge(&c); err != nil {
		return Identity{}, err
	}
	return c.identity()
}

// checkAge applies MaxAge to a verified token: its lifetime is exp - iat.
func (v *Verifier) checkAge(c *claims) error {
	switch {
	case v.maxAge <= 0:
		return nil
	case c.IssuedAt == nil:
		return refuse(reasonNoIat, errors.New("AUTH_MAX_TOKEN_AGE needs iat to know the lifetime"))
	case c.ExpiresAt != nil && c.ExpiresAt.Sub(c.IssuedAt.Time) > v.maxAge:
		return refuse(reasonLifetime, fmt.Errorf("lifetime %s, at most %s", c.ExpiresAt.Sub(c.IssuedAt.Time), v.maxAge))
	}
	return nil
}

// key gives the keys for the token's algorithm: only keys of the family the
// algorithm belongs to, so HMAC is never keyed with a public key.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 section 4.1.11: a recipient that does not understand
		// the listed extensions must reject the token.
		return nil, errCrit
	}
	k, ok := v.keys[t.Method.Alg()]
	if !ok {
		return nil, errAlgorithm
	}
	return k, nil
}

// reason maps a jwt error to its Reason. The claims are those decoded
// before validation failed, so a missing claim is told from a wrong one.
func (v *Verifier) reason(t *jwt.Token, c *claims, err error) string {
	var ce *claimError
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		if errors.As(err, &ce) {
			return reasonClaims
		}
		return reasonMalformed
	case errors.Is(err, errCrit):
		return reasonMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// Unverifiable: an unknown alg or none configured for it.
		// SignatureInvalid: also a known alg outside WithValidMethods.
		var alg string
		ok := t != nil
		if ok {
			alg, ok = t.Header["alg"].(string)
		}
		switch {
		case !ok:
			return reasonMalformed
		case v.keys[alg] == nil:
			return reasonAlgorithm
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return reasonSignature
		}
		return reasonMalformed
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		switch {
		case c.ExpiresAt == nil:
			return reasonNoExp
		case errors.Is(err, jwt.ErrTokenExpired):
			return reasonExpired
		case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return reasonNotYet
		case v.audience != "" && !slices.Contains(c.Audience, v.audience):
			return reasonAudience
		case v.issuer != "" && c.Issuer != v.issuer:
			return reasonIssuer
		}
	}
	return reasonClaims
}

// jwtChars reports whether s has only base64url characters and dots.
func jwtChars(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// claims is a token's payload. It decodes itself, member by member, rather
// than through encoding/json's struct matching, which would read "SUB" or
// "Sub" as sub (claim names are case-sensitive, RFC 7519 section 4) and
// would not say which claim had the wrong type.
type claims struct {
	jwt.RegisteredClaims
	Groups []string `json:"groups,omitempty"`
	Roles  []string `json:"roles,omitempty"`
}

// claimError is a claim of the wrong type.
type claimError struct {
	name string
	err  error
}

func (e *claimError) Error() string { return "claim " + e.name + ": " + e.err.Error() }
func (e *claimError) Unwrap() error { return e.err }

var errNotObject = errors.New("claims are not a JSON object")

// maxUnixSeconds is 9999-12-31T23:59:59Z, the latest date a claim may hold.
const maxUnixSeconds = 253402300799

// UnmarshalJSON implements json.Unmarshaler. It runs before the signature is
// checked, on anyone's input, and only decodes.
func (c *claims) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return errNotObject
	}
	dates := []struct {
		name string
		dst  **jwt.NumericDate
	}{{"exp", &c.ExpiresAt}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}}
	for _, d := range dates {
		raw, ok := m[d.name]
		if !ok || string(raw) == "null" {
			continue
		}
		// A JSON number (RFC 7519 section 2), not a number in a string as
		// jwt.NumericDate would take, and a time Go can represent on every
		// platform: converting 1e300 to int64 is implementation-defined.
		var secs float64
		if err := json.Unmarshal(raw, &secs); err != nil {
			return &claimError{d.name, err}
		}
		if secs < 0 || secs > maxUnixSeconds {
			return &claimError{d.name, errors.New("out of range")}
		}
		whole, frac := math.Modf(secs)
		*d.dst = jwt.NewNumericDate(time.Unix(int64(whole), int64(frac*1e9)))
	}
	fields := []struct {
		name string
		dst  any
	}{
		{"sub", &c.Subject}, {"iss", &c.Issuer}, {"aud", &c.Audience},
		{"groups", &c.Groups}, {"roles", &c.Roles},
	}
	for _, f := range fields {
		if raw, ok := m[f.name]; ok {
			if err := json.Unmarshal(raw, f.dst); err != nil {
				return &claimError{f.name, err}
			}
		}
	}
	return nil
}

// identity checks what jwt does not know about: sub and the lists.
func (c *claims) identity() (Identity, error) {
	if c.ExpiresAt == nil { // the parser requires it; this keeps a nil out of reach
		return Identity{}, refuse(reasonNoExp, nil)
	}
	if c.Subject == "" {
		return Identity{}, refuse(reasonNoSub, nil)
	}
	if !proto.ValidName(c.Subject) {
		return Identity{}, refuse(reasonSub, nil)
	}
	if reason, err := checkLists(c.Groups, c.Roles); err != nil {
		return Identity{}, refuse(reason, err)
	}
	return Identity{
		Principal: proto.Principal{UserID: c.Subject, Groups: sortedSet(c.Groups), Roles: sortedSet(c.Roles)},
		Expires:   c.ExpiresAt.Time,
	}, nil
}

// checkLists applies the limits on groups and roles; Sign uses it too, so
// it cannot mint what Verify refuses.
func checkLists(groups, roles []string) (reason string, err error) {
	if len(groups) > MaxGroups {
		return reasonTooManyGroups, fmt.Errorf("%d groups, at most %d", len(groups), MaxGroups)
	}
	if len(roles) > MaxRoles {
		return reasonTooManyRoles, fmt.Errorf("%d roles, at most %d", len(roles), MaxRoles)
	}
	for i, g := range groups {
		if !proto.ValidName(g) {
			return reasonGroup, fmt.Errorf("group %d: not 1-%d bytes of printable UTF-8", i+1, proto.MaxNameBytes)
		}
	}
	for i, r := range roles {
		if !proto.ValidRole(r) {
			return reasonRole, fmt.Errorf("role %d: not 1-%d bytes of printable UTF-8", i+1, proto.MaxRoleBytes)
		}
	}
	return "", nil
}

func sortedSet(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
