package cloudapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/local/cloudapi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testID     = "AKIDscfwsTEST0000000000000000000000"
	testKey    = "scfws-test-secret-key-0123456789"
	tempID     = "AKIDscfwsTEMP0000000000000000000000"
	tempKey    = "scfws-temp-secret-key-9876543210"
	tempToken  = "scfws-session-token-abcdefghijklmnop"
	testRegion = "ap-guangzhou"
)

// secrets must never appear in an answer.
var secrets = []string{testKey, tempKey, tempToken}

// fakeFunctions answers by function name:
//
//	echo     the event back
//	fail     a Go error (the function's failure)
//	slow     waits for its context
//	gate     blocks until release is closed, then records the event
//	flaky    fails its first call, then echoes
//	vanish   is found, but gone when it is run (ErrFunctionNotFound)
//	anything else in namespace "default": ErrFunctionNotFound
//
// and any namespace other than "default" or "prod" does not exist.
type fakeFunctions struct {
	release chan struct{}
	mu      sync.Mutex
	calls   []string // "namespace/name event"
	times   []time.Time
	done    chan string
}

func newFakeFunctions() *fakeFunctions {
	return &fakeFunctions{release: make(chan struct{}), done: make(chan string, 16)}
}

func (f *fakeFunctions) Find(_ context.Context, namespace, name string) error {
	switch {
	case namespace != "default" && namespace != "prod":
		return fmt.Errorf("namespace %s: %w", namespace, cloudapi.ErrNamespaceNotFound)
	case name != "echo" && name != "fail" && name != "slow" && name != "gate" && name != "flaky" && name != "vanish":
		return fmt.Errorf("function %s: %w", name, cloudapi.ErrFunctionNotFound)
	}
	return nil
}

func (f *fakeFunctions) Invoke(ctx context.Context, namespace, name string, event []byte) ([]byte, error) {
	if err := f.Find(ctx, namespace, name); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.calls = append(f.calls, namespace+"/"+name+" "+string(event))
	f.times = append(f.times, time.Now())
	first := len(f.calls) == 1
	f.mu.Unlock()
	switch name {
	case "vanish":
		return nil, fmt.Errorf("function %s: %w", name, cloudapi.ErrFunctionNotFound)
	case "flaky":
		if first {
			return nil, errors.New("handler returned: not yet")
		}
	case "fail":
		return nil, errors.New("handler returned: boom")
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	case "gate":
		select {
		case <-f.release:
			f.done <- string(event)
			return []byte(`{"errNo":0}`), nil
		case <-ctx.Done():
			f.done <- "cancelled"
			return nil, ctx.Err()
		}
	}
	return event, nil
}

// Times are when each call began.
func (f *fakeFunctions) Times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

func (f *fakeFunctions) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type env struct {
	srv  *cloudapi.Server
	scf  *cloudapi.SCF
	fns  *fakeFunctions
	http *httptest.Server
	tr   *http.Transport
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{
		srv: cloudapi.NewServer(cloudapi.Credential{SecretID: testID, SecretKey: testKey},
			cloudapi.Credential{SecretID: tempID, SecretKey: tempKey, Token: tempToken}),
		fns: newFakeFunctions(),
		tr:  &http.Transport{},
	}
	e.scf = cloudapi.NewSCF(e.fns)
	e.scf.Register(e.srv)
	e.http = httptest.NewServer(e.srv)
	t.Cleanup(func() {
		e.tr.CloseIdleConnections()
		e.http.Close()
		e.scf.Close()
	})
	return e
}

// client is the official SDK's SCF client pointed at the test server.
func (e *env) client(t testing.TB, cred *common.Credential, tweak ...func(*profile.ClientProfile)) *scf.Client {
	t.Helper()
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint = strings.TrimPrefix(e.http.URL, "http://")
	prof.HttpProfile.Scheme = "HTTP"
	for _, f := range tweak {
		f(prof)
	}
	c, err := scf.NewClient(cred, testRegion, prof)
	if err != nil {
		t.Fatal(err)
	}
	c.WithHttpTransport(e.tr)
	return c
}

func invokeRequest(name, event string) *scf.InvokeRequest {
	req := scf.NewInvokeRequest()
	req.FunctionName = &name
	req.ClientContext = &event
	return req
}

