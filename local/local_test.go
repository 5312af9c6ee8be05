package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/local/cloudapi"
)

func TestFunctionEnvInLocalMode(t *testing.T) {
	for _, k := range config.Keys() {
		t.Setenv(k, "")
	}
	f := localFlags{idleTimeout: 90 * time.Second, heartbeat: "hb"}
	got := functionEnv(f)
	// No ONLINE_COUNT_SUFFIX: raw clients get the frames as sent; the chat
	// page asks the emulator for the count.
	want := map[string]string{"STORE": "memory", "IDLE_TIMEOUT": "1m30s", "HEARTBEAT_MESSAGE": "hb", "SCFWS_LOCAL": "true", "PRESENCE_EVENTS": "true",
		"HISTORY_SIZE": "100", "HISTORY_TTL": "1h"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("functionEnv = %v; want %v", got, want)
	}
	t.Setenv("DB_HOST", "db.internal")
	t.Setenv("PUSH_RETRIES", "5")
	t.Setenv("ONLINE_COUNT_SUFFIX", "true")
	t.Setenv("HISTORY_SIZE", "0")
	got = functionEnv(f)
	if got["STORE"] != "mysql" || got["DB_HOST"] != "db.internal" || got["PUSH_RETRIES"] != "5" || got["ONLINE_COUNT_SUFFIX"] != "true" ||
		got["HISTORY_SIZE"] != "0" {
		t.Errorf("with DB_HOST set, functionEnv = %v; want STORE=mysql and the variables passed through", got)
	}
}

func TestLocalScale(t *testing.T) {
	tests := []struct {
		store                   string
		instances, concurrency  int
		wantInstances, wantEach int
		wantErr                 string
	}{
		{"memory", 0, 0, 1, 8, ""},
		{"memory", 1, 0, 1, 8, ""},
		{"memory", 0, 3, 1, 3, ""},
		{"memory", 2, 0, 0, 0, "only 1 instance can run"},
		{"mysql", 0, 0, 4, 1, ""},
		{"mysql", 7, 0, 7, 1, ""},
		{"mysql", 2, 2, 2, 2, ""},
	}
	for _, tt := range tests {
		n, each, err := scale(localFlags{instances: tt.instances, concurrency: tt.concurrency}, tt.store)
		if n != tt.wantInstances || each != tt.wantEach || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("scale(-instances %d -function-concurrency %d, %s) = %d, %d, %v; want %d, %d, %q",
				tt.instances, tt.concurrency, tt.store, n, each, err, tt.wantInstances, tt.wantEach, tt.wantErr)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		give    string
		public  bool
		wantErr bool
	}{
		{"127.0.0.1:8080", false, false},
		{"127.0.0.2:0", false, false},
		{"localhost:8080", false, false},
		{"[::1]:8080", false, false},
		{":8080", false, true},
		{"0.0.0.0:8080", false, true},
		{"[::]:8080", false, true},
		{"192.168.1.20:8080", false, true},
		{"example.com:8080", false, true},
		{":8080", true, false},
		{"0.0.0.0:8080", true, false},
		{"no-port", true, true},
	}
	for _, tt := range tests {
		_, err := checkAddr(tt.give, tt.public)
		if (err != nil) != tt.wantErr {
			t.Errorf("checkAddr(%q, public %v) = %v; want an error: %v", tt.give, tt.public, err, tt.wantErr)
		}
	}
}

