package cli

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/proto"
)

//go:embed help/token.txt
var tokenUsage string

// tokenCmd runs scfws token, which prints a scfws.v1 connect token signed
// with AUTH_SECRET: for local runs, and for backends that want one without a
// JWT library.
func tokenCmd(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	return runToken(args, os.LookupEnv, stdout, stderr)
}

// runToken is tokenCmd with the environment replaceable.
func runToken(args []string, lookup config.Lookup, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", tokenUsage, stderr)
	sub := fs.String("sub", "", "the user ID (required)")
	groups := fs.String("groups", "", "groups joined at connect, comma-separated")
	roles := fs.String("roles", "", "permissions, comma-separated")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	alg := fs.String("alg", "HS256", "HS256, HS384 or HS512")
	aud := fs.String("aud", "", "audience (AUTH_AUDIENCE, when the function checks one)")
	iss := fs.String("iss", "", "issuer (AUTH_ISSUER, when the function checks one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("token takes no arguments, got %q", fs.Args())}
	}
	if *sub == "" {
		return usageError{errors.New("-sub is required")}
	}
	for _, r := range list(*roles) {
		if !proto.ValidPermission(r) {
			return usageError{fmt.Errorf("-roles: %q is not a role", r)}
		}
	}
	if err := checkTTL(*ttl, lookup); err != nil {
		return err
	}
	secret, ok := lookup("AUTH_SECRET")
	if !ok || secret == "" {
		return errors.New("AUTH_SECRET is not set: the token is signed with the function's AUTH_SECRET (32 bytes or more)")
	}
	t, err := auth.Sign([]byte(secret), *alg, auth.Claims{Subject: *sub, Groups: list(*groups), Roles: list(*roles),
		TTL: *ttl, Audience: *aud, Issuer: *iss}, time.Now())
	if err != nil {
		return err // auth's messages never quote the secret
	}
	_, err = fmt.Fprintln(stdout, t)
	return err
}

// checkTTL refuses a lifetime over AUTH_MAX_TOKEN_AGE, when the
// environment has it: the function would refuse the token.
func checkTTL(ttl time.Duration, lookup config.Lookup) error {
	v, ok := lookup("AUTH_MAX_TOKEN_AGE")
	var most config.Duration
	if !ok || strings.TrimSpace(v) == "" || most.Decode(v) != nil || most.D() <= 0 || ttl <= most.D() {
		return nil
	}
	return usageError{fmt.Errorf("-ttl %s is over AUTH_MAX_TOKEN_AGE (%s): the function would refuse the token", ttl, most)}
}

// list splits a comma-separated flag, dropping blanks.
func list(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
