package client_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfws/scfws/client"
)

const routeSecret = "test-publish-secret-0123456789"

func TestSignVector(t *testing.T) {
	// Computed independently:
	// printf '%s\n%s' 1700000000 "$body" | openssl dgst -sha256 -hmac "$secret"
	body := `{"scfws":{"op":"sendToAll","dataType":"text","data":"maintenance at 5"}}`
	want := "sha256=c1a62d7a068cd7cb7b0a112abebeaa852e09e9acefef283e2af2e8a80b6be39e"
	if got := client.Sign([]byte(routeSecret), 1700000000, []byte(body)); got != want {
		t.Errorf("Sign = %s; want %s", got, want)
	}
}

// route is a stand-in for the function's signed HTTP route: it checks the
// signature as the function does and answers status and body.
type route struct {
	status int
	body   string
	block  bool // answer only when the client gives up
	got    *http.Request
	gotErr error
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.got = r.Clone(context.Background())
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-Scfws-Timestamp")
	m := hmac.New(sha256.New, []byte(routeSecret))
	m.Write([]byte(ts + "\n"))
	m.Write(body)
	unix, _ := strconv.ParseInt(ts, 10, 64)
	switch {
	case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json":
		rt.gotErr = fmt.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	case r.Header.Get("X-Scfws-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)):
		rt.gotErr = errors.New("bad signature")
	case time.Since(time.Unix(unix, 0)).Abs() > time.Minute:
		rt.gotErr = fmt.Errorf("timestamp %s is not now", ts)
	}
	if rt.block {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(rt.status)
	_, _ = io.WriteString(w, rt.body)
}

func newRoute(t testing.TB, rt *route) *client.HTTP {
	t.Helper()
	srv := httptest.NewServer(rt)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	h, err := client.NewHTTP(client.HTTPConfig{URL: srv.URL + "/release/scfws", Secret: []byte(routeSecret), Client: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHTTPTransport(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantReply string // "" when an error is wanted
		wantErr   string
		wantHTTP  *client.HTTPError
		wantErrNo int
	}{
		{name: "ok", status: 200, body: okSend, wantReply: okSend},
		{name: "400 with a reply is the function's refusal", status: 400, body: `{"errNo":109,"errMsg":"bad argument: group"}`, wantErrNo: 109},
		{name: "200 with errNo", status: 200, body: `{"errNo":104,"errMsg":"unknown op"}`, wantErrNo: 104},
		{name: "500 with a reply is the function failing", status: 500, body: `{"errNo":502,"errMsg":"registry unavailable"}`, wantErrNo: 502},
		{name: "401", status: 401, body: `{"errNo":401,"errMsg":"bad signature"}`,
			wantHTTP: &client.HTTPError{StatusCode: 401, ErrNo: 401, Msg: "bad signature"}},
		{name: "403", status: 403, body: `{"errNo":401,"errMsg":"the signed route is off: PUBLISH_SECRET is not set"}`,
			wantHTTP: &client.HTTPError{StatusCode: 403, ErrNo: 401, Msg: "the signed route is off: PUBLISH_SECRET is not set"}},
		{name: "500 without a reply", status: 500, body: `{"message":"internal error"}`,
			wantHTTP: &client.HTTPError{StatusCode: 500, Msg: `{"message":"internal error"}`}},
		{name: "400 without a reply", status: 400, body: `{"message":"bad request"}`,
			wantHTTP: &client.HTTPError{StatusCode: 400, Msg: `{"message":"bad request"}`}},
		{name: "gateway 502, cut on a character", status: 502, body: "x" + strings.Repeat("é", 300),
			wantHTTP: &client.HTTPError{StatusCode: 502, Msg: "x" + strings.Repeat("é", 99) + "…"}},
		{name: "200 that is not a reply", status: 200, body: "<html>", wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &route{status: tt.status, body: tt.body}
			c := client.New(newRoute(t, rt))
			raw, err := c.Do(context.Background(), client.Command{Op: client.OpSendToAll, DataType: "text", Data: []byte(`"hi"`)})
			if rt.gotErr != nil {
				t.Fatalf("the route refused the request: %v", rt.gotErr)
			}
			if rt.got.URL.Path != "/release/scfws" {
				t.Errorf("path = %s", rt.got.URL.Path)
			}
			switch {
			case tt.wantReply != "":
				if err != nil || string(raw) != tt.wantReply {
					t.Errorf("Do = %s, %v; want %s", raw, err, tt.wantReply)
				}
			case tt.wantErrNo != 0:
				var e *client.Error
				if !errors.As(err, &e) || e.ErrNo != tt.wantErrNo {
					t.Errorf("Do = %v; want *Error with errNo %d", err, tt.wantErrNo)
				}
			case tt.wantHTTP != nil:
				var te *client.TransportError
				var he *client.HTTPError
				if !errors.As(err, &te) || !errors.As(err, &he) || *he != *tt.wantHTTP {
					t.Errorf("Do = %v; want a TransportError with %+v", err, tt.wantHTTP)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Do = %v; want an error with %q", err, tt.wantErr)
				}
			}
			if err != nil && strings.Contains(err.Error(), routeSecret) {
				t.Errorf("error %q reveals the secret", err)
			}
		})
	}
}

func TestHTTPDeadlineReachesTheCall(t *testing.T) {
	rt := &route{block: true}
	c := client.New(newRoute(t, rt))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.SendToAll(ctx, client.Text("hi"))
	var te *client.TransportError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &te) {
		t.Errorf("SendToAll = %v; want a TransportError from the deadline", err)
	}
}

func TestHTTPReplyIsBounded(t *testing.T) {
	rt := &route{status: 200, body: `{"errNo":0,"errMsg":"` + strings.Repeat("x", client.MaxReplyBytes) + `"}`}
	_, err := client.New(newRoute(t, rt)).SendToAll(context.Background(), client.Text("hi"))
	if err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("SendToAll with a huge reply = %v; want refused", err)
	}
}

func TestNewHTTPChecks(t *testing.T) {
	tests := []struct {
		give client.HTTPConfig
		want string
	}{
		{client.HTTPConfig{URL: "ftp://x", Secret: []byte("s")}, "not an http(s) URL"},
		{client.HTTPConfig{URL: "http://", Secret: []byte("s")}, "not an http(s) URL"},
		{client.HTTPConfig{URL: "http://x/route"}, "secret is empty"},
	}
	for _, tt := range tests {
		if _, err := client.NewHTTP(tt.give); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewHTTP(%v) = %v; want an error with %q", tt.give, err, tt.want)
		}
	}
}

