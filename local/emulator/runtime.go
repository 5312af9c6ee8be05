package emulator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"

	"github.com/scfws/scfws/proto"
)

// Function runs an SCF Go1 binary as SCF does: child processes (instances)
// serving net/rpc on _LAMBDA_SERVER_PORT, the settings handed over with each
// invoke in Environment. An invoke goes to a free instance and waits while
// none is, as an event waits for SCF to scale out. An instance that crashes,
// asks to exit after a panic, or stops answering is replaced on its next
// invoke.
//
// scfws itself is handed a listener on loopback, already bound, to serve
// on (proto.RuntimeListenerFD). Any other binary binds the port itself:
// scf-go-lib's runtime server listens on every interface, and the port,
// picked free here, could be taken by another process in between.
type Function struct {
	path      string
	env       string // the Environment JSON sent with every invoke
	identity  Identity
	timeout   time.Duration
	maxEvent  int
	logs      func(line []byte) // each line a child prints
	exclusive bool              // instances take one invoke at a time
	handOver  bool              // the binary serves a listener it is handed

	instances []*instance
	free      chan *instance // one entry per invoke an instance can take now
	metrics   *Metrics

	// spawnMu makes one child that binds its own port start at a time: a
	// port is picked free and then released for the child to bind, so two
	// children started at once could be handed the same one.
	spawnMu sync.Mutex
	closed  atomic.Bool
	wg      sync.WaitGroup // log readers, calls still running, liveness checks
}

// instance is one child process slot: the process is started on first use
// and again after it is replaced.
type instance struct {
	mu      sync.Mutex
	proc    *process
	started bool // a process was started: the next one is a restart
	metrics *instanceMetrics
}

type process struct {
	cmd    *exec.Cmd
	client *rpc.Client
	exited chan struct{}
	err    error // set before exited closes
}

// FunctionOptions configure a Function.
type FunctionOptions struct {
	// Env is the function's environment, as set in the SCF console.
	Env map[string]string
	// Timeout is the function timeout: each invoke's deadline (default 3s).
	Timeout time.Duration
	// Logs receives every line a child prints (default: discarded).
	Logs func(line []byte)
	// Instances is how many child processes serve invokes (default 1).
	Instances int
	// Concurrency is how many invokes one instance takes at once (default
	// 1, as under SCF). More lets one process stand in for SCF's scale-out,
	// which the in-memory registry needs: it lives in one process.
	Concurrency int
	// MaxEventBytes is SCF's limit on an event and on a reply (default
	// 6 MB): a larger one fails the invoke, as SCF refuses it.
	MaxEventBytes int
	// Metrics, when set, counts each instance's invokes and restarts and
	// the invokes that fail.
	Metrics *Metrics
	// Identity is the function's name and account, which each invoke
	// request carries as SCF's does.
	Identity Identity
}

// Identity is what the Go1 runtime's invoke request says of the function
// besides the event: scf-go-lib hands it to the handler as
// functioncontext.FunctionContext (its cloudfunction/function.go), where
// a function finds its own name to invoke itself.
type Identity struct {
	Name      string // default scfws-local
	Namespace string // default default
	Version   string // default $LATEST
	Region    string
	AppID     string
	UIN       string
	MemoryMB  int32 // default 128
}

func (id Identity) withDefaults() Identity {
	if id.Name == "" {
		id.Name = "scfws-local"
	}
	if id.Namespace == "" {
		id.Namespace = "default"
	}
	if id.Version == "" {
		id.Version = "$LATEST"
	}
	if id.MemoryMB <= 0 {
		id.MemoryMB = 128
	}
	return id
}

// DefaultMaxEventBytes is SCF's limit on a synchronous event and its reply.
const DefaultMaxEventBytes = 6 << 20

