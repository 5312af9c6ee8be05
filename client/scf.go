package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"
)

// SCFConfig says which function to invoke, and as whom.
type SCFConfig struct {
	SecretID  string
	SecretKey string
	Token     string // for a temporary key (STS), else empty
	Region    string // e.g. ap-guangzhou
	Namespace string // default "default"
	Function  string
	Qualifier string // version or alias; default $LATEST
	// Endpoint is the API's base URL when it is not
	// https://scf.tencentcloudapi.com, e.g. http://127.0.0.1:8080 for
	// scfws local or https://scf.internal.tencentcloudapi.com from a VPC.
	Endpoint string
	// HTTPTransport carries the API calls (default http.DefaultTransport).
	HTTPTransport http.RoundTripper
	// Timeout bounds a call whose context has no deadline (default 310s:
	// a synchronous invocation runs at most 300s).
	Timeout time.Duration
}

// String never shows the key or the token.
func (c SCFConfig) String() string {
	return fmt.Sprintf("scf function %s/%s in %s as %s (key redacted)", c.namespace(), c.Function, c.Region, c.SecretID)
}

// GoString is String, for %#v.
func (c SCFConfig) GoString() string { return c.String() }

func (c SCFConfig) namespace() string {
	if c.Namespace == "" {
		return "default"
	}
	return c.Namespace
}

// DefaultSCFTimeout is SCFConfig.Timeout when unset.
const DefaultSCFTimeout = 310 * time.Second

// SCF invokes the function through SCF's Invoke API
// (RequestResponse) with the official SDK.
type SCF struct {
	cfg              SCFConfig
	scheme, endpoint string
}

var _ Transport = (*SCF)(nil)

// NewSCF checks cfg and returns the transport.
func NewSCF(cfg SCFConfig) (*SCF, error) {
	switch {
	case cfg.SecretID == "" || cfg.SecretKey == "":
		return nil, errors.New("scfws scf: SecretID and SecretKey are required")
	case cfg.Region == "":
		return nil, errors.New("scfws scf: Region is required (e.g. ap-guangzhou)")
	case cfg.Function == "":
		return nil, errors.New("scfws scf: Function is required")
	}
	s := &SCF{cfg: cfg}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("scfws scf: endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			// The SDK always posts to "/" of the host.
			return nil, fmt.Errorf("scfws scf: endpoint %q must be scheme://host[:port] only", u.Redacted())
		}
		s.scheme, s.endpoint = strings.ToUpper(u.Scheme), u.Host
	}
	return s, nil
}

// Invoke runs the function with command as its event and returns what it
// returned (the Result's RetMsg).
func (s *SCF) Invoke(ctx context.Context, command []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		timeout := s.cfg.Timeout
		if timeout <= 0 {
			timeout = DefaultSCFTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	prof := profile.NewClientProfile()
	prof.HttpProfile.ReqTimeout = 0 // the context bounds the call
	if s.endpoint != "" {
		prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = s.endpoint, s.scheme
	}
	// SDK 1.0.162 takes no context: a client per call, whose transport
	// puts ctx on the request, makes the deadline and cancellation reach
	// the HTTP call. Connections are pooled by the shared transport.
	c, err := scf.NewClient(common.NewTokenCredential(s.cfg.SecretID, s.cfg.SecretKey, s.cfg.Token), s.cfg.Region, prof)
	if err != nil {
		return nil, s.fail(fmt.Errorf("make the SDK client: %w", err))
	}
	base := s.cfg.HTTPTransport
	if base == nil {
		base = http.DefaultTransport
	}
	c.WithHttpTransport(ctxTransport{ctx: ctx, base: base})

	req := scf.NewInvokeRequest()
	req.FunctionName = common.StringPtr(s.cfg.Function)
	req.InvocationType = common.StringPtr("RequestResponse")
	req.ClientContext = common.StringPtr(string(command))
	if s.cfg.Namespace != "" {
		req.Namespace = common.StringPtr(s.cfg.Namespace)
	}
	if s.cfg.Qualifier != "" {
		req.Qualifier = common.StringPtr(s.cfg.Qualifier)
	}
	resp, err := c.Invoke(req)
	if err != nil {
		return nil, s.fail(s.sdkError(ctx, err))
	}
	if resp.Response == nil || resp.Response.Result == nil {
		return nil, s.fail(errors.New("invoke: the answer has no Result"))
	}
	r := resp.Response.Result
	// A failure is an ErrMsg: InvokeResult is "no longer maintained"
	// (该参数不再维护, the current SDK's Result), so it only adds detail.
	if r.ErrMsg != nil && *r.ErrMsg != "" {
		return nil, s.fail(&FunctionError{Status: failureStatus(r), Message: *r.ErrMsg, RequestID: deref(r.FunctionRequestId)})
	}
	if r.RetMsg == nil {
		return nil, s.fail(errors.New("invoke: the Result has no RetMsg"))
	}
	return []byte(*r.RetMsg), nil
}

// failureStatus is the function status code of a failed invocation: the
// statusCode of its ErrMsg (SCF reports a failure as a JSON object with
// one), else InvokeResult when set, else 0.
func failureStatus(r *scf.Result) int64 {
	var msg struct {
		StatusCode int64 `json:"statusCode"`
	}
	if json.Unmarshal([]byte(deref(r.ErrMsg)), &msg) == nil && msg.StatusCode != 0 {
		return msg.StatusCode
	}
	if r.InvokeResult != nil {
		return *r.InvokeResult
	}
	return 0
}

func (s *SCF) fail(err error) error {
	return &TransportError{Via: "scf", Err: fmt.Errorf("%s/%s: %w", s.cfg.namespace(), s.cfg.Function, err)}
}

// sdkError sorts what the SDK returned: the API's refusals become a
// *CloudError; the SDK's own ClientError.* (network, HTTP status, parse)
// stay errors, and a network error after ctx ended is ctx's error.
func (s *SCF) sdkError(ctx context.Context, err error) error {
	var e *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &e) {
		return fmt.Errorf("invoke: %w", err)
	}
	if strings.HasPrefix(e.Code, "ClientError.") {
		if ctxErr := ctx.Err(); ctxErr != nil && e.Code == "ClientError.NetworkError" {
			return fmt.Errorf("invoke: %w", ctxErr)
		}
		return fmt.Errorf("invoke: %s: %s", e.Code, e.Message)
	}
	return &CloudError{Code: e.Code, Message: e.Message, RequestID: e.RequestId}
}

// CloudError is Tencent Cloud API refusing the Invoke call (a wrong key,
// no permission, no such function...).
type CloudError struct {
	Code      string // e.g. AuthFailure.SignatureFailure, ResourceNotFound.Function
	Message   string
	RequestID string
}

func (e *CloudError) Error() string {
	return fmt.Sprintf("invoke: %s: %s (RequestId %s)", e.Code, e.Message, e.RequestID)
}

// FunctionError is an invocation in which the function failed (it
// panicked, returned an error, or timed out) and so gave no reply.
type FunctionError struct {
	Status    int64  // SCF's function status code, e.g. 430, 433 (0: not said)
	Message   string // ErrMsg
	RequestID string // FunctionRequestId, to find the invocation's log
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("the function failed (status %d, FunctionRequestId %s): %.500s", e.Status, e.RequestID, e.Message)
}

// ctxTransport gives every request the call's context.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
