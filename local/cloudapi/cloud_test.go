package cloudapi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"
	tag "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/tag/v20180813"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/local/cloudapi"
)

// fakeRuntime records what the Cloud asks of the emulator. Deploy fails
// for functions named in failDeploy; a Deploy waits while gate is set and
// not closed.
type fakeRuntime struct {
	mu         sync.Mutex
	calls      []string
	specs      map[cloudapi.FunctionID]cloudapi.FunctionSpec
	served     map[cloudapi.APIID]cloudapi.APISpec
	failDeploy map[string]string
	gate       chan struct{}
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{specs: map[cloudapi.FunctionID]cloudapi.FunctionSpec{}, served: map[cloudapi.APIID]cloudapi.APISpec{}, failDeploy: map[string]string{}}
}

func (r *fakeRuntime) record(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

func (r *fakeRuntime) Deploy(ctx context.Context, fn cloudapi.FunctionSpec) error {
	r.mu.Lock()
	gate, fail := r.gate, r.failDeploy[fn.Name]
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	keys := make([]string, 0, len(fn.Env))
	for k := range fn.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r.record("Deploy %s %s %s %dMB %s env=%s", fn.FunctionID, fn.Runtime, fn.Handler, fn.MemoryMB, fn.Timeout, strings.Join(keys, ","))
	if fail != "" {
		return errors.New(fail)
	}
	r.mu.Lock()
	r.specs[fn.FunctionID] = fn
	r.mu.Unlock()
	return nil
}

func (r *fakeRuntime) Invoke(ctx context.Context, fn cloudapi.FunctionID, event []byte) ([]byte, error) {
	deadline, _ := ctx.Deadline()
	r.record("Invoke %s %s within %s", fn, event, time.Until(deadline).Round(time.Second))
	return []byte(`{"errNo":0,"from":"` + fn.Name + `"}`), nil
}

func (r *fakeRuntime) Remove(_ context.Context, fn cloudapi.FunctionID) error {
	r.record("Remove %s", fn)
	return nil
}

func (r *fakeRuntime) Serve(_ context.Context, api cloudapi.APISpec) error {
	r.record("Serve %s %s push=%s idle=%s register=%s transport=%s cleanup=%s", api.APIID.APIID, api.URL, api.PushURL,
		api.IdleTimeout, api.Register.Name, api.Transport.Name, api.Cleanup.Name)
	r.mu.Lock()
	r.served[api.APIID] = api
	r.mu.Unlock()
	return nil
}

func (r *fakeRuntime) Unserve(_ context.Context, api cloudapi.APIID) error {
	r.record("Unserve %s %s", api.APIID, api.Environment)
	r.mu.Lock()
	delete(r.served, api)
	r.mu.Unlock()
	return nil
}

// spec is the last version Deploy got of fn.
func (r *fakeRuntime) spec(fn cloudapi.FunctionID) cloudapi.FunctionSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.specs[fn]
}

func (r *fakeRuntime) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// cloudEnv is a Server with the Cloud's control plane and Invoke.
type cloudEnv struct {
	srv   *cloudapi.Server
	cloud *cloudapi.Cloud
	rt    *fakeRuntime
	http  *httptest.Server
	tr    *http.Transport
}

func newCloudEnv(t testing.TB, tweak ...func(*cloudapi.CloudOptions)) *cloudEnv {
	t.Helper()
	e := &cloudEnv{srv: cloudapi.NewServer(cloudapi.Credential{SecretID: testID, SecretKey: testKey}), rt: newFakeRuntime(), tr: &http.Transport{}}
	opts := cloudapi.CloudOptions{
		Namespaces: []string{"prod"},
		SubDomain:  func(_, id string) string { return "127.0.0.1:9/" + id },
		PushURL:    func(_, sid, aid string) string { return "http://127.0.0.1:9/_push/" + sid + "/" + aid },
		WSScheme:   "ws",
	}
	for _, f := range tweak {
		f(&opts)
	}
	e.cloud = cloudapi.NewCloud(e.rt, opts)
	e.cloud.Register(e.srv)
	invoke := cloudapi.NewSCF(e.cloud)
	invoke.Register(e.srv)
	e.http = httptest.NewServer(e.srv)
	t.Cleanup(func() {
		e.tr.CloseIdleConnections()
		e.http.Close()
		invoke.Close()
		e.cloud.Close()
	})
	return e
}

func (e *cloudEnv) profile() *profile.ClientProfile {
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint = strings.TrimPrefix(e.http.URL, "http://")
	prof.HttpProfile.Scheme = "HTTP"
	return prof
}

func (e *cloudEnv) scf(t testing.TB, region string) *scf.Client {
	t.Helper()
	c, err := scf.NewClient(common.NewCredential(testID, testKey), region, e.profile())
	if err != nil {
		t.Fatal(err)
	}
	c.WithHttpTransport(e.tr)
	return c
}

func (e *cloudEnv) tag(t testing.TB) *tag.Client {
	t.Helper()
	c, err := tag.NewClient(common.NewCredential(testID, testKey), "", e.profile())
	if err != nil {
		t.Fatal(err)
	}
	c.WithHttpTransport(e.tr)
	return c
}

// detach is DetachResourcesTag of deploy's tag from a service of testRegion.
func detach(serviceID string) *tag.DetachResourcesTagRequest {
	req := tag.NewDetachResourcesTagRequest()
	req.ServiceType, req.ResourcePrefix = common.StringPtr("apigw"), common.StringPtr("service")
	req.ResourceIds = common.StringPtrs([]string{serviceID})
	req.ResourceRegion, req.TagKey = common.StringPtr(testRegion), common.StringPtr("scfws-deploy")
	return req
}

