package cloudapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// API Gateway's API: service and version.
const (
	APIGatewayService = "apigateway"
	APIGatewayVersion = "2018-08-08"
)

// DefaultMaxFunctions is how many functions a Cloud holds by default: each
// runs processes on this machine.
const DefaultMaxFunctions = 20

// The account's APPID and UIN by default.
const (
	DefaultAppID = "1250000000"
	DefaultUIN   = "100000000001"
)

// Runtime is what only the emulator can do for the Cloud: run function code
// and serve WebSocket APIs. The Cloud calls it without holding its lock.
// Deploy and Remove run in the background, as SCF's asynchronous operations
// do, and never two at once for one function; Serve and Unserve run inside
// ReleaseService and UnReleaseService, one release at a time.
type Runtime interface {
	// Deploy starts function fn, or replaces the version that runs, from
	// the executable fn.Handler in fn.Zip, served over the SCF Go1 runtime
	// protocol with fn.Env as its environment and fn.Timeout as each
	// invoke's deadline. It returns once the new version can be invoked,
	// or with an error saying why it cannot run (the function is then
	// CreateFailed or UpdateFailed with that message, and a previous
	// version, if any, keeps running, as under SCF).
	Deploy(ctx context.Context, fn FunctionSpec) error
	// Invoke runs the function's current version with event and returns
	// its reply. ctx carries the function's timeout. A failure of the
	// function is an error; a *FunctionError gives its status code.
	Invoke(ctx context.Context, fn FunctionID, event []byte) ([]byte, error)
	// Remove stops the function for good.
	Remove(ctx context.Context, fn FunctionID) error
	// Serve serves a released WebSocket API, or switches it to a new
	// release: clients connect at api.URL, each handshake, frame and close
	// is an invoke of api.Register, api.Transport and api.Cleanup (through
	// the same functions Deploy started), clients silent for
	// api.IdleTimeout are closed, and api.PushURL is the reverse-push
	// address.
	Serve(ctx context.Context, api APISpec) error
	// Unserve stops serving the API in that environment and closes its
	// clients.
	Unserve(ctx context.Context, api APIID) error
}

// FunctionID names a function.
type FunctionID struct {
	Region    string
	Namespace string
	Name      string
}

func (id FunctionID) String() string { return id.Region + "/" + id.Namespace + "/" + id.Name }

// FunctionSpec is one version of a function, as Runtime.Deploy gets it.
type FunctionSpec struct {
	FunctionID
	Runtime  string // e.g. Go1
	Handler  string // for Go1, the executable's name in the zip (main)
	Zip      []byte // the code package
	Env      map[string]string
	Timeout  time.Duration // each invoke's deadline
	MemoryMB int64
	// Role is the function's run role ("" for none). RoleKey, when SCF can
	// assume it, is the temporary key the function gets for it (in
	// TENCENTCLOUD_SECRETID, _SECRETKEY, _SESSIONTOKEN), which the Server
	// accepts for what the role's policies allow; else RoleProblem says
	// why the function runs without one.
	Role        string
	RoleKey     *Credential
	RoleProblem string
	// AppID and UIN are the account's, for TENCENTCLOUD_APPID and
	// TENCENTCLOUD_UIN.
	AppID, UIN string
}

// String never shows the environment: it holds secrets.
func (f FunctionSpec) String() string {
	return fmt.Sprintf("%s (%s, handler %s, %d-byte zip, %d variables, role %q)", f.FunctionID, f.Runtime, f.Handler, len(f.Zip), len(f.Env), f.Role)
}

// GoString is String, for %#v.
func (f FunctionSpec) GoString() string { return f.String() }

// APIID names an API released in an environment.
type APIID struct {
	Region      string
	ServiceID   string
	APIID       string
	Environment string // test, prepub or release
}

// APISpec is a released WebSocket API, as Runtime.Serve gets it.
type APISpec struct {
	APIID
	// URL is where clients connect:
	// scheme://<service subdomain>/<environment><path>.
	URL string
	// Path is the API's path, e.g. /websocket.
	Path string
	// PushURL is the reverse-push address (the API's InternalDomain).
	PushURL string
	// IdleTimeout is the backend timeout: clients silent this long are
	// closed.
	IdleTimeout time.Duration
	// The functions bound to each role; Transport is always set, Register
	// and Cleanup are zero when not bound.
	Register, Transport, Cleanup FunctionID
}

