package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/internal/testkit"
)

// scfws runs the built binary with local's key ID and key as its API key
// and returns its output and exit code.
func (l *localRun) scfws(t testing.TB, key string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildBinary(t), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TENCENTCLOUD_SECRETID=" + l.secretID, "TENCENTCLOUD_SECRETKEY=" + key}
	var out, errOut testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("scfws %s: %v", args[0], err)
	}
	return out.String(), errOut.String(), code
}

// deployResult is what scfws deploy -json prints.
type deployResult struct {
	WSURL   string   `json:"wsUrl"`
	PushURL string   `json:"pushUrl"`
	Changed []string `json:"changed"`
}

// deployJSON runs scfws deploy -json against local and fails the test
// unless it succeeds.
func deployJSON(t testing.TB, l *localRun, zip string, args ...string) deployResult {
	t.Helper()
	stdout, stderr, code := l.scfws(t, l.secretKey, append([]string{"deploy", "-endpoint", l.base, "-region", "ap-guangzhou",
		"-name", "chat", "-zip", zip, "-json"}, args...)...)
	if code != 0 {
		t.Fatalf("deploy exited %d:\n%s%s", code, stdout, stderr)
	}
	var res deployResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("deploy -json printed %q: %v", stdout, err)
	}
	return res
}

// A secret the function gets: never in any output.
const deploySecret = "e2e-publish-secret-9f8e7d6c5b4a3210"

// scfws deploy against scfws local: the function it deploys runs from the
// zip, clients chat through the URL deploy reports, a second deploy changes
// nothing, a changed variable reaches the running function, publish reaches
// its clients, and destroy takes the URL down.
func TestDeployToLocal(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	zip, _ := buildZip(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "info"})
	env := []string{"-env", "STORE=memory", "-env", "PUBLISH_SECRET=" + deploySecret}

	start := time.Now()
	res := deployJSON(t, l, zip, env...)
	for _, step := range []string{"createFunction", "createService", "createApi", "updateFunctionConfiguration", "releaseService"} {
		if !slices.Contains(res.Changed, step) {
			t.Errorf("first deploy changed %q; want %s among them", res.Changed, step)
		}
	}
	if !strings.HasPrefix(res.WSURL, "ws://"+strings.TrimPrefix(l.base, "http://")+"/_cloud/service-") || !strings.HasSuffix(res.WSURL, "/release/websocket") {
		t.Fatalf("wsUrl %q; want ws://<local>/_cloud/service-…/release/websocket", res.WSURL)
	}
	a, b := connect(t, res.WSURL), connect(t, res.WSURL)
	a.send(t, "hello")
	testkit.Eventually(t, 30*time.Second, "b to get hello through the deployed API", func() bool { return b.count() >= 1 })
	took := time.Since(start)
	t.Logf("scfws deploy start to the first chat message through wsUrl: %s", took.Round(time.Millisecond))
	// Before HEARTBEAT_MESSAGE is set, hb2 is a message like any other.
	a.send(t, "hb2")
	testkit.Eventually(t, 30*time.Second, "b to get hb2", func() bool { return b.count() >= 2 })
	b.mu.Lock()
	got := maps.Clone(b.got)
	b.mu.Unlock()
	if got["hello"] != 1 || got["hb2"] != 1 {
		t.Errorf("b got %v; want hello and hb2 once each", got)
	}

	// Unchanged: nothing to do, and deploy says so.
	if again := deployJSON(t, l, zip, env...); len(again.Changed) != 0 || again.WSURL != res.WSURL {
		t.Errorf("deploy again: changed %q, wsUrl %s; want nothing changed at %s", again.Changed, again.WSURL, res.WSURL)
	}
	stdout, stderr, code := l.scfws(t, l.secretKey, append([]string{"deploy", "-endpoint", l.base, "-region", "ap-guangzhou",
		"-name", "chat", "-zip", zip}, env...)...)
	if code != 0 || !strings.Contains(stdout, "Nothing changed") {
		t.Errorf("deploy again = exit %d:\n%s%s\nwant Nothing changed", code, stdout, stderr)
	}

	// A changed variable: the new version runs with it, and hb2 is now a
	// heartbeat, not broadcast. The new version's in-memory registry starts
	// empty, so two new clients show it.
	changed := deployJSON(t, l, zip, append(env, "-env", "HEARTBEAT_MESSAGE=hb2")...)
	if !slices.Equal(changed.Changed, []string{"updateFunctionConfiguration"}) {
		t.Errorf("deploy with HEARTBEAT_MESSAGE=hb2 changed %q; want updateFunctionConfiguration only", changed.Changed)
	}
	c, d := connect(t, res.WSURL), connect(t, res.WSURL)
	c.send(t, "hb2")
	c.send(t, "after") // invoked after hb2, so any broadcast of hb2 comes first
	testkit.Eventually(t, 30*time.Second, "d to get after", func() bool { return d.count() >= 1 })
	d.mu.Lock()
	got = maps.Clone(d.got)
	d.mu.Unlock()
	if got["hb2"] != 0 || got["after"] != 1 {
		t.Errorf("d got %v after HEARTBEAT_MESSAGE=hb2; want after only (hb2 is a heartbeat now)", got)
	}

	// The backend's way in: SCF Invoke of the deployed function.
	stdout, stderr, code = l.scfws(t, l.secretKey, "publish", "-endpoint", l.base, "-region", "ap-guangzhou", "-function", "chat", "-all", "hi")
	if code != 0 || !strings.Contains(stdout, `"errNo": 0`) {
		t.Fatalf("publish = exit %d:\n%s%s", code, stdout, stderr)
	}
	testkit.Eventually(t, 30*time.Second, "c and d to get hi", func() bool {
		c.mu.Lock()
		d.mu.Lock()
		defer c.mu.Unlock()
		defer d.mu.Unlock()
		return c.got["hi"] == 1 && d.got["hi"] == 1
	})

	stdout, stderr, code = l.scfws(t, l.secretKey, "destroy", "-endpoint", l.base, "-region", "ap-guangzhou", "-name", "chat", "-yes")
	if code != 0 || !strings.Contains(stdout, "Removed") {
		t.Fatalf("destroy = exit %d:\n%s%s", code, stdout, stderr)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Errorf("a client of the destroyed API is still connected after 30s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ws, _, err := websocket.Dial(ctx, res.WSURL, nil); err == nil {
		ws.CloseNow()
		t.Errorf("dial %s after destroy succeeded; want it refused", res.WSURL)
	}
	if out := l.stderr.String(); strings.Contains(out, deploySecret) {
		t.Errorf("local's output shows the function's PUBLISH_SECRET")
	}
}

