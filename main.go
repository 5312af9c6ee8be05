// Command scfws is one binary for the register, transmission and cleanup
// functions of a Tencent Cloud API Gateway WebSocket API. Under SCF it serves
// the Go1 runtime; elsewhere it runs events from the command line.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/gateway"
	"github.com/scfws/scfws/router"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

var (
	_ router.Pusher         = (*gateway.Client)(nil)
	_ cloudfunction.Handler = (*router.Router)(nil)
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(os.Stderr, "scfws: %v\n\n%s", err, usage())
			os.Exit(2)
		}
		var x exitError
		if errors.As(err, &x) {
			fmt.Fprintf(os.Stderr, "scfws: %v\n", err)
			os.Exit(x.code)
		}
		fmt.Fprintf(os.Stderr, "scfws: %v\n", err)
		os.Exit(1)
	}
}

// usageError ends the process with status 2 after the message and the usage.
type usageError struct{ error }

// exitError ends the process with code after printing msg.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func usage() string {
	return `scfws: one binary for the register, transmission and cleanup functions of a
Tencent Cloud API Gateway WebSocket API.

Usage:
  scfws                     under SCF (_LAMBDA_SERVER_PORT set): serve the Go1 runtime
  scfws local [flags]       run the API Gateway + SCF emulator and the chat page (-h for flags)
  scfws invoke [-timeout 3s] EVENT.json|-
                            run one event (a file, or - for standard input; at most
                            6 MB) through the function with the settings of this
                            environment and print its reply; exit status 1 when the
                            reply's errNo is not 0
  scfws publish -function NAME [-namespace NS] [-region R] [-endpoint URL]
                (-all | -group G | -user U | -connection ID) [-type text|json|binary] DATA|-
                            send DATA through the function's backend API: SCF Invoke
                            with the key in TENCENTCLOUD_SECRETID/SECRETKEY, or with
                            -url URL the signed route (secret in PUBLISH_SECRET);
                            -close closes a -connection or -user instead; prints the
                            reply; exit status 1 when its errNo is not 0 (-h for more)
  scfws deploy -name NAME [-region R] [-namespace NS] [-memory 128] [-timeout 3s]
               [-idle-timeout 600s] [-path /websocket] [-env KEY=VALUE ...] [-env-file FILE]
               [-vpc VPC -subnet SUBNET] [-endpoint URL] [-zip FILE] [-dry-run] [-json]
                            put scfws on Tencent Cloud: the SCF function, an API Gateway
                            WebSocket API bound to it, the release and the push address,
                            with the key in TENCENTCLOUD_SECRETID/SECRETKEY; run again,
                            it changes only what differs (docs/deploy.md; -h for more)
  scfws destroy -name NAME [-region R] [-namespace NS] [-endpoint URL] [-yes]
                            remove what scfws deploy made for NAME (asks first)
  scfws token -sub USER [-groups a,b] [-roles r1,r2] [-ttl 1h]
                            print a scfws.v1 connect token signed with AUTH_SECRET
  scfws probe -url wss://... [-secret S] [-idle] [-json]
                            measure a deployment whose function has PROBE_SECRET set:
                            what the gateway does where Tencent's docs are silent
  scfws version             print the version
  scfws -h                  print this help

Push answers (what the reverse-push address answers decides each push):
  200 with errNo 0 or no JSON body   delivered
  200 with another errNo             gone: the connection is pruned, not retried
  429                                rate-limited: retried with backoff honouring
                                     Retry-After while the deadline allows
                                     (PUSH_RETRIES), then failed; the row is kept
  413, 414, 431                      the frame's fault: failed, kept
  1xx, 3xx, 401, 403, 405, 407, 415  the push address's fault: failed, kept
  any other status                   gone: pruned, not retried
  but a "gone" answer before this instance ever had a push delivered, or in a
  send where two or more pushes were refused and none delivered, is the push
  address's fault: nothing pruned (the reply's errMsg says check SENDBACK_HOST)
  a failure before the request was fully written: retried, as a 429
  sent but unanswered in PUSH_TIMEOUT: failed, kept, not retried (it may have
  been delivered: a retry could show the frame twice)

Environment (a variable set to "" counts as unset):
` + config.Usage()
}

// newFlagSet is the flag set of the command name, whose -h prints usage
// and then the flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs: -h is flag.ErrHelp (the usage is printed,
// and run ends with status 0), any other problem a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

// A command runs with its arguments and the process's standard streams.
type command func(args []string, stdin io.Reader, stdout, stderr io.Writer) error

// commands is the command table. A build with -tags scfws_function (the
// function only) leaves out the commands that run on a laptop, and with them
// local/, deploy/, probe/ and client/: function_only.go stands in for them.
func commands() map[string]command {
	return map[string]command{
		"version": versionCmd,
		"invoke":  invokeCmd,
		"token":   tokenCmd,
		"local":   localCmd,
		"publish": publishCmd,
		"probe":   probeCmd,
		"deploy":  deployCmd,
		"destroy": destroyCmd,
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if os.Getenv("_LAMBDA_SERVER_PORT") != "" {
		return serveFunction(stdout)
	}
	if len(args) == 0 {
		return usageError{errors.New("no command (not under SCF: _LAMBDA_SERVER_PORT is not set)")}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage())
		return nil
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		return usageError{fmt.Errorf("unknown command %q", args[0])}
	}
	err := cmd(args[1:], stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the command printed its usage
	}
	return err
}

// serveFunction serves the SCF Go1 runtime until the process is killed.
// Settings are read on the first invoke: the runtime sets the function's
// environment variables as it delivers each one.
func serveFunction(stdout io.Writer) error {
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	log := newLogger(stdout, level, true).With(zap.String("version", version))
	cloudfunction.StartHandler(router.New(log, loader(log, level)))
	return errors.New("runtime server stopped") // StartHandler does not return
}

func versionCmd(_ []string, _ io.Reader, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "scfws %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
