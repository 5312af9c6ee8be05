package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfws/scfws/client"
	"github.com/scfws/scfws/local/cloudapi"
)

const (
	scfID    = "AKIDclientTEST000000000000000000000"
	scfKey   = "client-test-secret-key-0123456789"
	scfToken = "client-test-session-token-0123456789"
)

// functions is a fake SCF: "chat" answers the canned reply for the op it
// was sent, "broken" fails, "text" answers something that is not JSON,
// "hang" waits for its context, "fan" is fan when set; other names do not
// exist.
type functions struct {
	mu     sync.Mutex
	events []string
	fan    *fanFunction // "fan", when set
}

var canned = map[string]string{
	"sendToGroup": `{"errNo":0,"errMsg":"ok","recipients":2,"delivered":2,"pruned":0,"failed":0,"skipped":0,"elapsedMs":7}`,
	"listUser":    `{"errNo":0,"errMsg":"ok","userId":"bob","connections":["id1","id2"]}`,
	"closeUser":   `{"errNo":109,"errMsg":"bad argument: userId"}`,
}

func (f *functions) Invoke(ctx context.Context, namespace, name string, event []byte) ([]byte, error) {
	f.mu.Lock()
	f.events = append(f.events, namespace+"/"+name+" "+string(event))
	f.mu.Unlock()
	switch name {
	case "chat":
		for op, reply := range canned {
			if strings.Contains(string(event), `"op":"`+op+`"`) {
				return []byte(reply), nil
			}
		}
		return []byte(`{"errNo":108,"errMsg":"unknown op"}`), nil
	case "broken":
		return nil, errors.New("panic: nil map")
	case "text":
		return []byte("hello"), nil
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "fan":
		if f.fan != nil {
			return f.fan.Invoke(ctx, namespace, name, event)
		}
	}
	return nil, cloudapi.ErrFunctionNotFound
}

func (f *functions) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

type cloud struct {
	url string
	srv *cloudapi.Server
	fns *functions
	tr  *http.Transport
}

// newCloud runs tcloud's API server, as scfws local does, with fake
// functions behind it.
func newCloud(t testing.TB) *cloud {
	t.Helper()
	c := &cloud{
		srv: cloudapi.NewServer(cloudapi.Credential{SecretID: scfID, SecretKey: scfKey}, cloudapi.Credential{SecretID: "AKIDtemp", SecretKey: scfKey, Token: scfToken}),
		fns: &functions{},
		tr:  &http.Transport{},
	}
	s := cloudapi.NewSCF(c.fns)
	s.Register(c.srv)
	hs := httptest.NewServer(c.srv)
	c.url = hs.URL
	t.Cleanup(func() {
		c.tr.CloseIdleConnections()
		hs.Close()
		s.Close()
	})
	return c
}

func (c *cloud) client(t testing.TB, edit func(*client.SCFConfig)) *client.Client {
	t.Helper()
	cfg := client.SCFConfig{SecretID: scfID, SecretKey: scfKey, Region: "ap-guangzhou", Function: "chat", Endpoint: c.url, HTTPTransport: c.tr}
	if edit != nil {
		edit(&cfg)
	}
	tr, err := client.NewSCF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client.New(tr)
}

func TestSCFEndToEnd(t *testing.T) {
	c := newCloud(t)
	cl := c.client(t, nil)
	ctx := context.Background()

	res, err := cl.SendToGroup(ctx, "lobby", client.JSON(map[string]int{"score": 3}))
	if want := (client.SendResult{Recipients: 2, Delivered: 2, Elapsed: 7 * time.Millisecond}); err != nil || res != want {
		t.Errorf("SendToGroup = %+v, %v; want %+v", res, err, want)
	}
	u, err := cl.ListUser(ctx, "bob")
	if err != nil || fmt.Sprint(u.Connections) != "[id1 id2]" {
		t.Errorf("ListUser = %+v, %v", u, err)
	}
	_, err = cl.CloseUser(ctx, "bob")
	var e *client.Error
	if !errors.As(err, &e) || e.ErrNo != 109 {
		t.Errorf("CloseUser = %v; want errNo 109", err)
	}
	want := []string{
		`default/chat {"scfws":{"op":"sendToGroup","group":"lobby","dataType":"json","data":{"score":3}}}`,
		`default/chat {"scfws":{"op":"listUser","userId":"bob"}}`,
		`default/chat {"scfws":{"op":"closeUser","userId":"bob"}}`,
	}
	if got := c.fns.Events(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the function got\n%q\nwant\n%q", got, want)
	}
}

func TestSCFNamespaceAndToken(t *testing.T) {
	c := newCloud(t)
	cl := c.client(t, func(cfg *client.SCFConfig) {
		cfg.SecretID, cfg.Token = "AKIDtemp", scfToken
		cfg.Namespace, cfg.Qualifier = "prod", "$LATEST"
	})
	if _, err := cl.ListUser(context.Background(), "bob"); err != nil {
		t.Fatalf("ListUser = %v", err)
	}
	if got := c.fns.Events(); len(got) != 1 || !strings.HasPrefix(got[0], "prod/chat ") {
		t.Errorf("events = %q; want one to prod/chat", got)
	}
}

