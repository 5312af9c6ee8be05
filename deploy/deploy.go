// Package deploy puts scfws on Tencent Cloud: the seed tutorial's console
// steps (the function, an API Gateway service, the WebSocket API with the
// function in its three roles, the release, the push address in the
// function's settings) as one idempotent run through the official SDK, and
// their removal. Running it again with the same settings changes nothing;
// changed settings are updated in place.
//
// What it makes carries the tag scfws-deploy=<namespace>/<name> (the
// function and the service), so that Destroy removes what Deploy made and
// only that.
package deploy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/deploy/scfzip"
)

// What deploy makes.
const (
	Runtime         = "Go1"
	Handler         = scfzip.Entry
	Environment     = "release" // the API Gateway environment clients use
	APIName         = "websocket"
	OwnerTag        = "scfws-deploy" // value: namespace/name
	EnvSendbackHost = "SENDBACK_HOST"
	EnvIdleTimeout  = "IDLE_TIMEOUT"
	releaseDesc     = "scfws deploy"
	latest          = "$LATEST"
)

// Defaults of a Deployer.
const (
	DefaultCallTimeout  = 2 * time.Minute // one call; an upload of several MB included
	DefaultPollInterval = time.Second
	DefaultWaitTimeout  = 5 * time.Minute
	DefaultRetryPause   = time.Second
	DefaultRetries      = 5
	// MaxRequestBytes is the API's limit on a POST body, which carries the
	// zip in base64.
	MaxRequestBytes = 10 << 20
	// MaxIdleTimeout is the longest backend timeout of an API: "超时时间的
	// 最大限制为30分钟" (30 minutes at most), documented for URL backends
	// (tencentyun/qcloud-documents, API网关/操作指南/创建API/创建后端对接公网
	// URL：IP 的 API.md) and assumed for WebSocket APIs.
	MaxIdleTimeout = 1800 * time.Second
)

// The steps in Result.Changed: the write calls, named as the API names
// them, in lower camel case.
const (
	StepCreateFunction              = "createFunction"
	StepUpdateFunctionCode          = "updateFunctionCode"
	StepUpdateFunctionConfiguration = "updateFunctionConfiguration"
	StepCreateService               = "createService"
	StepCreateAPI                   = "createApi"
	StepModifyAPI                   = "modifyApi"
	StepReleaseService              = "releaseService"
	StepUnReleaseService            = "unReleaseService"
	StepDeleteAPI                   = "deleteApi"
	StepDetachTag                   = "detachResourcesTag"
	StepDeleteService               = "deleteService"
	StepDeleteFunction              = "deleteFunction"
)

// Target names the function (and so everything deploy makes for it).
type Target struct {
	Region    string // e.g. ap-guangzhou
	Namespace string // default "default"
	Name      string
}

func (t Target) namespace() string {
	if t.Namespace == "" {
		return "default"
	}
	return t.Namespace
}

// owner is the OwnerTag's value for t.
func (t Target) owner() string { return t.namespace() + "/" + t.Name }

// ServiceName is the API Gateway service deploy makes for t: scfws_ and
// the function's name, in the characters a service name may have.
func (t Target) ServiceName() string {
	name := "scfws_" + strings.ReplaceAll(t.Name, "-", "_")
	if len(name) > 50 {
		name = name[:50]
	}
	return name
}

// Config is what to deploy.
type Config struct {
	Target
	MemoryMB    int64
	Timeout     time.Duration // the function's, whole seconds
	IdleTimeout time.Duration // the API's backend timeout, whole seconds
	Path        string        // e.g. /websocket
	Env         map[string]string
	VpcID       string
	SubnetID    string
	Code        Code
	DryRun      bool // read, and say what would change, but write nothing
	// Role is an existing role to run the function as (-role); empty,
	// deploy makes one (RoleName) when its key may, unless NoRole.
	Role   string
	NoRole bool
}

// Deployer runs deploys and destroys as one API key.
type Deployer struct {
	Credentials Credentials
	// Endpoint is the API's base URL when it is not Tencent's, e.g.
	// http://127.0.0.1:8080 for scfws local (whose clients then use ws://).
	Endpoint string
	// Transport carries the API calls (default http.DefaultTransport).
	Transport http.RoundTripper
	// Progress gets a line per step as it happens (nil: none).
	Progress io.Writer
	// PollInterval is how often GetFunction is asked whether the function
	// is Active (default 1s).
	PollInterval time.Duration
	// WaitTimeout bounds one wait for Active (default 5m).
	WaitTimeout time.Duration
	// CallTimeout bounds one call (default 2m).
	CallTimeout time.Duration
	// RetryPause is the first pause before a call the API refused as busy
	// (Busy) is made again; the pauses double up to 8 times it (default
	// 1s).
	RetryPause time.Duration
	// Retries is how many times such a call is made again (default 5).
	Retries int
}

// Result is what a deploy made or changed.
type Result struct {
	FunctionName string   `json:"functionName"`
	Namespace    string   `json:"namespace"`
	ServiceID    string   `json:"serviceId"`
	APIID        string   `json:"apiId"`
	WSURL        string   `json:"wsUrl"`
	PushURL      string   `json:"pushUrl"`
	Role         string   `json:"role,omitempty"` // the function's run role, when deploy gave or checked one
	Changed      []string `json:"changed"`        // steps that changed something (for a dry run: would)
	DryRun       bool     `json:"dryRun,omitempty"`
	// Steps says, for people, what each change was (secrets redacted).
	Steps []Step `json:"-"`
	// Notes are things to know, e.g. a setting the function still needs.
	Notes []string `json:"-"`
}

// Step is one change, for people.
type Step struct {
	Name   string // a Step* constant
	Detail string
}

type run struct {
	d      *Deployer
	cfg    Config
	c      *cloud
	res    Result
	redact func(string) string
	role   string // the run role to give the function; "" leaves its role as it is
}

