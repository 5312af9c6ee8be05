package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"
	tag "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/tag/v20180813"
)

// Credentials is the API key deploy acts as.
type Credentials struct {
	SecretID  string
	SecretKey string
	Token     string // for a temporary key (STS), else empty
}

// String never shows the key or the token.
func (c Credentials) String() string { return c.SecretID + " (key redacted)" }

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// cloud makes the SDK calls of one run: each call gets its own client
// whose transport carries the call's context (SDK 1.0.162 takes none), so
// deadlines and cancellation reach the HTTP request.
type cloud struct {
	cred         *common.Credential
	region       string
	scheme, host string // "" for Tencent's endpoints
	transport    http.RoundTripper
	callTimeout  time.Duration
	retryPause   time.Duration // the first pause before a busy call is made again
	retries      int           // how many times it is made again
	progress     func(format string, args ...any)
	redact       func(string) string
}

func newCloud(d *Deployer, region string, redact func(string) string) (*cloud, error) {
	c := &cloud{
		cred:        common.NewTokenCredential(d.Credentials.SecretID, d.Credentials.SecretKey, d.Credentials.Token),
		region:      region,
		transport:   d.Transport,
		callTimeout: cmp.Or(d.CallTimeout, DefaultCallTimeout),
		retryPause:  cmp.Or(d.RetryPause, DefaultRetryPause),
		retries:     cmp.Or(d.Retries, DefaultRetries),
		progress:    func(string, ...any) {},
		redact:      redact,
	}
	if c.transport == nil {
		c.transport = http.DefaultTransport
	}
	if d.Progress != nil {
		c.progress = func(format string, args ...any) { fmt.Fprintf(d.Progress, format+"\n", args...) }
	}
	if d.Endpoint != "" {
		u, err := url.Parse(d.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			// The SDK always posts to "/" of the host.
			return nil, fmt.Errorf("endpoint %q: want scheme://host[:port], e.g. http://127.0.0.1:8080 for scfws local", d.Endpoint)
		}
		c.scheme, c.host = strings.ToUpper(u.Scheme), u.Host
	}
	return c, nil
}

func (c *cloud) profile() *profile.ClientProfile {
	prof := profile.NewClientProfile()
	prof.HttpProfile.ReqTimeout = 0 // the context bounds the call
	if c.host != "" {
		prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = c.host, c.scheme
	}
	return prof
}

// scf runs one SCF call.
func (c *cloud) scf(ctx context.Context, call func(*scf.Client) error) error {
	return c.retrying(ctx, func(ctx context.Context) error {
		cl, err := scf.NewClient(c.cred, c.region, c.profile())
		if err != nil {
			return fmt.Errorf("make the SDK client: %w", err)
		}
		cl.WithHttpTransport(ctxTransport{ctx: ctx, base: c.transport})
		return call(cl)
	})
}

// apigw runs one API Gateway call.
func (c *cloud) apigw(ctx context.Context, call func(*apigw.Client) error) error {
	return c.retrying(ctx, func(ctx context.Context) error {
		cl, err := apigw.NewClient(c.cred, c.region, c.profile())
		if err != nil {
			return fmt.Errorf("make the SDK client: %w", err)
		}
		cl.WithHttpTransport(ctxTransport{ctx: ctx, base: c.transport})
		return call(cl)
	})
}

// tag runs one call of the tag API (not regional: its requests name the
// resource's region).
func (c *cloud) tag(ctx context.Context, call func(*tag.Client) error) error {
	return c.retrying(ctx, func(ctx context.Context) error {
		cl, err := tag.NewClient(c.cred, c.region, c.profile())
		if err != nil {
			return fmt.Errorf("make the SDK client: %w", err)
		}
		cl.WithHttpTransport(ctxTransport{ctx: ctx, base: c.transport})
		return call(cl)
	})
}

// cam runs one call of CAM, which is global: its requests name no region.
func (c *cloud) cam(ctx context.Context, call func(*cam.Client) error) error {
	return c.retrying(ctx, func(ctx context.Context) error {
		cl, err := cam.NewClient(c.cred, "", c.profile())
		if err != nil {
			return fmt.Errorf("make the SDK client: %w", err)
		}
		cl.WithHttpTransport(ctxTransport{ctx: ctx, base: c.transport})
		return call(cl)
	})
}