func (e *cloudEnv) apigw(t testing.TB) *apigw.Client {
	t.Helper()
	return e.apigwIn(t, testRegion)
}

func (e *cloudEnv) apigwIn(t testing.TB, region string) *apigw.Client {
	t.Helper()
	c, err := apigw.NewClient(common.NewCredential(testID, testKey), region, e.profile())
	if err != nil {
		t.Fatal(err)
	}
	c.WithHttpTransport(e.tr)
	return c
}

// zipOf is a zip holding main with content, in base64 as the API takes it.
func zipOf(t testing.TB, content string) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(testkit.Zip(t, testkit.ZipFile{Name: "main", Data: []byte(content)}))
}

func createRequest(t testing.TB, name string) *scf.CreateFunctionRequest {
	t.Helper()
	req := scf.NewCreateFunctionRequest()
	req.FunctionName = common.StringPtr(name)
	req.Runtime = common.StringPtr("Go1")
	req.Handler = common.StringPtr("main")
	req.MemorySize = common.Int64Ptr(128)
	req.Timeout = common.Int64Ptr(3)
	req.Code = &scf.Code{ZipFile: common.StringPtr(zipOf(t, "v1"))}
	req.Environment = &scf.Environment{Variables: []*scf.Variable{
		{Key: common.StringPtr("STORE"), Value: common.StringPtr("memory")},
		{Key: common.StringPtr("DB_PASSWORD"), Value: common.StringPtr("hunter2")},
	}}
	return req
}

func getFunction(t testing.TB, c *scf.Client, name string) *scf.GetFunctionResponse {
	t.Helper()
	req := scf.NewGetFunctionRequest()
	req.FunctionName = common.StringPtr(name)
	resp, err := c.GetFunction(req)
	if err != nil {
		t.Fatalf("GetFunction(%s) = %v", name, err)
	}
	return resp
}