// CloudOptions tunes a Cloud. The zero value gives Tencent's shapes.
type CloudOptions struct {
	// AppID is the account's APPID, part of default service domains
	// (default DefaultAppID).
	AppID string
	// UIN is the account's ID, in CAM resources (default DefaultUIN).
	UIN string
	// Namespaces are the SCF namespaces every region has besides
	// "default".
	Namespaces []string
	// SubDomain names a new service's default domain (OuterSubDomain):
	// host[:port], which may be followed by a path prefix when an emulator
	// serves every service on one address. Default: Tencent's shape,
	// service-<id>-<appid>.<region code>.apigw.tencentcs.com.
	SubDomain func(region, serviceID string) string
	// PushURL names a new WebSocket API's reverse-push address
	// (InternalDomain). Default: Tencent's shape,
	// http://set-<id>.cb-<region>.apigateway.tencentyun.com/<api id>.
	PushURL func(region, serviceID, apiID string) string
	// WSScheme is the scheme of the client URLs given to Runtime.Serve:
	// wss (the default), or ws for an emulator without TLS.
	WSScheme string
	// OpTimeout bounds one Deploy or Remove (default 2m).
	OpTimeout time.Duration
	// MaxFunctions bounds the functions of the account, all regions
	// together: more are refused with LimitExceeded.Function, SCF's code
	// for its quota (default DefaultMaxFunctions).
	MaxFunctions int
	// Now is the clock of created and modified times (default time.Now).
	Now func() time.Time
}