// Refusals come before local listens or starts anything.
func TestLocalRefusesBadSettings(t *testing.T) {
	for _, k := range config.Keys() {
		t.Setenv(k, "")
	}
	tests := []struct {
		give []string
		want string
	}{
		{[]string{"-addr", "0.0.0.0:0"}, "-public"},
		{[]string{"-addr", ":0"}, "-public"},
		{[]string{"-instances", "2"}, "STORE=memory"},
		{[]string{"-unknown-push-status", "42"}, "200-599"},
		{[]string{"-push-rate-limit", "-1"}, "negative"},
		{[]string{"-sendback", "127.0.0.1:9/push"}, "want an http(s) URL"},
		{[]string{"-sendback", "ftp://host/push"}, "want an http(s) URL"},
		{[]string{"-async-retry-interval", "-1s"}, "cannot be negative"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- Main(append(tt.give, "-function", "/nonexistent/fn"), io.Discard, &stderr) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("local %q = %v; want an error mentioning %s", tt.give, err, tt.want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("local %q is running; want it refused", tt.give)
		}
	}
}

// -fail-action is repeatable, checked, and shown in the banner with the
// deploy command.
func TestLocalFailActionFlag(t *testing.T) {
	f, err := parseLocalFlags([]string{"-fail-action", "apigateway:CreateApi=AuthFailure.UnauthorizedOperation",
		"-fail-action", "scf:CreateFunction=LimitExceeded.Function"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	const want = "apigateway:CreateApi=AuthFailure.UnauthorizedOperation,scf:CreateFunction=LimitExceeded.Function"
	if got := f.faults.String(); got != want {
		t.Errorf("faults %q; want %q", got, want)
	}
	var u UsageError
	if _, err := parseLocalFlags([]string{"-fail-action", "CreateApi"}, io.Discard); !errors.As(err, &u) {
		t.Errorf("-fail-action CreateApi = %v; want a usage error", err)
	}
	b := backendBanner("http://127.0.0.1:8080", "ws://127.0.0.1:8080/websocket", cloudapi.Credential{SecretID: "AKIDlocal", SecretKey: "local-key"}, true, true, nil, nil, f.faults)
	for _, line := range []string{
		"  deploy        TENCENTCLOUD_SECRETID=AKIDlocal TENCENTCLOUD_SECRETKEY=local-key" +
			" scfws deploy -endpoint http://127.0.0.1:8080 -region ap-guangzhou -name chat -env STORE=memory\n",
		"  failing       " + want + "  (-fail-action)\n",
	} {
		if !strings.Contains(b, line) {
			t.Errorf("banner lacks %q:\n%s", line, b)
		}
	}
}

// A function that fails to start leaves the port free: nothing of local
// stays behind.
func TestLocalReleasesListenerWhenStartFails(t *testing.T) {
	for _, k := range config.Keys() {
		t.Setenv(k, "")
	}
	for _, fn := range []string{"/nonexistent/fn", "/bin/false"} {
		addr := testkit.FreeAddr(t)
		f := testFlags(t)
		f.addr, f.function = addr, fn
		err := runLocal(context.Background(), f, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "start the function") {
			t.Errorf("-function %s: %v; want a start error", fn, err)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("-function %s: after the failed start, %s is still taken: %v", fn, addr, err)
		}
		l.Close()
	}
}

// The HTTP server closes kept-alive connections that sit idle, and pushes
// whose body never arrives.
func TestLocalServerTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the function as a process: skipped under -short")
	}
	for _, k := range config.Keys() {
		t.Setenv(k, "")
	}
	f := testFlags(t)
	f.function = testkit.BuildProgram(t, "./emulator/testdata/badfn")
	f.idleConnTimeout, f.pushReadTimeout = 300*time.Millisecond, 300*time.Millisecond
	base := runInProcess(t, f)
	host := strings.TrimPrefix(base, "http://")

	// An idle kept-alive connection is closed by the server.
	c, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /_scfws/status HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("idle kept-alive connection: read %v; want EOF, closed by the server", err)
	}

	// A push body that stalls is answered 408.
	c2, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "POST /sendback HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", host)
	_ = c2.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatalf("stalled push body: %v; want an answer", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled push body = %d; want 408", resp.StatusCode)
	}
}

func testFlags(t testing.TB) localFlags {
	t.Helper()
	f, err := parseLocalFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// runInProcess runs local until the test ends and returns its base URL.
func runInProcess(t testing.TB, f localFlags) string {
	t.Helper()
	f.addr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	out := &bannerWriter{url: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- runLocal(ctx, f, out, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("local: %v", err)
		}
	})
	select {
	case u := <-out.url:
		return u
	case err := <-done:
		t.Fatalf("local stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("local printed no banner within 30s")
	}
	return ""
}

// bannerWriter finds the chat page's URL in local's banner.
type bannerWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	url chan string
}

func (w *bannerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for line := range strings.SplitSeq(w.buf.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "chat" && f[1] == "page" {
			select {
			case w.url <- strings.TrimSuffix(f[2], "/"):
			default:
			}
		}
	}
	return len(p), nil
}

