package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/local/emulator"
)

// localRun is `scfws local` running as a user runs it.
type localRun struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	ws     string // ws://127.0.0.1:port/websocket
	fnPid  int    // the first function instance
	fnPids []int
	stderr *testkit.SyncBuffer
	// later is what local printed after its banner (the readiness line).
	later *testkit.SyncBuffer
	// The key local's Tencent Cloud API accepts, made for the session and
	// printed on the banner's "try" line.
	secretID, secretKey string
	banner              []string // the lines up to the "try" line

	mu     sync.Mutex
	issued []string // tokens from the token endpoint
}

// pidList is the banner's "(pid 4242)" or "(pids 4242 4243)".
var pidList = regexp.MustCompile(`\(pids? ([0-9 ]+)\)`)

// startLocal runs the built binary's local command on a free port with env
// (on top of a clean environment) and waits for its banner.
func startLocal(t testing.TB, env map[string]string, args ...string) *localRun {
	t.Helper()
	return startLocalWith(t, buildBinary(t), env, args...)
}

// startLocalWith is startLocal with the scfws binary bin.
func startLocalWith(t testing.TB, bin string, env map[string]string, args ...string) *localRun {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"local", "-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	l := &localRun{cmd: cmd, stderr: &testkit.SyncBuffer{}, later: &testkit.SyncBuffer{}}
	cmd.Stderr = l.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.stop(t)
		if t.Failed() {
			out := strings.Split(l.stderr.String(), "\n")
			t.Logf("last lines of local's output:\n%s", strings.Join(out[max(0, len(out)-60):], "\n"))
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for l.ws == "" || l.fnPid == 0 || l.secretKey == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("local exited before it was ready:\n%s", l.stderr)
			}
			l.banner = append(l.banner, line)
			f := strings.Fields(line)
			switch {
			case len(f) >= 3 && f[0] == "chat" && f[1] == "page":
				l.base = strings.TrimSuffix(f[2], "/")
			case len(f) >= 2 && f[0] == "WebSocket":
				l.ws = f[1]
			case len(f) >= 3 && f[0] == "try":
				l.secretID = strings.TrimPrefix(f[1], "TENCENTCLOUD_SECRETID=")
				l.secretKey = strings.TrimPrefix(f[2], "TENCENTCLOUD_SECRETKEY=")
				if l.secretID == f[1] || l.secretKey == f[2] {
					t.Fatalf("the banner's try line shows no key: %s", line)
				}
			case len(f) >= 2 && f[0] == "function":
				if m := pidList.FindStringSubmatch(line); m != nil {
					for _, p := range strings.Fields(m[1]) {
						pid, _ := strconv.Atoi(p)
						l.fnPids = append(l.fnPids, pid)
					}
					l.fnPid = l.fnPids[0]
				}
			}
		case <-timeout:
			t.Fatalf("local did not print its addresses:\n%s", l.stderr)
		}
	}
	go func() {
		for line := range lines {
			_, _ = l.later.Write([]byte(line + "\n"))
		}
	}()
	return l
}

// stop interrupts local as Ctrl+C does; it must exit cleanly.
func (l *localRun) stop(t testing.TB) {
	if l.cmd.ProcessState != nil {
		return
	}
	_ = l.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- l.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("local exited with %v after SIGINT:\n%s", err, l.stderr)
		}
	case <-time.After(15 * time.Second):
		_ = l.cmd.Process.Kill()
		<-done
		t.Errorf("local did not stop within 15s of SIGINT")
	}
}

func (l *localRun) connections(t testing.TB) []string {
	t.Helper()
	resp, err := http.Get(l.base + "/_scfws/connections")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var conns []emulator.ConnectionInfo
	if err := json.NewDecoder(resp.Body).Decode(&conns); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.ID
	}
	slices.Sort(ids)
	return ids
}

func (l *localRun) status(t testing.TB) emulator.Status {
	t.Helper()
	resp, err := http.Get(l.base + "/_scfws/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s emulator.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitDisconnects waits until the emulator has handled n disconnects in
// all, closing invokes included: the emulator counts them as they finish.
func (l *localRun) waitDisconnects(t testing.TB, n int64) {
	t.Helper()
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("%d disconnects handled", n), func() bool { return l.status(t).Disconnects >= n })
	if got := l.status(t).Disconnects; got != n {
		t.Fatalf("%d disconnects handled; want %d", got, n)
	}
}

// waitLog waits until local's output has a line containing all of parts.
func (l *localRun) waitLog(t testing.TB, parts ...string) string {
	t.Helper()
	var found string
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("a log line with %q", parts), func() bool {
		for line := range strings.SplitSeq(l.stderr.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				found = line
				return true
			}
		}
		return false
	})
	return found
}

