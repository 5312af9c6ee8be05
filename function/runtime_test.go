package function

import (
	"encoding/json"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/proto"
)

// startRuntime runs rtcheck and connects to it: on a loopback listener it
// is handed (ours), or on the port scf-go-lib binds.
func startRuntime(t testing.TB, bin string, handed bool) *rpc.Client {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var addr string
	if handed {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
		defer f.Close()
		cmd.ExtraFiles = []*os.File{f}
		cmd.Env = append(cmd.Env, proto.RuntimeListenerFD+"=3", "_LAMBDA_SERVER_PORT="+strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	} else {
		port := strconv.Itoa(testkit.FreePort(t))
		addr = "127.0.0.1:" + port
		cmd.Env = append(cmd.Env, "_LAMBDA_SERVER_PORT="+port)
	}
	var out testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rtcheck (handed a listener: %v) printed:\n%s", handed, out.String())
		}
	})
	var c *rpc.Client
	testkit.Eventually(t, 10*time.Second, "rtcheck to serve "+addr, func() bool {
		var err error
		c, err = rpc.Dial("tcp", addr)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	if err := c.Call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return c
}

// answer is an invoke's response with the stack trace cut to rtcheck's
// own frames: below them the two servers differ by design.
type answer struct {
	Payload    string
	Error      *messages.InvokeResponse_Error
	OwnFrames  []messages.InvokeResponse_Error_StackFrame
	FrameCount int // the frames before rtcheck's: the recovering function and gopanic
}

func call(t testing.TB, c *rpc.Client, req messages.InvokeRequest) answer {
	t.Helper()
	var resp messages.InvokeResponse
	if err := c.Call("Function.Invoke", &req, &resp); err != nil {
		t.Fatalf("Invoke(%q): %v", req.Payload, err)
	}
	a := answer{Payload: string(resp.Payload), Error: resp.Error}
	if e := resp.Error; e != nil {
		for i, f := range e.StackTrace {
			if strings.HasPrefix(f.Path, "rtcheck/") {
				a.OwnFrames = append(a.OwnFrames, *f)
				if len(a.OwnFrames) == 1 {
					a.FrameCount = i
				}
			}
		}
		e.StackTrace = nil
	}
	return a
}

// ServeRuntime answers as scf-go-lib's runtime server does, over the real
// protocol: payloads, errors by type, panics with ShouldExit and the stack
// from the panic, the invoke's context, its Environment set in the process
// and kept for later invokes, and malformed Environment or ClientContext.
func TestServeRuntimeMatchesSCFGoLib(t *testing.T) {
	bin := testkit.BuildProgram(t, "./testdata/rtcheck")
	ours, lib := startRuntime(t, bin, true), startRuntime(t, bin, false)
	deadline := time.Now().Add(time.Minute)
	ts := messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())}
	tests := []struct {
		name string
		give messages.InvokeRequest
	}{
		{"echo", messages.InvokeRequest{Payload: []byte("echo:hi"), Deadline: ts}},
		{"empty answer", messages.InvokeRequest{Payload: []byte("nothing"), Deadline: ts}},
		{"error", messages.InvokeRequest{Payload: []byte("error"), Deadline: ts}},
		{"panic", messages.InvokeRequest{Payload: []byte("panic"), Deadline: ts}},
		{"panic with an error", messages.InvokeRequest{Payload: []byte("panicerr"), Deadline: ts}},
		{"environment set", messages.InvokeRequest{Payload: []byte("env:RTCHECK_A"), Deadline: ts, Environment: `{"RTCHECK_A":"one"}`}},
		{"environment kept", messages.InvokeRequest{Payload: []byte("env:RTCHECK_A"), Deadline: ts}},
		{"environment not JSON", messages.InvokeRequest{Payload: []byte("echo:x"), Deadline: ts, Environment: `{"A":`}},
		{"client context not JSON", messages.InvokeRequest{Payload: []byte("echo:x"), Deadline: ts, ClientContext: []byte("[")}},
		{"context", messages.InvokeRequest{Payload: []byte("ctx"), Deadline: ts, RequestId: "r-1", FunctionName: "fn",
			Namespace: "ns", FunctionVersion: "$LATEST", MemoryLimitInMb: 128, TimeLimitInMs: 3000, TencentcloudRegion: "ap-guangzhou",
			TencentcloudAppID: "1", TencentcloudUin: "2", FunctionTrace: "tr", InvokedFunctionUnique: "u",
			ClientContext: []byte(`{"Client":{"installation_id":"i"},"env":{"k":"v"}}`), Environment: `{"RTCHECK_B":"two"}`}},
	}
	for _, tt := range tests {
		got, want := call(t, ours, tt.give), call(t, lib, tt.give)
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("%s: ServeRuntime answered\n%s\nwant (scf-go-lib)\n%s", tt.name, g, w)
		}
	}
	// Not vacuous: the panics carried rtcheck's frame, the context its fields.
	if a := call(t, ours, messages.InvokeRequest{Payload: []byte("panic"), Deadline: ts}); len(a.OwnFrames) == 0 || !a.Error.ShouldExit {
		t.Errorf("panic: %+v; want ShouldExit and rtcheck's frames", a)
	}
}

// A handed listener that is not a descriptor's number is refused with a
// message naming the variable.
func TestInheritedListenerRefusesGarbage(t *testing.T) {
	for _, give := range []string{"", "x", "2", "-1"} {
		t.Setenv(proto.RuntimeListenerFD, give)
		if _, err := inheritedListener(give); err == nil || !strings.Contains(err.Error(), proto.RuntimeListenerFD) {
			t.Errorf("inheritedListener(%q) = %v; want an error naming %s", give, err, proto.RuntimeListenerFD)
		}
	}
}