func sdkCode(t testing.TB, err error) string {
	t.Helper()
	var e *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *TencentCloudSDKError", err, err)
	}
	for _, s := range secrets {
		if strings.Contains(e.Error(), s) {
			t.Errorf("error %q reveals a secret", e.Error())
		}
	}
	if e.RequestId == "" {
		t.Errorf("error %v has no RequestId", e)
	}
	return e.Code
}

func TestInvokeThroughSDK(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, common.NewCredential(testID, testKey))
	event := `{"scfws":{"op":"sendToAll","dataType":"text","data":"hi"}}`
	resp, err := c.Invoke(invokeRequest("echo", event))
	if err != nil {
		t.Fatalf("Invoke = %v", err)
	}
	r := resp.Response.Result
	if r == nil || r.RetMsg == nil || *r.RetMsg != event {
		t.Fatalf("Result = %s; want RetMsg %s", resp.ToJsonString(), event)
	}
	if r.InvokeResult != nil || *r.ErrMsg != "" || *r.FunctionRequestId == "" || *r.BillDuration < 1 {
		t.Errorf("Result = %s; want no InvokeResult (no longer maintained), no ErrMsg, a FunctionRequestId, BillDuration >= 1", resp.ToJsonString())
	}
	if *resp.Response.RequestId == "" {
		t.Error("no RequestId")
	}
	if got, want := e.fns.Calls(), []string{"default/echo " + event}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls = %q; want %q", got, want)
	}
}