// retrying makes a call, each attempt within the call timeout, and makes
// it again while the API says the resource is busy or calls come too
// fast: after 1, 2, 4, 8 and 8 pauses of retryPause's length (23s by
// default), then it gives up with the last refusal.
func (c *cloud) retrying(ctx context.Context, call func(ctx context.Context) error) error {
	for try := 1; ; try++ {
		err := c.attempt(ctx, call)
		var api *APIError
		if !errors.As(err, &api) || !Busy(api.Code) || try > c.retries {
			if api != nil {
				api.Tries = try
			}
			return err
		}
		pause := c.retryPause << min(try-1, 3)
		c.progress("    %s: trying again in %s", api.Code, pause)
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}

// attempt makes the call once, within the call timeout.
func (c *cloud) attempt(ctx context.Context, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	return c.sdkError(ctx, call(ctx))
}

// Busy says whether code is the API saying "not now": a resource in the
// middle of another change, or calls too fast. Such calls are made again.
// The codes and their meanings are tencentcloud-sdk-go's errors.go, for
// the calls whose error lists name them:
//
//   - API Gateway: FailedOperation.ServiceInOperation (当前Service正在操作中,
//     请稍后再试), FailedOperation.ApiInOperation, LimitExceeded.RequestLimitExceeded
//     (请求频率超限制，请稍等再试: a rate limit, not a quota), ResourceInUse
//     (资源被占用), UnsupportedOperation.UnsupportedDeleteService (服务使用中);
//   - SCF, whose functions are busy while Creating or Updating:
//     FailedOperation.FunctionStatusError, .FunctionNameStatusError,
//     .UpdateFunctionCode, .UpdateFunctionConfiguration, .DeleteFunction,
//     .OperationConflict, .ProvisionedInProgress, .ReservedInProgress, and
//     UnauthorizedOperation.FunctionStatus (seen from SCF, not in the SDK);
//   - every product: RequestLimitExceeded and its sub-codes.
//
// SCF's ResourceInUse.* are not busy: they mean "already exists".
func Busy(code string) bool {
	return busyCodes[code] || code == "RequestLimitExceeded" || strings.HasPrefix(code, "RequestLimitExceeded.")
}

var busyCodes = map[string]bool{
	"FailedOperation.ServiceInOperation":            true,
	"FailedOperation.ApiInOperation":                true,
	"LimitExceeded.RequestLimitExceeded":            true,
	"ResourceInUse":                                 true,
	"UnsupportedOperation.UnsupportedDeleteService": true,
	"FailedOperation.FunctionStatusError":           true,
	"FailedOperation.FunctionNameStatusError":       true,
	"FailedOperation.UpdateFunctionCode":            true,
	"FailedOperation.UpdateFunctionConfiguration":   true,
	"FailedOperation.DeleteFunction":                true,
	"FailedOperation.OperationConflict":             true,
	"FailedOperation.ProvisionedInProgress":         true,
	"FailedOperation.ReservedInProgress":            true,
	"UnauthorizedOperation.FunctionStatus":          true,
}

// APIError is Tencent Cloud API refusing a call.
type APIError struct {
	Code      string // e.g. AuthFailure.UnauthorizedOperation
	Message   string
	RequestID string
	Tries     int // how many times the call was made (more than 1: it was busy)
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: %s (RequestId %s)", e.Code, e.Message, e.RequestID)
	if e.Tries > 1 {
		s += fmt.Sprintf(" (%d tries)", e.Tries)
	}
	return s
}

// sdkError sorts what the SDK returned: the API's refusals become an
// *APIError (their messages cleaned of anything secret); the SDK's own
// ClientError.* (network, HTTP status, parse) stay errors, and a network
// error after ctx ended is ctx's error.
func (c *cloud) sdkError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var e *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &e) {
		return errors.New(c.redact(err.Error()))
	}
	if strings.HasPrefix(e.Code, "ClientError.") {
		if ctxErr := ctx.Err(); ctxErr != nil && e.Code == "ClientError.NetworkError" {
			return ctxErr
		}
		return fmt.Errorf("%s: %s", e.Code, c.redact(e.Message))
	}
	return &APIError{Code: e.Code, Message: c.redact(e.Message), RequestID: e.RequestId}
}

// isCode says whether err is the API's refusal with code.
func isCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// ctxTransport gives every request the call's context.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

// StepError is a failed step of deploy or destroy: what it was doing, the
// API call (named as its CAM action), Tencent's error code, and what to do.
type StepError struct {
	Step   string // e.g. "create the API"
	Action string // the call as a CAM action, e.g. apigw:CreateApi
	Code   string // Tencent's error code; empty when deploy itself refused
	Err    error  // the API's *APIError, or why the call did not happen
	Hint   string // what to do
}