// NewFunction prepares to run the binary at path. Start it with Start, or let
// the first Invoke do so.
func NewFunction(path string, o FunctionOptions) (*Function, error) {
	env, err := json.Marshal(o.Env)
	if err != nil {
		return nil, fmt.Errorf("function environment: %w", err)
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Logs == nil {
		o.Logs = func([]byte) {}
	}
	o.Instances = max(o.Instances, 1)
	o.Concurrency = max(o.Concurrency, 1)
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	f := &Function{path: path, env: string(env), timeout: o.Timeout, maxEvent: o.MaxEventBytes, logs: o.Logs,
		exclusive: o.Concurrency == 1, handOver: servesHandedListener(path), free: make(chan *instance, o.Instances*o.Concurrency),
		metrics: o.Metrics}
	f.identity = o.Identity.withDefaults()
	for i := range o.Instances {
		f.instances = append(f.instances, &instance{metrics: o.Metrics.instance(i)})
	}
	// Interleaved, so that concurrent invokes spread over the instances.
	for range o.Concurrency {
		for _, in := range f.instances {
			f.free <- in
		}
	}
	return f, nil
}

// Start starts every instance now, so that a broken binary shows at once.
func (f *Function) Start(ctx context.Context) error {
	errs := make([]error, len(f.instances))
	var wg sync.WaitGroup
	for i, in := range f.instances {
		wg.Go(func() { _, errs[i] = f.current(ctx, in) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Loopback reports whether the instances serve on loopback only: scfws
// does, on the listener it is handed. Another binary listens on every
// interface, as scf-go-lib does, where anyone who reaches this machine can
// invoke it.
func (f *Function) Loopback() bool { return f.handOver }

// servesHandedListener reports whether the program at path serves the
// listener it is handed: it carries the name of the variable that hands it
// over, as scfws's function does (function.StartHandler). A script, or an
// SCF Go program that is not scfws, does not; nor does an scfws built
// before it could, which then binds its port as scf-go-lib does.
func servesHandedListener(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false // Start says why
	}
	defer f.Close()
	marker := []byte(proto.RuntimeListenerFD)
	buf := make([]byte, 256<<10)
	carry := 0 // bytes kept from the last read: a marker may straddle two
	for {
		n, err := f.Read(buf[carry:])
		data := buf[:carry+n]
		if bytes.Contains(data, marker) {
			return true
		}
		if err != nil {
			return false
		}
		carry = min(len(marker)-1, len(data))
		copy(buf, data[len(data)-carry:])
	}
}

// Pids are the running instances' process IDs.
func (f *Function) Pids() []int {
	var pids []int
	for _, in := range f.instances {
		in.mu.Lock()
		if in.proc != nil {
			pids = append(pids, in.proc.cmd.Process.Pid)
		}
		in.mu.Unlock()
	}
	return pids
}

// InvokeError is an invoke that failed: the gateway treats it as the
// function's failure (refusing a handshake, dropping a client).
type InvokeError struct {
	Kind string // "crash", "timeout", "error", "too large"
	Msg  string
}

func (e *InvokeError) Error() string { return "function " + e.Kind + ": " + e.Msg }

type outcome struct {
	payload []byte
	err     error
}

// Invoke delivers one event and returns the function's reply. Calls may run
// concurrently, as the gateway makes them; the deadline starts once an
// instance has taken the invoke. A caller that gives up (ctx) gets its
// answer at once, but the instance stays busy until its handler returns,
// as under SCF.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := f.invoke(ctx, payload)
	var ie *InvokeError
	if errors.As(err, &ie) {
		f.metrics.invokeFailed(ie.Kind)
	}
	return out, err
}

func (f *Function) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) > f.maxEvent {
		return nil, &InvokeError{Kind: "too large", Msg: fmt.Sprintf("event of %d bytes is over SCF's %d-byte limit", len(payload), f.maxEvent)}
	}
	var in *instance
	select {
	case in = <-f.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p, err := f.current(ctx, in)
	if err != nil {
		f.free <- in
		return nil, &InvokeError{Kind: "crash", Msg: err.Error()}
	}
	deadline := time.Now().Add(f.timeout)
	req := &messages.InvokeRequest{
		Payload:       payload,
		RequestId:     newRequestID(),
		Deadline:      messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
		Environment:   f.env,
		TimeLimitInMs: int32(f.timeout.Milliseconds()),
	}
	f.identify(req)
	resp := new(messages.InvokeResponse)
	in.metrics.began()
	call := p.client.Go("Function.Invoke", req, resp, make(chan *rpc.Call, 1))
	done := make(chan outcome, 1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		o := f.await(in, p, call, resp, deadline)
		in.metrics.ended()
		done <- o
	}()
	select {
	case o := <-done:
		return o.payload, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// identify gives req the function's name and account.
func (f *Function) identify(req *messages.InvokeRequest) {
	id := f.identity
	req.FunctionName, req.Namespace, req.FunctionVersion = id.Name, id.Namespace, id.Version
	req.TencentcloudRegion, req.TencentcloudAppID, req.TencentcloudUin = id.Region, id.AppID, id.UIN
	req.MemoryLimitInMb = id.MemoryMB
}

// await waits for one call and gives its instance back once the instance
// can take another invoke.
func (f *Function) await(in *instance, p *process, call *rpc.Call, resp *messages.InvokeResponse, deadline time.Time) outcome {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-call.Done:
	case <-timer.C:
		if f.exclusive {
			// The instance's one invoke is over for SCF; its handler is
			// still running, so the instance is replaced rather than
			// handed a second invoke.
			f.replace(in, p)
		} else {
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.checkAlive(in, p)
			}()
		}
		f.free <- in
		return outcome{err: &InvokeError{Kind: "timeout", Msg: fmt.Sprintf("no reply within %s", f.timeout)}}
	}
	if call.Error != nil {
		f.replace(in, p)
		f.free <- in
		return outcome{err: &InvokeError{Kind: "crash", Msg: call.Error.Error()}}
	}
	f.free <- in
	if e := resp.Error; e != nil {
		if e.ShouldExit {
			f.replace(in, p)
		}
		return outcome{err: &InvokeError{Kind: "error", Msg: e.Type + ": " + e.Message}}
	}
	if len(resp.Payload) > f.maxEvent {
		return outcome{err: &InvokeError{Kind: "too large", Msg: fmt.Sprintf("reply of %d bytes is over SCF's %d-byte limit", len(resp.Payload), f.maxEvent)}}
	}
	return outcome{payload: resp.Payload}
}

// checkAlive replaces a process that timed out and no longer answers Ping;
// one that still answers keeps serving the invokes in flight.
func (f *Function) checkAlive(in *instance, p *process) {
	call := p.client.Go("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}, make(chan *rpc.Call, 1))
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case c := <-call.Done:
		if c.Error == nil {
			return
		}
	case <-t.C:
	}
	f.replace(in, p)
}

// replace kills p if it is still the instance's process; the instance's
// next invoke starts a new one.
func (f *Function) replace(in *instance, p *process) {
	in.mu.Lock()
	if in.proc == p {
		in.proc = nil
	}
	in.mu.Unlock()
	p.kill()
}

// current returns the instance's running process, starting one if needed.
func (f *Function) current(ctx context.Context, in *instance) (*process, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if f.closed.Load() {
		return nil, errors.New("function stopped")
	}
	if in.proc != nil {
		select {
		case <-in.proc.exited:
			in.proc = nil
		default:
			return in.proc, nil
		}
	}
	p, err := f.spawn(ctx)
	if err != nil {
		return nil, err
	}
	if in.started {
		in.metrics.restarted()
	}
	in.proc, in.started = p, true
	return p, nil
}

func (f *Function) spawn(ctx context.Context) (*process, error) {
	if f.handOver {
		return f.spawnOnce(ctx)
	}
	f.spawnMu.Lock()
	defer f.spawnMu.Unlock()
	// The port is free when picked and bound by the child later: another
	// process may take it in between, and the child then exits at once.
	// A new port is worth two more tries.
	for try := 1; ; try++ {
		p, err := f.spawnOnce(ctx)
		if !errors.Is(err, errExitedEarly) || try == 3 || ctx.Err() != nil {
			return p, err
		}
	}
}

// errExitedEarly is a child that exited before it served its port.
var errExitedEarly = errors.New("exited before serving")

func (f *Function) spawnOnce(ctx context.Context) (*process, error) {
	cmd := exec.Command(f.path)
	// As under SCF, the process starts with the runtime's variables only;
	// the function's own arrive with each invoke.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=" + os.Getenv("TZ")}
	addr, handed, err := f.serveAt(cmd)
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, errors.Join(err, closeFile(handed))
	}
	cmd.Stderr = cmd.Stdout
	err = cmd.Start()
	_ = closeFile(handed) // the child has its own copy now
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", f.path, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			f.logs(sc.Bytes())
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := f.connect(ctx, p, addr); err != nil {
		return nil, err
	}
	return p, nil
}

// serveAt tells cmd where to serve the runtime: on a loopback listener it
// inherits as descriptor 3 (handed, for the caller to close once the child
// has started), or on a port picked free that it binds itself. Either way
// _LAMBDA_SERVER_PORT is the port, as scf-go-lib reads it.
func (f *Function) serveAt(cmd *exec.Cmd) (addr string, handed *os.File, err error) {
	if !f.handOver {
		port, err := freePort()
		cmd.Env = append(cmd.Env, "_LAMBDA_SERVER_PORT="+port)
		return "127.0.0.1:" + port, nil, err
	}
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", nil, fmt.Errorf("listen for the function: %w", err)
	}
	defer l.Close() // the copy in handed keeps the socket open
	if handed, err = l.File(); err != nil {
		return "", nil, fmt.Errorf("hand the listener over: %w", err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	cmd.ExtraFiles = []*os.File{handed} // descriptor 3
	cmd.Env = append(cmd.Env, "_LAMBDA_SERVER_PORT="+port, proto.RuntimeListenerFD+"=3")
	return l.Addr().String(), handed, nil
}

func closeFile(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}

// connect waits (up to 10s) until the child serves at addr and answers a
// Ping. A handed listener takes the connection at once and the Ping waits
// for the child; a port it binds itself is dialled until it listens.
func (f *Function) connect(ctx context.Context, p *process, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			p.client = rpc.NewClient(c)
			return f.ping(ctx, p, addr)
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s %w: %v", f.path, errExitedEarly, p.err)
		case <-ctx.Done():
			p.kill()
			return fmt.Errorf("%s did not serve on %s: %w", f.path, addr, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ping checks a new child answers, and kills it when it does not.
func (f *Function) ping(ctx context.Context, p *process, addr string) error {
	call := p.client.Go("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}, make(chan *rpc.Call, 1))
	var err error
	select {
	case <-call.Done:
		if err = call.Error; err == nil {
			return nil
		}
		err = fmt.Errorf("Function.Ping: %w", err)
	case <-p.exited:
		err = fmt.Errorf("%s %w: %v", f.path, errExitedEarly, p.err)
	case <-ctx.Done():
		err = fmt.Errorf("%s did not answer on %s: %w", f.path, addr, ctx.Err())
	}
	p.kill()
	return err
}

func (p *process) kill() {
	if p.client != nil {
		p.client.Close()
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Close stops every instance and waits for their output to be read.
func (f *Function) Close() {
	f.closed.Store(true)
	for _, in := range f.instances {
		in.mu.Lock()
		p := in.proc
		in.proc = nil
		in.mu.Unlock()
		if p != nil {
			p.kill()
		}
	}
	f.wg.Wait()
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
