//go:build !scfws_function

package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/scfws/scfws/local/cloudapi"
)

const (
	pubID     = "AKIDpublishTEST00000000000000000000"
	pubKey    = "publish-test-secret-key-0123456789"
	pubToken  = "publish-test-session-token-0123456789"
	pubSecret = "publish-route-secret-0123456789abcdef"
	okReply   = `{"errNo":0,"errMsg":"ok","recipients":2,"delivered":2,"pruned":0,"failed":0,"skipped":0,"swept":0,"elapsedMs":3}`
	okPrinted = "{\n  \"errNo\": 0,\n  \"errMsg\": \"ok\",\n  \"recipients\": 2,\n  \"delivered\": 2,\n  \"pruned\": 0,\n  \"failed\": 0,\n  \"skipped\": 0,\n  \"swept\": 0,\n  \"elapsedMs\": 3\n}\n"
)

// pubFunctions is the fake SCF behind the API: "chat" answers okReply,
// "refuse" errNo 109; others do not exist.
type pubFunctions struct {
	mu     sync.Mutex
	events []string
}

func (f *pubFunctions) Invoke(_ context.Context, namespace, name string, event []byte) ([]byte, error) {
	f.mu.Lock()
	f.events = append(f.events, namespace+"/"+name+" "+string(event))
	f.mu.Unlock()
	switch name {
	case "chat":
		return []byte(okReply), nil
	case "refuse":
		return []byte(`{"errNo":109,"errMsg":"bad argument: group"}`), nil
	}
	return nil, cloudapi.ErrFunctionNotFound
}

func (f *pubFunctions) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