// client is one WebSocket client that records every frame it receives.
type client struct {
	c    *websocket.Conn
	mu   sync.Mutex
	got  map[string]int
	n    int
	done chan struct{}
}

func connect(t testing.TB, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 20)
	cl := &client{c: c, got: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(cl.done)
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			cl.mu.Lock()
			cl.got[string(data)]++
			cl.n++
			cl.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.CloseNow(); <-cl.done })
	return cl
}

func (cl *client) send(t testing.TB, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Errorf("send %q: %v", msg, err)
	}
}

func (cl *client) count() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.n
}

func localDBEnv(db *mysqltest.DB) map[string]string {
	return map[string]string{"DB_HOST": db.Host, "DB_PORT": strconv.Itoa(db.Port), "DB_USER": db.User,
		"DB_PASSWORD": db.Password, "DB_NAME": db.Name, "ONLINE_COUNT_SUFFIX": "false", "LOG_LEVEL": "warn"}
}

// 200 clients chat through the real function, the real runtime protocol and
// MariaDB, on four function instances; every frame arrives exactly once at
// every other client.
func TestLocalChat200Clients(t *testing.T) {
	const clients, messages = 200, 5
	db := mysqltest.New(t)
	l := startLocal(t, localDBEnv(db))
	if len(l.fnPids) != 4 {
		t.Errorf("function instances %v; want 4 by default with MySQL", l.fnPids)
	}

	cs := make([]*client, clients)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() { cs[i] = connect(t, l.ws) })
	}
	wg.Wait()
	if got := db.IDs(t, "ConnectionID_List"); len(got) != clients {
		t.Fatalf("registry has %d rows after %d handshakes; want one each", len(got), clients)
	}
	if got := db.IDs(t, "ConnectionID_List"); !slices.Equal(got, l.connections(t)) {
		t.Fatalf("registry and gateway disagree on the open connections")
	}

	for i, c := range cs {
		wg.Go(func() {
			for m := range messages {
				c.send(t, fmt.Sprintf("c%03d-m%d", i, m))
				time.Sleep(50 * time.Millisecond) // the clients' pace
			}
		})
	}
	wg.Wait()
	want := (clients - 1) * messages
	testkit.Eventually(t, 180*time.Second, "every message at every client", func() bool {
		for _, c := range cs {
			if c.count() < want {
				return false
			}
		}
		return true
	})
	// Once nothing is on its way to a client (no invoke or push in flight,
	// nothing buffered), a sentinel to each client comes after every frame
	// still on the wire: no late duplicate can follow it.
	testkit.Eventually(t, 60*time.Second, "the emulator to be quiet", func() bool {
		s := l.status(t)
		return s.Invoking == 0 && s.Pushing == 0 && s.Buffered == 0
	})
	cs[0].send(t, "sentinel-0")
	cs[1].send(t, "sentinel-1") // cs[0]'s
	testkit.Eventually(t, 60*time.Second, "a sentinel at every client", func() bool {
		for _, c := range cs {
			c.mu.Lock()
			n := c.got["sentinel-0"] + c.got["sentinel-1"]
			c.mu.Unlock()
			if n == 0 {
				return false
			}
		}
		return true
	})
	for i, c := range cs {
		c.mu.Lock()
		got := maps.Clone(c.got)
		c.mu.Unlock()
		delete(got, "sentinel-0")
		delete(got, "sentinel-1")
		n := 0
		for _, k := range got {
			n += k
		}
		if n != want || len(got) != want {
			t.Errorf("client %d got %d frames, %d distinct; want %d each once", i, n, len(got), want)
		}
		for m := range messages {
			if got[fmt.Sprintf("c%03d-m%d", i, m)] != 0 {
				t.Errorf("client %d got its own message back", i)
			}
		}
	}

	// Half leave cleanly: closing reaches the function, which forgets them.
	for i := 0; i < clients; i += 2 {
		wg.Go(func() { cs[i].c.Close(websocket.StatusNormalClosure, "bye") })
	}
	wg.Wait()
	l.waitDisconnects(t, clients/2)
	if got, open := db.IDs(t, "ConnectionID_List"), l.connections(t); len(got) != clients/2 || !slices.Equal(got, open) {
		t.Errorf("registry %d rows, the gateway %d open; want the %d survivors in both", len(got), len(open), clients/2)
	}
	if strings.Contains(l.stderr.String(), db.Password) {
		t.Errorf("local's output contains the DB password")
	}
}