func TestInvokeOptions(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*profile.ClientProfile)
		req   func(*scf.InvokeRequest)
		want  string // the call Functions saw
	}{
		{name: "namespace", req: func(r *scf.InvokeRequest) { r.Namespace = common.StringPtr("prod") }, want: `prod/echo {"a":1}`},
		{name: "no event is {}", req: func(r *scf.InvokeRequest) { r.ClientContext = nil }, want: `default/echo {}`},
		{name: "qualifier $LATEST", req: func(r *scf.InvokeRequest) { r.Qualifier = common.StringPtr("$LATEST") }, want: `default/echo {"a":1}`},
		{name: "GET", tweak: func(p *profile.ClientProfile) { p.HttpProfile.ReqMethod = "GET" }, want: `default/echo {"a":1}`},
		{name: "unsigned payload", tweak: func(p *profile.ClientProfile) { p.UnsignedPayload = true }, want: `default/echo {"a":1}`},
		{name: "english", tweak: func(p *profile.ClientProfile) { p.Language = "en-US" }, want: `default/echo {"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var tweaks []func(*profile.ClientProfile)
			if tt.tweak != nil {
				tweaks = append(tweaks, tt.tweak)
			}
			c := e.client(t, common.NewCredential(testID, testKey), tweaks...)
			req := invokeRequest("echo", `{"a":1}`)
			if tt.req != nil {
				tt.req(req)
			}
			if _, err := c.Invoke(req); err != nil {
				t.Fatalf("Invoke = %v", err)
			}
			if got := e.fns.Calls(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("calls = %q; want [%q]", got, tt.want)
			}
		})
	}
}

func TestInvokeErrors(t *testing.T) {
	tests := []struct {
		name    string
		cred    *common.Credential
		setup   func(*env)
		req     *scf.InvokeRequest
		call    func(*scf.Client) error // instead of Invoke(req)
		want    string
		wantMsg string
	}{
		{name: "wrong SecretKey", cred: common.NewCredential(testID, "not-the-key"), want: "AuthFailure.SignatureFailure"},
		{name: "unknown SecretId", cred: common.NewCredential("AKIDnobody", testKey), want: "AuthFailure.SecretIdNotFound"},
		{
			name:  "clock ten minutes ahead",
			setup: func(e *env) { e.srv.Now = func() time.Time { return time.Now().Add(10 * time.Minute) } },
			want:  "AuthFailure.SignatureExpire",
		},
		{
			name:  "clock ten minutes behind",
			setup: func(e *env) { e.srv.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) } },
			want:  "AuthFailure.SignatureExpire",
		},
		{name: "temporary key without its token", cred: common.NewCredential(tempID, tempKey), want: "AuthFailure.TokenFailure"},
		{name: "temporary key with a wrong token", cred: common.NewTokenCredential(tempID, tempKey, "forged"), want: "AuthFailure.TokenFailure"},
		{name: "token on a permanent key", cred: common.NewTokenCredential(testID, testKey, tempToken), want: "AuthFailure.TokenFailure"},
		{name: "unknown function", req: invokeRequest("nope", "{}"), want: "ResourceNotFound.Function", wantMsg: "未找到指定的Function，请创建后再试。"},
		{
			name: "unknown namespace",
			req: func() *scf.InvokeRequest {
				r := invokeRequest("echo", "{}")
				r.Namespace = common.StringPtr("staging")
				return r
			}(),
			want: "ResourceNotFound.Namespace", wantMsg: "未找到指定的Namespace，请创建后再试。",
		},
		{
			name:  "injected failure",
			setup: func(e *env) { e.srv.FailAction("scf", "Invoke", "AuthFailure.UnauthorizedOperation") },
			want:  "AuthFailure.UnauthorizedOperation", wantMsg: "Injected failure (scfws local -fail-action scf:Invoke=AuthFailure.UnauthorizedOperation).",
		},
		{name: "no function name", req: scf.NewInvokeRequest(), want: "MissingParameter"},
		{name: "event not JSON", req: invokeRequest("echo", "{nope"), want: "InvalidParameterValue.Param"},
		{
			name: "bad invocation type",
			req: func() *scf.InvokeRequest {
				r := invokeRequest("echo", "{}")
				r.InvocationType = common.StringPtr("Later")
				return r
			}(),
			want: "InvalidParameterValue.InvokeType",
		},
		{
			name: "unknown qualifier",
			req: func() *scf.InvokeRequest {
				r := invokeRequest("echo", "{}")
				r.Qualifier = common.StringPtr("3")
				return r
			}(),
			want: "ResourceNotFound.Qualifier",
		},
		{
			name: "event over 6 MB",
			req:  invokeRequest("echo", `"`+strings.Repeat("x", cloudapi.MaxSyncEventBytes)+`"`),
			want: "InvalidParameter.Payload",
		},
		{
			name: "Event invocation over 128 KB",
			req: func() *scf.InvokeRequest {
				r := invokeRequest("echo", `"`+strings.Repeat("x", cloudapi.MaxAsyncEventBytes)+`"`)
				r.InvocationType = common.StringPtr("Event")
				return r
			}(),
			want: "InvalidParameterValue", wantMsg: "RequestTooLarge: ClientContext is 131074 bytes, over the 131072-byte (128 KB) limit of an Event invocation.",
		},
		{
			name: "Event invocation of an unknown function",
			req: func() *scf.InvokeRequest {
				r := invokeRequest("nope", "{}")
				r.InvocationType = common.StringPtr("Event")
				return r
			}(),
			want: "ResourceNotFound.Function",
		},
		{
			name: "an API version scf does not have",
			call: func(c *scf.Client) error {
				req := invokeRequest("echo", "{}")
				req.Init().WithApiInfo("scf", "2017-01-01", "Invoke")
				return c.Send(req, scf.NewInvokeResponse())
			},
			want: "NoSuchVersion",
		},
		{
			name: "a product this endpoint does not serve",
			call: func(c *scf.Client) error {
				req := invokeRequest("echo", "{}")
				req.Init().WithApiInfo("cvm", "2017-03-12", "DescribeInstances")
				return c.Send(req, scf.NewInvokeResponse())
			},
			want: "NoSuchProduct",
		},
		{
			name: "a handler's own error is an InternalError that says nothing of it",
			setup: func(e *env) {
				e.srv.Handle("scf", "2018-04-16", "Invoke", func(context.Context, *cloudapi.Request) (any, error) { return nil, errors.New("dsn user:hunter2@db") })
			},
			want: "InternalError", wantMsg: "An internal error occurred; retry the request.",
		},
		{
			name: "an action without a handler",
			call: func(c *scf.Client) error { _, err := c.ListFunctions(scf.NewListFunctionsRequest()); return err },
			want: "InvalidAction",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			cred := tt.cred
			if cred == nil {
				cred = common.NewCredential(testID, testKey)
			}
			c := e.client(t, cred)
			var err error
			if tt.call != nil {
				err = tt.call(c)
			} else {
				req := tt.req
				if req == nil {
					req = invokeRequest("echo", "{}")
				}
				_, err = c.Invoke(req)
			}
			if got := sdkCode(t, err); got != tt.want {
				t.Errorf("code = %s (%v); want %s", got, err, tt.want)
			}
			var sdkErr *sdkerrors.TencentCloudSDKError
			if errors.As(err, &sdkErr) && tt.wantMsg != "" && sdkErr.Message != tt.wantMsg {
				t.Errorf("message = %q; want %q", sdkErr.Message, tt.wantMsg)
			}
			if calls := e.fns.Calls(); len(calls) != 0 {
				t.Errorf("the function ran: %q", calls)
			}
		})
	}
}

func TestFaultCanBeCleared(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, common.NewCredential(testID, testKey))
	e.srv.FailAction("scf", "Invoke", "InternalError")
	if _, err := c.Invoke(invokeRequest("echo", "{}")); sdkCode(t, err) != "InternalError" {
		t.Fatalf("Invoke with a fault = %v; want InternalError", err)
	}
	if got := fmt.Sprint(e.srv.Faults()); got != "[scf:Invoke=InternalError]" {
		t.Errorf("Faults() = %s", got)
	}
	e.srv.FailAction("scf", "Invoke", "")
	if _, err := c.Invoke(invokeRequest("echo", "{}")); err != nil {
		t.Fatalf("Invoke after clearing = %v", err)
	}
}

// A fault for the first N calls: a busy resource that frees up.
func TestFaultForTheFirstCalls(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, common.NewCredential(testID, testKey))
	f, err := cloudapi.ParseFault("scf:Invoke=FailedOperation.FunctionStatusError:2")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Fail(f)
	var got []string
	for i := 0; i < 3; i++ {
		_, err := c.Invoke(invokeRequest("echo", "{}"))
		code := "ok"
		if err != nil {
			code = sdkCode(t, err)
		}
		got = append(got, code)
	}
	if want := "[FailedOperation.FunctionStatusError FailedOperation.FunctionStatusError ok]"; fmt.Sprint(got) != want {
		t.Errorf("three calls = %v; want %s", got, want)
	}
	if faults := e.srv.Faults(); len(faults) != 0 {
		t.Errorf("Faults() after the count = %v; want none", faults)
	}
}

func TestTemporaryCredential(t *testing.T) {
	e := newEnv(t)
	var seen *cloudapi.Request
	e.srv.Handle("scf", "2018-04-16", "GetFunction", func(_ context.Context, r *cloudapi.Request) (any, error) {
		seen = r
		return map[string]string{"FunctionName": "echo"}, nil
	})
	c := e.client(t, common.NewTokenCredential(tempID, tempKey, tempToken))
	req := scf.NewGetFunctionRequest()
	req.FunctionName = common.StringPtr("echo")
	resp, err := c.GetFunction(req)
	if err != nil {
		t.Fatalf("GetFunction = %v", err)
	}
	if *resp.Response.FunctionName != "echo" {
		t.Errorf("FunctionName = %q", *resp.Response.FunctionName)
	}
	if seen == nil || !seen.Temporary || seen.SecretID != tempID || seen.Region != testRegion || seen.Version != "2018-04-16" || seen.Service != "scf" {
		t.Errorf("handler saw %+v", seen)
	}
}

func TestFunctionFailureIsAResult(t *testing.T) {
	tests := []struct {
		name       string
		function   string
		wantErrMsg string
	}{
		{name: "error", function: "fail",
			wantErrMsg: `{"errorCode":-1,"errorMessage":"user code exception caught","stackTrace":"handler returned: boom","statusCode":430}`},
		{name: "timeout", function: "slow",
			wantErrMsg: `{"errorCode":-1,"errorMessage":"TimeLimitReached","statusCode":433}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.function == "slow" {
				// The emulator's runtime applies the function timeout; here
				// the client's own deadline stands in for it.
				e.srv.Handle("scf", "2018-04-16", "Invoke", func(ctx context.Context, r *cloudapi.Request) (any, error) {
					ctx, cancel := context.WithTimeout(ctx, time.Millisecond)
					defer cancel()
					return e.scf.Invoke(ctx, r)
				})
			}
			c := e.client(t, common.NewCredential(testID, testKey))
			resp, err := c.Invoke(invokeRequest(tt.function, "{}"))
			if err != nil {
				t.Fatalf("Invoke = %v; want a successful call with a failed Result", err)
			}
			r := resp.Response.Result
			if r.InvokeResult != nil || *r.ErrMsg != tt.wantErrMsg || *r.RetMsg != "" {
				t.Errorf("Result = %s; want no InvokeResult, ErrMsg %s, empty RetMsg", resp.ToJsonString(), tt.wantErrMsg)
			}
		})
	}
}