// Cloud is an in-memory Tencent Cloud account for scfws local: SCF
// functions (code, settings, status) and API Gateway services, WebSocket
// APIs and releases, answering the control-plane actions of both products
// in their shapes and error codes. What only the emulator can do (run code,
// serve APIs) it asks of a Runtime.
//
// Register it on a Server for the control plane; pass it to NewSCF so that
// Invoke reaches the functions it holds (it is Regional). Close it when
// done.
type Cloud struct {
	rt   Runtime
	opts CloudOptions

	srv *Server // the one Register was given: it accepts the functions' role keys

	mu        sync.Mutex
	functions map[FunctionID]*function
	services  map[string]*service // by ID
	roles     []*role
	policies  []*policy
	seq       uint64 // the last role or policy ID handed out

	releaseMu sync.Mutex // one release (Serve/Unserve sequence) at a time

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// NewCloud makes an empty account whose code runs on rt.
func NewCloud(rt Runtime, opts CloudOptions) *Cloud {
	if opts.AppID == "" {
		opts.AppID = DefaultAppID
	}
	if opts.UIN == "" {
		opts.UIN = DefaultUIN
	}
	if opts.SubDomain == nil {
		appID := opts.AppID
		opts.SubDomain = func(region, serviceID string) string {
			return serviceID + "-" + appID + "." + regionCode(region) + ".apigw.tencentcs.com"
		}
	}
	if opts.PushURL == nil {
		opts.PushURL = func(region, _, apiID string) string {
			return "http://set-" + randomID(12) + ".cb-" + strings.TrimPrefix(region, "ap-") + ".apigateway.tencentyun.com/" + apiID
		}
	}
	if opts.WSScheme == "" {
		opts.WSScheme = "wss"
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxFunctions <= 0 {
		opts.MaxFunctions = DefaultMaxFunctions
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cloud{
		rt:        rt,
		opts:      opts,
		functions: map[FunctionID]*function{},
		services:  map[string]*service{},
		ctx:       ctx,
		cancel:    cancel,
	}
}

// Register makes srv answer SCF's and API Gateway's control-plane actions
// from the Cloud, in the regions each serves, the tag API's
// DetachResourcesTag, and CAM's role and policy calls (Invoke is
// NewSCF's). Register the Cloud on one Server, before it deploys a
// function: that Server accepts the functions' role keys.
func (c *Cloud) Register(srv *Server) {
	c.srv = srv
	c.registerCAM(srv)
	for action, h := range map[string]Handler{
		"CreateFunction":              c.createFunction,
		"UpdateFunctionCode":          c.updateFunctionCode,
		"UpdateFunctionConfiguration": c.updateFunctionConfiguration,
		"GetFunction":                 c.getFunction,
		"DeleteFunction":              c.deleteFunction,
		"ListFunctions":               c.listFunctions,
	} {
		srv.Handle(SCFService, SCFVersion, action, regional(SCFService, h))
	}
	for action, h := range map[string]Handler{
		"CreateService":                  c.createService,
		"DescribeService":                c.describeService,
		"DescribeServicesStatus":         c.describeServicesStatus,
		"DeleteService":                  c.deleteService,
		"CreateApi":                      c.createAPI,
		"ModifyApi":                      c.modifyAPI,
		"DescribeApi":                    c.describeAPI,
		"DescribeApisStatus":             c.describeAPIsStatus,
		"DeleteApi":                      c.deleteAPI,
		"ReleaseService":                 c.releaseService,
		"UnReleaseService":               c.unReleaseService,
		"DescribeServiceEnvironmentList": c.describeServiceEnvironmentList,
	} {
		srv.Handle(APIGatewayService, APIGatewayVersion, action, regional(APIGatewayService, h))
	}
	srv.Handle(TagService, TagVersion, "DetachResourcesTag", c.detachResourcesTag)
}

// Wait waits for the operations in flight (deploys, removals) to end, so
// that their outcome shows in GetFunction. Call it when no action that
// starts one is running.
func (c *Cloud) Wait() { c.wg.Wait() }

// Close cancels the operations still running (deploys, removals) and waits
// for them.
func (c *Cloud) Close() {
	c.cancel()
	c.wg.Wait()
}

// Functions lists the functions, sorted, with their status: for the
// emulator's console and for tests.
func (c *Cloud) Functions() []FunctionStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]FunctionStatus, 0, len(c.functions))
	for id, f := range c.functions {
		out = append(out, FunctionStatus{FunctionID: id, Status: f.status, Runtime: f.runtime})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// FunctionStatus is a function and its SCF status.
type FunctionStatus struct {
	FunctionID
	Status  string // Creating, Active, Updating, ...
	Runtime string
}

// InRegion gives the functions of one region to SCF's Invoke.
func (c *Cloud) InRegion(region string) Functions { return regionFunctions{c: c, region: region} }

// Find and Invoke without a region use the first region, in sorted order,
// that has the function; SCF passes the call's region through InRegion.
func (c *Cloud) Find(ctx context.Context, namespace, name string) error {
	return c.InRegion(c.regionOf(namespace, name)).(regionFunctions).Find(ctx, namespace, name)
}

// Invoke: see Find.
func (c *Cloud) Invoke(ctx context.Context, namespace, name string, event []byte) ([]byte, error) {
	return c.InRegion(c.regionOf(namespace, name)).Invoke(ctx, namespace, name, event)
}

func (c *Cloud) regionOf(namespace, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var regions []string
	for id := range c.functions {
		if id.Namespace == namespace && id.Name == name {
			regions = append(regions, id.Region)
		}
	}
	sort.Strings(regions)
	if len(regions) == 0 {
		return ""
	}
	return regions[0]
}

var (
	_ Functions = (*Cloud)(nil)
	_ Finder    = (*Cloud)(nil)
	_ Regional  = (*Cloud)(nil)
)

type regionFunctions struct {
	c      *Cloud
	region string
}

// Find says whether the function exists and can be invoked.
func (r regionFunctions) Find(_ context.Context, namespace, name string) error {
	_, err := r.c.invocable(FunctionID{Region: r.region, Namespace: namespace, Name: name})
	return err
}

// Invoke runs the function with its timeout.
func (r regionFunctions) Invoke(ctx context.Context, namespace, name string, event []byte) ([]byte, error) {
	id := FunctionID{Region: r.region, Namespace: namespace, Name: name}
	timeout, err := r.c.invocable(id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return r.c.rt.Invoke(ctx, id, event)
}

// invocable returns the function's timeout, or why it cannot be invoked:
// not found, or no version runs yet (Creating, CreateFailed). While it is
// Updating, the previous version answers, as under SCF.
func (c *Cloud) invocable(id FunctionID) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hasNamespace(id.Namespace) {
		return 0, fmt.Errorf("namespace %s: %w", id.Namespace, ErrNamespaceNotFound)
	}
	f, ok := c.functions[id]
	if !ok || f.status == StatusDeleting {
		return 0, fmt.Errorf("function %s: %w", id, ErrFunctionNotFound)
	}
	if !f.running {
		return 0, Errorf(CodeFunctionStatusError, "The function %s is %s and cannot be invoked yet.", id.Name, f.status)
	}
	return time.Duration(f.timeout) * time.Second, nil
}

func (c *Cloud) hasNamespace(ns string) bool {
	if ns == DefaultNamespace {
		return true
	}
	for _, n := range c.opts.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// background runs op (a Deploy or Remove) with the operation timeout, and
// then done with its error, both outside the lock.
func (c *Cloud) background(op func(ctx context.Context) error, done func(err error)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.OpTimeout)
		defer cancel()
		done(op(ctx))
	}()
}

// randomID is n characters of [a-z0-9], the shape of Tencent's IDs.
func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// regionCode is the short region name in API Gateway's default domains
// (ap-guangzhou: gz).
func regionCode(region string) string {
	codes := map[string]string{
		"ap-guangzhou": "gz", "ap-shanghai": "sh", "ap-beijing": "bj", "ap-chengdu": "cd",
		"ap-chongqing": "cq", "ap-nanjing": "nj", "ap-hongkong": "hk", "ap-singapore": "sg",
		"ap-mumbai": "in", "ap-seoul": "kr", "ap-bangkok": "th", "ap-tokyo": "jp",
		"na-siliconvalley": "usw", "na-ashburn": "use", "na-toronto": "ca", "eu-frankfurt": "de",
	}
	if code, ok := codes[region]; ok {
		return code
	}
	return strings.TrimPrefix(region, "ap-")
}
