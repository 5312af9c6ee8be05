//go:build !scfws_function

package cli

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"

	"github.com/scfws/scfws/deploy"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/local/cloudapi"
)

const (
	depID     = "AKIDdeployTEST0000000000000000000000"
	depKey    = "deploy-test-secret-key-0123456789"
	depRegion = "ap-guangzhou"
)

// Values the output must never show.
var depSecrets = []string{depKey, "hunter2-db-password", "jwt-signing-secret-0123456789abcdef", "route-publish-secret-0123456789abcdef"}

// recRuntime is the emulator's part, faked: it records what the cloud asks.
type recRuntime struct {
	mu    sync.Mutex
	calls []string
	last  map[cloudapi.FunctionID]cloudapi.FunctionSpec
	fail  string // Deploy fails with this, when set
	// polled, when set, holds each Deploy until deploy has polled
	// GetFunction once more, so that it sees Creating or Updating first.
	polled chan struct{}
}

func (r *recRuntime) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recRuntime) Deploy(ctx context.Context, fn cloudapi.FunctionSpec) error {
	if r.polled != nil {
		select {
		case <-r.polled:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.add("Deploy " + fn.Name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != "" {
		return errors.New(r.fail)
	}
	if r.last == nil {
		r.last = map[cloudapi.FunctionID]cloudapi.FunctionSpec{}
	}
	r.last[fn.FunctionID] = fn
	return nil
}

func (r *recRuntime) Invoke(_ context.Context, fn cloudapi.FunctionID, event []byte) ([]byte, error) {
	r.add("Invoke " + fn.Name + " " + string(event))
	return []byte(okReply), nil
}

func (r *recRuntime) Remove(_ context.Context, fn cloudapi.FunctionID) error {
	r.add("Remove " + fn.Name)
	return nil
}

func (r *recRuntime) Serve(_ context.Context, api cloudapi.APISpec) error {
	r.add(fmt.Sprintf("Serve %s %s idle=%s roles=%s,%s,%s", api.URL, api.PushURL, api.IdleTimeout, api.Register.Name, api.Transport.Name, api.Cleanup.Name))
	return nil
}

func (r *recRuntime) Unserve(_ context.Context, api cloudapi.APIID) error {
	r.add("Unserve " + api.APIID)
	return nil
}

func (r *recRuntime) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recRuntime) Env(name string) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[cloudapi.FunctionID{Region: depRegion, Namespace: "default", Name: name}].Env
}

// apiCall is one Cloud API request deploy made.
type apiCall struct {
	action string // e.g. scf:CreateFunction
	body   map[string]any
}

// testCloud is scfws local's Cloud API (tcloud's control plane over a
// fake runtime) on a loopback httptest server, recording every request.
type testCloud struct {
	srv   *cloudapi.Server
	cloud *cloudapi.Cloud
	rt    *recRuntime
	url   string

	mu    sync.Mutex
	calls []apiCall
	// before, when set, runs before each request reaches the cloud, with
	// its action (e.g. apigw:UnReleaseService).
	before func(action string)
}

var scopeService = regexp.MustCompile(`Credential=[^/]+/[^/]+/([a-z]+)/tc3_request`)

func newTestCloud(t testing.TB) *testCloud {
	t.Helper()
	c := &testCloud{srv: cloudapi.NewServer(cloudapi.Credential{SecretID: depID, SecretKey: depKey}), rt: &recRuntime{}}
	c.cloud = cloudapi.NewCloud(c.rt, cloudapi.CloudOptions{Namespaces: []string{"prod"}})
	c.cloud.Register(c.srv)
	invoke := cloudapi.NewSCF(c.cloud)
	invoke.Register(c.srv)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var params map[string]any
		_ = json.Unmarshal(body, &params)
		service := "?"
		if m := scopeService.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			service = map[string]string{"apigateway": "apigw"}[m[1]]
			if service == "" {
				service = m[1]
			}
		}
		action := service + ":" + r.Header.Get("X-TC-Action")
		c.mu.Lock()
		c.calls = append(c.calls, apiCall{action: action, body: params})
		before := c.before
		c.mu.Unlock()
		if before != nil {
			before(action)
		}
		polled := c.rt.polled
		if polled != nil && strings.HasPrefix(action, "scf:") && strings.Contains(action, "Function") && action != "scf:GetFunction" {
			select { // a new operation waits for a poll after this call
			case <-polled:
			default:
			}
		}
		c.srv.ServeHTTP(w, r)
		if polled != nil && action == "scf:GetFunction" {
			select { // answered: the operation may end now
			case polled <- struct{}{}:
			default:
			}
		}
	}))
	c.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		invoke.Close()
		c.cloud.Close()
	})
	t.Setenv(envSecretID, depID)
	t.Setenv(envSecretKey, depKey)
	t.Setenv(envSessionToken, "")
	t.Setenv(envRegion, "")
	return c
}

