package local

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sync"

	"go.uber.org/zap"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/deploy/scfzip"
	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
)

// deployedPrefix is where local serves the APIs deployed into it, so that
// one address holds every service: /_cloud/<serviceId>/<environment><path>
// for clients, /_cloud/<serviceId>/push/<apiId> for pushes.
const deployedPrefix = "/_cloud/"

// maxCodeBytes is SCF's limit on a function's unzipped code.
const maxCodeBytes = 500 << 20

// What a deployed zip may write to this machine's disk before its
// executable can be checked: extractRatio times the zip's size, at least
// minExtractBudget, at most SCF's maxCodeBytes. Deflate expands up to about
// 1000 times (a 0.5 MB zip can hold 480 MB of zeros); a Go executable
// deflates to a third of its size or so.
const (
	extractRatio     = 16
	minExtractBudget = 64 << 20
)

// extractBudget is the bytes a zip of zipBytes may unzip to here.
func extractBudget(zipBytes int) int64 {
	return min(max(extractRatio*int64(zipBytes), minExtractBudget), maxCodeBytes)
}

// deployedRuntime is the cloudapi.Runtime of scfws local: what scfws
// deploy puts into local runs here, each function from its uploaded zip
// over the SCF runtime protocol, each released WebSocket API as a gateway
// mounted on local's address (ServeHTTP, under deployedPrefix).
type deployedRuntime struct {
	log     *zap.Logger
	console *emulator.Console
	// gateway is the deployed APIs' gateway settings: local's flags. Path,
	// PushPath and IdleTimeout come from each API.
	gateway emulator.Options
	// apiURL is local's Tencent Cloud API, for EnvCloudAPI.
	apiURL string
	// invokeFn runs a deployed function (default: invoke); tests replace it.
	invokeFn func(ctx context.Context, id cloudapi.FunctionID, event []byte) ([]byte, error)

	ctx    context.Context // ends with Close: retiring versions stop waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup // versions being retired

	mu     sync.Mutex
	closed bool
	fns    map[cloudapi.FunctionID]*fnVersion
	apis   map[cloudapi.APIID]*servedAPI
	seq    int                   // Serve calls so far: the latest wins a path
	byPath map[string]*servedAPI // client URL path -> API
	byPush map[string]*servedAPI // push URL path -> API
}

var _ cloudapi.Runtime = (*deployedRuntime)(nil)

func newDeployedRuntime(log *zap.Logger, console *emulator.Console, gateway emulator.Options) *deployedRuntime {
	ctx, cancel := context.WithCancel(context.Background())
	rt := &deployedRuntime{log: log, console: console, gateway: gateway, ctx: ctx, cancel: cancel,
		fns: map[cloudapi.FunctionID]*fnVersion{}, apis: map[cloudapi.APIID]*servedAPI{},
		byPath: map[string]*servedAPI{}, byPush: map[string]*servedAPI{}}
	rt.invokeFn = rt.invoke
	return rt
}

// fnVersion is one deployed version of a function: its processes and the
// directory holding its executable.
type fnVersion struct {
	fn       *emulator.Function
	dir      string
	inflight sync.WaitGroup // invokes it is serving
}

// stop lets the invokes in flight finish (until ctx ends), then stops the
// processes and deletes the executable.
func (v *fnVersion) stop(ctx context.Context) {
	drained := make(chan struct{})
	go func() {
		v.inflight.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
	}
	v.fn.Close() // invokes still running fail at once
	<-drained
	_ = os.RemoveAll(v.dir)
}

