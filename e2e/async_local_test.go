package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/pushtest"
)

// invokeLocal invokes local's own function synchronously with event, as a
// backend does, and decodes its reply into v.
func invokeLocal(t testing.TB, l *localRun, event string, v any) {
	t.Helper()
	invokeFunction(t, l, "scfws", event, v)
}

// invokeFunction invokes the function name in local's ap-guangzhou.
func invokeFunction(t testing.TB, l *localRun, name, event string, v any) {
	t.Helper()
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = strings.TrimPrefix(l.base, "http://"), "HTTP"
	c, err := scf.NewClient(common.NewCredential(l.secretID, l.secretKey), "ap-guangzhou", prof)
	if err != nil {
		t.Fatal(err)
	}
	req := scf.NewInvokeRequest()
	req.FunctionName, req.ClientContext = common.StringPtr(name), common.StringPtr(event)
	resp, err := c.Invoke(req)
	if err != nil {
		t.Fatalf("Invoke(%s) = %v", event, err)
	}
	if r := resp.Response.Result; *r.ErrMsg != "" || json.Unmarshal([]byte(*r.RetMsg), v) != nil {
		t.Fatalf("Invoke(%s): RetMsg %s, ErrMsg %s", event, *r.RetMsg, *r.ErrMsg)
	}
}

// pushesTo counts the pushes for connection id.
func pushesTo(p *pushtest.Server, id string) int {
	n := 0
	for _, push := range p.Pushes() {
		if push.SecConnectionID == id {
			n++
		}
	}
	return n
}

// A function under scfws local gets what SCF gives a function with a run
// role, and can invoke itself asynchronously with it through local's API,
// as issue 15's hand-off does: the events run, a failing one runs 1 + 2
// times -async-retry-interval apart, one over 128 KB is refused, and the
// key does nothing else. -sendback points its pushes at a counting
// endpoint.
func TestLocalFunctionInvokesItself(t *testing.T) {
	if testing.Short() {
		t.Skip("runs scfws local with a function: skipped under -short")
	}
	push := pushtest.Start()
	defer push.Close()
	const interval = 300 * time.Millisecond
	l := startLocalWith(t, buildBinary(t), nil, "-function", testkit.BuildProgram(t, "../local/testdata/selfinvoke"),
		"-sendback", push.URL+"/push", "-async-retry-interval", interval.String())

	var got struct {
		Env map[string]string `json:"env"`
		FC  struct {
			FunctionName, Namespace, FunctionVersion, TencentcloudRegion string
		} `json:"fc"`
	}
	invokeLocal(t, l, `{"op":"env"}`, &got)
	want := map[string]string{"TENCENTCLOUD_REGION": "ap-guangzhou", "TENCENTCLOUD_RUNENV": "SCF", "SCF_FUNCTIONNAME": "scfws",
		"SCF_NAMESPACE": "default", "SCF_FUNCTIONVERSION": "$LATEST", "SCF_RUNTIME": "Go1", "SCFWS_CLOUD_API": l.base,
		"SENDBACK_HOST": push.URL + "/push"}
	for k, v := range want {
		if got.Env[k] != v {
			t.Errorf("the function's %s = %q; want %q", k, got.Env[k], v)
		}
	}
	if !strings.HasPrefix(got.Env["TENCENTCLOUD_SECRETID"], "AKID") || got.Env["TENCENTCLOUD_SECRETKEY"] == "" || got.Env["TENCENTCLOUD_SESSIONTOKEN"] == "" ||
		got.Env["TENCENTCLOUD_SECRETID"] == l.secretID {
		t.Errorf("the function's key: SECRETID %q, a key %v, a token %v; want a temporary key of its own",
			got.Env["TENCENTCLOUD_SECRETID"], got.Env["TENCENTCLOUD_SECRETKEY"] != "", got.Env["TENCENTCLOUD_SESSIONTOKEN"] != "")
	}
	if fc := got.FC; fc.FunctionName != "scfws" || fc.Namespace != "default" || fc.FunctionVersion != "$LATEST" || fc.TencentcloudRegion != "ap-guangzhou" {
		t.Errorf("the function's context = %+v; want scfws, default, $LATEST, ap-guangzhou", fc)
	}

	var fan struct {
		IDs  []string `json:"ids"`
		Code string   `json:"code"`
	}
	invokeLocal(t, l, `{"op":"fanout","n":3}`, &fan)
	if len(fan.IDs) != 3 || fan.Code != "" {
		t.Fatalf("fanout = %+v; want 3 FunctionRequestIds", fan)
	}
	testkit.Eventually(t, 20*time.Second, "a push from each event", func() bool {
		return pushesTo(push, "ev-0") == 1 && pushesTo(push, "ev-1") == 1 && pushesTo(push, "ev-2") == 1
	})

	push.Reset()
	start := time.Now()
	invokeLocal(t, l, `{"op":"fanout","n":1,"fail":true}`, &fan)
	l.waitLog(t, "event dropped", "it failed 3 times")
	if n, took := pushesTo(push, "ev-0"), time.Since(start); n != 3 || took < 2*interval {
		t.Errorf("a failing event pushed %d times in %s; want 3 (1 run and 2 retries), at least 2 intervals (%s)", n, took, 2*interval)
	}

	invokeLocal(t, l, `{"op":"fanout","n":1,"pad":140000}`, &fan)
	if fan.Code != "InvalidParameterValue" {
		t.Errorf("an Event invocation over 128 KB: code %q; want InvalidParameterValue", fan.Code)
	}
	var call struct{ Code string }
	invokeLocal(t, l, `{"op":"call","action":"GetFunction"}`, &call)
	if call.Code != "AuthFailure.UnauthorizedOperation" {
		t.Errorf("GetFunction with the run-role key: code %q; want AuthFailure.UnauthorizedOperation", call.Code)
	}
}