// Calls returns the requests since the last call of Calls.
func (c *testCloud) Calls() []apiCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

// writes counts the write calls by action.
func writes(calls []apiCall) map[string]int {
	n := map[string]int{}
	for _, c := range calls {
		action := c.action[strings.Index(c.action, ":")+1:]
		if !strings.HasPrefix(action, "Get") && !strings.HasPrefix(action, "Describe") && !strings.HasPrefix(action, "List") {
			n[c.action]++
		}
	}
	return n
}

func bodies(calls []apiCall, action string) []map[string]any {
	var out []map[string]any
	for _, c := range calls {
		if c.action == action {
			out = append(out, c.body)
		}
	}
	return out
}

// envOf is a request's Environment as a map.
func envOf(body map[string]any) map[string]string {
	env := map[string]string{}
	e, _ := body["Environment"].(map[string]any)
	vars, _ := e["Variables"].([]any)
	for _, v := range vars {
		kv := v.(map[string]any)
		env[kv["Key"].(string)] = kv["Value"].(string)
	}
	return env
}

// staticExe is a small static linux/amd64 program standing in for this
// executable (the test binary is not one), one per content so that tests
// can change the code.
func staticExe(t testing.TB, content string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scfws")
	if err := os.WriteFile(bin, testkit.StaticELF(elf.EM_X86_64, []byte(content)), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func testHooks(t testing.TB) deployHooks {
	t.Helper()
	return deployHooks{getenv: os.Getenv, executable: staticExe(t, "v1"), pollInterval: time.Millisecond, retryPause: time.Millisecond}
}

// runDeployT runs scfws deploy against c with args after the common ones.
func runDeployT(t testing.TB, c *testCloud, h deployHooks, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"-region", depRegion, "-name", "chat", "-endpoint", c.url}, args...)
	err = runDeploy(all, strings.NewReader(""), &out, &errOut, h)
	assertNoSecrets(t, out.String()+errOut.String())
	if err != nil {
		assertNoSecrets(t, err.Error())
	}
	return out.String(), errOut.String(), err
}

func assertNoSecrets(t testing.TB, s string) {
	t.Helper()
	for _, secret := range depSecrets {
		if strings.Contains(s, secret) {
			t.Errorf("output shows the secret %q:\n%s", secret, s)
		}
	}
}

// mustDeploy deploys and fails the test on error.
func mustDeploy(t testing.TB, c *testCloud, h deployHooks, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := runDeployT(t, c, h, args...)
	if err != nil {
		t.Fatalf("deploy %q = %v\nstderr:\n%s", args, err, stderr)
	}
	return stdout, stderr
}

// secretArgs give the function secrets through -env and -env-file.
func secretArgs(t testing.TB) []string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "chat.env")
	content := "# the database\nDB_HOST=db.internal\nDB_PASSWORD=hunter2-db-password\nAUTH_SECRET='jwt-signing-secret-0123456789abcdef'\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"-env-file", file, "-env", "STORE=mysql", "-env", "PUBLISH_SECRET=route-publish-secret-0123456789abcdef"}
}