func TestFunctionLifecycle(t *testing.T) {
	e := newCloudEnv(t)
	c := e.scf(t, testRegion)
	e.rt.gate = make(chan struct{})
	if _, err := c.CreateFunction(createRequest(t, "chat")); err != nil {
		t.Fatalf("CreateFunction = %v", err)
	}
	if got := *getFunction(t, c, "chat").Response.Status; got != "Creating" {
		t.Errorf("status while the runtime deploys = %s; want Creating", got)
	}
	if _, err := c.Invoke(invokeRequest("chat", "{}")); sdkCode(t, err) != "FailedOperation.FunctionStatusError" {
		t.Errorf("Invoke while Creating = %v; want FailedOperation.FunctionStatusError", err)
	}
	close(e.rt.gate)
	e.cloud.Wait()
	resp0 := getFunction(t, c, "chat")
	got := resp0.Response
	if *got.Status != "Active" || *got.Runtime != "Go1" || *got.Handler != "main" || *got.MemorySize != 128 || *got.Timeout != 3 ||
		len(got.Environment.Variables) != 2 || *got.Namespace != "default" || *got.FunctionId == "" {
		t.Errorf("GetFunction after the deploy = %s", resp0.ToJsonString())
	}

	resp, err := c.Invoke(invokeRequest("chat", `{"a":1}`))
	if err != nil || *resp.Response.Result.RetMsg != `{"errNo":0,"from":"chat"}` {
		t.Fatalf("Invoke = %v, %v", resp, err)
	}

	code := scf.NewUpdateFunctionCodeRequest()
	code.FunctionName, code.Handler, code.ZipFile = common.StringPtr("chat"), common.StringPtr("main"), common.StringPtr(zipOf(t, "v2"))
	if _, err := c.UpdateFunctionCode(code); err != nil {
		t.Fatalf("UpdateFunctionCode = %v", err)
	}
	e.cloud.Wait()
	conf := scf.NewUpdateFunctionConfigurationRequest()
	conf.FunctionName = common.StringPtr("chat")
	conf.Timeout = common.Int64Ptr(10)
	conf.Environment = &scf.Environment{Variables: []*scf.Variable{{Key: common.StringPtr("SENDBACK_HOST"), Value: common.StringPtr("http://x")}}}
	if _, err := c.UpdateFunctionConfiguration(conf); err != nil {
		t.Fatalf("UpdateFunctionConfiguration = %v", err)
	}
	if got := *getFunction(t, c, "chat").Response.Status; got != "Updating" && got != "Active" {
		t.Errorf("status after UpdateFunctionConfiguration = %s; want Updating, then Active", got)
	}
	e.cloud.Wait()
	del := scf.NewDeleteFunctionRequest()
	del.FunctionName = common.StringPtr("chat")
	if _, err := c.DeleteFunction(del); err != nil {
		t.Fatalf("DeleteFunction = %v", err)
	}
	e.cloud.Wait()
	req := scf.NewGetFunctionRequest()
	req.FunctionName = common.StringPtr("chat")
	if _, err := c.GetFunction(req); sdkCode(t, err) != "ResourceNotFound.Function" {
		t.Errorf("GetFunction after DeleteFunction = %v; want ResourceNotFound.Function", err)
	}
	want := []string{
		"Deploy ap-guangzhou/default/chat Go1 main 128MB 3s env=DB_PASSWORD,STORE",
		"Invoke ap-guangzhou/default/chat {\"a\":1} within 3s",
		"Deploy ap-guangzhou/default/chat Go1 main 128MB 3s env=DB_PASSWORD,STORE",
		"Deploy ap-guangzhou/default/chat Go1 main 128MB 10s env=SENDBACK_HOST",
		"Remove ap-guangzhou/default/chat",
	}
	if got := e.rt.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runtime calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDeployFailureIsAStatus(t *testing.T) {
	e := newCloudEnv(t)
	c := e.scf(t, testRegion)
	e.rt.failDeploy["chat"] = "main is not a static linux/amd64 executable"
	if _, err := c.CreateFunction(createRequest(t, "chat")); err != nil {
		t.Fatalf("CreateFunction = %v", err)
	}
	e.cloud.Wait()
	resp := getFunction(t, c, "chat")
	got := resp.Response
	if *got.Status != "CreateFailed" || len(got.StatusReasons) != 1 || !strings.Contains(*got.StatusReasons[0].ErrorMessage, "static") {
		t.Errorf("GetFunction = %s; want CreateFailed with the runtime's reason", resp.ToJsonString())
	}
	if _, err := c.Invoke(invokeRequest("chat", "{}")); sdkCode(t, err) != "FailedOperation.FunctionStatusError" {
		t.Errorf("Invoke of a CreateFailed function = %v", err)
	}
}

func TestFunctionErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t testing.TB, c *scf.Client, e *cloudEnv)
		give  func(t testing.TB) tchttp.Request
		want  string
	}{
		{name: "name taken", setup: create("chat"), give: func(t testing.TB) tchttp.Request { return createRequest(t, "chat") }, want: "ResourceInUse.Function"},
		{name: "bad runtime", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Runtime = common.StringPtr("Go2")
			return r
		}, want: "InvalidParameterValue.Runtime"},
		{name: "memory not a step of 128", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.MemorySize = common.Int64Ptr(200)
			return r
		}, want: "InvalidParameterValue.MemorySize"},
		{name: "timeout over 900s", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Timeout = common.Int64Ptr(901)
			return r
		}, want: "LimitExceeded.Timeout"},
		{name: "environment over 4 KB", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Environment.Variables[0].Value = common.StringPtr(strings.Repeat("x", 4096))
			return r
		}, want: "InvalidParameterValue.EnvironmentExceededLimit"},
		{name: "variable name", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Environment.Variables[0].Key = common.StringPtr("1X")
			return r
		}, want: "InvalidParameterValue.Environment"},
		{name: "empty value", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Environment.Variables[0].Value = common.StringPtr("")
			return r
		}, want: "InvalidParameterValue.Environment"},
		{name: "reserved prefix SCF_", give: withVariable("SCF_RUNTIME"), want: "InvalidParameterValue.EnvironmentSystemProtect"},
		{name: "reserved prefix QCLOUD_", give: withVariable("QCLOUD_APPID"), want: "InvalidParameterValue.EnvironmentSystemProtect"},
		{name: "reserved prefix TENCENTCLOUD_", give: withVariable("TENCENTCLOUD_SECRETID"), want: "InvalidParameterValue.EnvironmentSystemProtect"},
		{name: "public access value", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.PublicNetConfig = &scf.PublicNetConfigIn{PublicNetStatus: common.StringPtr("ON")}
			return r
		}, want: "InvalidParameterValue.PublicNetConfig"},
		{name: "fixed IP without public access", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.PublicNetConfig = &scf.PublicNetConfigIn{PublicNetStatus: common.StringPtr("DISABLE"), EipConfig: &scf.EipConfigIn{EipStatus: common.StringPtr("ENABLE")}}
			return r
		}, want: "InvalidParameterValue.EipConfig"},
		{name: "function name", give: func(t testing.TB) tchttp.Request { return createRequest(t, "chat_") }, want: "InvalidParameter.FunctionName"},
		{name: "description with a colon", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Description = common.StringPtr("scfws: chat")
			return r
		}, want: "InvalidParameterValue.Description"},
		{name: "no code", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Code = nil
			return r
		}, want: "MissingParameter.Code"},
		{name: "code from COS", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Code = &scf.Code{CosBucketName: common.StringPtr("b"), CosObjectName: common.StringPtr("o.zip")}
			return r
		}, want: "UnsupportedOperation.Cos"},
		{name: "zip not base64", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Code.ZipFile = common.StringPtr("%%%")
			return r
		}, want: "InvalidParameterValue.ZipFileBase64BinasciiError"},
		{name: "not a zip", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Code.ZipFile = common.StringPtr(base64.StdEncoding.EncodeToString([]byte("main")))
			return r
		}, want: "InvalidParameterValue.ZipFile"},
		{name: "unknown namespace", give: func(t testing.TB) tchttp.Request {
			r := createRequest(t, "chat")
			r.Namespace = common.StringPtr("staging")
			return r
		}, want: "ResourceNotFound.Namespace"},
		{name: "update code of a missing function", give: func(t testing.TB) tchttp.Request {
			r := scf.NewUpdateFunctionCodeRequest()
			r.FunctionName, r.ZipFile = common.StringPtr("nope"), common.StringPtr(zipOf(t, "v2"))
			return r
		}, want: "ResourceNotFound.Function"},
		{name: "update code while Creating", setup: creating("chat"), give: func(t testing.TB) tchttp.Request {
			r := scf.NewUpdateFunctionCodeRequest()
			r.FunctionName, r.ZipFile = common.StringPtr("chat"), common.StringPtr(zipOf(t, "v2"))
			return r
		}, want: "FailedOperation.UpdateFunctionCode"},
		{name: "update configuration while Creating", setup: creating("chat"), give: func(testing.TB) tchttp.Request {
			r := scf.NewUpdateFunctionConfigurationRequest()
			r.FunctionName, r.Timeout = common.StringPtr("chat"), common.Int64Ptr(5)
			return r
		}, want: "FailedOperation.UpdateFunctionConfiguration"},
		{name: "delete while Creating", setup: creating("chat"), give: func(testing.TB) tchttp.Request {
			r := scf.NewDeleteFunctionRequest()
			r.FunctionName = common.StringPtr("chat")
			return r
		}, want: "FailedOperation.DeleteFunction"},
		{name: "change the runtime", setup: create("chat"), give: func(testing.TB) tchttp.Request {
			r := scf.NewUpdateFunctionConfigurationRequest()
			r.FunctionName, r.Runtime = common.StringPtr("chat"), common.StringPtr("Python3.6")
			return r
		}, want: "InvalidParameterValue.Runtime"},
		{name: "delete a missing function", give: func(testing.TB) tchttp.Request {
			r := scf.NewDeleteFunctionRequest()
			r.FunctionName = common.StringPtr("nope")
			return r
		}, want: "ResourceNotFound.Function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCloudEnv(t)
			c := e.scf(t, testRegion)
			if tt.setup != nil {
				tt.setup(t, c, e)
			}
			err := c.Send(tt.give(t), scf.NewCreateFunctionResponse())
			if got := sdkCode(t, err); got != tt.want {
				t.Errorf("code = %s (%v); want %s", got, err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %v shows a variable's value", err)
			}
			if e.rt.gate != nil {
				close(e.rt.gate)
			}
		})
	}
}