// publishAPI runs the Cloud API server with fake functions and puts the
// key in the environment; it returns the endpoint.
func publishAPI(t *testing.T) (string, *pubFunctions) {
	t.Helper()
	fns := &pubFunctions{}
	srv := cloudapi.NewServer(cloudapi.Credential{SecretID: pubID, SecretKey: pubKey}, cloudapi.Credential{SecretID: "AKIDtemp", SecretKey: pubKey, Token: pubToken})
	s := cloudapi.NewSCF(fns)
	s.Register(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	t.Setenv(envSecretID, pubID)
	t.Setenv(envSecretKey, pubKey)
	t.Setenv(envSessionToken, "")
	t.Setenv(envRegion, "")
	return hs.URL, fns
}

func runPublish(args []string, stdin string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = publishCmd(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestPublishThroughSCF(t *testing.T) {
	tests := []struct {
		name  string
		give  []string
		stdin string
		env   map[string]string
		bare  bool   // no -region: an API on this machine needs none
		want  string // the event the function got
	}{
		{name: "all", give: []string{"-all", "maintenance at 5"},
			want: `default/chat {"scfws":{"op":"sendToAll","dataType":"text","data":"maintenance at 5"}}`},
		{name: "group json", give: []string{"-group", "lobby", "-type", "json", `{"score": 3}`},
			want: `default/chat {"scfws":{"op":"sendToGroup","group":"lobby","dataType":"json","data":{"score":3}}}`},
		{name: "user", give: []string{"-user", "bob", "your order shipped"},
			want: `default/chat {"scfws":{"op":"sendToUser","userId":"bob","dataType":"text","data":"your order shipped"}}`},
		{name: "binary from stdin", give: []string{"-connection", "c1", "-type", "binary", "-"}, stdin: "\x00\x01\x02",
			want: `default/chat {"scfws":{"op":"sendToConnection","connectionId":"c1","dataType":"binary","data":"AAEC"}}`},
		{name: "text from stdin", give: []string{"-all", "-"}, stdin: "line one\nline two\n",
			want: `default/chat {"scfws":{"op":"sendToAll","dataType":"text","data":"line one\nline two\n"}}`},
		{name: "close connection", give: []string{"-connection", "c1", "-close", "-reason", "banned"},
			want: `default/chat {"scfws":{"op":"closeConnection","connectionId":"c1","reason":"banned"}}`},
		{name: "close user", give: []string{"-user", "bob", "-close"},
			want: `default/chat {"scfws":{"op":"closeUser","userId":"bob"}}`},
		{name: "add a user to a group", give: []string{"-user", "bob", "-add-to-group", "vip"},
			want: `default/chat {"scfws":{"op":"addToGroup","userId":"bob","group":"vip"}}`},
		{name: "remove a connection from a group", give: []string{"-connection", "c1", "-remove-from-group", "vip"},
			want: `default/chat {"scfws":{"op":"removeFromGroup","connectionId":"c1","group":"vip"}}`},
		{name: "list a group", give: []string{"-group", "lobby", "-list"},
			want: `default/chat {"scfws":{"op":"listGroup","group":"lobby"}}`},
		{name: "list a user", give: []string{"-user", "bob", "-list"},
			want: `default/chat {"scfws":{"op":"listUser","userId":"bob"}}`},
		{name: "a group's history", give: []string{"-group", "lobby", "-history"},
			want: `default/chat {"scfws":{"op":"history","group":"lobby"}}`},
		{name: "a user's history, paged", give: []string{"-user", "bob", "-history", "-limit", "20", "-before", "41"},
			want: `default/chat {"scfws":{"op":"history","userId":"bob","limit":20,"before":41}}`},
		{name: "no region for a local API", give: []string{"-all", "hi"}, bare: true,
			want: `default/chat {"scfws":{"op":"sendToAll","dataType":"text","data":"hi"}}`},
		{name: "namespace", give: []string{"-namespace", "prod", "-all", "hi"},
			want: `prod/chat {"scfws":{"op":"sendToAll","dataType":"text","data":"hi"}}`},
		{name: "region and token from the environment", give: []string{"-all", "hi"},
			env:  map[string]string{envRegion: "ap-shanghai", envSecretID: "AKIDtemp", envSessionToken: pubToken},
			want: `default/chat {"scfws":{"op":"sendToAll","dataType":"text","data":"hi"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint, fns := publishAPI(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := []string{"-function", "chat", "-endpoint", endpoint}
			if tt.env[envRegion] == "" && !tt.bare {
				args = append(args, "-region", "ap-guangzhou")
			}
			stdout, stderr, err := runPublish(append(args, tt.give...), tt.stdin)
			if err != nil {
				t.Fatalf("publish = %v (stderr %q)", err, stderr)
			}
			if stdout != okPrinted {
				t.Errorf("stdout = %q; want %q", stdout, okPrinted)
			}
			if got := fns.Events(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("the function got %q; want [%q]", got, tt.want)
			}
		})
	}
}

func TestPublishErrNoExitsOne(t *testing.T) {
	endpoint, _ := publishAPI(t)
	stdout, _, err := runPublish([]string{"-function", "refuse", "-endpoint", endpoint, "-region", "ap-guangzhou", "-group", "x", "hi"}, "")
	var x exitError
	if !errors.As(err, &x) || x.code != 1 || !strings.Contains(x.msg, "errNo 109") {
		t.Errorf("publish = %v; want exit status 1 naming errNo 109", err)
	}
	if want := "{\n  \"errNo\": 109,\n  \"errMsg\": \"bad argument: group\"\n}\n"; stdout != want {
		t.Errorf("stdout = %q; want the reply %q", stdout, want)
	}
}

func TestPublishNoReply(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		fn   string
		want string
	}{
		{name: "wrong key", env: map[string]string{envSecretKey: "wrong-key-wrong-key"}, fn: "chat", want: "AuthFailure.SignatureFailure"},
		{name: "wrong token", env: map[string]string{envSecretID: "AKIDtemp", envSessionToken: "forged-token"}, fn: "chat", want: "AuthFailure.TokenFailure"},
		{name: "no such function", fn: "nope", want: "ResourceNotFound.Function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint, _ := publishAPI(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			stdout, stderr, err := runPublish([]string{"-function", tt.fn, "-endpoint", endpoint, "-region", "ap-guangzhou", "-all", "hi"}, "")
			var u usageError
			var x exitError
			if err == nil || errors.As(err, &u) || errors.As(err, &x) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("publish = %v; want a plain error (exit 1) with %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q; want nothing", stdout)
			}
			for _, secret := range []string{pubKey, pubToken, "wrong-key-wrong-key", "forged-token"} {
				if strings.Contains(fmt.Sprint(err)+stderr, secret) {
					t.Errorf("output %q reveals a secret", fmt.Sprint(err)+stderr)
				}
			}
		})
	}
}

func TestPublishThroughRoute(t *testing.T) {
	var got []string
	route := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(pubSecret))
		m.Write([]byte(r.Header.Get("X-Scfws-Timestamp") + "\n"))
		m.Write(body)
		if r.Header.Get("X-Scfws-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errNo":401,"errMsg":"bad signature"}`)
			return
		}
		got = append(got, string(body))
		fmt.Fprint(w, okReply)
	}))
	defer route.Close()

	t.Run("PUBLISH_SECRET", func(t *testing.T) {
		got = nil
		t.Setenv(envPublishSecret, pubSecret)
		stdout, _, err := runPublish([]string{"-url", route.URL, "-group", "lobby", "hi"}, "")
		if err != nil || stdout != okPrinted {
			t.Fatalf("publish = %q, %v", stdout, err)
		}
		// The client's random nonce makes each body, so each signature, new.
		nonce := regexp.MustCompile(`^\{"nonce":"[0-9a-f]{24}",`)
		if want := `{"scfws":{"op":"sendToGroup","group":"lobby","dataType":"text","data":"hi"}}`; len(got) != 1 || nonce.ReplaceAllString(got[0], "{") != want {
			t.Errorf("the route got %q; want [%q] with a nonce", got, want)
		}
	})
	t.Run("-secret-env", func(t *testing.T) {
		t.Setenv(envPublishSecret, "")
		t.Setenv("MY_ROUTE_SECRET", pubSecret)
		if _, _, err := runPublish([]string{"-url", route.URL, "-secret-env", "MY_ROUTE_SECRET", "-all", "hi"}, ""); err != nil {
			t.Fatalf("publish = %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		t.Setenv(envPublishSecret, "not-the-secret-not-the-secret-not")
		_, _, err := runPublish([]string{"-url", route.URL, "-all", "hi"}, "")
		if err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("publish = %v; want HTTP 401 without the secret", err)
		}
	})
}

func TestPublishUsage(t *testing.T) {
	base := []string{"-function", "chat", "-region", "ap-guangzhou"}
	with := func(more ...string) []string { return append(append([]string(nil), base...), more...) }
	tests := []struct {
		name  string
		give  []string
		env   map[string]string
		stdin string
		want  string
	}{
		{name: "neither -function nor -url", give: []string{"-all", "hi"}, want: "-function NAME or -url URL"},
		{name: "both", give: with("-url", "http://x", "-all", "hi"), want: "-function and -url: one or the other, not both"},
		{name: "no target", give: with("hi"), want: "one target"},
		{name: "two targets", give: with("-all", "-user", "bob", "hi"), want: "one target"},
		{name: "no DATA", give: with("-all"), want: "one DATA"},
		{name: "two DATA", give: with("-all", "a", "b"), want: "one DATA"},
		{name: "close all", give: with("-all", "-close"), want: "-close closes"},
		{name: "close group", give: with("-group", "g", "-close"), want: "-close closes"},
		{name: "close with DATA", give: with("-user", "bob", "-close", "bye"), want: "no DATA"},
		{name: "close with -type", give: with("-user", "bob", "-close", "-type", "json"), want: "drop -type"},
		{name: "reason without close", give: with("-connection", "c", "-reason", "r", "hi"), want: "-reason goes with"},
		{name: "reason closing a user", give: with("-user", "u", "-close", "-reason", "r"), want: "-reason goes with"},
		{name: "close and list", give: with("-user", "u", "-close", "-list"), want: "one at a time"},
		{name: "add and remove", give: with("-user", "u", "-add-to-group", "a", "-remove-from-group", "b"), want: "one at a time"},
		{name: "add a group to a group", give: with("-group", "g", "-add-to-group", "vip"), want: "a -user or a -connection"},
		{name: "remove everyone", give: with("-all", "-remove-from-group", "vip"), want: "a -user or a -connection"},
		{name: "add to no group", give: with("-user", "u", "-add-to-group", ""), want: "wants a group name"},
		{name: "add with DATA", give: with("-user", "u", "-add-to-group", "vip", "hi"), want: "no DATA"},
		{name: "list with -type", give: with("-group", "g", "-list", "-type", "json"), want: "drop -type"},
		{name: "list a connection", give: with("-connection", "c", "-list"), want: "-list lists"},
		{name: "list everyone", give: with("-all", "-list"), want: "-list lists"},
		{name: "history of a connection", give: with("-connection", "c", "-history"), want: "-history prints"},
		{name: "history and list", give: with("-group", "g", "-history", "-list"), want: "one at a time"},
		{name: "history with DATA", give: with("-group", "g", "-history", "hi"), want: "takes no DATA"},
		{name: "limit without history", give: with("-group", "g", "-limit", "5", "hi"), want: "-limit and -before go with -history"},
		{name: "negative limit", give: with("-group", "g", "-history", "-limit", "-5"), want: "-limit must be positive"},
		{name: "reason with a group change", give: with("-connection", "c", "-add-to-group", "g", "-reason", "r"), want: "-reason goes with"},
		{name: "no region for a remote API", give: []string{"-function", "chat", "-endpoint", "https://scf.internal.tencentcloudapi.com", "-all", "hi"}, want: envRegion},
		{name: "bad type", give: with("-all", "-type", "xml", "<a/>"), want: "text, json or binary"},
		{name: "not JSON", give: with("-all", "-type", "json", "{nope"), want: "not JSON"},
		{name: "not UTF-8", give: with("-all", "-"), stdin: "\xff\xfe", want: "-type binary"},
		{name: "stdin over 6 MB", give: with("-all", "-type", "binary", "-"), stdin: strings.Repeat("x", 6<<20+1), want: "over"},
		{name: "-namespace with -url", give: []string{"-url", "http://x", "-namespace", "n", "-all", "hi"}, want: "goes with -function"},
		{name: "-secret-env with -function", give: with("-secret-env", "X", "-all", "hi"), want: "goes with -url"},
		{name: "no key", give: with("-all", "hi"), env: map[string]string{envSecretKey: ""}, want: envSecretKey},
		{name: "no region", give: []string{"-function", "chat", "-all", "hi"}, want: envRegion},
		{name: "bad endpoint", give: with("-endpoint", "127.0.0.1:8080", "-all", "hi"), want: "not an http(s) URL"},
		{name: "no scheme, no region", give: []string{"-function", "chat", "-endpoint", "127.0.0.1:8096", "-all", "hi"}, want: `-endpoint "127.0.0.1:8096" is not an http(s) URL`},
		{name: "-url with no scheme", give: []string{"-url", "127.0.0.1:8096/_scfws/http/publish", "-all", "hi"}, want: "-url \"127.0.0.1:8096/_scfws/http/publish\" is not an http(s) URL"},
		{name: "short route secret", give: []string{"-url", "http://127.0.0.1:1/", "-all", "hi"}, env: map[string]string{envPublishSecret: "short"},
			want: "PUBLISH_SECRET is 5 bytes; the function refuses one under 32"},
		{name: "no route secret", give: []string{"-url", "http://127.0.0.1:1/", "-all", "hi"}, env: map[string]string{envPublishSecret: ""}, want: "PUBLISH_SECRET is not set"},
		{name: "bad -secret-env", give: []string{"-url", "http://127.0.0.1:1/", "-secret-env", "A=B", "-all", "hi"}, want: "not an environment variable name"},
		{name: "bad timeout", give: with("-timeout", "0s", "-all", "hi"), want: "-timeout"},
		{name: "unknown flag", give: with("-everyone", "hi"), want: "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envSecretID, pubID)
			t.Setenv(envSecretKey, pubKey)
			t.Setenv(envRegion, "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, _, err := runPublish(tt.give, tt.stdin)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("publish(%q) = %v; want a usage error with %q", tt.give, err, tt.want)
			}
		})
	}
}

func TestPublishHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run([]string{"publish", "-h"}, strings.NewReader(""), &stdout, &stderr)
	if err != nil || !strings.Contains(stdout.String(), "Usage:\n  scfws publish -function NAME") || !strings.Contains(stdout.String(), "-secret-env") {
		t.Errorf("publish -h = %v, stdout %q; want the usage", err, stdout.String())
	}
}