func TestDeployCreatesEverything(t *testing.T) {
	c := newTestCloud(t)
	c.rt.polled = make(chan struct{}, 1)
	start := time.Now()
	stdout, stderr := mustDeploy(t, c, testHooks(t), secretArgs(t)...)
	took := time.Since(start)
	t.Logf("deploy to active and released: %s\nstderr:\n%s\nstdout:\n%s", took, stderr, stdout)
	calls := c.Calls()

	want := map[string]int{"scf:CreateFunction": 1, "apigw:CreateService": 1, "apigw:CreateApi": 1,
		"scf:UpdateFunctionConfiguration": 1, "apigw:ReleaseService": 1, "cam:CreateRole": 1, "cam:CreatePolicy": 1, "cam:AttachRolePolicy": 1}
	if got := writes(calls); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("write calls = %v; want %v", got, want)
	}
	create := bodies(calls, "scf:CreateFunction")[0]
	for k, v := range map[string]any{"FunctionName": "chat", "Namespace": "default", "Runtime": "Go1", "Handler": "main", "MemorySize": 128.0, "Timeout": 3.0,
		"Role": "scfws-ap-guangzhou-default-chat"} {
		if create[k] != v {
			t.Errorf("CreateFunction %s = %v; want %v", k, create[k], v)
		}
	}
	if tags := fmt.Sprint(create["Tags"]); tags != "[map[Key:scfws-deploy Value:default/chat]]" {
		t.Errorf("CreateFunction Tags = %s", tags)
	}
	wantEnv := map[string]string{"DB_HOST": "db.internal", "DB_PASSWORD": "hunter2-db-password", "AUTH_SECRET": "jwt-signing-secret-0123456789abcdef",
		"STORE": "mysql", "PUBLISH_SECRET": "route-publish-secret-0123456789abcdef", "IDLE_TIMEOUT": "600s"}
	if got := envOf(create); fmt.Sprint(got) != fmt.Sprint(wantEnv) {
		t.Errorf("CreateFunction Environment = %v; want %v (secrets are sent)", got, wantEnv)
	}

	api := bodies(calls, "apigw:CreateApi")[0]
	for k, v := range map[string]any{"Protocol": "WEBSOCKET", "ServiceType": "SCF", "ServiceTimeout": 600.0, "AuthType": "NONE",
		"ServiceScfIsIntegratedResponse": false, "ApiName": "websocket",
		"ServiceWebsocketRegisterFunctionName": "chat", "ServiceWebsocketTransportFunctionName": "chat", "ServiceWebsocketCleanupFunctionName": "chat",
		"ServiceWebsocketRegisterFunctionNamespace": "default", "ServiceWebsocketTransportFunctionQualifier": "$LATEST"} {
		if api[k] != v {
			t.Errorf("CreateApi %s = %v; want %v", k, api[k], v)
		}
	}
	if rc := fmt.Sprint(api["RequestConfig"]); rc != "map[Method:GET Path:/websocket]" {
		t.Errorf("CreateApi RequestConfig = %s", rc)
	}
	if _, ok := api["ServiceScfFunctionName"]; ok {
		t.Error("CreateApi names ServiceScfFunctionName; a WebSocket API names its three functions")
	}

	var res deploy.Result
	json1, _, _ := runDeployT(t, c, testHooks(t), append(secretArgs(t), "-json")...)
	if err := json.Unmarshal([]byte(json1), &res); err != nil {
		t.Fatalf("-json output %q: %v", json1, err)
	}
	update := envOf(bodies(calls, "scf:UpdateFunctionConfiguration")[0])
	if update["SENDBACK_HOST"] == "" || update["SENDBACK_HOST"] != res.PushURL || update["IDLE_TIMEOUT"] != "600s" {
		t.Errorf("SENDBACK_HOST, IDLE_TIMEOUT set = %q, %q; want the API's InternalDomain %q and 600s", update["SENDBACK_HOST"], update["IDLE_TIMEOUT"], res.PushURL)
	}
	if env := c.rt.Env("chat"); env["SENDBACK_HOST"] != res.PushURL || env["DB_PASSWORD"] != "hunter2-db-password" {
		t.Errorf("the function runs with SENDBACK_HOST %q; want %q", env["SENDBACK_HOST"], res.PushURL)
	}
	if !regexp.MustCompile(`^ws://service-[a-z0-9]{8}-1250000000\.gz\.apigw\.tencentcs\.com/release/websocket$`).MatchString(res.WSURL) ||
		!regexp.MustCompile(`^http://set-[a-z0-9]+\.cb-guangzhou\.apigateway\.tencentyun\.com/api-[a-z0-9]{8}$`).MatchString(res.PushURL) {
		t.Errorf("wsUrl %s, pushUrl %s; want Tencent's shapes", res.WSURL, res.PushURL)
	}
	// The push address is set before the release, so the API goes live
	// with a function that can answer.
	var order []string
	for _, call := range calls {
		if call.action == "scf:UpdateFunctionConfiguration" || call.action == "apigw:ReleaseService" {
			order = append(order, call.action)
		}
	}
	if fmt.Sprint(order) != "[scf:UpdateFunctionConfiguration apigw:ReleaseService]" {
		t.Errorf("order = %v; want the push address set, then the release", order)
	}
	wantServe := fmt.Sprintf("Serve wss://%s %s idle=10m0s roles=chat,chat,chat", strings.TrimPrefix(res.WSURL, "ws://"), res.PushURL)
	if calls := c.rt.Calls(); !contains(calls, wantServe) {
		t.Errorf("runtime calls %q; want %q", calls, wantServe)
	}
	for _, want := range []string{"Deployed chat (createRole, createPolicy, attachRolePolicy, createFunction, createService, createApi, updateFunctionConfiguration, releaseService).",
		"run role    scfws-ap-guangzhou-default-chat",
		"client URL  " + res.WSURL, "push URL    " + res.PushURL, "scfws probe -url " + res.WSURL + "\n",
		"DB_PASSWORD=[redacted]", "STORE=mysql"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, want := range []string{"chat is Creating", "chat is Active", "chat is Updating"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestDeployAgainChangesNothing(t *testing.T) {
	c := newTestCloud(t)
	mustDeploy(t, c, testHooks(t), secretArgs(t)...)
	c.Calls()
	stdout, _ := mustDeploy(t, c, testHooks(t), secretArgs(t)...)
	if w := writes(c.Calls()); len(w) != 0 {
		t.Errorf("second deploy wrote %v; want nothing", w)
	}
	if !strings.HasPrefix(stdout, "Nothing changed: the function chat, its API and the release are up to date.") {
		t.Errorf("stdout = %q; want it to say nothing changed", stdout)
	}
	out, _ := mustDeploy(t, c, testHooks(t), append(secretArgs(t), "-json")...)
	var res struct{ Changed []string }
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Changed == nil || len(res.Changed) != 0 {
		t.Errorf("-json changed = %v (%v); want []", res.Changed, err)
	}
}

// Changed arguments update in place: only what they concern.
func TestDeployUpdatesInPlace(t *testing.T) {
	tests := []struct {
		name        string
		give        []string
		exe         string // the code; "" for v1
		wantChanged string
		wantWrites  map[string]int
	}{
		{name: "-env", give: []string{"-env", "LOG_LEVEL=debug"}, wantChanged: "[updateFunctionConfiguration]",
			wantWrites: map[string]int{"scf:UpdateFunctionConfiguration": 1}},
		{name: "-memory and -timeout", give: []string{"-memory", "256", "-timeout", "10s"}, wantChanged: "[updateFunctionConfiguration]",
			wantWrites: map[string]int{"scf:UpdateFunctionConfiguration": 1}},
		{name: "-path", give: []string{"-path", "/chat"}, wantChanged: "[modifyApi releaseService]",
			wantWrites: map[string]int{"apigw:ModifyApi": 1, "apigw:ReleaseService": 1}},
		{name: "-idle-timeout", give: []string{"-idle-timeout", "120s"}, wantChanged: "[updateFunctionConfiguration modifyApi releaseService]",
			wantWrites: map[string]int{"scf:UpdateFunctionConfiguration": 1, "apigw:ModifyApi": 1, "apigw:ReleaseService": 1}},
		{name: "new code", exe: "v2", wantChanged: "[updateFunctionCode updateFunctionConfiguration]",
			wantWrites: map[string]int{"scf:UpdateFunctionCode": 1, "scf:UpdateFunctionConfiguration": 1}},
		{name: "-vpc", give: []string{"-vpc", "vpc-1", "-subnet", "subnet-1"}, wantChanged: "[updateFunctionConfiguration]",
			wantWrites: map[string]int{"scf:UpdateFunctionConfiguration": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCloud(t)
			mustDeploy(t, c, testHooks(t), "-env", "STORE=memory")
			c.Calls()
			h := testHooks(t)
			if tt.exe != "" {
				h.executable = staticExe(t, tt.exe)
			}
			out, _ := mustDeploy(t, c, h, append([]string{"-env", "STORE=memory", "-json"}, tt.give...)...)
			var res deploy.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Changed); got != tt.wantChanged {
				t.Errorf("changed = %s; want %s", got, tt.wantChanged)
			}
			if got := writes(c.Calls()); fmt.Sprint(got) != fmt.Sprint(tt.wantWrites) {
				t.Errorf("writes = %v; want %v", got, tt.wantWrites)
			}
			// And then it is settled.
			mustDeploy(t, c, h, append([]string{"-env", "STORE=memory"}, tt.give...)...)
			if w := writes(c.Calls()); len(w) != 0 {
				t.Errorf("the next deploy wrote %v; want nothing", w)
			}
		})
	}
}

func TestDeployDryRunWritesNothing(t *testing.T) {
	c := newTestCloud(t)
	stdout, _, err := runDeployT(t, c, testHooks(t), append(secretArgs(t), "-dry-run")...)
	if err != nil {
		t.Fatal(err)
	}
	if w := writes(c.Calls()); len(w) != 0 {
		t.Errorf("-dry-run wrote %v", w)
	}
	for _, want := range []string{"Dry run: deploy would createRole, createPolicy, attachRolePolicy, createFunction, createService, createApi, updateFunctionConfiguration, releaseService.",
		"create the function chat (Go1, handler main, 128 MB, timeout 3s; run role scfws-ap-guangzhou-default-chat; environment AUTH_SECRET=[redacted]"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if fns := c.cloud.Functions(); len(fns) != 0 {
		t.Errorf("functions after -dry-run = %v", fns)
	}

	mustDeploy(t, c, testHooks(t), secretArgs(t)...)
	c.Calls()
	out, _ := mustDeploy(t, c, testHooks(t), append(secretArgs(t), "-env", "LOG_LEVEL=debug", "-path", "/ws", "-dry-run", "-json")...)
	if w := writes(c.Calls()); len(w) != 0 {
		t.Errorf("-dry-run wrote %v", w)
	}
	var res deploy.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || fmt.Sprint(res.Changed) != "[updateFunctionConfiguration modifyApi releaseService]" {
		t.Errorf("-dry-run -json = %s", out)
	}
}

func TestDeployJSON(t *testing.T) {
	c := newTestCloud(t)
	out, _ := mustDeploy(t, c, testHooks(t), "-json")
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("stdout %q is not one JSON object: %v", out, err)
	}
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, " "); got != "apiId changed functionName namespace pushUrl role serviceId wsUrl" {
		t.Errorf("keys = %s", got)
	}
	if obj["functionName"] != "chat" || obj["namespace"] != "default" || !strings.HasPrefix(obj["serviceId"].(string), "service-") ||
		!strings.HasPrefix(obj["apiId"].(string), "api-") || obj["role"] != "scfws-ap-guangzhou-default-chat" ||
		fmt.Sprint(obj["changed"]) != "[createRole createPolicy attachRolePolicy createFunction createService createApi updateFunctionConfiguration releaseService]" {
		t.Errorf("JSON = %s", out)
	}
}