// Before any client arrives, local says whether the function can work,
// and for the database errors people meet first, which variable to fix.
func TestLocalSaysWhatToFix(t *testing.T) {
	db := mysqltest.New(t)
	user, pass := db.LimitedUser(t)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"ready", localDBEnv(db), "ready         the function answered"},
		{"no server", map[string]string{"DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_USER": "u", "DB_PASSWORD": "wrong-password-1"},
			"check DB_HOST and DB_PORT"},
		{"wrong password", map[string]string{"DB_HOST": db.Host, "DB_PORT": strconv.Itoa(db.Port), "DB_USER": db.User, "DB_PASSWORD": "wrong-password-2", "DB_NAME": db.Name},
			"check DB_USER and DB_PASSWORD"},
		{"no database, no right to create it", map[string]string{"DB_HOST": db.Host, "DB_PORT": strconv.Itoa(db.Port), "DB_USER": user, "DB_PASSWORD": pass, "DB_NAME": db.Name + "_missing"},
			"set DB_NAME to a database that exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["LOG_LEVEL"] = "error"
			l := startLocal(t, tt.env)
			testkit.Eventually(t, 30*time.Second, "the readiness line", func() bool {
				out := l.later.String()
				return strings.Contains(out, "ready ") || strings.Contains(out, "NOT READY ")
			})
			if out := l.later.String(); !strings.Contains(out, tt.want) {
				t.Errorf("local printed %q; want %q", out, tt.want)
			}
			if out := l.later.String() + l.stderr.String(); strings.Contains(out, "wrong-password") || strings.Contains(out, pass) {
				t.Errorf("local's output shows a password")
			}
		})
	}
}