func TestConfigsNeverPrintSecrets(t *testing.T) {
	h := client.HTTPConfig{URL: "https://user:pw@example.com/route", Secret: []byte(routeSecret)}
	s := client.SCFConfig{SecretID: "AKIDx", SecretKey: "the-secret-key", Token: "the-token", Region: "ap-guangzhou", Function: "chat"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{h, s, &h, &s} {
			got := fmt.Sprintf(format, v)
			for _, secret := range []string{routeSecret, "pw", "the-secret-key", "the-token"} {
				if strings.Contains(got, secret) {
					t.Errorf("Sprintf(%q, %T) = %q reveals %q", format, v, got, secret)
				}
			}
		}
	}
}

// The route runs each signature once: the same command sent twice in the
// same second gets a different body each time, a random top-level nonce
// the function ignores, the command itself unchanged.
func TestHTTPSameCommandTwiceSignsApart(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
		_, _ = io.WriteString(w, `{"errNo":0,"errMsg":"ok"}`)
	}))
	defer srv.Close()
	second := time.Now()
	h, err := client.NewHTTP(client.HTTPConfig{URL: srv.URL, Secret: []byte(routeSecret), Now: func() time.Time { return second }})
	if err != nil {
		t.Fatal(err)
	}
	command := `{"scfws":{"op":"sendToAll","data":"tick"}}`
	for range 2 {
		if _, err := h.Invoke(context.Background(), []byte(command)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || bodies[0] == bodies[1] {
		t.Fatalf("bodies %q; want two that differ", bodies)
	}
	for _, b := range bodies {
		var got struct {
			Nonce string          `json:"nonce"`
			Scfws json.RawMessage `json:"scfws"`
		}
		if err := json.Unmarshal([]byte(b), &got); err != nil || len(got.Nonce) != 24 || string(got.Scfws) != `{"op":"sendToAll","data":"tick"}` {
			t.Errorf("body %s; want the command with a 24-hex-digit nonce (%v)", b, err)
		}
	}
	// Not an object with members: sent as it is.
	for _, give := range []string{"{}", " { } ", "[1]", ""} {
		bodies = nil
		mu.Unlock()
		_, _ = h.Invoke(context.Background(), []byte(give))
		mu.Lock()
		if len(bodies) != 1 || bodies[0] != give {
			t.Errorf("Invoke(%q) sent %q; want it unchanged", give, bodies)
		}
	}
}
