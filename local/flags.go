package local

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
)

// Usage heads scfws local -h; the flags follow it. Its first paragraph is
// the synopsis a usage error shows.
const Usage = `Usage: scfws local [flags]

Runs a Tencent API Gateway WebSocket API and the SCF Go1 runtime on this machine:
clients connect over WebSocket, each handshake, frame and close becomes an invoke
of the function (child processes, over the real runtime protocol), and the
function answers through the reverse-push address. Open the printed URL to chat.

The function gets STORE=memory unless DB_HOST is set (then that MySQL), and
SENDBACK_HOST pointing here; every other variable of scfws -h passes through.
With STORE=memory one instance takes -function-concurrency invokes at once
(default 8), since the registry lives in that one process; with MySQL,
-instances processes (default 4) take -function-concurrency each (default 1,
as under SCF).

Add ?fail-push=STATUS (200-599) to the WebSocket URL to make pushes to that
connection answer STATUS; any but 200 and 429 also drops the client, as the
gateway does. GET /_scfws/connections lists the open connections, GET
/_scfws/status shows counts and the last refused handshake, GET
/_scfws/metrics the metrics in Prometheus's format; /_scfws/dashboard charts
them live, with the last events.

It also answers Tencent Cloud's API on the same address: SCF Invoke of this
function (named scfws), and what scfws deploy -endpoint uses (SCF, API
Gateway, the tag API, CAM's role and policy calls), so a function deployed
into it runs from its zip and its WebSocket API is served here, at the URL
deploy prints. -fail-action makes chosen actions fail, every call or, with :N
after the code, the first N (a busy resource, which deploy retries).

As SCF does, Invoke with InvocationType Event answers at once and queues the
event (at most 128 KB; 100,000 events); the events run on the function's
instances in order, and one whose function fails (an error, a panic, a
timeout, a killed process) runs again twice, -async-retry-interval apart
(SCF: 1 minute), then is dropped. Each function gets, with every invoke, what
SCF gives it: its name and namespace (SCF_FUNCTIONNAME, SCF_NAMESPACE, and in
the invoke request), TENCENTCLOUD_REGION, and a run-role key
(TENCENTCLOUD_SECRETID, _SECRETKEY, _SESSIONTOKEN) that local's API accepts
for invoking that function; a deployed function gets one only when deployed
with a role SCF can assume. SCFWS_CLOUD_API, this address, exists only under
scfws local: it tells the function where the API is (on SCF, Tencent's).

Flags:
`

// localFlags are scfws local's settings.
type localFlags struct {
	addr                 string
	public               bool
	path                 string
	function             string
	functionTimeout      time.Duration
	instances            int
	concurrency          int
	idleTimeout          time.Duration
	idleCleanup          bool
	dropCleanup          bool
	closingOnServerClose bool
	idleCountsPings      bool
	concurrentFrames     bool
	handshakeExtras      bool
	pushLatency          time.Duration
	pushRateLimit        int
	unknownPushStatus    int
	maxMessageBytes      int64
	heartbeat            string
	faults               cloudapi.Faults
	metrics              bool
	asyncRetryInterval   time.Duration
	sendback             string
	runRole              bool

	// Not flags: the HTTP server's timeouts, shorter in tests.
	readTimeout     time.Duration // a whole request, body included
	idleConnTimeout time.Duration // a kept-alive connection between requests
	pushReadTimeout time.Duration // one push body
}

// parseLocalFlags reads scfws local's command line; -h prints the usage to
// help and is flag.ErrHelp, any mistake a UsageError (printed by the
// caller).
func parseLocalFlags(args []string, help io.Writer) (localFlags, error) {
	f := localFlags{readTimeout: 30 * time.Second, idleConnTimeout: 90 * time.Second, pushReadTimeout: 10 * time.Second}
	fs := f.flagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(help)
			fmt.Fprint(help, Usage)
			fs.PrintDefaults()
			return f, err
		}
		return f, UsageError{err}
	}
	if fs.NArg() > 0 {
		return f, UsageError{fmt.Errorf("local takes no arguments, got %q", fs.Args())}
	}
	return f, f.validate()
}