// scfClient is the SDK pointed at the test cloud, for what tests set up
// beside deploy.
func scfClient(t testing.TB, c *testCloud) *scf.Client {
	t.Helper()
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = strings.TrimPrefix(c.url, "http://"), "HTTP"
	cl, err := scf.NewClient(common.NewCredential(depID, depKey), depRegion, prof)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// createFunction makes a function as a user would, not through deploy.
func createFunction(t testing.TB, c *testCloud, name, runtime string) {
	t.Helper()
	req := scf.NewCreateFunctionRequest()
	req.FunctionName, req.Runtime, req.Handler = common.StringPtr(name), common.StringPtr(runtime), common.StringPtr("index.main_handler")
	req.Code = &scf.Code{ZipFile: common.StringPtr("UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==")} // an empty zip
	if _, err := scfClient(t, c).CreateFunction(req); err != nil {
		t.Fatal(err)
	}
	c.cloud.Wait()
}

func runDestroyT(t testing.TB, c *testCloud, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"-region", depRegion, "-name", "chat", "-endpoint", c.url}, args...)
	h := testHooks(t)
	err = runDestroy(all, strings.NewReader(stdin), &out, &errOut, h)
	assertNoSecrets(t, out.String()+errOut.String())
	return out.String(), errOut.String(), err
}

