package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"

	"github.com/scfws/scfws/internal/testkit"
)

// sdkAnswers is what one SDK got from local: the sync Invoke's Result,
// the Event Invoke's FunctionRequestId, ListFunctions' names and
// GetFunction's status and runtime.
type sdkAnswers struct {
	Sync struct {
		RetMsg string `json:"retMsg"`
		ErrMsg string `json:"errMsg"`
	} `json:"sync"`
	Event struct {
		FunctionRequestID string `json:"functionRequestId"`
	} `json:"event"`
	List []string `json:"list"`
	Get  struct {
		Status  string `json:"status"`
		Runtime string `json:"runtime"`
	} `json:"get"`
	Error *struct{ Code, Message string } `json:"error"`
}

// sendToAll is the backend command that broadcasts text.
func sendToAll(text string) string {
	return fmt.Sprintf(`{"scfws":{"op":"sendToAll","dataType":"text","data":%q}}`, text)
}

// nodeDir is the Node SDK's project, installed (npm ci), or the test is
// skipped (failed under CI, whose .ci/run installs it).
func nodeDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "tencentcloud-sdk-nodejs-scf"))
	switch {
	case nodeErr == nil && modErr == nil:
		return dir
	case os.Getenv("CI") == "true":
		t.Fatalf("node (%v) or e2e/node/node_modules (%v) missing: .ci/run must install them (npm ci in e2e/node)", nodeErr, modErr)
	}
	testkit.SkipMissing(t, "Node and the Tencent Cloud Node SDK", "Node 20 or later, then npm ci in e2e/node")
	return ""
}

// runNode runs e2e/node/sdk.mjs against local.
func runNode(t testing.TB, dir string, l *localRun, function, syncEvent, asyncEvent string) sdkAnswers {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "sdk.mjs")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SCFWS_ENDPOINT=" + strings.TrimPrefix(l.base, "http://"),
		"TENCENTCLOUD_SECRETID=" + l.secretID, "TENCENTCLOUD_SECRETKEY=" + l.secretKey, "TENCENTCLOUD_REGION=ap-guangzhou",
		"SCFWS_FUNCTION=" + function, "SCFWS_SYNC_EVENT=" + syncEvent, "SCFWS_ASYNC_EVENT=" + asyncEvent}
	var stderr testkit.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var got sdkAnswers
	if jsonErr := json.Unmarshal(out, &got); jsonErr != nil {
		t.Fatalf("node sdk.mjs = %v, printed %q (%v)\n%s", err, out, jsonErr, stderr.String())
	}
	if got.Error != nil || err != nil {
		t.Fatalf("node sdk.mjs: %v %+v\n%s", err, got.Error, stderr.String())
	}
	return got
}

// runGo makes the same calls with the official Go SDK.
func runGo(t testing.TB, l *localRun, function, syncEvent, asyncEvent string) sdkAnswers {
	t.Helper()
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = strings.TrimPrefix(l.base, "http://"), "HTTP"
	c, err := scf.NewClient(common.NewCredential(l.secretID, l.secretKey), "ap-guangzhou", prof)
	if err != nil {
		t.Fatal(err)
	}
	var got sdkAnswers
	invoke := func(kind, event string) *scf.Result {
		req := scf.NewInvokeRequest()
		req.FunctionName, req.InvocationType, req.ClientContext = common.StringPtr(function), common.StringPtr(kind), common.StringPtr(event)
		resp, err := c.Invoke(req)
		if err != nil {
			t.Fatalf("Go SDK Invoke %s = %v", kind, err)
		}
		return resp.Response.Result
	}
	r := invoke("RequestResponse", syncEvent)
	got.Sync.RetMsg, got.Sync.ErrMsg = *r.RetMsg, *r.ErrMsg
	got.Event.FunctionRequestID = *invoke("Event", asyncEvent).FunctionRequestId
	list, err := c.ListFunctions(scf.NewListFunctionsRequest())
	if err != nil {
		t.Fatalf("Go SDK ListFunctions = %v", err)
	}
	for _, f := range list.Response.Functions {
		got.List = append(got.List, *f.FunctionName)
	}
	req := scf.NewGetFunctionRequest()
	req.FunctionName = common.StringPtr(function)
	fn, err := c.GetFunction(req)
	if err != nil {
		t.Fatalf("Go SDK GetFunction = %v", err)
	}
	got.Get.Status, got.Get.Runtime = *fn.Response.Status, *fn.Response.Runtime
	return got
}

// Tencent's official SDKs, Go and Node, each configured the plain way for
// a custom endpoint, call scfws local's SCF API: Invoke (RequestResponse
// and Event) of a function scfws deploy put there, ListFunctions and
// GetFunction. Both invocations reach the deployed function: its clients
// get both broadcasts.
func TestOfficialSDKsAgainstLocal(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	dir := nodeDir(t)
	zip, _ := buildZip(t)
	l := startLocal(t, nil)
	res := deployJSON(t, l, zip, "-env", "STORE=memory")
	ws := connect(t, res.WSURL)
	for _, sdk := range []struct {
		name string
		run  func(function, syncEvent, asyncEvent string) sdkAnswers
	}{
		{"go", func(f, s, a string) sdkAnswers { return runGo(t, l, f, s, a) }},
		{"node", func(f, s, a string) sdkAnswers { return runNode(t, dir, l, f, s, a) }},
	} {
		t.Run(sdk.name, func(t *testing.T) {
			syncText, asyncText := sdk.name+" sync", sdk.name+" event"
			got := sdk.run("chat", sendToAll(syncText), sendToAll(asyncText))
			var reply struct{ ErrNo, Recipients int }
			if err := json.Unmarshal([]byte(got.Sync.RetMsg), &reply); err != nil || got.Sync.ErrMsg != "" || reply.ErrNo != 0 || reply.Recipients != 1 {
				t.Errorf("sync Invoke: RetMsg %q, ErrMsg %q; want errNo 0 to 1 recipient", got.Sync.RetMsg, got.Sync.ErrMsg)
			}
			if got.Event.FunctionRequestID == "" {
				t.Error("Event Invoke: no FunctionRequestId")
			}
			if !slices.Contains(got.List, "chat") {
				t.Errorf("ListFunctions = %q; want chat among them", got.List)
			}
			if got.Get.Status != "Active" || got.Get.Runtime != "Go1" {
				t.Errorf("GetFunction: %s %s; want Active Go1", got.Get.Status, got.Get.Runtime)
			}
			testkit.Eventually(t, 30*time.Second, "the client to get both broadcasts of "+sdk.name, func() bool {
				ws.mu.Lock()
				defer ws.mu.Unlock()
				return ws.got[syncText] == 1 && ws.got[asyncText] == 1
			})
		})
	}
	if strings.Contains(l.stderr.String(), "event invocation failed") {
		t.Errorf("local logged a failed Event invocation:\n%s", l.stderr.String())
	}
}