func (r *run) say(format string, args ...any) {
	if r.d.Progress != nil {
		fmt.Fprintf(r.d.Progress, format+"\n", args...)
	}
}

// change records a step that changed something (or would).
func (r *run) change(name, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	for _, c := range r.res.Changed {
		if c == name {
			name = ""
		}
	}
	if name != "" {
		r.res.Changed = append(r.res.Changed, name)
	}
	r.res.Steps = append(r.res.Steps, Step{Name: name, Detail: detail})
	if r.cfg.DryRun {
		r.say("  would %s", detail)
	} else {
		r.say("  %s", detail)
	}
}

// Deploy makes or updates the function, the service, the API and the
// release, and points the function at the API's push address.
func (d *Deployer) Deploy(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.check(); err != nil {
		return Result{}, err
	}
	redact := secretRedactor(cfg.Env)
	c, err := newCloud(d, cfg.Region, redact)
	if err != nil {
		return Result{}, err
	}
	r := &run{d: d, cfg: cfg, c: c, redact: redact,
		res: Result{FunctionName: cfg.Name, Namespace: cfg.namespace(), Changed: []string{}, DryRun: cfg.DryRun}}
	if err := r.deploy(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

func (cfg Config) check() error {
	switch {
	case cfg.Region == "":
		return errors.New("no region")
	case cfg.Name == "":
		return errors.New("no function name")
	case cfg.Timeout < time.Second || cfg.Timeout%time.Second != 0:
		return fmt.Errorf("function timeout %s: whole seconds, at least 1s", cfg.Timeout)
	case cfg.IdleTimeout < time.Second || cfg.IdleTimeout > MaxIdleTimeout || cfg.IdleTimeout%time.Second != 0:
		return fmt.Errorf("idle timeout %s: whole seconds, 1s to %s (the API's backend timeout)", cfg.IdleTimeout, MaxIdleTimeout)
	case !strings.HasPrefix(cfg.Path, "/"):
		return fmt.Errorf("path %q must start with /", cfg.Path)
	case cfg.Code.size() == 0:
		return errors.New("no code")
	}
	if err := cfg.checkRole(); err != nil {
		return err
	}
	if n := base64.StdEncoding.EncodedLen(cfg.Code.size()); n > MaxRequestBytes-64<<10 {
		// Before zipping, the executable's size bounds the zip's: zip to
		// know.
		zip, err := cfg.Code.Bytes()
		if err != nil {
			return fmt.Errorf("zip the executable: %w", err)
		}
		if n = base64.StdEncoding.EncodedLen(len(zip)); n > MaxRequestBytes-64<<10 {
			return fmt.Errorf("the zip is %.1f MB, %.1f MB in base64: over what one API call may carry (10 MB); build it smaller (go run ./tools/mkzip strips symbols)",
				float64(len(zip))/(1<<20), float64(n)/(1<<20))
		}
	}
	for _, k := range sortedKeys(cfg.Env) {
		if k == EnvSendbackHost || k == EnvIdleTimeout {
			return fmt.Errorf("%s is set by deploy (the API's push address and -idle-timeout); leave it out of the environment", k)
		}
		if err := CheckVariable(k, cfg.Env[k]); err != nil {
			return fmt.Errorf("environment: %w", err)
		}
	}
	return checkEnv(cfg.Env)
}

// checkEnv refuses, before anything is uploaded, every problem the
// function would find with a variable env sets: one it would answer 501
// for, or a feature it would turn off (a short PUBLISH_SECRET). A variable
// left out (DB_HOST, for a try-out) is for the notes, and what deploy sets
// itself is given a stand-in.
func checkEnv(env map[string]string) error {
	full := maps.Clone(env)
	if full == nil {
		full = map[string]string{}
	}
	full[EnvSendbackHost], full[EnvIdleTimeout] = "https://deploy.invalid/push", "600s"
	var errs []error
	for _, p := range config.Check(config.FromMap(full)) {
		if strings.TrimSpace(env[p.Key]) != "" {
			errs = append(errs, p)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the function's settings: %w", errors.Join(errs...))
	}
	return nil
}

func (r *run) deploy(ctx context.Context) error {
	dry := ""
	if r.cfg.DryRun {
		dry = " (dry run: no changes)"
	}
	r.say("scfws deploy: %s in namespace %s of %s%s", r.cfg.Name, r.cfg.namespace(), r.cfg.Region, dry)
	r.say("  code: %s", r.cfg.Code.Source)
	have, err := r.find(ctx)
	if err != nil {
		return err
	}
	if r.role, err = r.runRole(ctx, have.fn); err != nil {
		return err
	}
	// The push address is known when the API exists (or was set by an
	// earlier run), so one update sets everything.
	fn, err := r.function(ctx, have.fn, have.push())
	if err != nil {
		return err
	}
	svc, api, apiChanged, err := r.serviceAndAPI(ctx, have)
	if err != nil {
		return err
	}
	r.addresses(svc, api)
	if err := r.pointFunction(ctx, fn, api); err != nil {
		return err
	}
	if apiChanged || api == nil || !contains(common.StringValues(api.Environments), Environment) {
		if err := r.release(ctx, svc.id); err != nil {
			return err
		}
	}
	r.notes()
	return nil
}

// found is what there was before the run; nil where nothing was.
type found struct {
	fn  *functionState
	svc *serviceState
	api *apigw.ApiInfo
}

// push is the push address known before the run: the API's, or the one
// an earlier run gave the function.
func (f found) push() string {
	switch {
	case f.api != nil:
		return str(f.api.InternalDomain)
	case f.fn != nil:
		return f.fn.env[EnvSendbackHost]
	}
	return ""
}

// find reads what there is: the function, the service, the API.
func (r *run) find(ctx context.Context) (found, error) {
	var have found
	var err error
	if have.fn, err = r.getFunction(ctx); err != nil {
		return have, failed("read the function", "scf:GetFunction", err)
	}
	if have.fn != nil && have.fn.runtime != Runtime {
		return have, &StepError{Step: "check the function", Action: "scf:GetFunction",
			Err:  fmt.Errorf("the function %s in namespace %s exists with runtime %s, not %s", r.cfg.Name, r.cfg.namespace(), have.fn.runtime, Runtime),
			Hint: "deploy does not take over another runtime's function: choose another -name (or delete that function yourself if nobody needs it)"}
	}
	if have.svc, err = r.findService(ctx); err != nil || have.svc == nil {
		return have, err
	}
	r.res.ServiceID = have.svc.id
	have.api, err = r.findAPI(ctx, have.svc.id)
	return have, err
}

// serviceAndAPI makes the service and the API where there are none and
// brings the API's settings up to date; changed says the API needs a
// release. In a dry run a new API is nil.
func (r *run) serviceAndAPI(ctx context.Context, have found) (svc *serviceState, api *apigw.ApiInfo, changed bool, err error) {
	svc, api = have.svc, have.api
	if svc == nil {
		if svc, err = r.createService(ctx); err != nil {
			return nil, nil, false, err
		}
	}
	if api == nil {
		api, err = r.createAPI(ctx, svc.id)
		return svc, api, true, err
	}
	if diff := r.apiDiff(api); diff != "" {
		return svc, api, true, r.modifyAPI(ctx, svc.id, str(api.ApiId), diff)
	}
	return svc, api, false, nil
}

// addresses records the API's ID, its push address and the client URL.
func (r *run) addresses(svc *serviceState, api *apigw.ApiInfo) {
	if api != nil {
		r.res.APIID = str(api.ApiId)
		r.res.PushURL = str(api.InternalDomain)
	}
	if svc.subDomain != "" {
		r.res.WSURL = r.wsScheme() + "://" + svc.subDomain + "/" + Environment + r.cfg.Path
	}
}

// pointFunction gives the function the API's push address (and the idle
// timeout) before the release, so that the API goes live with a function
// that can answer.
func (r *run) pointFunction(ctx context.Context, fn *functionState, api *apigw.ApiInfo) error {
	if api != nil && (fn == nil || fn.env[EnvSendbackHost] != str(api.InternalDomain)) {
		_, err := r.updateConfiguration(ctx, fn, r.wantEnv(str(api.InternalDomain)), "set SENDBACK_HOST to the API's push address")
		return err
	}
	if api == nil && r.cfg.DryRun {
		r.change(StepUpdateFunctionConfiguration, "update the function %s: set SENDBACK_HOST to the new API's push address", r.cfg.Name)
	}
	return nil
}

// wsScheme is wss for Tencent Cloud, ws for an emulator reached over plain
// HTTP (scfws local has no TLS).
func (r *run) wsScheme() string {
	if r.c.scheme == "HTTP" {
		return "ws"
	}
	return "wss"
}

func (r *run) notes() {
	env := r.cfg.Env
	if env["STORE"] != "memory" && env["DB_HOST"] == "" {
		r.res.Notes = append(r.res.Notes, "DB_HOST is not set: the function answers errNo 501 until it has a MySQL (-env DB_HOST=... DB_USER=... DB_PASSWORD=...), or STORE=memory for a single-instance try-out")
	}
}

// functionState is what GetFunction says of the function.
type functionState struct {
	status      string
	reasons     string
	runtime     string
	handler     string
	description string
	memory      int64
	timeout     int64
	env         map[string]string
	vpcID       string
	subnetID    string
	publicNet   string // PublicNetConfig's PublicNetStatus, ENABLE or DISABLE ("" not said)
	eip         string // its EipConfig.EipStatus
	role        string // its run role, "" for none
	owned       bool   // tagged by deploy for this target
}

func (r *run) getFunction(ctx context.Context) (*functionState, error) {
	req := scf.NewGetFunctionRequest()
	req.FunctionName = common.StringPtr(r.cfg.Name)
	req.Namespace = common.StringPtr(r.cfg.namespace())
	var resp *scf.GetFunctionResponse
	err := r.c.scf(ctx, func(c *scf.Client) (err error) {
		resp, err = c.GetFunction(req)
		return err
	})
	if isCode(err, "ResourceNotFound.Function") || isCode(err, "ResourceNotFound.FunctionName") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	g := resp.Response
	f := &functionState{
		status: str(g.Status), runtime: str(g.Runtime), handler: str(g.Handler), description: str(g.Description),
		memory: num(g.MemorySize), timeout: num(g.Timeout), env: map[string]string{}, role: str(g.Role),
	}
	for _, reason := range g.StatusReasons {
		f.reasons += strings.TrimSpace(str(reason.ErrorCode) + " " + str(reason.ErrorMessage))
	}
	if f.reasons == "" {
		f.reasons = str(g.StatusDesc)
	}
	if g.Environment != nil {
		for _, v := range g.Environment.Variables {
			f.env[str(v.Key)] = str(v.Value)
		}
	}
	if g.VpcConfig != nil {
		f.vpcID, f.subnetID = str(g.VpcConfig.VpcId), str(g.VpcConfig.SubnetId)
	}
	if g.PublicNetConfig != nil {
		f.publicNet = str(g.PublicNetConfig.PublicNetStatus)
		if g.PublicNetConfig.EipConfig != nil {
			f.eip = str(g.PublicNetConfig.EipConfig.EipStatus)
		}
	}
	for _, tag := range g.Tags {
		if str(tag.Key) == OwnerTag && str(tag.Value) == r.cfg.owner() {
			f.owned = true
		}
	}
	return f, nil
}

// codeDescription is the function's description: it records which main the
// function runs (a description may hold letters, digits, spaces, commas
// and full stops only).
func codeDescription(sha string) string {
	return "Made by scfws deploy, main sha256 " + sha + "."
}

func (r *run) wantEnv(push string) map[string]string {
	env := make(map[string]string, len(r.cfg.Env)+2)
	for k, v := range r.cfg.Env {
		env[k] = v
	}
	env[EnvIdleTimeout] = fmt.Sprintf("%ds", int64(r.cfg.IdleTimeout/time.Second))
	if push != "" {
		env[EnvSendbackHost] = push
	}
	return env
}

// function creates the function or brings its code and settings up to
// date, and waits until it is Active.
func (r *run) function(ctx context.Context, fn *functionState, push string) (*functionState, error) {
	cfg := r.cfg
	env := r.wantEnv(push)
	if fn == nil {
		return r.createFunction(ctx, env)
	}
	switch fn.status {
	case "Active", "UpdateFailed":
	case "Creating", "Updating", "Publishing":
		if cfg.DryRun {
			r.say("  the function %s is %s", cfg.Name, fn.status)
			break
		}
		var err error
		if fn, err = r.waitActive(ctx, "wait for the function"); err != nil {
			return nil, err
		}
	case "CreateFailed":
		return nil, &StepError{Step: "check the function", Action: "scf:GetFunction", Code: fn.status,
			Err:  fmt.Errorf("the function %s failed to be created: %s", cfg.Name, orNone(fn.reasons)),
			Hint: "delete it (scfws destroy, or the SCF console) and deploy again"}
	default:
		return nil, &StepError{Step: "check the function", Action: "scf:GetFunction", Code: fn.status,
			Err:  fmt.Errorf("the function %s is %s", cfg.Name, fn.status),
			Hint: "wait until that is over, then run the same command again"}
	}
	if !fn.owned {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the function %s was not made by scfws deploy: it is updated in place, and scfws destroy leaves it", cfg.Name))
	}
	want := codeDescription(cfg.Code.SHA256)
	if fn.description != want || fn.handler != Handler {
		req := scf.NewUpdateFunctionCodeRequest()
		req.FunctionName, req.Namespace = common.StringPtr(cfg.Name), common.StringPtr(cfg.namespace())
		req.Handler = common.StringPtr(Handler)
		zip, err := cfg.Code.Bytes()
		if err != nil {
			return nil, fmt.Errorf("zip the executable: %w", err)
		}
		req.ZipFile = common.StringPtr(base64.StdEncoding.EncodeToString(zip))
		r.change(StepUpdateFunctionCode, "update the code of the function %s (main sha256 %.12s, %s zip)", cfg.Name, cfg.Code.SHA256, size(len(zip)))
		if !cfg.DryRun {
			if err := r.c.scf(ctx, func(c *scf.Client) error { _, err := c.UpdateFunctionCode(req); return err }); err != nil {
				return nil, failed("update the function's code", "scf:UpdateFunctionCode", err)
			}
			var err error
			if fn, err = r.waitActive(ctx, "wait for the new code"); err != nil {
				return nil, err
			}
		}
	}
	return r.updateConfiguration(ctx, fn, env, "")
}

func (r *run) createFunction(ctx context.Context, env map[string]string) (*functionState, error) {
	cfg := r.cfg
	req := scf.NewCreateFunctionRequest()
	req.FunctionName, req.Namespace = common.StringPtr(cfg.Name), common.StringPtr(cfg.namespace())
	req.Runtime, req.Handler = common.StringPtr(Runtime), common.StringPtr(Handler)
	req.MemorySize = common.Int64Ptr(cfg.MemoryMB)
	req.Timeout = common.Int64Ptr(int64(cfg.Timeout / time.Second))
	req.Description = common.StringPtr(codeDescription(cfg.Code.SHA256))
	zip, err := cfg.Code.Bytes()
	if err != nil {
		return nil, fmt.Errorf("zip the executable: %w", err)
	}
	req.Code = &scf.Code{ZipFile: common.StringPtr(base64.StdEncoding.EncodeToString(zip))}
	req.Environment = sdkEnv(env)
	if cfg.VpcID != "" {
		req.VpcConfig = &scf.VpcConfig{VpcId: common.StringPtr(cfg.VpcID), SubnetId: common.StringPtr(cfg.SubnetID)}
		req.PublicNetConfig = publicNet(netEnable)
	}
	req.Tags = []*scf.Tag{{Key: common.StringPtr(OwnerTag), Value: common.StringPtr(cfg.owner())}}
	if r.role != "" {
		req.Role = common.StringPtr(r.role)
	}
	r.change(StepCreateFunction, "create the function %s (%s, handler %s, %d MB, timeout %s%s; run role %s; environment %s)",
		cfg.Name, Runtime, Handler, cfg.MemoryMB, cfg.Timeout, r.vpcDetail(), orNone(r.role), r.envList(env))
	if cfg.DryRun {
		return nil, nil
	}
	if err := r.c.scf(ctx, func(c *scf.Client) error { _, err := c.CreateFunction(req); return err }); err != nil {
		return nil, passRoleHint(failed("create the function", "scf:CreateFunction", err), r.role)
	}
	return r.waitActive(ctx, "wait for the new function")
}

func (r *run) vpcDetail() string {
	if r.cfg.VpcID == "" {
		return ""
	}
	return ", VPC " + r.cfg.VpcID + " subnet " + r.cfg.SubnetID + ", public access through a fixed egress IP"
}

// Values of PublicNetConfig's statuses.
const (
	netEnable  = "ENABLE"
	netDisable = "DISABLE"
)

// publicNet is a PublicNetConfig with public access, and a fixed egress
// IP when eip is ENABLE. The push address is a public domain, so the
// function needs public access; in a VPC that comes with a fixed egress IP
// ("同时设置开启内网访问和公网访问后 ... 会强制开启固定公网出口 IP 功能":
// SCF's network configuration overview), which deploy asks for rather than
// have SCF switch it on.
func publicNet(eip string) *scf.PublicNetConfigIn {
	return &scf.PublicNetConfigIn{PublicNetStatus: common.StringPtr(netEnable), EipConfig: &scf.EipConfigIn{EipStatus: common.StringPtr(eip)}}
}

// publicNetDiff says how the function's public access must change ("" when
// it need not): it must be on, with a fixed egress IP in a VPC; without a
// VPC the egress IP is left as it is.
func (r *run) publicNetDiff(fn *functionState) string {
	have, haveEip := fn.publicNet, or(fn.eip, netDisable)
	if have == "" { // not said: SCF's defaults, public access only outside a VPC
		have = netEnable
		if fn.vpcID != "" {
			have = netDisable
		}
	}
	wantEip := haveEip
	if r.cfg.VpcID != "" {
		wantEip = netEnable
	}
	if have == netEnable && haveEip == wantEip {
		return ""
	}
	return fmt.Sprintf("public access %s, fixed egress IP %s -> %s, %s", have, haveEip, netEnable, wantEip)
}

// updateConfiguration brings memory, timeout, description, environment and
// VPC to what they should be, when they differ, and waits until the
// function is Active. why, when set, says what the update is for.
func (r *run) updateConfiguration(ctx context.Context, fn *functionState, env map[string]string, why string) (*functionState, error) {
	cfg := r.cfg
	if fn == nil { // a dry run of a new function
		return nil, nil
	}
	diffs, netDiff := r.configDiffs(fn, env)
	desc := codeDescription(cfg.Code.SHA256)
	if fn.description != desc && len(diffs) == 0 {
		diffs = append(diffs, "description (the code's hash)")
	}
	if len(diffs) == 0 {
		return fn, nil
	}
	req := r.configRequest(fn, env, netDiff != "")
	if why != "" {
		why += ": "
	}
	r.change(StepUpdateFunctionConfiguration, "update the function %s: %s%s", cfg.Name, why, strings.Join(diffs, "; "))
	if cfg.DryRun {
		return fn, nil
	}
	if err := r.c.scf(ctx, func(c *scf.Client) error { _, err := c.UpdateFunctionConfiguration(req); return err }); err != nil {
		return nil, passRoleHint(failed("update the function's configuration", "scf:UpdateFunctionConfiguration", err), str(req.Role))
	}
	return r.waitActive(ctx, "wait for the new configuration")
}

// configDiffs says, for people, how the function's settings differ from
// what they should be, and how its public access does ("" when it need not
// change).
func (r *run) configDiffs(fn *functionState, env map[string]string) (diffs []string, netDiff string) {
	cfg := r.cfg
	if fn.memory != cfg.MemoryMB {
		diffs = append(diffs, fmt.Sprintf("memory %d -> %d MB", fn.memory, cfg.MemoryMB))
	}
	if secs := int64(cfg.Timeout / time.Second); fn.timeout != secs {
		diffs = append(diffs, fmt.Sprintf("timeout %ds -> %ds", fn.timeout, secs))
	}
	if fn.vpcID != cfg.VpcID || fn.subnetID != cfg.SubnetID {
		diffs = append(diffs, fmt.Sprintf("VPC %s/%s -> %s/%s", orNone(fn.vpcID), orNone(fn.subnetID), orNone(cfg.VpcID), orNone(cfg.SubnetID)))
	}
	netDiff = r.publicNetDiff(fn)
	if netDiff != "" {
		diffs = append(diffs, netDiff)
	}
	if d := r.envDiff(fn.env, env); d != "" {
		diffs = append(diffs, "environment "+d)
	}
	if r.role != "" && fn.role != r.role {
		diffs = append(diffs, fmt.Sprintf("run role %s -> %s", orNone(fn.role), r.role))
	}
	return diffs, netDiff
}

// configRequest sets every setting deploy manages, and the VPC, public
// access and role where they change.
func (r *run) configRequest(fn *functionState, env map[string]string, netChanged bool) *scf.UpdateFunctionConfigurationRequest {
	cfg := r.cfg
	req := scf.NewUpdateFunctionConfigurationRequest()
	req.FunctionName, req.Namespace = common.StringPtr(cfg.Name), common.StringPtr(cfg.namespace())
	req.MemorySize = common.Int64Ptr(cfg.MemoryMB)
	req.Timeout = common.Int64Ptr(int64(cfg.Timeout / time.Second))
	req.Description = common.StringPtr(codeDescription(cfg.Code.SHA256))
	req.Environment = sdkEnv(env)
	if fn.vpcID != cfg.VpcID || fn.subnetID != cfg.SubnetID {
		req.VpcConfig = &scf.VpcConfig{VpcId: common.StringPtr(cfg.VpcID), SubnetId: common.StringPtr(cfg.SubnetID)}
	}
	if netChanged || cfg.VpcID != "" {
		req.PublicNetConfig = publicNet(or(fn.eip, netDisable))
		if cfg.VpcID != "" {
			req.PublicNetConfig = publicNet(netEnable)
		}
	}
	if r.role != "" && fn.role != r.role {
		req.Role = common.StringPtr(r.role)
	}
	return req
}

// polling is how often and how long waitActive and waitGone poll.
func (d *Deployer) polling() (interval, limit time.Duration) {
	interval, limit = d.PollInterval, d.WaitTimeout
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if limit <= 0 {
		limit = DefaultWaitTimeout
	}
	return interval, limit
}

// waitActive polls GetFunction until the function is Active, saying each
// status it passes.
func (r *run) waitActive(ctx context.Context, step string) (*functionState, error) {
	interval, limit := r.d.polling()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start, last := time.Now(), ""
	timer := time.NewTimer(0)
	defer timer.Stop()
	for polls := 0; ; polls++ {
		select {
		case <-ctx.Done():
			return nil, failed(step, "scf:GetFunction", fmt.Errorf("the function is still %s after %s: %w", orNone(last), time.Since(start).Round(time.Second), ctx.Err()))
		case <-timer.C:
		}
		fn, err := r.getFunction(ctx)
		if err != nil {
			return nil, failed(step, "scf:GetFunction", err)
		}
		if fn == nil {
			return nil, failed(step, "scf:GetFunction", &APIError{Code: "ResourceNotFound.Function", Message: "the function disappeared while deploy waited for it"})
		}
		if fn.status != last {
			r.say("    %s is %s (%s)", r.cfg.Name, fn.status, time.Since(start).Round(time.Millisecond))
			last = fn.status
		}
		switch fn.status {
		case "Active":
			return fn, nil
		case "Creating", "Updating", "Publishing":
			timer.Reset(backoff(polls, interval))
		default:
			return nil, &StepError{Step: step, Action: "scf:GetFunction", Code: fn.status,
				Err:  fmt.Errorf("the function %s is %s: %s", r.cfg.Name, fn.status, orNone(r.redact(fn.reasons))),
				Hint: "the function cannot start: check the code (-zip) and the settings, and its log in the SCF console; for CreateFailed, scfws destroy and deploy again"}
		}
	}
}

// backoff is the pause after the nth poll: 100ms, doubling up to interval,
// so that a quick emulator is not waited on for a whole interval.
func backoff(n int, interval time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < n && d < interval; i++ {
		d *= 2
	}
	return min(d, interval)
}

// serviceState is the service deploy made for the target.
type serviceState struct {
	id        string
	subDomain string
	tagged    bool // it still carries OwnerTag (destroy unbinds it first)
}

// serviceDesc is the description of the service deploy makes for owner:
// with the name, the mark of a service deploy made that survives
// destroy's unbinding of its tag.
func serviceDesc(owner string) string {
	return "WebSocket API of the SCF function " + owner + ", made by scfws deploy"
}

// findService finds the service deploy made: by its name, confirmed by its
// tag or its description (another service may have the same name; a
// destroy stopped between unbinding the tag and deleting the service
// leaves only the description).
func (r *run) findService(ctx context.Context) (*serviceState, error) {
	name := r.cfg.ServiceName()
	req := apigw.NewDescribeServicesStatusRequest()
	req.Limit = common.Int64Ptr(100)
	req.Filters = []*apigw.Filter{{Name: common.StringPtr("ServiceName"), Values: common.StringPtrs([]string{name})}}
	var list *apigw.DescribeServicesStatusResponse
	if err := r.c.apigw(ctx, func(c *apigw.Client) (err error) { list, err = c.DescribeServicesStatus(req); return err }); err != nil {
		return nil, failed("find the API Gateway service", "apigw:DescribeServicesStatus", err)
	}
	if list.Response.Result == nil {
		return nil, nil
	}
	for _, s := range list.Response.Result.ServiceSet {
		if str(s.ServiceName) != name {
			continue
		}
		// The list may not carry tags: ask the service itself.
		d := apigw.NewDescribeServiceRequest()
		d.ServiceId = s.ServiceId
		var detail *apigw.DescribeServiceResponse
		if err := r.c.apigw(ctx, func(c *apigw.Client) (err error) { detail, err = c.DescribeService(d); return err }); err != nil {
			return nil, failed("read the API Gateway service", "apigw:DescribeService", err)
		}
		svc := &serviceState{id: str(s.ServiceId), subDomain: str(detail.Response.OuterSubDomain)}
		for _, tag := range detail.Response.Tags {
			svc.tagged = svc.tagged || str(tag.Key) == OwnerTag && str(tag.Value) == r.cfg.owner()
		}
		if svc.tagged || str(detail.Response.ServiceDesc) == serviceDesc(r.cfg.owner()) {
			return svc, nil
		}
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the service %s (%s) was not made by scfws deploy for %s: it is left alone", str(s.ServiceId), name, r.cfg.owner()))
	}
	return nil, nil
}

func (r *run) createService(ctx context.Context) (*serviceState, error) {
	cfg := r.cfg
	req := apigw.NewCreateServiceRequest()
	req.ServiceName = common.StringPtr(cfg.ServiceName())
	req.Protocol = common.StringPtr("http&https") // ws:// and wss://
	req.ServiceDesc = common.StringPtr(serviceDesc(cfg.owner()))
	req.NetTypes = common.StringPtrs([]string{"OUTER"})
	req.Tags = []*apigw.Tag{{Key: common.StringPtr(OwnerTag), Value: common.StringPtr(cfg.owner())}}
	r.change(StepCreateService, "create the API Gateway service %s (http&https, public)", cfg.ServiceName())
	if cfg.DryRun {
		return &serviceState{}, nil
	}
	var resp *apigw.CreateServiceResponse
	if err := r.c.apigw(ctx, func(c *apigw.Client) (err error) { resp, err = c.CreateService(req); return err }); err != nil {
		return nil, failed("create the API Gateway service", "apigw:CreateService", err)
	}
	s := &serviceState{id: str(resp.Response.ServiceId), subDomain: str(resp.Response.OuterSubDomain), tagged: true}
	r.res.ServiceID = s.id
	r.say("    service %s, domain %s", s.id, s.subDomain)
	return s, nil
}

// findAPI finds the WebSocket API deploy made in the service: by its name,
// which is unique in a service ("API 名称 ... 在当前服务内具有唯一性"),
// confirmed by DescribeApi. The list's Protocol is not used: its values
// are not documented (API协议, may be null), DescribeApi's are.
func (r *run) findAPI(ctx context.Context, serviceID string) (*apigw.ApiInfo, error) {
	req := apigw.NewDescribeApisStatusRequest()
	req.ServiceId = common.StringPtr(serviceID)
	req.Limit = common.Int64Ptr(100)
	req.Filters = []*apigw.Filter{{Name: common.StringPtr("ApiName"), Values: common.StringPtrs([]string{APIName})}}
	var list *apigw.DescribeApisStatusResponse
	if err := r.c.apigw(ctx, func(c *apigw.Client) (err error) { list, err = c.DescribeApisStatus(req); return err }); err != nil {
		return nil, failed("find the WebSocket API", "apigw:DescribeApisStatus", err)
	}
	if list.Response.Result == nil {
		return nil, nil
	}
	for _, a := range list.Response.Result.ApiIdStatusSet {
		if str(a.ApiName) != APIName {
			continue
		}
		info, err := r.describeAPI(ctx, serviceID, str(a.ApiId))
		if err != nil {
			return nil, err
		}
		if !isOurs(info) {
			return nil, &StepError{Step: "check the WebSocket API", Action: "apigw:DescribeApi",
				Err:  fmt.Errorf("the API %s named %s in service %s is %s with a %s backend, not WEBSOCKET with SCF", str(a.ApiId), APIName, serviceID, orNone(str(info.Protocol)), orNone(str(info.ServiceType))),
				Hint: "deploy makes its API under that name: delete or rename the other API in the API Gateway console, then run the same command again"}
		}
		return info, nil
	}
	return nil, nil
}

// describeAPI reads one API.
func (r *run) describeAPI(ctx context.Context, serviceID, apiID string) (*apigw.ApiInfo, error) {
	d := apigw.NewDescribeApiRequest()
	d.ServiceId, d.ApiId = common.StringPtr(serviceID), common.StringPtr(apiID)
	var detail *apigw.DescribeApiResponse
	if err := r.c.apigw(ctx, func(c *apigw.Client) (err error) { detail, err = c.DescribeApi(d); return err }); err != nil {
		return nil, failed("read the WebSocket API", "apigw:DescribeApi", err)
	}
	if detail.Response.Result == nil {
		return nil, failed("read the WebSocket API", "apigw:DescribeApi", errors.New("the answer has no Result"))
	}
	return detail.Response.Result, nil
}

// isOurs: the API is what deploy makes, a WebSocket API with an SCF
// backend (DescribeApi says so; deploy's name was checked before).
func isOurs(a *apigw.ApiInfo) bool {
	return strings.EqualFold(str(a.Protocol), "WEBSOCKET") && strings.EqualFold(str(a.ServiceType), "SCF")
}

// apiDiff says how the API differs from what it should be ("" when it does
// not).
func (r *run) apiDiff(a *apigw.ApiInfo) string {
	cfg := r.cfg
	var diffs []string
	path := ""
	if a.RequestConfig != nil {
		path = str(a.RequestConfig.Path)
	}
	if path != cfg.Path {
		diffs = append(diffs, fmt.Sprintf("path %s -> %s", path, cfg.Path))
	}
	if secs := int64(cfg.IdleTimeout / time.Second); num(a.ServiceTimeout) != secs {
		diffs = append(diffs, fmt.Sprintf("backend timeout %ds -> %ds", num(a.ServiceTimeout), secs))
	}
	roles := [][3]*string{
		{a.ServiceWebsocketRegisterFunctionName, a.ServiceWebsocketRegisterFunctionNamespace, a.ServiceWebsocketRegisterFunctionQualifier},
		{a.ServiceWebsocketTransportFunctionName, a.ServiceWebsocketTransportFunctionNamespace, a.ServiceWebsocketTransportFunctionQualifier},
		{a.ServiceWebsocketCleanupFunctionName, a.ServiceWebsocketCleanupFunctionNamespace, a.ServiceWebsocketCleanupFunctionQualifier},
	}
	for i, role := range roles {
		if str(role[0]) != cfg.Name || or(str(role[1]), "default") != cfg.namespace() || or(str(role[2]), latest) != latest {
			diffs = append(diffs, fmt.Sprintf("%s function -> %s", [...]string{"register", "transport", "cleanup"}[i], cfg.owner()))
		}
	}
	if !strings.EqualFold(str(a.ServiceType), "SCF") || !strings.EqualFold(or(str(a.AuthType), "NONE"), "NONE") ||
		(a.ServiceScfIsIntegratedResponse != nil && *a.ServiceScfIsIntegratedResponse) {
		diffs = append(diffs, "backend SCF, no authentication, response integration off")
	}
	return strings.Join(diffs, "; ")
}

func (r *run) createAPI(ctx context.Context, serviceID string) (*apigw.ApiInfo, error) {
	cfg := r.cfg
	req := apigw.NewCreateApiRequest()
	req.ServiceId = common.StringPtr(serviceID)
	req.ApiName = common.StringPtr(APIName)
	req.ApiDesc = common.StringPtr("made by scfws deploy")
	req.Protocol, req.ServiceType = common.StringPtr("WEBSOCKET"), common.StringPtr("SCF")
	req.RequestConfig = &apigw.ApiRequestConfig{Path: common.StringPtr(cfg.Path), Method: common.StringPtr("GET")}
	req.AuthType = common.StringPtr("NONE")
	req.ServiceTimeout = common.Int64Ptr(int64(cfg.IdleTimeout / time.Second))
	req.ServiceScfIsIntegratedResponse = common.BoolPtr(false)
	name, ns, q := common.StringPtr(cfg.Name), common.StringPtr(cfg.namespace()), common.StringPtr(latest)
	req.ServiceWebsocketRegisterFunctionName, req.ServiceWebsocketRegisterFunctionNamespace, req.ServiceWebsocketRegisterFunctionQualifier = name, ns, q
	req.ServiceWebsocketTransportFunctionName, req.ServiceWebsocketTransportFunctionNamespace, req.ServiceWebsocketTransportFunctionQualifier = name, ns, q
	req.ServiceWebsocketCleanupFunctionName, req.ServiceWebsocketCleanupFunctionNamespace, req.ServiceWebsocketCleanupFunctionQualifier = name, ns, q
	r.change(StepCreateAPI, "create the WebSocket API %s (WS %s, backend %s as register, transport and cleanup function, backend timeout %s)",
		APIName, cfg.Path, cfg.owner(), cfg.IdleTimeout)
	if cfg.DryRun {
		return nil, nil
	}
	var resp *apigw.CreateApiResponse
	if err := r.c.apigw(ctx, func(c *apigw.Client) (err error) { resp, err = c.CreateApi(req); return err }); err != nil {
		return nil, failed("create the WebSocket API", "apigw:CreateApi", err)
	}
	if resp.Response.Result == nil || resp.Response.Result.ApiId == nil {
		return nil, failed("create the WebSocket API", "apigw:CreateApi", errors.New("the answer has no ApiId"))
	}
	r.res.APIID = *resp.Response.Result.ApiId
	info, err := r.describeAPI(ctx, serviceID, r.res.APIID)
	if err != nil {
		return nil, err
	}
	if str(info.InternalDomain) == "" {
		return nil, failed("read the new API's push address", "apigw:DescribeApi", errors.New("the API has no InternalDomain"))
	}
	r.say("    API %s, push address %s", r.res.APIID, redactURL(str(info.InternalDomain)))
	return info, nil
}

func (r *run) modifyAPI(ctx context.Context, serviceID, apiID, diff string) error {
	cfg := r.cfg
	req := apigw.NewModifyApiRequest()
	req.ServiceId, req.ApiId = common.StringPtr(serviceID), common.StringPtr(apiID)
	req.ApiName = common.StringPtr(APIName)
	req.ApiDesc = common.StringPtr("made by scfws deploy")
	req.Protocol, req.ServiceType = common.StringPtr("WEBSOCKET"), common.StringPtr("SCF")
	req.RequestConfig = &apigw.RequestConfig{Path: common.StringPtr(cfg.Path), Method: common.StringPtr("GET")}
	req.AuthType = common.StringPtr("NONE")
	req.ServiceTimeout = common.Int64Ptr(int64(cfg.IdleTimeout / time.Second))
	req.ServiceScfIsIntegratedResponse = common.BoolPtr(false)
	name, ns, q := common.StringPtr(cfg.Name), common.StringPtr(cfg.namespace()), common.StringPtr(latest)
	req.ServiceWebsocketRegisterFunctionName, req.ServiceWebsocketRegisterFunctionNamespace, req.ServiceWebsocketRegisterFunctionQualifier = name, ns, q
	req.ServiceWebsocketTransportFunctionName, req.ServiceWebsocketTransportFunctionNamespace, req.ServiceWebsocketTransportFunctionQualifier = name, ns, q
	req.ServiceWebsocketCleanupFunctionName, req.ServiceWebsocketCleanupFunctionNamespace, req.ServiceWebsocketCleanupFunctionQualifier = name, ns, q
	r.change(StepModifyAPI, "update the WebSocket API %s: %s", apiID, diff)
	if cfg.DryRun {
		return nil
	}
	if err := r.c.apigw(ctx, func(c *apigw.Client) error { _, err := c.ModifyApi(req); return err }); err != nil {
		return failed("update the WebSocket API", "apigw:ModifyApi", err)
	}
	return nil
}

func (r *run) release(ctx context.Context, serviceID string) error {
	r.change(StepReleaseService, "release the service to %s", Environment)
	if r.cfg.DryRun {
		return nil
	}
	return r.releaseService(ctx, serviceID)
}

func (r *run) releaseService(ctx context.Context, serviceID string) error {
	req := apigw.NewReleaseServiceRequest()
	req.ServiceId = common.StringPtr(serviceID)
	req.EnvironmentName = common.StringPtr(Environment)
	req.ReleaseDesc = common.StringPtr(releaseDesc)
	if err := r.c.apigw(ctx, func(c *apigw.Client) error { _, err := c.ReleaseService(req); return err }); err != nil {
		return failed("release the service", "apigw:ReleaseService", err)
	}
	return nil
}

// envDiff says how the environment changes, values of secret-looking keys
// redacted ("" when it does not).
func (r *run) envDiff(have, want map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(want) {
		old, ok := have[k]
		switch {
		case !ok:
			parts = append(parts, "+"+k+"="+showValue(k, want[k]))
		case old != want[k]:
			parts = append(parts, "~"+k+"="+showValue(k, want[k]))
		}
	}
	for _, k := range sortedKeys(have) {
		if _, ok := want[k]; !ok {
			parts = append(parts, "-"+k)
		}
	}
	return strings.Join(parts, " ")
}

// envList names the variables, values shown unless secret.
func (r *run) envList(env map[string]string) string {
	parts := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		parts = append(parts, k+"="+showValue(k, env[k]))
	}
	return strings.Join(parts, " ")
}

func sdkEnv(env map[string]string) *scf.Environment {
	e := &scf.Environment{Variables: []*scf.Variable{}}
	for _, k := range sortedKeys(env) {
		e.Variables = append(e.Variables, &scf.Variable{Key: common.StringPtr(k), Value: common.StringPtr(env[k])})
	}
	return e
}

// IsSecret says whether a variable's value must never be shown: its name
// has PASSWORD, SECRET, TOKEN or KEY in it.
func IsSecret(key string) bool {
	k := strings.ToUpper(key)
	for _, word := range []string{"PASSWORD", "SECRET", "TOKEN", "KEY"} {
		if strings.Contains(k, word) {
			return true
		}
	}
	return false
}

// showValue is a variable's value as deploy prints it.
func showValue(key, value string) string {
	switch {
	case IsSecret(key):
		return "[redacted]"
	case key == EnvSendbackHost:
		return redactURL(value)
	}
	return value
}

// redactURL hides a password in a URL.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// secretRedactor hides the values of secret variables wherever they
// appear, e.g. in an error message that quotes a parameter.
func secretRedactor(env map[string]string) func(string) string {
	var pairs []string
	for k, v := range env {
		if IsSecret(k) && len(v) >= 3 {
			pairs = append(pairs, v, "[redacted]")
		}
	}
	if len(pairs) == 0 {
		return func(s string) string { return s }
	}
	return strings.NewReplacer(pairs...).Replace
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func num[T int64 | uint64](p *T) int64 {
	if p == nil {
		return 0
	}
	return int64(*p)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orNone(s string) string { return or(s, "none") }

func size(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KB", (n+1023)/1024)
}