func TestDestroyRemovesOnlyWhatDeployMade(t *testing.T) {
	c := newTestCloud(t)
	createFunction(t, c, "bystander", "Python3.6")
	mustDeploy(t, c, testHooks(t), secretArgs(t)...)
	// Another deployment, of another function, must survive too.
	var out, errOut bytes.Buffer
	if err := runDeploy([]string{"-region", depRegion, "-name", "other", "-endpoint", c.url}, nil, &out, &errOut, testHooks(t)); err != nil {
		t.Fatal(err)
	}
	c.Calls()

	_, stderr, err := runDestroyT(t, c, "n\n")
	var x exitError
	if !errors.As(err, &x) || x.code != 1 {
		t.Errorf("destroy answered n = %v; want exit status 1", err)
	}
	if !strings.Contains(stderr, "delete the function chat") || !strings.Contains(stderr, "Go ahead? [y/N]") {
		t.Errorf("the prompt = %q", stderr)
	}
	if w := writes(c.Calls()); len(w) != 0 {
		t.Errorf("destroy without a yes wrote %v", w)
	}

	stdout, _, err := runDestroyT(t, c, "y\n")
	if err != nil {
		t.Fatalf("destroy = %v", err)
	}
	// The tag goes before the service: API Gateway refuses to delete a
	// tagged service (UnsupportedOperation.TagsNotEmpty).
	want := map[string]int{"apigw:UnReleaseService": 1, "apigw:DeleteApi": 1, "tag:DetachResourcesTag": 1, "apigw:DeleteService": 1, "scf:DeleteFunction": 1,
		"cam:DetachRolePolicy": 1, "cam:DeletePolicy": 1, "cam:DeleteRole": 1}
	if got := writes(c.Calls()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("destroy wrote %v; want %v", got, want)
	}
	// The role goes after the function that ran as it.
	if !strings.HasPrefix(stdout, "Removed (unReleaseService, deleteApi, detachResourcesTag, deleteService, deleteFunction, detachRolePolicy, deletePolicy, deleteRole):") {
		t.Errorf("stdout = %q", stdout)
	}
	var left []string
	for _, f := range c.cloud.Functions() {
		left = append(left, f.Name)
	}
	if fmt.Sprint(left) != "[bystander other]" {
		t.Errorf("functions left = %v; want [bystander other]", left)
	}
	// The other deployment is intact: deploying it again changes nothing.
	out.Reset()
	if err := runDeploy([]string{"-region", depRegion, "-name", "other", "-endpoint", c.url}, nil, &out, &errOut, testHooks(t)); err != nil || !strings.HasPrefix(out.String(), "Nothing changed") {
		t.Errorf("deploy of the other function after destroy = %v, %q", err, out.String())
	}

	stdout, _, err = runDestroyT(t, c, "", "-yes")
	if err != nil || !strings.Contains(stdout, "Nothing removed.") {
		t.Errorf("destroy again = %v, %q; want nothing removed", err, stdout)
	}
}