// withVariable is a CreateFunction with one more variable, named key.
func withVariable(key string) func(t testing.TB) tchttp.Request {
	return func(t testing.TB) tchttp.Request {
		r := createRequest(t, "chat")
		r.Environment.Variables = append(r.Environment.Variables, &scf.Variable{Key: common.StringPtr(key), Value: common.StringPtr("x")})
		return r
	}
}

// create makes an Active function.
func create(name string) func(t testing.TB, c *scf.Client, e *cloudEnv) {
	return func(t testing.TB, c *scf.Client, e *cloudEnv) {
		t.Helper()
		if _, err := c.CreateFunction(createRequest(t, name)); err != nil {
			t.Fatal(err)
		}
		e.cloud.Wait()
	}
}

// creating makes a function that stays Creating until the test ends.
func creating(name string) func(t testing.TB, c *scf.Client, e *cloudEnv) {
	return func(t testing.TB, c *scf.Client, e *cloudEnv) {
		t.Helper()
		e.rt.gate = make(chan struct{})
		if _, err := c.CreateFunction(createRequest(t, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFunctionsAreRegional(t *testing.T) {
	e := newCloudEnv(t)
	create("chat")(t, e.scf(t, testRegion), e)
	other := e.scf(t, "ap-shanghai")
	req := scf.NewGetFunctionRequest()
	req.FunctionName = common.StringPtr("chat")
	if _, err := other.GetFunction(req); sdkCode(t, err) != "ResourceNotFound.Function" {
		t.Errorf("GetFunction in another region = %v; want ResourceNotFound.Function", err)
	}
	if _, err := other.Invoke(invokeRequest("chat", "{}")); sdkCode(t, err) != "ResourceNotFound.Function" {
		t.Errorf("Invoke in another region = %v; want ResourceNotFound.Function", err)
	}
	if _, err := e.scf(t, testRegion).Invoke(invokeRequest("chat", "{}")); err != nil {
		t.Errorf("Invoke in the function's region = %v", err)
	}
}

// wsAPI is the CreateApi request scfws deploy makes.
func wsAPI(serviceID, function string) *apigw.CreateApiRequest {
	req := apigw.NewCreateApiRequest()
	req.ServiceId = common.StringPtr(serviceID)
	req.ApiName = common.StringPtr("websocket")
	req.Protocol = common.StringPtr("WEBSOCKET")
	req.ServiceType = common.StringPtr("SCF")
	req.ServiceTimeout = common.Int64Ptr(600)
	req.AuthType = common.StringPtr("NONE")
	req.RequestConfig = &apigw.ApiRequestConfig{Path: common.StringPtr("/websocket"), Method: common.StringPtr("GET")}
	for _, p := range []**string{&req.ServiceWebsocketRegisterFunctionName, &req.ServiceWebsocketTransportFunctionName, &req.ServiceWebsocketCleanupFunctionName} {
		*p = common.StringPtr(function)
	}
	req.ServiceScfIsIntegratedResponse = common.BoolPtr(false)
	return req
}

func createService(t testing.TB, c *apigw.Client) string {
	t.Helper()
	req := apigw.NewCreateServiceRequest()
	req.ServiceName, req.Protocol = common.StringPtr("scfws_chat"), common.StringPtr("http&https")
	req.Tags = []*apigw.Tag{{Key: common.StringPtr("scfws-deploy"), Value: common.StringPtr("default/chat")}}
	resp, err := c.CreateService(req)
	if err != nil {
		t.Fatalf("CreateService = %v", err)
	}
	if *resp.Response.OuterSubDomain != "127.0.0.1:9/"+*resp.Response.ServiceId {
		t.Errorf("OuterSubDomain = %s", *resp.Response.OuterSubDomain)
	}
	return *resp.Response.ServiceId
}

func TestWebSocketAPILifecycle(t *testing.T) {
	e := newCloudEnv(t)
	create("chat")(t, e.scf(t, testRegion), e)
	c := e.apigw(t)
	sid := createService(t, c)
	created, err := c.CreateApi(wsAPI(sid, "chat"))
	if err != nil {
		t.Fatalf("CreateApi = %v", err)
	}
	aid := *created.Response.Result.ApiId
	describe := func() *apigw.ApiInfo {
		t.Helper()
		req := apigw.NewDescribeApiRequest()
		req.ServiceId, req.ApiId = common.StringPtr(sid), common.StringPtr(aid)
		resp, err := c.DescribeApi(req)
		if err != nil {
			t.Fatalf("DescribeApi = %v", err)
		}
		return resp.Response.Result
	}
	info := describe()
	push := "http://127.0.0.1:9/_push/" + sid + "/" + aid
	if *info.InternalDomain != push || *info.Protocol != "WEBSOCKET" || *info.ServiceType != "SCF" || *info.ServiceTimeout != 600 ||
		*info.ServiceWebsocketTransportFunctionName != "chat" || *info.ServiceWebsocketTransportFunctionNamespace != "default" ||
		*info.ServiceWebsocketRegisterFunctionQualifier != "$LATEST" || *info.RequestConfig.Path != "/websocket" || len(info.Environments) != 0 {
		t.Errorf("DescribeApi = %+v", *info)
	}

	rel := apigw.NewReleaseServiceRequest()
	rel.ServiceId, rel.EnvironmentName, rel.ReleaseDesc = common.StringPtr(sid), common.StringPtr("release"), common.StringPtr("scfws deploy")
	if _, err := c.ReleaseService(rel); err != nil {
		t.Fatalf("ReleaseService = %v", err)
	}
	if envs := common.StringValues(describe().Environments); len(envs) != 1 || envs[0] != "release" {
		t.Errorf("Environments after the release = %q", envs)
	}

	mod := apigw.NewModifyApiRequest()
	mod.ServiceId, mod.ApiId, mod.Protocol, mod.ServiceType = common.StringPtr(sid), common.StringPtr(aid), common.StringPtr("WEBSOCKET"), common.StringPtr("SCF")
	mod.RequestConfig = &apigw.RequestConfig{Path: common.StringPtr("/ws"), Method: common.StringPtr("GET")}
	mod.ServiceTimeout = common.Int64Ptr(60)
	mod.ServiceWebsocketTransportFunctionName = common.StringPtr("chat")
	if _, err := c.ModifyApi(mod); err != nil {
		t.Fatalf("ModifyApi = %v", err)
	}
	if info := describe(); *info.RequestConfig.Path != "/ws" || *info.InternalDomain != push || info.ServiceWebsocketRegisterFunctionName != nil && *info.ServiceWebsocketRegisterFunctionName != "" {
		t.Errorf("DescribeApi after ModifyApi: path %s, push %s; want /ws, the same push address, no register function", *info.RequestConfig.Path, *info.InternalDomain)
	}
	if _, err := c.ReleaseService(rel); err != nil {
		t.Fatalf("second ReleaseService = %v", err)
	}

	del := apigw.NewDeleteServiceRequest()
	del.ServiceId = common.StringPtr(sid)
	if _, err := c.DeleteService(del); sdkCode(t, err) != "UnsupportedOperation.ExistingOnlineEnvironment" {
		t.Errorf("DeleteService of a released service = %v", err)
	}
	unrel := apigw.NewUnReleaseServiceRequest()
	unrel.ServiceId, unrel.EnvironmentName = common.StringPtr(sid), common.StringPtr("release")
	if _, err := c.UnReleaseService(unrel); err != nil {
		t.Fatalf("UnReleaseService = %v", err)
	}
	delAPI := apigw.NewDeleteApiRequest()
	delAPI.ServiceId, delAPI.ApiId = common.StringPtr(sid), common.StringPtr(aid)
	if _, err := c.DeleteApi(delAPI); err != nil {
		t.Fatalf("DeleteApi = %v", err)
	}
	// A tagged service cannot be deleted (DeleteService lists
	// UnsupportedOperation.TagsNotEmpty): the tag goes first.
	if _, err := c.DeleteService(del); sdkCode(t, err) != "UnsupportedOperation.TagsNotEmpty" {
		t.Errorf("DeleteService of a tagged service = %v", err)
	}
	if _, err := e.tag(t).DetachResourcesTag(detach(sid)); err != nil {
		t.Fatalf("DetachResourcesTag = %v", err)
	}
	if _, err := c.DeleteService(del); err != nil {
		t.Fatalf("DeleteService = %v", err)
	}
	want := []string{
		"Deploy ap-guangzhou/default/chat Go1 main 128MB 3s env=DB_PASSWORD,STORE",
		fmt.Sprintf("Serve %s ws://127.0.0.1:9/%s/release/websocket push=%s idle=10m0s register=chat transport=chat cleanup=chat", aid, sid, push),
		fmt.Sprintf("Serve %s ws://127.0.0.1:9/%s/release/ws push=%s idle=1m0s register= transport=chat cleanup=", aid, sid, push),
		fmt.Sprintf("Unserve %s release", aid),
	}
	if got := e.rt.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runtime calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestListings(t *testing.T) {
	e := newCloudEnv(t)
	create("chat")(t, e.scf(t, testRegion), e)
	c := e.apigw(t)
	sid := createService(t, c)
	other := apigw.NewCreateServiceRequest()
	other.ServiceName, other.Protocol = common.StringPtr("other"), common.StringPtr("http")
	if _, err := c.CreateService(other); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateApi(wsAPI(sid, "chat")); err != nil {
		t.Fatal(err)
	}
	list := apigw.NewDescribeServicesStatusRequest()
	list.Filters = []*apigw.Filter{{Name: common.StringPtr("ServiceName"), Values: common.StringPtrs([]string{"scfws_chat"})}}
	resp, err := c.DescribeServicesStatus(list)
	if err != nil {
		t.Fatalf("DescribeServicesStatus = %v", err)
	}
	if r := resp.Response.Result; *r.TotalCount != 1 || *r.ServiceSet[0].ServiceId != sid || *r.ServiceSet[0].Tags[0].Value != "default/chat" {
		t.Errorf("DescribeServicesStatus = %s", resp.ToJsonString())
	}
	desc := apigw.NewDescribeServiceRequest()
	desc.ServiceId = common.StringPtr(sid)
	got, err := c.DescribeService(desc)
	if err != nil {
		t.Fatalf("DescribeService = %v", err)
	}
	if r := got.Response; *r.ApiTotalCount != 1 || *r.ApiIdStatusSet[0].Path != "/websocket" || *r.Protocol != "http&https" || len(r.Tags) != 1 {
		t.Errorf("DescribeService = %s", got.ToJsonString())
	}
	// "服务 环境列表": every environment, released or not.
	if envs := common.StringValues(got.Response.AvailableEnvironments); fmt.Sprint(envs) != "[test prepub release]" {
		t.Errorf("DescribeService AvailableEnvironments = %q; want all three", envs)
	}
	apis := apigw.NewDescribeApisStatusRequest()
	apis.ServiceId = common.StringPtr(sid)
	apis.Filters = []*apigw.Filter{{Name: common.StringPtr("ApiName"), Values: common.StringPtrs([]string{"websocket"})}}
	ar, err := c.DescribeApisStatus(apis)
	if err != nil {
		t.Fatalf("DescribeApisStatus = %v", err)
	}
	// The list's Protocol is undocumented: local leaves it null, so that
	// nothing finds an API by it (DescribeApi says WEBSOCKET).
	if r := ar.Response.Result; *r.TotalCount != 1 || *r.ApiIdStatusSet[0].ApiName != "websocket" || r.ApiIdStatusSet[0].Protocol != nil {
		t.Errorf("DescribeApisStatus = %s", ar.ToJsonString())
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name string
		give func(sid string) tchttp.Request
		want string
	}{
		{name: "method not GET", give: func(sid string) tchttp.Request {
			r := wsAPI(sid, "chat")
			r.RequestConfig.Method = common.StringPtr("POST")
			return r
		}, want: "InvalidParameterValue.InvalidWSMethod"},
		{name: "function missing", give: func(sid string) tchttp.Request { return wsAPI(sid, "nope") }, want: "InvalidParameterValue.InvalidScfConfig"},
		{name: "no transport function", give: func(sid string) tchttp.Request {
			r := wsAPI(sid, "chat")
			r.ServiceWebsocketTransportFunctionName = nil
			return r
		}, want: "InvalidParameterValue.InvalidScfConfig"},
		{name: "service missing", give: func(string) tchttp.Request { return wsAPI("service-nope", "chat") }, want: "ResourceNotFound.InvalidService"},
		{name: "protocol", give: func(sid string) tchttp.Request {
			r := wsAPI(sid, "chat")
			r.Protocol = common.StringPtr("GOPHER")
			return r
		}, want: "InvalidParameterValue.InvalidProcotol"},
		{name: "path without slash", give: func(sid string) tchttp.Request {
			r := wsAPI(sid, "chat")
			r.RequestConfig.Path = common.StringPtr("websocket")
			return r
		}, want: "InvalidParameterValue.InvalidApiRequestConfig"},
		{name: "describe a missing API", give: func(sid string) tchttp.Request {
			r := apigw.NewDescribeApiRequest()
			r.ServiceId, r.ApiId = common.StringPtr(sid), common.StringPtr("api-nope")
			return r
		}, want: "ResourceNotFound.InvalidApi"},
		{name: "release in another environment", give: func(sid string) tchttp.Request {
			r := apigw.NewReleaseServiceRequest()
			r.ServiceId, r.EnvironmentName = common.StringPtr(sid), common.StringPtr("prod")
			return r
		}, want: "InvalidParameterValue.NotInOptions"},
		{name: "backend timeout over 1800s", give: func(sid string) tchttp.Request {
			r := wsAPI(sid, "chat")
			r.ServiceTimeout = common.Int64Ptr(1801)
			return r
		}, want: "InvalidParameterValue.RangeExceeded"},
		{name: "backend timeout 0", give: func(sid string) tchttp.Request {
			r := wsAPI(sid, "chat")
			r.ServiceTimeout = common.Int64Ptr(0)
			return r
		}, want: "InvalidParameterValue.RangeExceeded"},
		{name: "unrelease an environment not released", give: func(sid string) tchttp.Request {
			r := apigw.NewUnReleaseServiceRequest()
			r.ServiceId, r.EnvironmentName = common.StringPtr(sid), common.StringPtr("release")
			return r
		}, want: "FailedOperation.ServiceError"},
		{name: "service name", give: func(string) tchttp.Request {
			r := apigw.NewCreateServiceRequest()
			r.ServiceName, r.Protocol = common.StringPtr("scfws-chat"), common.StringPtr("http")
			return r
		}, want: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCloudEnv(t)
			create("chat")(t, e.scf(t, testRegion), e)
			c := e.apigw(t)
			err := c.Send(tt.give(createService(t, c)), apigw.NewCreateApiResponse())
			if got := sdkCode(t, err); got != tt.want {
				t.Errorf("code = %s (%v); want %s", got, err, tt.want)
			}
		})
	}
}

// Faults apply to every control-plane action, before its handler runs.
func TestFaultOnEveryControlPlaneAction(t *testing.T) {
	e := newCloudEnv(t)
	s, a := e.scf(t, testRegion), e.apigw(t)
	tests := []struct {
		service string
		give    tchttp.Request
	}{
		{"scf", scf.NewCreateFunctionRequest()},
		{"scf", scf.NewUpdateFunctionCodeRequest()},
		{"scf", scf.NewUpdateFunctionConfigurationRequest()},
		{"scf", scf.NewGetFunctionRequest()},
		{"scf", scf.NewDeleteFunctionRequest()},
		{"scf", scf.NewListFunctionsRequest()},
		{"apigateway", apigw.NewCreateServiceRequest()},
		{"apigateway", apigw.NewDescribeServiceRequest()},
		{"apigateway", apigw.NewDescribeServicesStatusRequest()},
		{"apigateway", apigw.NewDeleteServiceRequest()},
		{"apigateway", apigw.NewCreateApiRequest()},
		{"apigateway", apigw.NewModifyApiRequest()},
		{"apigateway", apigw.NewDescribeApiRequest()},
		{"apigateway", apigw.NewDescribeApisStatusRequest()},
		{"apigateway", apigw.NewDeleteApiRequest()},
		{"apigateway", apigw.NewReleaseServiceRequest()},
		{"apigateway", apigw.NewUnReleaseServiceRequest()},
		{"apigateway", apigw.NewDescribeServiceEnvironmentListRequest()},
		{"tag", tag.NewDetachResourcesTagRequest()},
	}
	for _, tt := range tests {
		t.Run(tt.give.GetAction(), func(t *testing.T) {
			e.srv.FailAction(tt.service, tt.give.GetAction(), "AuthFailure.UnauthorizedOperation")
			defer e.srv.FailAction(tt.service, tt.give.GetAction(), "")
			var err error
			switch tt.service {
			case "scf":
				err = s.Send(tt.give, scf.NewGetFunctionResponse())
			case "tag":
				err = e.tag(t).Send(tt.give, tag.NewDetachResourcesTagResponse())
			default:
				err = a.Send(tt.give, apigw.NewDescribeApiResponse())
			}
			if got := sdkCode(t, err); got != "AuthFailure.UnauthorizedOperation" {
				t.Errorf("%s with a fault = %v", tt.give.GetAction(), err)
			}
		})
	}
	if calls := e.rt.Calls(); len(calls) != 0 {
		t.Errorf("the runtime was called: %q", calls)
	}
}

// The tag API refuses what it does not tag and keys not bound.
func TestDetachResourcesTagErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *tag.DetachResourcesTagRequest)
		want string
	}{
		{name: "a function", edit: func(r *tag.DetachResourcesTagRequest) { r.ServiceType = common.StringPtr("scf") }, want: "InvalidParameterValue.ServiceTypeInvalid"},
		{name: "an API", edit: func(r *tag.DetachResourcesTagRequest) { r.ResourcePrefix = common.StringPtr("api") }, want: "InvalidParameterValue.ResourcePrefixInvalid"},
		{name: "no key", edit: func(r *tag.DetachResourcesTagRequest) { r.TagKey = common.StringPtr("") }, want: "InvalidParameterValue.TagKeyEmpty"},
		{name: "key not bound", edit: func(r *tag.DetachResourcesTagRequest) { r.TagKey = common.StringPtr("owner") }, want: "ResourceNotFound.AttachedTagKeyNotFound"},
		{name: "missing service", edit: func(r *tag.DetachResourcesTagRequest) { r.ResourceIds = common.StringPtrs([]string{"service-nope"}) }, want: "InvalidParameterValue.ResourceIdInvalid"},
		{name: "another region", edit: func(r *tag.DetachResourcesTagRequest) { r.ResourceRegion = common.StringPtr("ap-shanghai") }, want: "InvalidParameterValue.ResourceIdInvalid"},
		{name: "no such region", edit: func(r *tag.DetachResourcesTagRequest) { r.ResourceRegion = common.StringPtr("ap-nowhere") }, want: "InvalidParameterValue.RegionInvalid"},
		{name: "51 resources", edit: func(r *tag.DetachResourcesTagRequest) {
			r.ResourceIds = common.StringPtrs(strings.Split(strings.Repeat("s,", 50)+"s", ","))
		}, want: "LimitExceeded.ResourceNumPerRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCloudEnv(t)
			req := detach(createService(t, e.apigw(t)))
			tt.edit(req)
			_, err := e.tag(t).DetachResourcesTag(req)
			if got := sdkCode(t, err); got != tt.want {
				t.Errorf("code = %s (%v); want %s", got, err, tt.want)
			}
		})
	}
}

