package cli

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	fs := newFlagSet("token", tokenUsage)
	sub := fs.String("sub", "", "the user ID (required)")
	groups := fs.String("groups", "", "groups joined at connect, comma-separated")
	roles := fs.String("roles", "", "permissions, comma-separated")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	alg := fs.String("alg", "HS256", "HS256, HS384 or HS512")
	aud := fs.String("aud", "", "audience (AUTH_AUDIENCE, when the function checks one)")
	iss := fs.String("iss", "", "issuer (AUTH_ISSUER, when the function checks one)")
	endpoint := fs.String("endpoint", "", "ask scfws local at this address (e.g. http://127.0.0.1:8080) to sign it with its session's AUTH_SECRET: -sub only")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("token takes no arguments, got %q", fs.Args())}
	}
	if *sub == "" {
		return usageError{errors.New("-sub is required")}
	}
	if *endpoint != "" {
		return tokenFromLocal(fs, *endpoint, *sub, stdout)
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
		return errors.New("AUTH_SECRET is not set: the token is signed with the function's AUTH_SECRET (32 bytes or more)\n" +
			"  what to do: set it to the function's; against scfws local, which makes its own, add -endpoint http://127.0.0.1:8080 (its address) instead")
	}
	t, err := auth.Sign([]byte(secret), *alg, auth.Claims{Subject: *sub, Groups: list(*groups), Roles: list(*roles),
		TTL: *ttl, Audience: *aud, Issuer: *iss}, time.Now())
	if err != nil {
		return err // auth's messages never quote the secret
	}
	_, err = fmt.Fprintln(stdout, t)
	return err
}

// tokenFromLocal prints a token scfws local signs with its session's
// AUTH_SECRET (GET /_scfws/token?sub=), which no one else knows. Local's
// tokens carry a name and the right to message users, nothing else.
func tokenFromLocal(fs *flag.FlagSet, endpoint, sub string, stdout io.Writer) error {
	var other string
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "sub" && f.Name != "endpoint" && other == "" {
			other = f.Name
		}
	})
	if other != "" {
		return usageError{fmt.Errorf("-%s with -endpoint: scfws local signs -sub only; for more, start it with your own AUTH_SECRET and sign with that, without -endpoint", other)}
	}
	if err := checkHTTPURL("-endpoint", endpoint, "http://127.0.0.1:8080"); err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	where := strings.TrimSuffix(endpoint, "/") + "/_scfws/token?sub=" + url.QueryEscape(sub)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return usageError{err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask scfws local for a token: %w\n  what to do: is scfws local running at %s? Its banner's first line gives the address", err, endpoint)
	}
	defer resp.Body.Close()
	var answer struct {
		Token  string `json:"token"`
		ErrMsg string `json:"errMsg"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&answer); err != nil || answer.Token == "" {
		return fmt.Errorf("%s answered HTTP %d %s, not a token\n  what to do: give -endpoint scfws local's address (it mints tokens only on this machine, "+
			"or with -public and the session's AUTH_SECRET)", endpoint, resp.StatusCode, answer.ErrMsg)
	}
	_, err = fmt.Fprintln(stdout, answer.Token)
	return err
}

// checkHTTPURL refuses an address without its scheme before anything else
// about it (its region, say) is worked out.
func checkHTTPURL(flag, s, example string) error {
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an http(s) URL: give the scheme too, e.g. %s", flag, s, example)
	}
	return nil
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