func TestDestroyLeavesAFunctionDeployDidNotMake(t *testing.T) {
	c := newTestCloud(t)
	createFunction(t, c, "chat", "Go1") // made by hand, as in the tutorial
	mustDeploy(t, c, testHooks(t))      // adopted: updated in place
	stdout, _, err := runDestroyT(t, c, "", "-yes")
	if err != nil {
		t.Fatal(err)
	}
	if w := writes(c.Calls()); w["scf:DeleteFunction"] != 0 || w["apigw:DeleteService"] != 1 {
		t.Errorf("destroy wrote %v; want the service deleted and the function kept", w)
	}
	if !strings.Contains(stdout, "the function chat is left: scfws deploy did not make it") {
		t.Errorf("stdout = %q", stdout)
	}
}

func TestDeployErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t testing.TB, c *testCloud)
		give  []string // flags
		want  []string // in the error
	}{
		{
			name:  "wrong key",
			setup: func(t testing.TB, _ *testCloud) { t.Setenv(envSecretKey, "not-the-key-0123456789") },
			want:  []string{"read the function (scf:GetFunction): AuthFailure.SignatureFailure", "check TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY"},
		},
		{
			name: "no permission to create the API",
			setup: func(_ testing.TB, c *testCloud) {
				c.srv.FailAction("apigateway", "CreateApi", "AuthFailure.UnauthorizedOperation")
			},
			want: []string{"create the WebSocket API (apigw:CreateApi): AuthFailure.UnauthorizedOperation",
				"the key may not call apigw:CreateApi: grant that CAM action", "docs/deploy.md"},
		},
		{
			name: "no permission to create the function (SCF's code)",
			setup: func(_ testing.TB, c *testCloud) {
				c.srv.FailAction("scf", "CreateFunction", "UnauthorizedOperation.CAM")
			},
			want: []string{"create the function (scf:CreateFunction): UnauthorizedOperation.CAM", "the key may not call scf:CreateFunction"},
		},
		{
			name:  "name taken by a function with another runtime",
			setup: func(t testing.TB, c *testCloud) { createFunction(t, c, "chat", "Python3.6") },
			want:  []string{"check the function (scf:GetFunction): the function chat in namespace default exists with runtime Python3.6, not Go1", "choose another -name"},
		},
		{
			name: "unknown namespace",
			give: []string{"-namespace", "staging"},
			want: []string{"read the function (scf:GetFunction): ResourceNotFound.Namespace", "create the namespace"},
		},
		{
			name:  "the function cannot start",
			setup: func(_ testing.TB, c *testCloud) { c.rt.fail = "exec format error" },
			want:  []string{"wait for the new function (scf:GetFunction): the function chat is CreateFailed: FailedOperation.CreateFunction exec format error"},
		},
		{
			name:  "memory the API refuses",
			give:  []string{"-memory", "100"},
			want:  []string{"create the function (scf:CreateFunction): InvalidParameterValue.MemorySize", "a setting was refused"},
			setup: func(testing.TB, *testCloud) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCloud(t)
			if tt.setup != nil {
				tt.setup(t, c)
			}
			_, _, err := runDeployT(t, c, testHooks(t), append(secretArgs(t), tt.give...)...)
			if err == nil {
				t.Fatal("deploy succeeded; want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error:\n%v\nlacks %q", err, want)
				}
			}
		})
	}
}

