package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"
	"github.com/tencentyun/scf-go-lib/functioncontext"

	"github.com/scfws/scfws/proto"
)

// StartHandler serves h over SCF's Go1 runtime protocol until serving
// fails. Under scfws local, which hands the process a loopback listener
// (proto.RuntimeListenerFD), it serves there, so that nothing but this
// machine reaches the function; elsewhere (SCF) it is scf-go-lib's
// StartHandler, unchanged.
func StartHandler(h cloudfunction.Handler) error {
	fd, ok := os.LookupEnv(proto.RuntimeListenerFD)
	if !ok {
		cloudfunction.StartHandler(h) // exits the process on failure
		return errors.New("runtime server stopped")
	}
	l, err := inheritedListener(fd)
	if err != nil {
		return err
	}
	return ServeRuntime(l, h)
}

// inheritedListener is the listener in descriptor fd, which the process
// was started with. The variable goes, so that a process the handler
// starts does not look for a descriptor it never had.
func inheritedListener(fd string) (net.Listener, error) {
	_ = os.Unsetenv(proto.RuntimeListenerFD)
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return nil, fmt.Errorf("%s=%q: want the number of an inherited descriptor (3 or more)", proto.RuntimeListenerFD, fd)
	}
	f := os.NewFile(uintptr(n), "runtime listener")
	defer f.Close() // FileListener holds its own copy
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("%s=%d: %w", proto.RuntimeListenerFD, n, err)
	}
	return l, nil
}

// ServeRuntime serves SCF's Go1 runtime protocol on l: net/rpc's service
// "Function" with Ping and Invoke, taking and giving scf-go-lib's messages
// with scf-go-lib's semantics (each invoke's Environment set in the
// process, its Deadline on the context, a panic reported with ShouldExit).
// scf-go-lib cannot serve on a listener of ours: its Function keeps the
// handler unexported and its StartHandler binds 0.0.0.0 itself.
func ServeRuntime(l net.Listener, h cloudfunction.Handler) error {
	srv := rpc.NewServer()
	if err := srv.RegisterName("Function", &runtimeService{handler: h}); err != nil {
		return err
	}
	srv.Accept(l) // returns when l fails or is closed
	return fmt.Errorf("runtime listener %s closed", l.Addr())
}

// runtimeService is the rpc service; net/rpc calls each method in a
// goroutine of its own, as scf-go-lib's.
type runtimeService struct {
	handler cloudfunction.Handler
}

// Ping answers the runtime's liveness check.
func (s *runtimeService) Ping(_ *messages.PingRequest, resp *messages.PingResponse) error {
	*resp = messages.PingResponse{}
	return nil
}

// Invoke runs one invoke. Failures are in resp.Error, never the rpc's
// error: the runtime reads them there.
func (s *runtimeService) Invoke(req *messages.InvokeRequest, resp *messages.InvokeResponse) error {
	defer func() {
		if p := recover(); p != nil {
			resp.Error = &messages.InvokeResponse_Error{Message: fmt.Sprintf("%v", p), Type: typeName(p),
				StackTrace: panicStack(), ShouldExit: true}
		}
	}()
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(req.Deadline.Seconds, req.Deadline.Nanos).UTC())
	defer cancel()
	fc, err := invokeContext(req)
	if err != nil {
		resp.Error = errorResponse(err)
		return nil
	}
	payload, err := s.handler.Invoke(functioncontext.NewContext(ctx, fc), req.Payload)
	if err != nil {
		resp.Error = errorResponse(err)
		return nil
	}
	resp.Payload = payload
	return nil
}

// invokeContext is what the handler learns of its invoke; the invoke's
// Environment is set in the process, as the function's settings arrive
// with each invoke.
func invokeContext(req *messages.InvokeRequest) (*functioncontext.FunctionContext, error) {
	fc := &functioncontext.FunctionContext{
		RequestID: req.RequestId, InvokedFunctionUnique: req.InvokedFunctionUnique, Namespace: req.Namespace,
		FunctionName: req.FunctionName, FunctionVersion: req.FunctionVersion, MemoryLimitInMb: req.MemoryLimitInMb,
		TimeLimitInMs: req.TimeLimitInMs, TencentcloudRegion: req.TencentcloudRegion, TencentcloudAppID: req.TencentcloudAppID,
		TencentcloudUin: req.TencentcloudUin, FunctionTrace: req.FunctionTrace,
	}
	if len(req.ClientContext) > 0 {
		if err := json.Unmarshal(req.ClientContext, &fc.ClientContext); err != nil {
			return nil, err
		}
	}
	if len(req.Environment) > 0 {
		if err := json.Unmarshal([]byte(req.Environment), &fc.Environment); err != nil {
			return nil, err
		}
		for k, v := range fc.Environment {
			_ = os.Setenv(k, v)
		}
	}
	return fc, nil
}

// errorResponse reports a handler's error by its type's name, as
// scf-go-lib does.
func errorResponse(err error) *messages.InvokeResponse_Error {
	return &messages.InvokeResponse_Error{Message: err.Error(), Type: typeName(err)}
}

// typeName is the name of v's type, through one pointer.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// panicStack is the panicking goroutine's stack from the recovering
// function (the caller's caller) on, at most 32 frames, each as scf-go-lib formats it: the
// path from the package's import path on, the function without its
// package.
func panicStack() []*messages.InvokeResponse_Error_StackFrame {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(2, pcs) // from the deferred function, as scf-go-lib
	var out []*messages.InvokeResponse_Error_StackFrame
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		out = append(out, stackFrame(f))
		if !more {
			return out
		}
	}
}

// stackFrame trims a frame's file to the path below GOPATH or the module
// cache (as many trailing elements as the function's import path has, plus
// the file) and its function to what follows the package name.
func stackFrame(f runtime.Frame) *messages.InvokeResponse_Error_StackFrame {
	path, label := f.File, f.Function
	i := len(path)
	for range strings.Count(label, "/") + 2 {
		if i = strings.LastIndex(path[:i], "/"); i < 0 {
			break
		}
	}
	path = path[i+1:]
	label = label[strings.LastIndex(label, "/")+1:]
	label = label[strings.Index(label, ".")+1:]
	return &messages.InvokeResponse_Error_StackFrame{Path: path, Line: int32(f.Line), Label: label}
}
