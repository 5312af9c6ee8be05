// Package emulator runs a Tencent API Gateway WebSocket API and the SCF Go1
// runtime on one machine: a Gateway that speaks WebSocket to clients and the
// reverse-push protocol to the function, and a Function that runs any SCF Go1
// binary as a child process over the runtime's real net/rpc protocol.
package emulator

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"
)

// Function runs an SCF Go1 binary as SCF does: a child process serving
// net/rpc on _LAMBDA_SERVER_PORT, its settings handed over with each invoke
// in Environment. A child that crashes, asks to exit after a panic, or stops
// answering after a timeout is replaced on the next invoke.
type Function struct {
	path    string
	env     string // the Environment JSON sent with every invoke
	timeout time.Duration
	logs    func(line []byte) // each line the child prints
	slots   chan struct{}     // invokes in flight

	mu   sync.Mutex
	proc *process
	wg   sync.WaitGroup // log readers and waiters
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
	// Logs receives every line the child prints (default: discarded).
	Logs func(line []byte)
	// Concurrency bounds the invokes in flight in the one process (default
	// 8); the others wait for a slot, as events wait for a free instance.
	// SCF gives each instance one invoke at a time; one process running
	// hundreds at once would measure the emulator, not the function.
	Concurrency int
}

// NewFunction prepares to run the binary at path. Start it with Start, or let
// the first Invoke do so.
func NewFunction(path string, o FunctionOptions) (*Function, error) {
	env, err := json.Marshal(o.Env)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Logs == nil {
		o.Logs = func([]byte) {}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	return &Function{path: path, env: string(env), timeout: o.Timeout, logs: o.Logs,
		slots: make(chan struct{}, o.Concurrency)}, nil
}

// Start starts the child now, so that a broken binary shows at once.
func (f *Function) Start(ctx context.Context) error {
	_, err := f.current(ctx)
	return err
}

// Pid is the running child's process ID, or 0.
func (f *Function) Pid() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proc == nil {
		return 0
	}
	return f.proc.cmd.Process.Pid
}

// InvokeError is an invoke that failed: the gateway treats it as the
// function's failure (refusing a handshake, closing a client).
type InvokeError struct {
	Kind string // "crash", "timeout", "error"
	Msg  string
}

func (e *InvokeError) Error() string { return "function " + e.Kind + ": " + e.Msg }

// Invoke delivers one event and returns the function's reply. Calls may run
// concurrently, as the gateway makes them; the deadline starts once the
// invoke has a slot.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p, err := f.current(ctx)
	if err != nil {
		return nil, &InvokeError{Kind: "crash", Msg: err.Error()}
	}
	deadline := time.Now().Add(f.timeout)
	req := &messages.InvokeRequest{
		Payload:         payload,
		RequestId:       newRequestID(),
		Deadline:        messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
		Environment:     f.env,
		FunctionName:    "scfws-local",
		Namespace:       "default",
		MemoryLimitInMb: 128,
		TimeLimitInMs:   int32(f.timeout.Milliseconds()),
	}
	var resp messages.InvokeResponse
	call := p.client.Go("Function.Invoke", req, &resp, make(chan *rpc.Call, 1))
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-call.Done:
	case <-timer.C:
		go f.checkAlive(p)
		return nil, &InvokeError{Kind: "timeout", Msg: fmt.Sprintf("no reply within %s", f.timeout)}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if call.Error != nil {
		f.replace(p)
		return nil, &InvokeError{Kind: "crash", Msg: call.Error.Error()}
	}
	if e := resp.Error; e != nil {
		if e.ShouldExit {
			f.replace(p)
		}
		return nil, &InvokeError{Kind: "error", Msg: e.Type + ": " + e.Message}
	}
	return resp.Payload, nil
}

// checkAlive replaces a child that timed out and no longer answers Ping; one
// that still answers keeps serving the invokes in flight.
func (f *Function) checkAlive(p *process) {
	call := p.client.Go("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}, make(chan *rpc.Call, 1))
	select {
	case c := <-call.Done:
		if c.Error == nil {
			return
		}
	case <-time.After(time.Second):
	}
	f.replace(p)
}

// replace kills p if it is still the current child; the next invoke starts
// a new one.
func (f *Function) replace(p *process) {
	f.mu.Lock()
	if f.proc == p {
		f.proc = nil
	}
	f.mu.Unlock()
	p.kill()
}

// current returns the running child, starting one if needed.
func (f *Function) current(ctx context.Context) (*process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proc != nil {
		select {
		case <-f.proc.exited:
			f.proc = nil
		default:
			return f.proc, nil
		}
	}
	p, err := f.spawn(ctx)
	if err != nil {
		return nil, err
	}
	f.proc = p
	return p, nil
}

func (f *Function) spawn(ctx context.Context) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(f.path)
	// As under SCF, the process starts with the runtime's variables only;
	// the function's own arrive with each invoke.
	cmd.Env = []string{"_LAMBDA_SERVER_PORT=" + port, "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=" + os.Getenv("TZ")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
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

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			p.client = rpc.NewClient(c)
			if err := p.client.Call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err != nil {
				p.kill()
				return nil, fmt.Errorf("Function.Ping: %w", err)
			}
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before serving: %v", f.path, p.err)
		case <-ctx.Done():
			p.kill()
			return nil, fmt.Errorf("%s did not serve on port %s: %w", f.path, port, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (p *process) kill() {
	if p.client != nil {
		p.client.Close()
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Close stops the child and waits for its output to be read.
func (f *Function) Close() {
	f.mu.Lock()
	p := f.proc
	f.proc = nil
	f.mu.Unlock()
	if p != nil {
		p.kill()
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
