package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/proto"
)

// publish runs the built `scfws publish` against local's Tencent Cloud API
// and returns its reply.
func (l *localRun) publish(t testing.TB, args ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(buildBinary(t), append([]string{"publish", "-endpoint", l.base, "-region", "ap-guangzhou", "-function", "scfws"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TENCENTCLOUD_SECRETID=" + l.secretID, "TENCENTCLOUD_SECRETKEY=" + l.secretKey}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scfws publish %q: %v\n%s", args, err, out)
	}
	var reply map[string]any
	if err := json.Unmarshal(out, &reply); err != nil {
		t.Fatalf("scfws publish %q printed %s: %v", args, out, err)
	}
	return reply
}

// scfws publish, through the SCF Invoke API that local serves with the same
// code path as the cloud's, reaches exactly the connections of each target
// kind; closeUser closes all of a user's connections and leaves no rows or
// memberships.
func TestPublishReachesTheRightConnections(t *testing.T) {
	db := mysqltest.New(t)
	l := startLocal(t, localDBEnv(db))
	// ann and bob in lobby, ann twice; cat in dev; a plain client. Each
	// connection's ID is the one the gateway lists once it is connected.
	ids := map[string]string{}
	named := func(name string) {
		t.Helper()
		for _, id := range l.connections(t) {
			if !slices.Contains(slices.Collect(maps.Values(ids)), id) {
				if ids[name] != "" {
					t.Fatalf("two new connections after %s connected", name)
				}
				ids[name] = id
			}
		}
		if ids[name] == "" {
			t.Fatalf("no new connection after %s connected", name)
		}
	}
	ann1 := connectV1(t, l, "ann", "joinLeaveGroup")
	named("ann1")
	ann2 := connectV1(t, l, "ann", "joinLeaveGroup")
	named("ann2")
	bob := connectV1(t, l, "bob", "joinLeaveGroup")
	named("bob")
	cat := connectV1(t, l, "cat", "joinLeaveGroup")
	named("cat")
	plain := connect(t, l.ws)
	named("plain")
	for _, j := range []struct {
		c     *v1Client
		group string
	}{{ann1, "lobby"}, {ann2, "lobby"}, {bob, "lobby"}, {cat, "dev"}} {
		id := j.c.request(t, map[string]any{"type": "joinGroup", "group": j.group})
		testkit.Eventually(t, 10*time.Second, "join acked", func() bool { _, ok := j.c.ack(id); return ok })
	}
	v1s := map[string]*v1Client{"ann1": ann1, "ann2": ann2, "bob": bob, "cat": cat}
	// who reports which v1 clients got the server message text, once each.
	who := func(text, group string) []string {
		var got []string
		for _, name := range []string{"ann1", "ann2", "bob", "cat"} {
			switch n := v1s[name].got("server|" + group + "||" + text); n {
			case 0:
			case 1:
				got = append(got, name)
			default:
				t.Errorf("%s got %q %d times", name, text, n)
			}
		}
		return got
	}
	conns := l.connections(t)

	tests := []struct {
		name      string
		args      []string
		text      string
		group     string
		want      []string
		wantPlain int
	}{
		{"all", []string{"-all", "to everyone"}, "to everyone", "", []string{"ann1", "ann2", "bob", "cat"}, 1},
		{"group", []string{"-group", "lobby", "to lobby"}, "to lobby", "lobby", []string{"ann1", "ann2", "bob"}, 0},
		{"user", []string{"-user", "ann", "to ann"}, "to ann", "", []string{"ann1", "ann2"}, 0},
	}
	for _, tt := range tests {
		plainBefore := plain.count()
		reply := l.publish(t, tt.args...)
		if reply["errNo"] != 0.0 || int(reply["delivered"].(float64)) != len(tt.want)+tt.wantPlain {
			t.Errorf("publish %s = %v; want %d delivered", tt.name, reply, len(tt.want)+tt.wantPlain)
		}
		// The pushes were answered before the reply: all has arrived.
		testkit.Eventually(t, 5*time.Second, tt.name+" delivered", func() bool {
			return len(who(tt.text, tt.group)) == len(tt.want) && plain.count()-plainBefore >= tt.wantPlain
		})
		if got := who(tt.text, tt.group); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("publish %s reached %v; want %v", tt.name, got, tt.want)
		}
		if got := plain.count() - plainBefore; got != tt.wantPlain {
			t.Errorf("publish %s reached the plain client %d times; want %d", tt.name, got, tt.wantPlain)
		}
	}
	plain.mu.Lock()
	if plain.got["to everyone"] != 1 {
		t.Errorf("the plain client got %v; want the data as it is", plain.got)
	}
	plain.mu.Unlock()

	// Each connection by its ID: its own frame and no other, raw for the
	// plain one.
	for _, id := range conns {
		reply := l.publish(t, "-connection", id, "probe:"+id)
		if reply["delivered"] != 1.0 {
			t.Errorf("publish -connection %s = %v; want 1 delivered", id, reply)
		}
	}
	probes := func(v *v1Client) (n int) {
		v.mu.Lock()
		defer v.mu.Unlock()
		for key, count := range v.messages {
			if strings.HasPrefix(key, "server|||probe:") {
				n += count
			}
		}
		return n
	}
	testkit.Eventually(t, 5*time.Second, "one frame per connection", func() bool {
		for _, v := range v1s {
			if probes(v) < 1 {
				return false
			}
		}
		return plain.count() >= 2
	})
	for name, v := range v1s {
		if n, own := probes(v), v.got("server|||probe:"+ids[name]); n != 1 || own != 1 {
			t.Errorf("%s (%s) got %d probes, %d of them its own; want its own only", name, ids[name], n, own)
		}
	}
	plain.mu.Lock()
	if plain.got["probe:"+ids["plain"]] != 1 || len(plain.got) != 2 {
		t.Errorf("the plain client (%s) got %v; want to everyone and its own probe", ids["plain"], plain.got)
	}
	plain.mu.Unlock()

	// closeUser: both of ann's connections closed; no row or membership left.
	reply := l.publish(t, "-user", "ann", "-close")
	if reply["errNo"] != 0.0 || reply["recipients"] != 2.0 {
		t.Errorf("publish -user ann -close = %v; want 2 closed", reply)
	}
	for _, c := range []*v1Client{ann1, ann2} {
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("ann's connection still open after closeUser")
		}
	}
	if n := len(db.Strings(t, "SELECT ID FROM ConnectionID_List_v1 WHERE UserID = 'ann'")); n != 0 {
		t.Errorf("%d rows of ann's left; want none", n)
	}
	if n := len(db.Strings(t, "SELECT ConnectionID FROM ConnectionID_List_groups WHERE UserID = 'ann'")); n != 0 {
		t.Errorf("%d memberships of ann's left; want none", n)
	}
	if got := l.publish(t, "-group", "lobby", "after ann left"); got["delivered"] != 1.0 {
		t.Errorf("lobby after closeUser = %v; want bob alone", got)
	}
	if c, _, err := websocket.Dial(t.Context(), l.ws, nil); err == nil {
		c.CloseNow() // the gateway still serves
	} else {
		t.Error(fmt.Errorf("local stopped serving: %w", err))
	}
}