// Regions outside the ones SCF's Invoke documents are refused, with each
// product's code; API Gateway is also refused where its region page does
// not list it.
func TestUnknownRegionsAreRefused(t *testing.T) {
	e := newCloudEnv(t)
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"scf GetFunction", func() error { _, err := e.scf(t, "ap-nowhere").GetFunction(scf.NewGetFunctionRequest()); return err }, "UnsupportedOperation.Region"},
		{"scf Invoke", func() error { _, err := e.scf(t, "ap-nowhere").Invoke(invokeRequest("chat", "{}")); return err }, "UnsupportedOperation.Region"},
		{"scf ListFunctions", func() error { _, err := e.scf(t, "us-east-1").ListFunctions(scf.NewListFunctionsRequest()); return err }, "UnsupportedOperation.Region"},
		{"apigw DescribeServicesStatus", func() error {
			_, err := e.apigwIn(t, "ap-nowhere").DescribeServicesStatus(apigw.NewDescribeServicesStatusRequest())
			return err
		}, "InvalidParameterValue.InvalidRegion"},
		{"apigw where only SCF is documented", func() error {
			_, err := e.apigwIn(t, "ap-jakarta").DescribeServicesStatus(apigw.NewDescribeServicesStatusRequest())
			return err
		}, "InvalidParameterValue.InvalidRegion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sdkCode(t, tt.call()); got != tt.want {
				t.Errorf("code = %s; want %s", got, tt.want)
			}
		})
	}
	// Every listed region works.
	for _, r := range cloudapi.Regions {
		if _, err := e.scf(t, r.Name).ListFunctions(scf.NewListFunctionsRequest()); err != nil {
			t.Errorf("ListFunctions in %s = %v", r.Name, err)
		}
	}
}