// Failures name the step, the CAM action and Tencent's code: a wrong key,
// and an action the key may not call (-fail-action). A call refused as
// busy for its first two times (-fail-action ...:2) is made again first.
func TestDeployFailuresOnLocal(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	zip, _ := buildZip(t)
	l := startLocal(t, nil, "-fail-action", "apigateway:CreateApi=AuthFailure.UnauthorizedOperation",
		"-fail-action", "scf:GetFunction=RequestLimitExceeded:2")
	deploy := []string{"deploy", "-endpoint", l.base, "-region", "ap-guangzhou", "-name", "chat", "-zip", zip, "-env", "STORE=memory"}
	tests := []struct {
		name string
		key  string
		want []string // in stderr
	}{
		{"wrong key", "not-the-key", []string{"read the function (scf:GetFunction)", "AuthFailure.SignatureFailure"}},
		{"no permission", l.secretKey, []string{"RequestLimitExceeded: trying again in 1s", "RequestLimitExceeded: trying again in 2s",
			"create the WebSocket API (apigw:CreateApi)", "AuthFailure.UnauthorizedOperation", "grant that CAM action"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := l.scfws(t, tt.key, deploy...)
			if code != 1 {
				t.Errorf("deploy = exit %d; want 1", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("deploy's error does not say %q:\n%s%s", w, stdout, stderr)
				}
			}
			if strings.Contains(stdout+stderr, tt.key) {
				t.Errorf("deploy printed the key")
			}
		})
	}
}