// A wrong key is refused by local's API as by Tencent's, and the signed
// route works with the session's PUBLISH_SECRET and refuses another.
func TestPublishKeysAndSignedRoute(t *testing.T) {
	l := startLocal(t, map[string]string{"PUBLISH_SECRET": "e2e-publish-secret-0123456789abcdef"})
	c := connectV1(t, l, "ann", "joinLeaveGroup")
	id := c.request(t, map[string]any{"type": "joinGroup", "group": "lobby"})
	testkit.Eventually(t, 10*time.Second, "join acked", func() bool { _, ok := c.ack(id); return ok })
	run := func(env []string, args ...string) (string, int) {
		cmd := exec.Command(buildBinary(t), append([]string{"publish"}, args...)...)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		out, err := cmd.CombinedOutput()
		code := 0
		if e, ok := err.(*exec.ExitError); ok {
			code = e.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	out, code := run([]string{"TENCENTCLOUD_SECRETID=" + l.secretID, "TENCENTCLOUD_SECRETKEY=wrong-key"},
		"-endpoint", l.base, "-region", "ap-guangzhou", "-function", "scfws", "-all", "x")
	if code == 0 || !strings.Contains(out, "AuthFailure.SignatureFailure") || strings.Contains(out, "wrong-key") {
		t.Errorf("publish with a wrong key = exit %d %s; want a SignatureFailure, the key never printed", code, out)
	}
	route := l.base + "/_scfws/http/publish"
	out, code = run([]string{"PUBLISH_SECRET=e2e-publish-secret-0123456789abcdef"}, "-url", route, "-group", "lobby", "over the route")
	if code != 0 || !strings.Contains(out, `"delivered": 1`) {
		t.Errorf("publish over the signed route = exit %d %s; want 1 delivered", code, out)
	}
	testkit.Eventually(t, 5*time.Second, "the route's message", func() bool { return c.got("server|lobby||over the route") == 1 })
	out, code = run([]string{"PUBLISH_SECRET=not-the-secret-not-the-secret-0123"}, "-url", route, "-all", "x")
	if code != 1 || !strings.Contains(out, "401") || !strings.Contains(out, "what to do: give publish the function's PUBLISH_SECRET") || strings.Contains(out, "not-the-secret") {
		t.Errorf("publish over the route with another secret = exit %d %s; want 1, 401 and what to do, the secret never printed", code, out)
	}
	// One the function would refuse: said before anything is sent.
	out, code = run([]string{"PUBLISH_SECRET=not-the-secret"}, "-url", route, "-all", "x")
	if code != 2 || !strings.Contains(out, "PUBLISH_SECRET is 14 bytes; the function refuses one under 32") || strings.Contains(out, "not-the-secret") {
		t.Errorf("publish over the route with a short secret = exit %d %s; want 2 and why, the secret never printed", code, out)
	}

	// Each signature runs once: the same request again is 409, while
	// publish, signing the same message again within the second, is not.
	for range 2 {
		if out, code = run([]string{"PUBLISH_SECRET=e2e-publish-secret-0123456789abcdef"}, "-url", route, "-group", "lobby", "twice"); code != 0 {
			t.Errorf("publish twice over the route = exit %d %s; want both run", code, out)
		}
	}
	testkit.Eventually(t, 5*time.Second, "both messages", func() bool { return c.got("server|lobby||twice") == 2 })
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	body := `{"scfws":{"op":"sendToGroup","group":"lobby","dataType":"text","data":"once"}}`
	sig := proto.RouteSignature([]byte("e2e-publish-secret-0123456789abcdef"), ts, []byte(body))
	for _, want := range []int{http.StatusOK, http.StatusConflict} {
		req, _ := http.NewRequest(http.MethodPost, route, strings.NewReader(body))
		req.Header.Set(proto.HeaderTimestamp, ts)
		req.Header.Set(proto.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("the same signed request: HTTP %d; want %d", resp.StatusCode, want)
		}
	}
	// A body over the function's limit is local's to refuse: 413, as JSON.
	resp, err := http.Post(route, "application/json", strings.NewReader(strings.Repeat("x", 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"errNo":106`) {
		t.Errorf("an oversized unsigned body: HTTP %d %s; want 413 with errNo 106", resp.StatusCode, b)
	}
	testkit.Eventually(t, 5*time.Second, "the once message", func() bool { return c.got("server|lobby||once") == 1 })
	if n := c.got("server|lobby||once"); n != 1 {
		t.Errorf("the replayed message arrived %d times; want once", n)
	}
}