func TestSCFErrors(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*client.SCFConfig)
		setup     func(*cloud)
		wantCloud string // CloudError code
		wantFunc  int64  // FunctionError status
		wantErr   string // otherwise: text in the error
	}{
		{name: "wrong key", edit: func(c *client.SCFConfig) { c.SecretKey = "wrong-key-wrong-key" }, wantCloud: "AuthFailure.SignatureFailure"},
		{name: "unknown key", edit: func(c *client.SCFConfig) { c.SecretID = "AKIDnobody" }, wantCloud: "AuthFailure.SecretIdNotFound"},
		{name: "temporary key without token", edit: func(c *client.SCFConfig) { c.SecretID = "AKIDtemp" }, wantCloud: "AuthFailure.TokenFailure"},
		{name: "no such function", edit: func(c *client.SCFConfig) { c.Function = "nope" }, wantCloud: "ResourceNotFound.Function"},
		{name: "not allowed", setup: func(c *cloud) { c.srv.FailAction("scf", "Invoke", "AuthFailure.UnauthorizedOperation") },
			wantCloud: "AuthFailure.UnauthorizedOperation"},
		{name: "the function fails", edit: func(c *client.SCFConfig) { c.Function = "broken" }, wantFunc: 430},
		{name: "the function answers text", edit: func(c *client.SCFConfig) { c.Function = "text" }, wantErr: "not a JSON object"},
		{name: "API unreachable", edit: func(c *client.SCFConfig) { c.Endpoint = "http://127.0.0.1:1" }, wantErr: "ClientError.NetworkError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCloud(t)
			if tt.setup != nil {
				tt.setup(c)
			}
			_, err := c.client(t, tt.edit).SendToAll(context.Background(), client.Text("hi"))
			if err == nil {
				t.Fatal("SendToAll = nil; want an error")
			}
			if strings.Contains(err.Error(), scfKey) || strings.Contains(err.Error(), scfToken) {
				t.Errorf("error %q reveals a secret", err)
			}
			var ce *client.CloudError
			var fe *client.FunctionError
			var te *client.TransportError
			switch {
			case tt.wantCloud != "":
				if !errors.As(err, &ce) || ce.Code != tt.wantCloud || ce.RequestID == "" || !errors.As(err, &te) {
					t.Errorf("err = %v; want a TransportError with CloudError %s", err, tt.wantCloud)
				}
			case tt.wantFunc != 0:
				if !errors.As(err, &fe) || fe.Status != tt.wantFunc || fe.RequestID == "" || !strings.Contains(fe.Message, "panic: nil map") {
					t.Errorf("err = %v; want a FunctionError with status %d", err, tt.wantFunc)
				}
			default:
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v; want one with %q", err, tt.wantErr)
				}
			}
		})
	}
}

func TestSCFDeadlineReachesTheCall(t *testing.T) {
	c := newCloud(t)
	cl := c.client(t, func(cfg *client.SCFConfig) { cfg.Function = "hang" })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := cl.SendToAll(ctx, client.Text("hi"))
	var te *client.TransportError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &te) {
		t.Errorf("SendToAll = %v; want a TransportError from the deadline", err)
	}
}

func TestSCFTimeoutWithoutDeadline(t *testing.T) {
	c := newCloud(t)
	cl := c.client(t, func(cfg *client.SCFConfig) { cfg.Function, cfg.Timeout = "hang", 50*time.Millisecond })
	if _, err := cl.SendToAll(context.Background(), client.Text("hi")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SendToAll = %v; want the configured timeout", err)
	}
}

func TestNewSCFChecks(t *testing.T) {
	ok := client.SCFConfig{SecretID: "id", SecretKey: "key", Region: "ap-guangzhou", Function: "f"}
	tests := []struct {
		name string
		edit func(*client.SCFConfig)
		want string
	}{
		{"no key", func(c *client.SCFConfig) { c.SecretKey = "" }, "SecretKey"},
		{"no region", func(c *client.SCFConfig) { c.Region = "" }, "Region"},
		{"no function", func(c *client.SCFConfig) { c.Function = "" }, "Function"},
		{"endpoint not a URL", func(c *client.SCFConfig) { c.Endpoint = "127.0.0.1:8080" }, "not an http(s) URL"},
		{"endpoint with a path", func(c *client.SCFConfig) { c.Endpoint = "http://127.0.0.1:8080/api" }, "scheme://host[:port] only"},
		{"endpoint with a password", func(c *client.SCFConfig) { c.Endpoint = "http://u:secretpw@127.0.0.1:8080" }, "scheme://host[:port] only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := client.NewSCF(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secretpw") {
				t.Errorf("NewSCF = %v; want an error with %q and no password", err, tt.want)
			}
		})
	}
}

// InvokeResult is "no longer maintained" (the current SDK's Result): an
// answer with one but no ErrMsg is the function's reply.
func TestSCFIgnoresInvokeResult(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"Response":{"Result":{"RetMsg":"{\"errNo\":0,\"errMsg\":\"ok\"}","ErrMsg":"","InvokeResult":1,"FunctionRequestId":"f-1"},"RequestId":"r-1"}}`)
	}))
	defer hs.Close()
	tr, err := client.NewSCF(client.SCFConfig{SecretID: scfID, SecretKey: scfKey, Region: "ap-guangzhou", Function: "chat", Endpoint: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(tr).SendToAll(context.Background(), client.Text("hi")); err != nil {
		t.Errorf("SendToAll = %v; want the reply, whatever InvokeResult says", err)
	}
}