// Clients that vanish without closing (-drop-cleanup) stop being recipients
// once the idle timeout passes, and their rows are swept.
func TestLocalDroppedClientsExpire(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	db := mysqltest.New(t)
	env := localDBEnv(db)
	env["LOG_LEVEL"] = "info"
	l := startLocal(t, env, "-drop-cleanup", "-idle-timeout", "2s")
	// Survivors keep alive with heartbeats, as the chat page does, from
	// the moment they connect: the vanishing clients connect after them.
	var cs []*client
	for range 5 {
		cs = append(cs, connect(t, l.ws))
	}
	survivors := slices.Clone(cs)
	ctx, stop := context.WithCancel(context.Background())
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		tick := time.NewTicker(400 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, c := range survivors {
				c.send(t, "__heartbeat__")
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stop(); <-beating }()
	for range 5 {
		cs = append(cs, connect(t, l.ws))
	}
	for _, c := range cs[5:] {
		c.c.Close(websocket.StatusNormalClosure, "vanish")
	}
	l.waitDisconnects(t, 5)
	if n := len(db.IDs(t, "ConnectionID_List")); n != 10 {
		t.Fatalf("registry has %d rows; want 10 (no closing with -drop-cleanup)", n)
	}
	// A silent witness, connected after the vanished clients: once the idle
	// timeout has closed it, their rows are older than the idle timeout.
	witness := connect(t, l.ws)
	select {
	case <-witness.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the silent witness was not closed by the 2s idle timeout within 60s")
	}
	l.waitDisconnects(t, 6)

	cs[0].send(t, "who is here?")
	testkit.Eventually(t, 30*time.Second, "the message at the other survivors", func() bool {
		for _, c := range cs[1:5] {
			if c.count() != 1 {
				return false
			}
		}
		return true
	})
	// The transmit's log line comes once it is over, sweep included.
	line := l.waitLog(t, "invoke", "recipients=4", "swept=6")
	if got, open := db.IDs(t, "ConnectionID_List"), l.connections(t); !slices.Equal(got, open) || len(open) != 5 {
		t.Errorf("registry %q; want only the 5 survivors %q (the dropped ones swept): %s", got, open, line)
	}
	for _, c := range cs[:5] {
		if c.got["__heartbeat__"] != 0 {
			t.Errorf("a heartbeat was broadcast")
		}
	}
}

// Ctrl+C stops local cleanly even with a client connected and a socket that
// was opened but never used (as browsers preconnect).
func TestLocalStopsCleanly(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	l := startLocal(t, nil)
	_ = connect(t, l.ws)
	idle, err := net.Dial("tcp", strings.TrimPrefix(l.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	l.stop(t) // fails the test unless the exit status is 0 within 15s
}

// A malformed start is a clear error, not a hang.
func TestLocalBadFunction(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "local", "-addr", "127.0.0.1:0", "-function", "/nonexistent/fn").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "start the function") {
		t.Errorf("local -function /nonexistent = %v %s; want a start error", err, out)
	}
	out, err = exec.Command(bin, "local", "-h").CombinedOutput()
	if err != nil {
		t.Errorf("local -h: %v", err)
	}
	for _, flag := range []string{"-addr", "-public", "-drop-cleanup", "-function-timeout", "-instances", "-function-concurrency",
		"-concurrent-frames", "-unknown-push-status", "-push-rate-limit", "-idle-counts-pings", "-closing-on-server-close",
		"-handshake-extras", "-max-message-bytes", "-idle-cleanup", "-push-latency", "-heartbeat"} {
		if !strings.Contains(string(out), flag+" ") && !strings.Contains(string(out), flag+"\n") {
			t.Errorf("local -h does not list %s:\n%s", flag, out)
		}
	}
}

// One format on the console for the gateway's lines and the function's; raw
// clients get frames as sent (no online-count suffix in local mode).
func TestLocalConsole(t *testing.T) {
	l := startLocal(t, map[string]string{"LOG_LEVEL": "info"})
	a, b := connect(t, l.ws), connect(t, l.ws)
	a.send(t, "hi")
	testkit.Eventually(t, 30*time.Second, "b to get hi", func() bool { return b.count() == 1 })
	b.mu.Lock()
	if b.got["hi"] != 1 {
		t.Errorf("b got %v; want exactly hi", b.got)
	}
	b.mu.Unlock()
	a.c.Close(websocket.StatusNormalClosure, "bye")
	l.waitDisconnects(t, 1)
	l.stop(t)
	line := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} (gw|fn) (DEBUG|INFO |WARN |ERROR|     ) `)
	out := l.stderr.String()
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("console line %q is not TIME SOURCE LEVEL message", l)
		}
	}
	for _, want := range []string{" gw INFO  connected ", " fn INFO  invoke ", "action=connecting", " gw INFO  disconnected ", " gw INFO  stopping"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q line in:\n%s", want, out)
		}
	}
	// Memory is what local is for: the function's warning about it is for
	// the cloud, not for this console.
	if strings.Contains(out, "STORE=memory") {
		t.Errorf("local's console warns about STORE=memory:\n%s", out)
	}
}

// With -public, the token endpoint mints only with the session's own
// AUTH_SECRET: one from your environment may be your deployment's, and
// anyone who reaches the address could get a token for any user.
func TestLocalPublicMintsNoTokensWithYourSecret(t *testing.T) {
	status := func(l *localRun) int {
		resp, err := http.Get(l.base + "/_scfws/token?sub=mallory")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	yours := startLocal(t, map[string]string{"AUTH_SECRET": "your-deployments-auth-secret-0123456789"}, "-addr", "0.0.0.0:0", "-public")
	if got := status(yours); got == http.StatusOK {
		t.Errorf("-public with your AUTH_SECRET: token endpoint answered %d; want it off", got)
	}
	session := startLocal(t, nil, "-addr", "0.0.0.0:0", "-public")
	if got := status(session); got != http.StatusOK {
		t.Errorf("-public with the session's AUTH_SECRET: token endpoint answered %d; want 200", got)
	}
	onlyHere := startLocal(t, map[string]string{"AUTH_SECRET": "your-deployments-auth-secret-0123456789"})
	if got := status(onlyHere); got != http.StatusOK {
		t.Errorf("loopback with your AUTH_SECRET: token endpoint answered %d; want 200", got)
	}
}
