// Package cli is scfws's command line: one file per command, each turning
// flags into calls of the package that does the work. It maps errors to
// exit statuses in one place, Main.
package cli

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/scfws/scfws/config"
)

// Version is the binary's version, for scfws version.
var Version = "dev"

// Main runs the command args name and returns the process's exit status:
// 0, 1 for a failure, 2 for a mistake in the command line, or what the
// command chose.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(args, stdin, stdout, stderr)
	if err == nil {
		return 0
	}
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintf(stderr, "scfws: %v\n\n%s", err, usage())
		return 2
	}
	fmt.Fprintf(stderr, "scfws: %v\n", err)
	var x exitError
	if errors.As(err, &x) {
		return x.code
	}
	return 1
}

//go:embed help/scfws.txt
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

func versionCmd(_ []string, _ io.Reader, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "scfws %s %s %s/%s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