// flagSet is scfws local's flags, read into f. It prints nothing while
// parsing.
func (f *localFlags) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free one); loopback only, unless -public")
	fs.BoolVar(&f.public, "public", false, "allow a non-loopback -addr: anyone who reaches the port can then push to and close any client")
	fs.StringVar(&f.path, "path", "/websocket", "the WebSocket API's path")
	fs.StringVar(&f.function, "function", "", "SCF Go1 binary to run (default: this scfws)")
	fs.DurationVar(&f.functionTimeout, "function-timeout", 3*time.Second, "function timeout: each invoke's deadline")
	fs.IntVar(&f.instances, "instances", 0, "function instances (processes); default 4 with MySQL, and only 1 is possible with STORE=memory")
	fs.IntVar(&f.concurrency, "function-concurrency", 0, "invokes one instance takes at once; default 8 with STORE=memory (one process stands in for SCF's scale-out), else 1 as under SCF")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 600*time.Second, "backend timeout: clients silent this long are closed")
	fs.BoolVar(&f.idleCleanup, "idle-cleanup", false, "send closing when the idle timeout closes a client (Tencent does not document it)")
	fs.BoolVar(&f.dropCleanup, "drop-cleanup", false, "never send closing, as if every client vanished")
	fs.BoolVar(&f.closingOnServerClose, "closing-on-server-close", false, "send closing when a closing push closes a client (Tencent does not document it)")
	fs.BoolVar(&f.idleCountsPings, "idle-counts-pings", false, "WebSocket pings reset the idle timer too (by default only data frames do)")
	fs.BoolVar(&f.concurrentFrames, "concurrent-frames", false, "invoke a client's frames concurrently, as they arrive (default: one at a time, in order); the docs promise no order")
	fs.BoolVar(&f.handshakeExtras, "handshake-extras", false, "add the handshake's headers and queryString objects to the connecting event (undocumented for WebSocket APIs)")
	fs.DurationVar(&f.pushLatency, "push-latency", 0, "delay every reverse-push answer")
	fs.IntVar(&f.pushRateLimit, "push-rate-limit", 0, "answer 429 to pushes above this many per second across the push address (0: no limit)")
	fs.IntVar(&f.unknownPushStatus, "unknown-push-status", http.StatusNotFound, "HTTP status of a push to an unknown or closed connection (undocumented)")
	fs.Int64Var(&f.maxMessageBytes, "max-message-bytes", 4<<20, "larger client frames close the client with 1009")
	fs.StringVar(&f.heartbeat, "heartbeat", "__heartbeat__", "HEARTBEAT_MESSAGE for the function and the chat page, unless set in the environment")
	fs.BoolVar(&f.metrics, "metrics", true, "count what the emulator sees: GET /_scfws/metrics (Prometheus) and the dashboard at /_scfws/dashboard; -metrics=false for neither")
	fs.DurationVar(&f.asyncRetryInterval, "async-retry-interval", cloudapi.DefaultRetryInterval, "pause before an Event invocation whose function failed runs again (SCF: 1 minute, 2 retries)")
	fs.StringVar(&f.sendback, "sendback", "", "the function's SENDBACK_HOST instead of local's push address, e.g. a test's counting endpoint (clients never get those pushes)")
	fs.BoolVar(&f.runRole, "run-role", true, "give the function a run-role key, as SCF does for a function with a run role; -run-role=false runs it without one")
	fs.Var(&f.faults, "fail-action", "make a Tencent Cloud API action fail with an error code, service:Action=Code[:N] (the first N calls only), e.g. apigateway:CreateApi=AuthFailure.UnauthorizedOperation (repeatable)")
	return fs
}

// validate returns the first setting out of its range.
func (f localFlags) validate() error {
	switch {
	case f.unknownPushStatus < 200 || f.unknownPushStatus > 599:
		return UsageError{fmt.Errorf("-unknown-push-status %d: want an HTTP status 200-599", f.unknownPushStatus)}
	case f.pushRateLimit < 0, f.instances < 0, f.concurrency < 0:
		return UsageError{errors.New("-push-rate-limit, -instances and -function-concurrency cannot be negative")}
	case f.maxMessageBytes <= 0:
		return UsageError{fmt.Errorf("-max-message-bytes %d: want a positive size", f.maxMessageBytes)}
	case f.asyncRetryInterval < 0:
		return UsageError{fmt.Errorf("-async-retry-interval %s cannot be negative", f.asyncRetryInterval)}
	}
	return checkSendback(f.sendback)
}

// checkSendback accepts an http(s) URL with a host, or nothing.
func checkSendback(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return UsageError{fmt.Errorf("-sendback %q: want an http(s) URL, e.g. http://127.0.0.1:9000/push", s)}
	}
	return nil
}

// checkAddr refuses to listen beyond this machine unless -public: whoever
// reaches the port can list connections, push to and close any client.
func checkAddr(addr string, public bool) (loopback bool, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, UsageError{fmt.Errorf("-addr %q: %w", addr, err)}
	}
	loopback = emulator.IsLoopback(host)
	if !loopback && !public {
		return false, UsageError{fmt.Errorf("-addr %s listens beyond this machine: anyone who reaches the port could list the connections, "+
			"push to and close any client through /sendback; use 127.0.0.1, or add -public if you mean it", addr)}
	}
	return loopback, nil
}

// UsageError is a mistake in the command line: the caller prints it with
// the synopsis (Usage's first paragraph) and exits 2.
type UsageError struct{ error }

func (e UsageError) Unwrap() error { return e.error }