func (e *StepError) Error() string {
	var b strings.Builder
	b.WriteString(e.Step)
	if e.Action != "" {
		fmt.Fprintf(&b, " (%s)", e.Action)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Hint != "" {
		b.WriteString("\n  what to do: " + e.Hint)
	}
	return b.String()
}

func (e *StepError) Unwrap() error { return e.Err }

// failed names the step and the call that failed, with what to do.
func failed(step, action string, err error) error {
	var se *StepError
	if errors.As(err, &se) {
		return err
	}
	e := &StepError{Step: step, Action: action, Err: err}
	var api *APIError
	switch {
	case errors.As(err, &api):
		e.Code = api.Code
		e.Hint = hint(api.Code, action)
	case errors.Is(err, context.DeadlineExceeded):
		e.Hint = "the call took too long: check the network (or -endpoint), then run the same command again; it carries on where it stopped"
	case errors.Is(err, context.Canceled):
		e.Hint = "interrupted: run the same command again to carry on"
	default:
		e.Hint = "check the network and -endpoint, then run the same command again"
	}
	return e
}

// hint is what to do about an error code of the call action.
func hint(code, action string) string {
	if Busy(code) {
		return "Tencent Cloud still said busy (a change in progress, or calls too fast) after deploy tried again for a while: wait a minute, then run the same command again; it carries on where it stopped"
	}
	if code == "AuthFailure.UnauthorizedOperation" || strings.HasPrefix(code, "UnauthorizedOperation") {
		return fmt.Sprintf("the key may not call %s: grant that CAM action to its user or role (docs/deploy.md lists the minimal policy), then run the same command again", action)
	}
	for _, h := range hints {
		if slices.ContainsFunc(h.match, func(m func(string) bool) bool { return m(code) }) {
			return h.hint
		}
	}
	return "see the message; run the same command again once it is fixed"
}

// hints are the remedies for error codes; the first match wins.
var hints = []struct {
	match []func(code string) bool // any
	hint  string
}{
	{[]func(string) bool{oneOf("AuthFailure.SignatureFailure", "AuthFailure.SecretIdNotFound", "AuthFailure.InvalidSecretId")},
		"check TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY: they are not a valid API key pair"},
	{[]func(string) bool{oneOf("AuthFailure.TokenFailure")},
		"check TENCENTCLOUD_SESSIONTOKEN: set it for a temporary key (and only then), and renew it if it expired"},
	{[]func(string) bool{oneOf("AuthFailure.SignatureExpire")}, "the system clock is off by more than 5 minutes: correct it"},
	{[]func(string) bool{oneOf("ResourceNotFound.Namespace")},
		"create the namespace in the SCF console first, or leave -namespace out for default"},
	{[]func(string) bool{oneOf("InvalidParameterValue.InvalidRegion", "UnsupportedRegion", "UnauthorizedOperation.Region",
		"UnsupportedOperation.Region", "UnsupportedOperation.NotSupportRegion", "InvalidParameterValue.RegionInvalid")},
		"check -region (e.g. ap-guangzhou): SCF and API Gateway must both be offered there (docs/deploy.md lists the regions)"},
	{[]func(string) bool{oneOf("UnsupportedOperation.TagsNotEmpty")},
		"the service has tags other than scfws-deploy bound: unbind them in the API Gateway console, then run the same command again"},
	{[]func(string) bool{oneOf("LimitExceeded.Eip")},
		"-vpc gives the function a fixed public egress IP, and the region's quota of them (5) is used up: free one, or leave -vpc out"},
	{[]func(string) bool{oneOf("InvalidParameter.RoleNotExist", "FailedOperation.QcsRoleNotFound", "ResourceNotFound.Role")},
		"the run role does not exist: check -role (a role's name, as CAM lists it), or leave -role out for deploy to make one"},
	{[]func(string) bool{oneOf("FailedOperation.GetRoleError")},
		"API Gateway needs its service role to call SCF: open the API Gateway console once and accept the service authorization"},
	{[]func(string) bool{prefix("LimitExceeded"), oneOf("ResourceInsufficient")},
		"an account quota is used up: delete unused resources or ask Tencent Cloud to raise it"},
	{[]func(string) bool{functionBusy},
		"the function is busy with another change: wait until it is Active in the console, then run the same command again"},
	{[]func(string) bool{prefix("ResourceUnavailable"), oneOf("FailedOperation.InsufficientBalance")},
		"the account is in arrears or the product is not open: check the console"},
	{[]func(string) bool{prefix("InternalError")},
		"Tencent Cloud failed: run the same command again; if it keeps failing, contact support with the RequestId"},
	{[]func(string) bool{prefix("InvalidParameter"), prefix("MissingParameter")},
		"a setting was refused (the message says which): fix the flag or -env and run again"},
}

func oneOf(codes ...string) func(string) bool {
	return func(code string) bool { return slices.Contains(codes, code) }
}

func prefix(p string) func(string) bool {
	return func(code string) bool { return strings.HasPrefix(code, p) }
}

// functionBusy: a function in the middle of a change.
func functionBusy(code string) bool {
	return strings.HasPrefix(code, "FailedOperation.") && strings.Contains(code, "Function")
}