func TestEventInvocationAnswersAtOnce(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, common.NewCredential(testID, testKey))
	req := invokeRequest("gate", `{"n":1}`)
	req.InvocationType = common.StringPtr("Event")
	resp, err := c.Invoke(req) // gate blocks until release: this returns first
	if err != nil {
		t.Fatalf("Invoke = %v", err)
	}
	r := resp.Response.Result
	if r == nil || r.FunctionRequestId == nil || *r.FunctionRequestId == "" || r.RetMsg != nil || r.InvokeResult != nil {
		t.Errorf("Result = %s; want only a FunctionRequestId", resp.ToJsonString())
	}
	close(e.fns.release)
	if got := <-e.fns.done; got != `{"n":1}` {
		t.Errorf("the function got %q", got)
	}
}

// Nobody waits for an Event invocation: its failure is logged.
func TestEventInvocationFailureIsLogged(t *testing.T) {
	e := newEnv(t)
	core, logs := observer.New(zap.InfoLevel)
	e.scf.Log = zap.New(core)
	c := e.client(t, common.NewCredential(testID, testKey))
	req := invokeRequest("fail", `{}`)
	req.InvocationType = common.StringPtr("Event")
	resp, err := c.Invoke(req)
	if err != nil {
		t.Fatalf("Invoke = %v", err)
	}
	testkit.Eventually(t, 10*time.Second, "the failure logged", func() bool {
		return logs.FilterMessage("event invocation failed").Len() == 1
	})
	entry := logs.FilterMessage("event invocation failed").All()[0].ContextMap()
	if entry["function"] != "default/fail" || entry["functionRequestId"] != *resp.Response.Result.FunctionRequestId ||
		!strings.Contains(fmt.Sprint(entry["error"]), "boom") {
		t.Errorf("log entry = %v", entry)
	}
}