// A new function has public access only; one in a VPC is cut off unless
// PublicNetConfig enables it, and then has a fixed egress IP.
func TestPublicNetConfig(t *testing.T) {
	enable := &scf.PublicNetConfigIn{PublicNetStatus: common.StringPtr("ENABLE"), EipConfig: &scf.EipConfigIn{EipStatus: common.StringPtr("DISABLE")}}
	tests := []struct {
		name      string
		vpc       bool
		give      *scf.PublicNetConfigIn
		wantNet   string
		wantFixed string
	}{
		{name: "no VPC", wantNet: "ENABLE", wantFixed: "DISABLE"},
		{name: "VPC", vpc: true, wantNet: "DISABLE", wantFixed: "DISABLE"},
		{name: "VPC with public access", vpc: true, give: enable, wantNet: "ENABLE", wantFixed: "ENABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCloudEnv(t)
			c := e.scf(t, testRegion)
			req := createRequest(t, "chat")
			if tt.vpc {
				req.VpcConfig = &scf.VpcConfig{VpcId: common.StringPtr("vpc-1"), SubnetId: common.StringPtr("subnet-1")}
			}
			req.PublicNetConfig = tt.give
			if _, err := c.CreateFunction(req); err != nil {
				t.Fatal(err)
			}
			e.cloud.Wait()
			got := getFunction(t, c, "chat").Response.PublicNetConfig
			if got == nil || *got.PublicNetStatus != tt.wantNet || *got.EipConfig.EipStatus != tt.wantFixed {
				t.Errorf("PublicNetConfig = %+v; want %s, EIP %s", got, tt.wantNet, tt.wantFixed)
			}
		})
	}
}