// A deployed function is reachable by scfws publish (SCF Invoke).
func TestPublishReachesADeployedFunction(t *testing.T) {
	c := newTestCloud(t)
	mustDeploy(t, c, testHooks(t))
	stdout, stderr, err := runPublish([]string{"-function", "chat", "-region", depRegion, "-endpoint", c.url, "-all", "hello"}, "")
	if err != nil || stdout != okPrinted {
		t.Fatalf("publish = %v, %q (stderr %q)", err, stdout, stderr)
	}
	if calls := c.rt.Calls(); !contains(calls, `Invoke chat {"scfws":{"op":"sendToAll","dataType":"text","data":"hello"}}`) {
		t.Errorf("runtime calls = %q", calls)
	}
}

func TestDeployUsage(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want string
	}{
		{name: "no name", give: []string{"-region", "r"}, want: "deploy wants -name"},
		{name: "no region", give: []string{"-name", "chat"}, want: "no region"},
		{name: "fractional timeout", give: []string{"-name", "chat", "-region", "r", "-timeout", "2.5s"}, want: "-timeout 2.5s: whole seconds"},
		{name: "vpc without subnet", give: []string{"-name", "chat", "-region", "r", "-vpc", "vpc-1"}, want: "-vpc and -subnet go together"},
		{name: "SENDBACK_HOST", give: []string{"-name", "chat", "-region", "r", "-env", "SENDBACK_HOST=http://x"}, want: "SENDBACK_HOST is deploy's to set"},
		{name: "bad -env", give: []string{"-name", "chat", "-region", "r", "-env", "hunter2-db-password"}, want: "-env number 1: not KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envRegion, "")
			t.Setenv(envSecretID, depID)
			t.Setenv(envSecretKey, depKey)
			var out, errOut bytes.Buffer
			err := runDeploy(tt.give, nil, &out, &errOut, testHooks(t))
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("deploy %q = %v; want a usage error with %q", tt.give, err, tt.want)
			}
			assertNoSecrets(t, fmt.Sprint(err))
		})
	}
}