// Deploy starts the new version, and only once it answers makes it the one
// invoked; the old version finishes its invokes in the background and stops.
func (rt *deployedRuntime) Deploy(ctx context.Context, spec cloudapi.FunctionSpec) error {
	dir, exe, err := extractHandler(spec)
	if err != nil {
		return err
	}
	// local's rule: the in-memory registry lives in one process.
	instances, perInstance, _ := scale(localFlags{}, spec.Env["STORE"])
	id := deployedIdentity(spec)
	env := maps.Clone(spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	env["SCFWS_LOCAL"] = "true"
	maps.Copy(env, runtimeEnv(id, spec.RoleKey, rt.apiURL))
	if spec.RoleProblem != "" {
		rt.log.Warn("the function runs without a run-role key: "+spec.RoleProblem, zap.Stringer("function", spec.FunctionID))
	}
	fn, err := emulator.NewFunction(exe, emulator.FunctionOptions{
		Env: env, Timeout: spec.Timeout, Logs: rt.console.Source(spec.Name),
		Instances: instances, Concurrency: perInstance, MaxEventBytes: config.MaxEventBytes, Identity: id,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	v := &fnVersion{fn: fn, dir: dir}
	if err := fn.Start(ctx); err != nil {
		v.stop(ctx)
		return fmt.Errorf("start %s: %w", spec.Handler, err)
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		v.stop(ctx)
		return errors.New("scfws local is stopping")
	}
	old := rt.fns[spec.FunctionID]
	rt.fns[spec.FunctionID] = v
	if old != nil {
		rt.wg.Add(1) // under rt.mu: Close waits for it
		go func() {
			defer rt.wg.Done()
			old.stop(rt.ctx)
		}()
	}
	rt.mu.Unlock()
	if !fn.Loopback() {
		rt.log.Warn(everyInterface(spec.Name + "'s " + spec.Handler))
	}
	rt.log.Info("function deployed", zap.Stringer("function", spec.FunctionID), zap.Ints("pids", fn.Pids()),
		zap.Int("instances", instances), zap.Int("concurrency", perInstance), zap.Duration("timeout", spec.Timeout))
	return nil
}

// deployedIdentity is a deployed function as SCF names it.
func deployedIdentity(spec cloudapi.FunctionSpec) emulator.Identity {
	return emulator.Identity{Name: spec.Name, Namespace: spec.Namespace, Region: spec.Region,
		AppID: spec.AppID, UIN: spec.UIN, MemoryMB: int32(spec.MemoryMB)}
}

// extractHandler writes the zip's executable spec.Handler, mode 0755, into
// a new directory, once it is sure SCF's Go1 runtime could run it.
func extractHandler(spec cloudapi.FunctionSpec) (dir, exe string, err error) {
	zr, err := zip.NewReader(bytes.NewReader(spec.Zip), int64(len(spec.Zip)))
	if err != nil {
		return "", "", fmt.Errorf("the code is not a zip: %w", err)
	}
	var entry *zip.File
	for _, f := range zr.File {
		if f.Name == spec.Handler {
			entry = f
			break
		}
	}
	if entry == nil {
		return "", "", fmt.Errorf("the zip has no file %q: the Go1 runtime runs the executable the handler names, at the top of the zip", spec.Handler)
	}
	budget := extractBudget(len(spec.Zip))
	if entry.UncompressedSize64 > uint64(budget) {
		return "", "", fmt.Errorf("%s is %d bytes unzipped, over the %d scfws local unzips from a %d-byte zip (%d times it, %d to %d bytes: SCF's limit)",
			spec.Handler, entry.UncompressedSize64, budget, len(spec.Zip), extractRatio, minExtractBudget, maxCodeBytes)
	}
	tmp, err := os.MkdirTemp("", "scfws-fn-")
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	// The function's name (letters, digits, - and _) names the process.
	name := spec.Name
	if name == "" || name != filepath.Base(name) || name == ".." {
		name = "main"
	}
	exe = filepath.Join(tmp, name)
	if err := writeEntry(entry, exe, budget); err != nil {
		return "", "", fmt.Errorf("unzip %s: %w", spec.Handler, err)
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	if err := scfzip.CheckStatic(f); err != nil {
		return "", "", fmt.Errorf("%s cannot run under SCF's Go1 runtime: %w (it must be a static linux/amd64 executable: go run ./tools/mkzip builds one)", spec.Handler, err)
	}
	return tmp, exe, nil
}

// writeEntry unzips entry into the new file to, writing at most budget
// bytes (archive/zip also stops at the size the entry declares).
func writeEntry(entry *zip.File, to string, budget int64) (err error) {
	rc, err := entry.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	n, err := io.Copy(out, io.LimitReader(rc, budget+1)) // the checksum is checked at the end
	if err == nil && n > budget {
		err = fmt.Errorf("over the %d bytes it may unzip to", budget)
	}
	return err
}

// Invoke runs the function's current version; its failures are SCF's
// status codes.
func (rt *deployedRuntime) Invoke(ctx context.Context, id cloudapi.FunctionID, event []byte) ([]byte, error) {
	out, err := rt.invoke(ctx, id, event)
	return out, functionError(err)
}

func (rt *deployedRuntime) invoke(ctx context.Context, id cloudapi.FunctionID, event []byte) ([]byte, error) {
	rt.mu.Lock()
	v := rt.fns[id]
	if v != nil {
		v.inflight.Add(1)
	}
	rt.mu.Unlock()
	if v == nil {
		return nil, fmt.Errorf("function %s: %w", id, cloudapi.ErrFunctionNotFound)
	}
	defer v.inflight.Done()
	return v.fn.Invoke(ctx, event)
}

// Remove stops the function once its invokes in flight are over (or ctx
// ends).
func (rt *deployedRuntime) Remove(ctx context.Context, id cloudapi.FunctionID) error {
	rt.mu.Lock()
	v := rt.fns[id]
	delete(rt.fns, id)
	rt.mu.Unlock()
	if v != nil {
		v.stop(ctx)
		rt.log.Info("function removed", zap.Stringer("function", id))
	}
	return nil
}

// servedAPI is one released API in one environment, and its gateway.
type servedAPI struct {
	spec     cloudapi.APISpec
	gw       *emulator.Gateway
	wsPath   string // the client URL's path
	pushPath string // the push URL's path
	seq      int
}

// apiPath is what the emulator's gateway can serve as an API's path, and
// what API Gateway's paths are made of (parameters aside).
var apiPath = regexp.MustCompile(`^/[A-Za-z0-9][A-Za-z0-9/_.~-]*$`)

// Serve mounts a gateway for the API at the URLs the Cloud handed out. A
// new release of an API that is served replaces its gateway: the old one's
// clients are closed (1001) once the new one is mounted.
func (rt *deployedRuntime) Serve(_ context.Context, api cloudapi.APISpec) error {
	if !apiPath.MatchString(api.Path) || (path.Clean(api.Path) != api.Path && path.Clean(api.Path)+"/" != api.Path) {
		return fmt.Errorf("path %q: scfws local serves API paths of letters, digits and / _ - . ~ only", api.Path)
	}
	wsURL, err := url.Parse(api.URL)
	if err != nil {
		return fmt.Errorf("client URL: %w", err)
	}
	pushURL, err := url.Parse(api.PushURL)
	if err != nil {
		return fmt.Errorf("push URL: %w", err)
	}
	opts := rt.gateway
	// The gateway sees the API's own path (its events carry it); requests
	// reach it rewritten from the client URL's path (see ServeHTTP).
	opts.Path, opts.PushPath, opts.IdleTimeout = api.Path, pushURL.Path, api.IdleTimeout
	log := rt.log.With(zap.String("api", api.APIID.APIID), zap.String("env", api.Environment))
	s := &servedAPI{spec: api, wsPath: wsURL.Path, pushPath: pushURL.Path,
		gw: emulator.New(roles{api: api, invoke: rt.invokeFn}, log, opts)}

	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		s.gw.Close()
		return errors.New("scfws local is stopping")
	}
	rt.seq++
	s.seq = rt.seq
	if old := rt.apis[api.APIID]; old != nil {
		rt.closeGateway(old.gw)
	}
	rt.apis[api.APIID] = s
	rt.remount()
	rt.mu.Unlock()
	rt.log.Info("API released", zap.String("api", api.APIID.APIID), zap.String("env", api.Environment),
		zap.String("url", api.URL), zap.String("push", api.PushURL), zap.Duration("idleTimeout", api.IdleTimeout))
	return nil
}

// Unserve unmounts the API's gateway and closes its clients.
func (rt *deployedRuntime) Unserve(_ context.Context, id cloudapi.APIID) error {
	rt.mu.Lock()
	s := rt.apis[id]
	delete(rt.apis, id)
	rt.remount()
	if s != nil {
		rt.closeGateway(s.gw)
	}
	rt.mu.Unlock()
	if s != nil {
		rt.log.Info("API unreleased", zap.String("api", id.APIID), zap.String("env", id.Environment))
	}
	return nil
}

// closeGateway closes an unmounted gateway's clients (1001) in the
// background: each close waits for the client's answer (up to 5s), which
// the API call that unmounted it need not. rt.mu is held.
func (rt *deployedRuntime) closeGateway(gw *emulator.Gateway) {
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		gw.Close()
	}()
}

// remount rebuilds the path tables; the latest Serve wins a path (an API
// released in several environments has one push address: it reaches the
// clients of the latest release). rt.mu is held.
func (rt *deployedRuntime) remount() {
	clear(rt.byPath)
	clear(rt.byPush)
	for _, s := range rt.apis {
		if o := rt.byPath[s.wsPath]; o == nil || o.seq < s.seq {
			rt.byPath[s.wsPath] = s
		}
		if o := rt.byPush[s.pushPath]; o == nil || o.seq < s.seq {
			rt.byPush[s.pushPath] = s
		}
	}
}

// ServeHTTP serves the deployed APIs: client handshakes at their URLs and
// pushes at their push addresses.
func (rt *deployedRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.mu.Lock()
	ws, push := rt.byPath[r.URL.Path], rt.byPush[r.URL.Path]
	rt.mu.Unlock()
	switch {
	case ws != nil:
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = ws.spec.Path, ""
		r2.URL = &u
		ws.gw.ServeHTTP(w, r2)
	case push != nil:
		push.gw.ServeHTTP(w, r)
	default:
		http.Error(w, "no API is released at "+r.URL.Path+" on this scfws local (scfws deploy -endpoint makes one)", http.StatusNotFound)
	}
}

// Close closes every deployed API's clients (1001) and stops every
// deployed function.
func (rt *deployedRuntime) Close() {
	rt.mu.Lock()
	rt.closed = true
	apis := rt.apis
	fns := rt.fns
	rt.apis, rt.fns = map[cloudapi.APIID]*servedAPI{}, map[cloudapi.FunctionID]*fnVersion{}
	rt.remount()
	for _, s := range apis {
		rt.closeGateway(s.gw)
	}
	rt.mu.Unlock()
	rt.cancel()
	for _, v := range fns {
		v.stop(rt.ctx)
	}
	rt.wg.Wait()
}

// roles is a deployed API's Invoker: each event goes to the function bound
// to its role, as API Gateway calls the register, transport and cleanup
// functions.
type roles struct {
	api    cloudapi.APISpec
	invoke func(ctx context.Context, id cloudapi.FunctionID, event []byte) ([]byte, error)
}

func (r roles) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	var ev struct {
		WebSocket struct {
			Action          string `json:"action"`
			SecConnectionID string `json:"secConnectionID"`
		} `json:"websocket"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, fmt.Errorf("the gateway's event: %w", err)
	}
	var fn cloudapi.FunctionID
	action := ev.WebSocket.Action
	switch action {
	case "connecting":
		fn = r.api.Register
	case "data send", "data recv":
		fn = r.api.Transport
	case "closing":
		fn = r.api.Cleanup
	default:
		return nil, fmt.Errorf("websocket.action %q has no function role", action)
	}
	if fn != (cloudapi.FunctionID{}) {
		return r.invoke(ctx, fn, event)
	}
	// No function in that role: the gateway accepts, and forgets, alone.
	switch action {
	case "connecting":
		type handshake struct {
			Action          string `json:"action"`
			SecConnectionID string `json:"secConnectionID"`
		}
		return json.Marshal(struct {
			ErrNo     int       `json:"errNo"`
			ErrMsg    string    `json:"errMsg"`
			WebSocket handshake `json:"websocket"`
		}{0, "ok", handshake{action, ev.WebSocket.SecConnectionID}})
	case "closing":
		return []byte(`{"errNo":0,"errMsg":"ok"}`), nil
	}
	return nil, fmt.Errorf("the API %s has no transport function", r.api.APIID.APIID)
}