// DescribeServiceEnvironmentList says which environments are released.
func TestServiceEnvironmentList(t *testing.T) {
	e := newCloudEnv(t)
	create("chat")(t, e.scf(t, testRegion), e)
	c := e.apigw(t)
	sid := createService(t, c)
	if _, err := c.CreateApi(wsAPI(sid, "chat")); err != nil {
		t.Fatal(err)
	}
	rel := apigw.NewReleaseServiceRequest()
	rel.ServiceId, rel.EnvironmentName = common.StringPtr(sid), common.StringPtr("prepub")
	if _, err := c.ReleaseService(rel); err != nil {
		t.Fatal(err)
	}
	req := apigw.NewDescribeServiceEnvironmentListRequest()
	req.ServiceId = common.StringPtr(sid)
	resp, err := c.DescribeServiceEnvironmentList(req)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, env := range resp.Response.Result.EnvironmentList {
		got = append(got, fmt.Sprintf("%s=%d", *env.EnvironmentName, *env.Status))
	}
	if fmt.Sprint(got) != "[test=0 prepub=1 release=0]" || *resp.Response.Result.TotalCount != 3 {
		t.Errorf("environments = %v; want prepub released only", got)
	}
}

// The account holds at most MaxFunctions functions: each runs on this
// machine.
func TestFunctionLimit(t *testing.T) {
	e := newCloudEnv(t, func(o *cloudapi.CloudOptions) { o.MaxFunctions = 2 })
	c := e.scf(t, testRegion)
	for _, name := range []string{"one", "two"} {
		if _, err := c.CreateFunction(createRequest(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateFunction(createRequest(t, "three")); sdkCode(t, err) != "LimitExceeded.Function" {
		t.Errorf("a third function = %v; want LimitExceeded.Function", err)
	}
}

func TestFunctionSpecHidesTheEnvironment(t *testing.T) {
	spec := cloudapi.FunctionSpec{FunctionID: cloudapi.FunctionID{Region: "r", Namespace: "default", Name: "chat"}, Env: map[string]string{"DB_PASSWORD": "hunter2"}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, spec); strings.Contains(got, "hunter2") {
			t.Errorf("Sprintf(%q, spec) = %q shows a value", format, got)
		}
	}
}