// The queue holds MaxQueued events, the one running included; more are
// refused until one finishes.
func TestEventInvocationsAreBounded(t *testing.T) {
	e := newEnv(t)
	e.scf.MaxQueued, e.scf.MaxAsync = 2, 1
	c := e.client(t, common.NewCredential(testID, testKey))
	req := invokeRequest("gate", `{}`)
	req.InvocationType = common.StringPtr("Event")
	for i := 0; i < 2; i++ {
		if _, err := c.Invoke(req); err != nil {
			t.Fatalf("Invoke %d = %v", i, err)
		}
	}
	if _, err := c.Invoke(req); sdkCode(t, err) != "RequestLimitExceeded" {
		t.Errorf("third Invoke = %v; want RequestLimitExceeded", err)
	}
	close(e.fns.release)
	<-e.fns.done
	<-e.fns.done
	testkit.Eventually(t, 5*time.Second, "the queue empty", func() bool { return e.scf.Queued() == 0 })
	if _, err := c.Invoke(req); err != nil {
		t.Errorf("Invoke once the queue emptied = %v", err)
	}
	<-e.fns.done
}

func TestCloseCancelsEventInvocations(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, common.NewCredential(testID, testKey))
	req := invokeRequest("gate", `{}`)
	req.InvocationType = common.StringPtr("Event")
	if _, err := c.Invoke(req); err != nil {
		t.Fatalf("Invoke = %v", err)
	}
	e.scf.Close()
	if got := <-e.fns.done; got != "cancelled" {
		t.Errorf("after Close the function saw %q; want its context cancelled", got)
	}
}

// post sends a request signed by the SDK's rules but built by hand, for
// what the SDK cannot be made to send.
func post(t testing.TB, e *env, mutate func(*http.Request)) (code, message string) {
	t.Helper()
	body := []byte(`{"FunctionName":"echo"}`)
	req, err := http.NewRequest(http.MethodPost, e.http.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", "Invoke")
	req.Header.Set("X-TC-Version", "2018-04-16")
	req.Header.Set("X-TC-Region", testRegion)
	req.Header.Set("X-TC-Timestamp", fmt.Sprint(time.Now().Unix()))
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+testID+"/"+time.Now().UTC().Format(time.DateOnly)+
		"/scf/tc3_request, SignedHeaders=content-type;host, Signature="+strings.Repeat("0", 64))
	mutate(req)
	resp, err := e.tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HTTP status %d; the API answers errors with 200", resp.StatusCode)
	}
	var env struct {
		Response struct {
			Error     struct{ Code, Message string }
			RequestID string `json:"RequestId"`
		}
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Response.RequestID == "" {
		t.Fatalf("answer %s is not the API envelope: %v", raw, err)
	}
	return env.Response.Error.Code, env.Response.Error.Message
}

