package local

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
)

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

	// Not flags: the HTTP server's timeouts, shorter in tests.
	readTimeout     time.Duration // a whole request, body included
	idleConnTimeout time.Duration // a kept-alive connection between requests
	pushReadTimeout time.Duration // one push body
}

func parseLocalFlags(args []string, stderr io.Writer) (localFlags, error) {
	f := localFlags{readTimeout: 30 * time.Second, idleConnTimeout: 90 * time.Second, pushReadTimeout: 10 * time.Second}
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: scfws local [flags]

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
/_scfws/status shows counts and the last refused handshake.

It also answers Tencent Cloud's API on the same address: SCF Invoke of this
function (named scfws), and what scfws deploy -endpoint uses, so a function
deployed into it runs from its zip and its WebSocket API is served here, at
the URL deploy prints. -fail-action makes chosen actions fail.

Flags:
`)
		fs.PrintDefaults()
	}
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
	fs.Var(&f.faults, "fail-action", "make a Tencent Cloud API action fail with an error code, service:Action=Code, e.g. apigateway:CreateApi=AuthFailure.UnauthorizedOperation (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, err
		}
		return f, UsageError{err}
	}
	if fs.NArg() > 0 {
		return f, UsageError{fmt.Errorf("local takes no arguments, got %q", fs.Args())}
	}
	switch {
	case f.unknownPushStatus < 200 || f.unknownPushStatus > 599:
		return f, UsageError{fmt.Errorf("-unknown-push-status %d: want an HTTP status 200-599", f.unknownPushStatus)}
	case f.pushRateLimit < 0, f.instances < 0, f.concurrency < 0:
		return f, UsageError{errors.New("-push-rate-limit, -instances and -function-concurrency cannot be negative")}
	case f.maxMessageBytes <= 0:
		return f, UsageError{fmt.Errorf("-max-message-bytes %d: want a positive size", f.maxMessageBytes)}
	}
	return f, nil
}

// functionEnv is the function's environment in local mode: what the user
// set, with the emulator's settings and local defaults. SENDBACK_HOST is
// added once the address is known.
func functionEnv(f localFlags) map[string]string {
	env := map[string]string{}
	for _, k := range config.Keys() {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	if env["DB_HOST"] == "" {
		env["STORE"] = config.StoreMemory
	} else if env["STORE"] == "" {
		env["STORE"] = config.StoreMySQL
	}
	env["IDLE_TIMEOUT"] = f.idleTimeout.String()
	if env["HEARTBEAT_MESSAGE"] == "" {
		env["HEARTBEAT_MESSAGE"] = f.heartbeat
	}
	// The chat page shows who is in a room.
	if env["PRESENCE_EVENTS"] == "" {
		env["PRESENCE_EVENTS"] = "true"
	}
	// Tells the function it runs under scfws local (for its log only).
	env["SCFWS_LOCAL"] = "true"
	return env
}

// scale decides how many instances run and how many invokes each takes.
func scale(f localFlags, store string) (instances, perInstance int, err error) {
	if store == config.StoreMemory {
		if f.instances > 1 {
			return 0, 0, fmt.Errorf("-instances %d: with STORE=memory the connection registry lives inside one function process, "+
				"so only 1 instance can run (it takes -function-concurrency invokes at once); set DB_HOST to use MySQL and run more", f.instances)
		}
		return 1, cmp.Or(f.concurrency, 8), nil
	}
	return cmp.Or(f.instances, 4), cmp.Or(f.concurrency, 1), nil
}

// isLoopbackHost reports whether host (no port) names this machine.
func isLoopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
}

// checkAddr refuses to listen beyond this machine unless -public: whoever
// reaches the port can list connections, push to and close any client.
func checkAddr(addr string, public bool) (loopback bool, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, UsageError{fmt.Errorf("-addr %q: %w", addr, err)}
	}
	loopback = isLoopbackHost(host)
	if !loopback && !public {
		return false, UsageError{fmt.Errorf("-addr %s listens beyond this machine: anyone who reaches the port could list the connections, "+
			"push to and close any client through /sendback; use 127.0.0.1, or add -public if you mean it", addr)}
	}
	return loopback, nil
}

// UsageError is a mistake in the command line: the caller prints it with
// the command's usage and exits 2.
type UsageError struct{ error }

func (e UsageError) Unwrap() error { return e.error }

// Main runs scfws local with its command-line arguments until Ctrl+C.
func Main(args []string, stdout, stderr io.Writer) error {
	f, err := parseLocalFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runLocal(ctx, f, stdout, stderr)
}

// runLocal runs the emulator until ctx ends (Ctrl+C).
func runLocal(ctx context.Context, f localFlags, stdout, stderr io.Writer) error {
	loopback, err := checkAddr(f.addr, f.public)
	if err != nil {
		return err
	}
	env := functionEnv(f)
	// Secrets the user did not set are made for this session: the chat
	// page's tokens and the signed route work without setup.
	generated := map[string]bool{}
	for _, k := range []string{"AUTH_SECRET", "PUBLISH_SECRET"} {
		if env[k] == "" {
			env[k], generated[k] = sessionSecret(), true
		}
	}
	instances, perInstance, err := scale(f, env["STORE"])
	if err != nil {
		return err
	}
	if f.function == "" {
		if f.function, err = os.Executable(); err != nil {
			return err
		}
	}
	console := emulator.NewConsole(stderr)
	log := console.Logger(zapcore.InfoLevel)
	defer func() { _ = log.Sync() }()

	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	defer l.Close() // on every early return; Serve and Shutdown close it too
	addr := l.Addr().(*net.TCPAddr)
	host := addr.String()
	if addr.IP.IsUnspecified() { // the function and the banner use loopback
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.Port))
	}
	base := "http://" + host
	pushURL := base + "/sendback"
	env["SENDBACK_HOST"] = pushURL

	fn, err := emulator.NewFunction(f.function, emulator.FunctionOptions{
		Env: env, Timeout: f.functionTimeout, Logs: console.Function,
		Instances: instances, Concurrency: perInstance, MaxEventBytes: config.MaxEventBytes,
	})
	if err != nil {
		return err
	}
	defer fn.Close()
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = fn.Start(startCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("start the function: %w", err)
	}
	// Deployed APIs behave as local's own, by the same flags.
	gwOpts := emulator.Options{
		IdleCleanup: f.idleCleanup, DropCleanup: f.dropCleanup, ClosingOnServerClose: f.closingOnServerClose,
		IdleCountsPings: f.idleCountsPings, ConcurrentFrames: f.concurrentFrames, HandshakeExtras: f.handshakeExtras,
		PushLatency: f.pushLatency, PushRateLimit: f.pushRateLimit, UnknownPushStatus: f.unknownPushStatus,
		PushReadTimeout: f.pushReadTimeout, MaxMessageBytes: f.maxMessageBytes, AnyHost: !loopback,
		MaxEventBytes: config.MaxEventBytes,
	}
	own := gwOpts
	own.Path, own.PushPath, own.IdleTimeout = f.path, "/sendback", f.idleTimeout
	own.HeartbeatMessage, own.RoutePath = env["HEARTBEAT_MESSAGE"], routePath
	// Tokens for anyone who asks: with your own AUTH_SECRET (maybe your
	// deployment's) only on this machine; on a -public address only with
	// the session's.
	mintTokens := loopback || generated["AUTH_SECRET"]
	if mintTokens {
		own.Token = tokenMinter(env["AUTH_SECRET"])
	}
	gw := emulator.New(fn, log, own)
	// Tencent Cloud's API on the same address, as the SDK posts it to "/":
	// SCF Invoke of this function (scfws publish, any SDK), and the control
	// plane scfws deploy uses, whose functions and APIs run here too.
	cred, showKey := localCredential()
	api := cloudapi.NewServer(cred)
	api.Log = log.Named("api")
	for _, fault := range f.faults {
		api.Fail(fault)
	}
	deployed := newLocalCloud(log, console, gwOpts)
	cloud := cloudapi.NewCloud(deployed, cloudOptions(host))
	cloud.Register(api)
	scf := cloudapi.NewSCF(localFunctions{fn: fn, cloud: cloud})
	scf.Register(api)
	defer scf.Close()
	// Everything deployed stops before local's own function and gateway.
	stopDeployed := func() {
		cloud.Close() // deploys and removals in flight end
		deployed.Close()
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/" && cloudapi.IsRequest(r):
				// It creates functions that run here: programs only, by a
				// loopback name (no DNS-rebound page), with the session's key.
				if msg, ok := emulator.ProgramOnly(r, !loopback); !ok {
					http.Error(w, msg, http.StatusForbidden)
					return
				}
				api.ServeHTTP(w, r)
			case strings.HasPrefix(r.URL.Path, cloudPrefix):
				deployed.ServeHTTP(w, r)
			default:
				gw.ServeHTTP(w, r)
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       f.readTimeout,
		IdleTimeout:       f.idleConnTimeout,
		ErrorLog:          zap.NewStdLog(log),
	}

	fmt.Fprint(stdout, banner(f, !loopback, base, host, pushURL, fn.Pids(), instances, perInstance, env))
	fmt.Fprint(stdout, apiBanner(base, cred, showKey, own.Token != nil, generated, env, f.faults))
	if !loopback {
		log.Warn("-public: listening beyond this machine; anyone who reaches " + l.Addr().String() +
			" can list the connections, push to and close any client through /sendback")
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	// Before any client arrives: can the function work? One line says what
	// to fix; the emulator keeps running, and the function recovers once
	// its database does.
	readyCtx, cancel := context.WithTimeout(ctx, f.functionTimeout+time.Second)
	problem := readiness(readyCtx, fn, env)
	cancel()
	if problem != "" {
		fmt.Fprintf(stdout, "NOT READY     handshakes will be refused: %s\n", problem)
		log.Warn("the function is not ready: " + problem)
	} else {
		fmt.Fprintln(stdout, "ready         the function answered; open the chat page")
	}
	select {
	case err := <-errc:
		stopDeployed()
		gw.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("stopping")
	stopDeployed()
	gw.Close() // clients get 1001 going away
	fn.Close() // the function's connections to the push address go with it
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		// Sockets opened but never used (a browser's preconnect) count as
		// busy for a while; nothing is lost by closing them.
		_ = srv.Close()
	}
	return nil
}

func banner(f localFlags, public bool, base, host, pushURL string, pids []int, instances, perInstance int, env map[string]string) string {
	var b strings.Builder
	cleanup := "client closes only"
	switch {
	case f.dropCleanup:
		cleanup = "never (-drop-cleanup)"
	case f.idleCleanup && f.closingOnServerClose:
		cleanup = "client closes, idle timeouts and closing pushes"
	case f.idleCleanup:
		cleanup = "client closes and idle timeouts"
	case f.closingOnServerClose:
		cleanup = "client closes and closing pushes"
	}
	store := env["STORE"]
	if store == config.StoreMySQL {
		store += " " + env["DB_HOST"]
	}
	ids := strings.Trim(fmt.Sprint(pids), "[]")
	scaling := fmt.Sprintf("1 instance (pid %s) taking %d invokes at once", ids, perInstance)
	if instances > 1 {
		scaling = fmt.Sprintf("%d instances (pids %s) taking %d invoke(s) at once each", instances, ids, perInstance)
	}
	frames := "one invoke at a time per client, in order"
	if f.concurrentFrames {
		frames = "concurrent invokes per client (-concurrent-frames)"
	}
	fmt.Fprintf(&b, `scfws local: API Gateway + SCF emulator
  chat page     %s/
  WebSocket     ws://%s%s
  reverse push  %s  (the function's SENDBACK_HOST)
  function      %s, %s, timeout %s, store %s
  frames        %s
  idle timeout  %s; closing sent on: %s
`, base, host, f.path, pushURL, f.function, scaling, f.functionTimeout, store, frames, f.idleTimeout, cleanup)
	if public {
		fmt.Fprintf(&b, "  WARNING       -public: listening on %s; anyone who reaches it can push to and close any client\n", f.addr)
	}
	return b.String()
}

// routePath is where local serves the signed HTTP route.
const routePath = "/_scfws/http/"

// apiBanner says how backends reach the function locally.
func apiBanner(base string, cred cloudapi.Credential, showKey, mintTokens bool, generated map[string]bool, env map[string]string, faults cloudapi.Faults) string {
	var b strings.Builder
	key := "the key in TENCENTCLOUD_SECRETID/SECRETKEY"
	if showKey {
		key = "a local key, below"
	}
	fmt.Fprintf(&b, "  Tencent API   %s  (SCF Invoke of function %q, any region, and what scfws deploy uses; %s)\n", base, localFunctionName, key)
	secret := "PUBLISH_SECRET from your environment"
	if generated["PUBLISH_SECRET"] {
		secret = "PUBLISH_SECRET=" + env["PUBLISH_SECRET"] + " for this session"
	}
	fmt.Fprintf(&b, "  signed route  POST %s%spublish  (%s)\n", base, routePath, secret)
	tokens := "AUTH_SECRET from your environment"
	if generated["AUTH_SECRET"] {
		tokens = "AUTH_SECRET made for this session"
	}
	if mintTokens {
		fmt.Fprintf(&b, "  tokens        GET %s/_scfws/token?sub=NAME  (scfws.v1 tokens for the chat page; %s)\n", base, tokens)
	} else {
		fmt.Fprintf(&b, "  tokens        off: -public with your own AUTH_SECRET would mint tokens for anyone who can reach %s\n", base)
	}
	try := ""
	if showKey {
		try = fmt.Sprintf("TENCENTCLOUD_SECRETID=%s TENCENTCLOUD_SECRETKEY=%s ", cred.SecretID, cred.SecretKey)
	}
	fmt.Fprintf(&b, "  try           %sscfws publish -endpoint %s -region ap-guangzhou -function %s -all 'hello from the backend'\n",
		try, base, localFunctionName)
	fmt.Fprintf(&b, "  deploy        %sscfws deploy -endpoint %s -region ap-guangzhou -name chat -env STORE=memory\n", try, base)
	if len(faults) > 0 {
		fmt.Fprintf(&b, "  failing       %s  (-fail-action)\n", faults.String())
	}
	b.WriteString("Press Ctrl+C to stop.\n")
	return b.String()
}
