// Command scfws is one binary for the register, transmission and cleanup
// functions of a Tencent Cloud API Gateway WebSocket API. Under SCF it serves
// the Go1 runtime; elsewhere it runs events from the command line.
package main

import (
	_ "embed"
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
	"github.com/scfws/scfws/store"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

var (
	_ router.Registry       = (*store.MySQL)(nil)
	_ router.Registry       = (*store.Memory)(nil)
	_ router.Pusher         = (*gateway.Client)(nil)
	_ router.Verifier       = tokenVerifier{}
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

//go:embed docs/cli/scfws.txt
var scfwsUsage string

// usageError ends the process with status 2 after the message and the usage.
type usageError struct{ error }

// exitError ends the process with code after printing msg.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func usage() string {
	return scfwsUsage + config.Usage()
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