// BenchmarkDeploy measures a first deploy, from start to a function that
// is Active behind a released API, against scfws local's cloud with a
// runtime that deploys at once.
func BenchmarkDeploy(b *testing.B) {
	h := testHooks(b)
	for i := 0; i < b.N; i++ {
		c := newTestCloud(b)
		var out, errOut bytes.Buffer
		if err := runDeploy([]string{"-region", depRegion, "-name", "chat", "-endpoint", c.url}, nil, &out, &errOut, h); err != nil {
			b.Fatal(err)
		}
	}
}

// camAliases are the CAM actions a call may be checked as besides its own
// name: SCF's CAM table names one action, scf:UpdateFunction ("更新函数，包括
// 配置和/或代码"), for both updates, while other policies name the API's
// actions; until a real account says which CAM checks, the policy lists
// both (docs/deploy.md).
var camAliases = map[string][]string{
	"scf:UpdateFunctionCode":          {"scf:UpdateFunction"},
	"scf:UpdateFunctionConfiguration": {"scf:UpdateFunction"},
}

// camActions are the CAM actions of the calls made.
func camActions(called map[string]bool) map[string]bool {
	out := maps.Clone(called)
	for action := range called {
		for _, alias := range camAliases[action] {
			out[alias] = true
		}
	}
	return out
}

// docs/deploy.md's CAM policy has exactly the actions deploy and destroy
// call: a policy made from it neither fails a step nor grants more.
func TestDocsListTheCAMActions(t *testing.T) {
	c := newTestCloud(t)
	called := map[string]bool{}
	record := func() {
		for _, call := range c.Calls() {
			called[call.action] = true
			// Giving a function a role is checked as cam:PassRole too.
			if role, _ := call.body["Role"].(string); role != "" {
				called["cam:PassRole"] = true
			}
		}
	}
	mustDeploy(t, c, testHooks(t), secretArgs(t)...)
	record()
	// An update of everything in place: new code, settings and path.
	h := testHooks(t)
	h.executable = staticExe(t, "v2")
	mustDeploy(t, c, h, append(secretArgs(t), "-env", "HEARTBEAT_MESSAGE=hb", "-path", "/chat")...)
	record()
	if _, _, err := runDestroyT(t, c, "", "-yes"); err != nil {
		t.Fatal(err)
	}
	record()
	called = camActions(called)
	doc, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	// The policy is the first JSON block of its section (others show the
	// run role's own policy).
	_, section, _ := strings.Cut(string(doc), "## Minimal CAM policy")
	_, block, _ := strings.Cut(section, "```json")
	block, _, _ = strings.Cut(block, "```")
	inPolicy := map[string]bool{}
	for _, m := range regexp.MustCompile(`"((?:scf|apigw|tag|cam):[A-Za-z]+)"`).FindAllStringSubmatch(block, -1) {
		inPolicy[m[1]] = true
	}
	if !maps.Equal(inPolicy, called) {
		t.Errorf("docs/deploy.md's policy has %v;\ndeploy and destroy call %v", slices.Sorted(maps.Keys(inPolicy)), slices.Sorted(maps.Keys(called)))
	}
}