func TestMalformedRequests(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*http.Request)
		want   string
	}{
		{name: "no Authorization", mutate: func(r *http.Request) { r.Header.Del("Authorization") }, want: "AuthFailure.InvalidAuthorization"},
		{name: "HmacSHA256 style", mutate: func(r *http.Request) { r.Header.Set("Authorization", "HmacSHA256 abc") }, want: "AuthFailure.InvalidAuthorization"},
		{name: "no timestamp", mutate: func(r *http.Request) { r.Header.Del("X-TC-Timestamp") }, want: "MissingParameter"},
		{name: "timestamp not a number", mutate: func(r *http.Request) { r.Header.Set("X-TC-Timestamp", "soon") }, want: "InvalidParameterValue"},
		{name: "bad signature", mutate: func(*http.Request) {}, want: "AuthFailure.SignatureFailure"},
		{name: "PUT", mutate: func(r *http.Request) { r.Method = http.MethodPut }, want: "UnsupportedOperation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if code, msg := post(t, e, tt.mutate); code != tt.want {
				t.Errorf("code = %s (%s); want %s", code, msg, tt.want)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	e.srv.MaxBodyBytes = 1 << 10
	c := e.client(t, common.NewCredential(testID, testKey))
	if _, err := c.Invoke(invokeRequest("echo", `"`+strings.Repeat("x", 2<<10)+`"`)); sdkCode(t, err) != "RequestSizeLimitExceeded" {
		t.Errorf("Invoke with a 2 KB body = %v; want RequestSizeLimitExceeded", err)
	}
}

func TestCredentialNeverPrintsSecrets(t *testing.T) {
	c := cloudapi.Credential{SecretID: tempID, SecretKey: tempKey, Token: tempToken}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		got := fmt.Sprintf(format, c)
		if strings.Contains(got, tempKey) || strings.Contains(got, tempToken) || !strings.Contains(got, tempID) {
			t.Errorf("Sprintf(%q, credential) = %q; want the SecretId only", format, got)
		}
	}
}

func TestIsRequest(t *testing.T) {
	tests := []struct {
		give map[string]string
		want bool
	}{
		{map[string]string{"Authorization": "TC3-HMAC-SHA256 Credential=x"}, true},
		{map[string]string{"X-TC-Action": "Invoke"}, true},
		{map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, false},
		{map[string]string{}, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		for k, v := range tt.give {
			r.Header.Set(k, v)
		}
		if got := cloudapi.IsRequest(r); got != tt.want {
			t.Errorf("IsRequest(%v) = %v; want %v", tt.give, got, tt.want)
		}
	}
}

func TestLogNamesTheCallNotTheSecrets(t *testing.T) {
	e := newEnv(t)
	core, logs := observer.New(zapcore.DebugLevel)
	e.srv.Log = zap.New(core)
	_, _ = e.client(t, common.NewCredential(testID, testKey)).Invoke(invokeRequest("echo", "{}"))
	_, _ = e.client(t, common.NewTokenCredential(tempID, tempKey, tempToken)).Invoke(invokeRequest("echo", "{}"))
	_, _ = e.client(t, common.NewCredential(testID, "wrong")).Invoke(invokeRequest("echo", "{}"))

	entries := logs.All()
	if len(entries) != 3 {
		t.Fatalf("%d log lines; want one per request", len(entries))
	}
	for i, want := range []string{"", "", "AuthFailure.SignatureFailure"} {
		fields := entries[i].ContextMap()
		code, _ := fields["code"].(string)
		if fields["action"] != "Invoke" || fields["service"] != "scf" || code != want {
			t.Errorf("line %d = %v; want action Invoke, service scf, code %q", i, fields, want)
		}
		line := fmt.Sprint(fields)
		for _, s := range append(secrets, "Signature=") {
			if strings.Contains(line, s) {
				t.Errorf("line %d %s reveals %q", i, line, s)
			}
		}
	}
}