// With -run-role=false the function gets no key, as an SCF function
// without a run role.
func TestLocalWithoutRunRole(t *testing.T) {
	if testing.Short() {
		t.Skip("runs scfws local with a function: skipped under -short")
	}
	l := startLocalWith(t, buildBinary(t), nil, "-function", testkit.BuildProgram(t, "../local/testdata/selfinvoke"), "-run-role=false")
	var got struct {
		Env map[string]string `json:"env"`
	}
	invokeLocal(t, l, `{"op":"env"}`, &got)
	if got.Env["TENCENTCLOUD_SECRETID"] != "" || got.Env["TENCENTCLOUD_SESSIONTOKEN"] != "" || got.Env["SCF_FUNCTIONNAME"] != "scfws" {
		t.Errorf("without a run role the function sees SECRETID %q, SCF_FUNCTIONNAME %q; want no key, and its name",
			got.Env["TENCENTCLOUD_SECRETID"], got.Env["SCF_FUNCTIONNAME"])
	}
}

// A function scfws deploy puts into local runs as the role deploy made for
// it: with that role's key it invokes itself asynchronously (the policy's
// one-function resource matches), and may do nothing else.
func TestDeployedFunctionInvokesItself(t *testing.T) {
	if testing.Short() {
		t.Skip("runs scfws local and deploys into it: skipped under -short")
	}
	push := pushtest.Start()
	defer push.Close()
	code, err := os.ReadFile(testkit.BuildProgram(t, "../local/testdata/selfinvoke"))
	if err != nil {
		t.Fatal(err)
	}
	zip := filepath.Join(t.TempDir(), "main.zip")
	if err := os.WriteFile(zip, testkit.Zip(t, testkit.ZipFile{Name: "main", Mode: 0o755, Data: code}), 0o600); err != nil {
		t.Fatal(err)
	}
	l := startLocal(t, nil)
	stdout, stderr, exit := l.scfws(t, l.secretKey, "deploy", "-endpoint", l.base, "-region", "ap-guangzhou", "-name", "chat", "-zip", zip,
		"-env", "SELFINVOKE_PUSH="+push.URL+"/push", "-env", "STORE=memory")
	if exit != 0 || !strings.Contains(stdout, "run role    scfws-ap-guangzhou-default-chat") {
		t.Fatalf("deploy exited %d:\n%s%s", exit, stdout, stderr)
	}
	var got struct {
		Env map[string]string `json:"env"`
	}
	invokeFunction(t, l, "chat", `{"op":"env"}`, &got)
	if got.Env["SCF_FUNCTIONNAME"] != "chat" || got.Env["TENCENTCLOUD_SESSIONTOKEN"] == "" {
		t.Errorf("the deployed function sees SCF_FUNCTIONNAME %q, a token %v; want chat, and its role's key", got.Env["SCF_FUNCTIONNAME"], got.Env["TENCENTCLOUD_SESSIONTOKEN"] != "")
	}
	var fan struct {
		IDs  []string `json:"ids"`
		Code string   `json:"code"`
	}
	invokeFunction(t, l, "chat", `{"op":"fanout","n":2}`, &fan)
	if len(fan.IDs) != 2 {
		t.Fatalf("fanout = %+v; want 2 FunctionRequestIds", fan)
	}
	testkit.Eventually(t, 20*time.Second, "a push from each event", func() bool {
		return pushesTo(push, "ev-0") == 1 && pushesTo(push, "ev-1") == 1
	})
	var call struct{ Code string }
	invokeFunction(t, l, "chat", `{"op":"call","action":"GetFunction"}`, &call)
	if call.Code != "AuthFailure.UnauthorizedOperation" {
		t.Errorf("GetFunction with the role's key: code %q; want AuthFailure.UnauthorizedOperation", call.Code)
	}
}