// local's Tencent Cloud API creates functions that run on this machine: a
// web page must not reach it, not even one whose name resolves to 127.0.0.1
// (DNS rebinding), and its key is made per session, never a published one.
func TestLocalAPIAnswersProgramsOnly(t *testing.T) {
	for _, k := range config.Keys() {
		t.Setenv(k, "")
	}
	t.Setenv("TENCENTCLOUD_SECRETID", "")
	t.Setenv("TENCENTCLOUD_SECRETKEY", "")
	a, showA := localCredential()
	b, _ := localCredential()
	if !showA || a.SecretID == b.SecretID || a.SecretKey == b.SecretKey || len(a.SecretKey) < 32 {
		t.Errorf("session keys %q and %q (shown %v); want fresh, long and printed", a.SecretID, b.SecretID, showA)
	}

	f := testFlags(t)
	f.function = testkit.BuildProgram(t, "./emulator/testdata/badfn")
	base := runInProcess(t, f)
	host := strings.TrimPrefix(base, "http://")
	call := func(reqHost string, header map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("POST", base+"/", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = reqHost
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-TC-Action", "CreateFunction")
		req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential=AKIDx/2026-11-27/scf/tc3_request, SignedHeaders=content-type;host, Signature=00")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		name   string
		host   string
		header map[string]string
		status int
		want   string
	}{
		{"a program, wrong key", host, nil, 200, "AuthFailure"},
		{"a rebound page's name", "evil.example:" + strings.Split(host, ":")[1], nil, 403, "not a loopback name"},
		{"a page's request", host, map[string]string{"Origin": "http://" + host}, 403, "browser requests are refused"},
		{"a no-cors request", host, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "browser requests are refused"},
	}
	for _, tt := range tests {
		if status, body := call(tt.host, tt.header); status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s; want %d %q", tt.name, status, body, tt.status, tt.want)
		}
	}
}

// The token endpoint mints the roles asked for, and the chat page's set
// when none are named: DEFAULT_ROLES grants no group permission by default,
// so a chat page token must.
func TestTokenMinterRoles(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef0123456789abcdef"
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	mint := tokenMinter(secret, time.Hour)
	tests := []struct {
		name  string
		sub   string
		roles []string
		want  string // the token's roles joined by ",", or the error
	}{
		{"no roles named: the chat page's", "ann", nil, "joinLeaveGroup,sendToGroup,sendToUser"},
		{"roles=none", "ann", []string{}, ""},
		{"scoped", "ann", []string{"joinLeaveGroup.lobby", "sendToGroup.lobby"}, "joinLeaveGroup.lobby,sendToGroup.lobby"},
		{"not a role", "ann", []string{"admin"}, `error: "admin" is not a role`},
		{"bad name", " ann", nil, "error: name must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := mint(tt.sub, tt.roles)
			got := ""
			if err != nil {
				got = "error: " + err.Error()
			} else if id, err := v.Verify(tok); err != nil {
				t.Fatalf("Verify(minted) error %v", err)
			} else {
				got = strings.Join(id.Roles, ",")
			}
			if !strings.HasPrefix(got, tt.want) || (err == nil && got != tt.want) {
				t.Errorf("tokenMinter(%q, %q) = %q; want %q", tt.sub, tt.roles, got, tt.want)
			}
		})
	}
}

// The run-role key of local's own function may invoke that function and
// nothing else, as the role scfws deploy makes.
func TestOwnRoleKey(t *testing.T) {
	key := ownRoleKey()
	tests := []struct {
		service, action, params string
		want                    bool // allowed
	}{
		{"scf", "Invoke", `{"FunctionName":"scfws"}`, true},
		{"scf", "Invoke", `{"FunctionName":"scfws","Namespace":"default"}`, true},
		{"scf", "Invoke", `{"FunctionName":"scfws","Namespace":"prod"}`, false},
		{"scf", "Invoke", `{"FunctionName":"chat"}`, false},
		{"scf", "GetFunction", `{"FunctionName":"scfws"}`, false},
		{"cam", "CreateRole", `{}`, false},
	}
	for _, tt := range tests {
		err := key.Allow(&cloudapi.Request{Service: tt.service, Action: tt.action, Params: []byte(tt.params)})
		if (err == nil) != tt.want {
			t.Errorf("%s:%s %s = %v; want allowed %v", tt.service, tt.action, tt.params, err, tt.want)
		}
	}
	if key.Token == "" || !strings.HasPrefix(key.SecretID, "AKID") {
		t.Errorf("key %v: want a temporary key", key)
	}
}
