package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scfws/scfws/proto"
)

// Claims is what Sign puts in a token.
type Claims struct {
	Subject       string        // sub: the user ID, a valid name
	Groups, Roles []string      // joined at connect; permissions
	TTL           time.Duration // from iat to exp, at least 1s
	Audience      string        // aud, when not empty
	Issuer        string        // iss, when not empty
}

var hmacMethods = map[string]jwt.SigningMethod{
	"HS256": jwt.SigningMethodHS256,
	"HS384": jwt.SigningMethodHS384,
	"HS512": jwt.SigningMethodHS512,
}

// Sign mints an HMAC token for c, issued at now and expiring TTL later, for
// `scfws token` and tests; identity providers mint the RS/ES ones. alg is
// HS256 (the default, for ""), HS384 or HS512. It refuses what Verify would
// refuse: a weak secret, a bad subject, too many or bad groups and roles, a
// token over MaxTokenBytes.
func Sign(secret []byte, alg string, c Claims, now time.Time) (string, error) {
	if alg == "" {
		alg = "HS256"
	}
	method, ok := hmacMethods[alg]
	if !ok {
		return "", fmt.Errorf("auth: sign: algorithm %q, want HS256, HS384 or HS512", alg)
	}
	if err := checkSecret(secret); err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	if !proto.ValidName(c.Subject) {
		return "", fmt.Errorf("auth: sign: subject must be 1-%d bytes of printable UTF-8", proto.MaxNameBytes)
	}
	if c.TTL < time.Second {
		return "", errors.New("auth: sign: TTL must be at least 1s")
	}
	if _, err := checkLists(c.Groups, c.Roles); err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	cl := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			Issuer:    c.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
		},
		Groups: c.Groups,
		Roles:  c.Roles,
	}
	if c.Audience != "" {
		cl.Audience = jwt.ClaimStrings{c.Audience}
	}
	token, err := jwt.NewWithClaims(method, cl).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	if len(token) > MaxTokenBytes {
		return "", fmt.Errorf("auth: sign: token of %d bytes, at most %d: fewer or shorter groups and roles",
			len(token), MaxTokenBytes)
	}
	return token, nil
}
