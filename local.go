package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/emulator"
)

// localFlags are scfws local's settings.
type localFlags struct {
	addr            string
	path            string
	function        string
	functionTimeout time.Duration
	concurrency     int
	idleTimeout     time.Duration
	idleCleanup     bool
	dropCleanup     bool
	pushLatency     time.Duration
	maxMessageBytes int64
	heartbeat       string
}

func parseLocalFlags(args []string, stderr io.Writer) (localFlags, error) {
	var f localFlags
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: scfws local [flags]

Runs a Tencent API Gateway WebSocket API and the SCF Go1 runtime on this machine:
clients connect over WebSocket, each handshake, frame and close becomes an invoke
of the function (a child process, over the real runtime protocol), and the
function answers through the reverse-push address. Open the printed URL to chat.

The function gets STORE=memory unless DB_HOST is set (then that MySQL), and
SENDBACK_HOST pointing here; every other variable of scfws -h passes through.
Add ?fail-push=STATUS to the WebSocket URL to make pushes to that connection
answer STATUS. GET /_scfws/connections lists the open connections.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free one)")
	fs.StringVar(&f.path, "path", "/websocket", "the WebSocket API's path")
	fs.StringVar(&f.function, "function", "", "SCF Go1 binary to run (default: this scfws)")
	fs.DurationVar(&f.functionTimeout, "function-timeout", 3*time.Second, "function timeout: each invoke's deadline")
	fs.IntVar(&f.concurrency, "function-concurrency", 8, "invokes in flight at once in the function process; more wait, as for a free instance")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 600*time.Second, "backend timeout: clients silent this long are closed")
	fs.BoolVar(&f.idleCleanup, "idle-cleanup", false, "send closing when the idle timeout closes a client (Tencent does not document it)")
	fs.BoolVar(&f.dropCleanup, "drop-cleanup", false, "never send closing, as if every client vanished")
	fs.DurationVar(&f.pushLatency, "push-latency", 0, "delay every reverse-push answer")
	fs.Int64Var(&f.maxMessageBytes, "max-message-bytes", 4<<20, "larger client frames close the client with 1009")
	fs.StringVar(&f.heartbeat, "heartbeat", "__heartbeat__", "HEARTBEAT_MESSAGE for the function and the chat page, unless set in the environment")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, err
		}
		return f, usageError{err}
	}
	if fs.NArg() > 0 {
		return f, usageError{fmt.Errorf("local takes no arguments, got %q", fs.Args())}
	}
	return f, nil
}

// functionEnv is the function's environment in local mode: what the user
// set, with the emulator's addresses and local defaults.
func functionEnv(f localFlags, pushURL string) map[string]string {
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
	env["SENDBACK_HOST"] = pushURL
	env["IDLE_TIMEOUT"] = f.idleTimeout.String()
	if env["HEARTBEAT_MESSAGE"] == "" {
		env["HEARTBEAT_MESSAGE"] = f.heartbeat
	}
	if env["ONLINE_COUNT_SUFFIX"] == "" {
		env["ONLINE_COUNT_SUFFIX"] = "true" // the chat page shows the count the function reports
	}
	return env
}

func local(args []string, stdout, stderr io.Writer) error {
	f, err := parseLocalFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if f.function == "" {
		if f.function, err = os.Executable(); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	base := "http://" + l.Addr().String()
	pushURL := base + "/sendback"
	env := functionEnv(f, pushURL)

	log := newLogger(stderr, zap.NewAtomicLevelAt(zapcore.InfoLevel), false).Named("gw")
	defer func() { _ = log.Sync() }()
	fn, err := emulator.NewFunction(f.function, emulator.FunctionOptions{
		Env: env, Timeout: f.functionTimeout, Logs: emulator.ReadableLog(stderr), Concurrency: f.concurrency,
	})
	if err != nil {
		return err
	}
	defer fn.Close()
	startCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	err = fn.Start(startCtx)
	cancel()
	if err != nil {
		l.Close()
		return fmt.Errorf("start the function: %w", err)
	}
	gw := emulator.New(fn, log, emulator.Options{
		Path: f.path, PushPath: "/sendback", IdleTimeout: f.idleTimeout, IdleCleanup: f.idleCleanup,
		DropCleanup: f.dropCleanup, PushLatency: f.pushLatency, MaxMessageBytes: f.maxMessageBytes,
		HeartbeatMessage: env["HEARTBEAT_MESSAGE"],
	})
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}

	cleanup := "client closes only"
	switch {
	case f.dropCleanup:
		cleanup = "never (-drop-cleanup)"
	case f.idleCleanup:
		cleanup = "client closes and idle timeouts"
	}
	store := env["STORE"]
	if store == config.StoreMySQL {
		store += " " + env["DB_HOST"]
	}
	fmt.Fprintf(stdout, `scfws local: API Gateway + SCF emulator
  chat page     %s/
  WebSocket     ws://%s%s
  reverse push  %s  (the function's SENDBACK_HOST)
  function      %s (pid %d), timeout %s, %d invokes at once, store %s
  idle timeout  %s; closing sent on: %s
Press Ctrl+C to stop.
`, base, l.Addr(), f.path, pushURL, f.function, fn.Pid(), f.functionTimeout, f.concurrency, store, f.idleTimeout, cleanup)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		gw.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("stopping")
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
