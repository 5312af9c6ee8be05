// Package selfinvoke starts asynchronous invocations of the running
// function (SCF's Invoke API, InvocationType Event) with the function's run
// role: what a send hands its rest to. It reads what it needs on every call,
// as SCF gives it: the role's temporary key rotates, and the runtime sets
// the function's environment as it delivers each invoke. It never logs.
package selfinvoke

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"
	"github.com/tencentyun/scf-go-lib/functioncontext"
)

// Variables it reads. SCF sets the TENCENTCLOUD_ and SCF_ ones (a user
// cannot: SCF reserves those prefixes); CloudAPI exists for scfws local
// only, which points the function at its own Tencent Cloud API.
const (
	EnvSecretID     = "TENCENTCLOUD_SECRETID"
	EnvSecretKey    = "TENCENTCLOUD_SECRETKEY"
	EnvSessionToken = "TENCENTCLOUD_SESSIONTOKEN"
	EnvRegion       = "TENCENTCLOUD_REGION"
	EnvFunctionName = "SCF_FUNCTIONNAME"
	EnvNamespace    = "SCF_NAMESPACE"
	EnvVersion      = "SCF_FUNCTIONVERSION"
	EnvCloudAPI     = "SCFWS_CLOUD_API"
)

// Invoker invokes the function it runs in. The zero value is ready: it
// reads the process's environment and uses its own connection pool. It
// must not be copied once used.
type Invoker struct {
	// Getenv reads a variable (default os.Getenv).
	Getenv func(string) string
	// Transport carries the API calls (default: a pool of its own, a few
	// kept-alive connections: a send's shards are invoked a few at a time).
	Transport http.RoundTripper

	once sync.Once
	pool *http.Transport
}

// target is one call's function and credentials.
type target struct {
	cred                      *common.Credential
	region, name, ns, version string
	scheme, host              string // "" for Tencent's endpoint
}

// Ready is "" when the invoke of ctx can start others, else why not, for
// a reply to say.
func (i *Invoker) Ready(ctx context.Context) string {
	_, why := i.target(ctx)
	return why
}

// target reads the call's settings; why says what is missing.
func (i *Invoker) target(ctx context.Context) (target, string) {
	get := i.Getenv
	if get == nil {
		get = os.Getenv
	}
	var t target
	id, key := get(EnvSecretID), get(EnvSecretKey)
	switch {
	case id == "":
		return t, "no run role: " + EnvSecretID + " is not set (scfws deploy -role gives the function one)"
	case key == "":
		return t, "no run role: " + EnvSecretKey + " is not set"
	}
	t.cred = common.NewTokenCredential(id, key, get(EnvSessionToken))
	fc, _ := functioncontext.FromContext(ctx)
	t.region = first(get(EnvRegion), fc.TencentcloudRegion)
	t.name = first(fc.FunctionName, get(EnvFunctionName))
	t.ns = first(fc.Namespace, get(EnvNamespace), "default")
	t.version = first(fc.FunctionVersion, get(EnvVersion), "$LATEST")
	switch {
	case t.region == "":
		return t, "no region: " + EnvRegion + " is not set"
	case t.name == "":
		return t, "no function name: the invoke has none and " + EnvFunctionName + " is not set"
	}
	if api := get(EnvCloudAPI); api != "" {
		u, err := url.Parse(api)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return t, EnvCloudAPI + ": want scheme://host[:port]"
		}
		t.scheme, t.host = strings.ToUpper(u.Scheme), u.Host
	}
	return t, ""
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// Invoke starts one asynchronous invocation of the function with event,
// and returns once SCF has queued it. The call ends with ctx.
func (i *Invoker) Invoke(ctx context.Context, event []byte) error {
	t, why := i.target(ctx)
	if why != "" {
		return &Error{Code: "NotReady", Message: why}
	}
	prof := profile.NewClientProfile()
	prof.HttpProfile.ReqTimeout = 0 // ctx bounds the call
	if t.host != "" {
		prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = t.host, t.scheme
	}
	// SDK 1.0.162 takes no context: a client per call, whose transport puts
	// ctx on the request, bounds the call by the invoke's deadline. The
	// connections are pooled by the shared transport.
	c, err := scf.NewClient(t.cred, t.region, prof)
	if err != nil {
		return fmt.Errorf("invoke %s: make the SDK client: %w", t.name, err)
	}
	c.WithHttpTransport(ctxTransport{ctx: ctx, base: i.transport()})
	req := scf.NewInvokeRequest()
	req.FunctionName = common.StringPtr(t.name)
	req.Namespace = common.StringPtr(t.ns)
	req.Qualifier = common.StringPtr(t.version)
	req.InvocationType = common.StringPtr("Event")
	req.ClientContext = common.StringPtr(string(event))
	if _, err := c.Invoke(req); err != nil {
		return apiError(ctx, err)
	}
	return nil
}

// Error is a failed Invoke: Tencent's error code and message.
type Error struct {
	Code      string
	Message   string
	RequestID string
}

func (e *Error) Error() string {
	if e.RequestID == "" {
		return fmt.Sprintf("invoke: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("invoke: %s: %s (RequestId %s)", e.Code, e.Message, e.RequestID)
}

// Retryable is true for a call that may succeed if made again soon: too
// many calls (Invoke takes 100 a second per account), Tencent's internal
// errors, and the network.
func (e *Error) Retryable() bool {
	for _, p := range []string{"RequestLimitExceeded", "InternalError", "ClientError.NetworkError", "ClientError.IOError",
		"ClientError.HttpStatusCodeError", "ResourceUnavailable.Concurrency"} {
		if strings.HasPrefix(e.Code, p) {
			return true
		}
	}
	return false
}

// TooLarge is true when the event was refused for its size: it must not
// be sent again as it is.
func (e *Error) TooLarge() bool {
	switch e.Code {
	case "InvalidParameter.RequestTooLarge", "InvalidParameterValue.ClientContext", "InvalidParameter.Payload", "RequestTooLarge":
		return true
	}
	return false
}

// apiError is err as an *Error, the deadline's when ctx ended the call.
func apiError(ctx context.Context, err error) error {
	var sdk *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &sdk) {
		return &Error{Code: "ClientError", Message: err.Error()}
	}
	if sdk.Code == "ClientError.NetworkError" && ctx.Err() != nil {
		return &Error{Code: sdk.Code, Message: "the invoke's deadline came first: " + ctx.Err().Error()}
	}
	return &Error{Code: sdk.Code, Message: sdk.Message, RequestID: sdk.RequestId}
}

func (i *Invoker) transport() http.RoundTripper {
	if i.Transport != nil {
		return i.Transport
	}
	i.once.Do(func() {
		i.pool = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     60 * time.Second,
			TLSHandshakeTimeout: 3 * time.Second,
			ForceAttemptHTTP2:   true,
		}
	})
	return i.pool
}

// ctxTransport puts a context on each request, for an SDK that takes none.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}
