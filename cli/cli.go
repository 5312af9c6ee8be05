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
	"maps"
	"runtime"
	"slices"
	"strings"

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
		fmt.Fprintf(stderr, "scfws: %v\n\n%s", err, shortUsage(args))
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

// usageError ends the process with status 2 after the message and the
// command's short usage.
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

// shortUsage follows a usage error: the command's synopsis (its help up to
// the first blank line) and where the rest is, not the whole help, so
// that the cause stays in sight.
func shortUsage(args []string) string {
	if len(args) > 0 {
		if c, ok := commands()[args[0]]; ok && c.usage != "" {
			synopsis, _, _ := strings.Cut(c.usage, "\n\n")
			return fmt.Sprintf("%s\nRun scfws %s -h for more.\n", synopsis, args[0])
		}
	}
	names := slices.Sorted(maps.Keys(commands()))
	return fmt.Sprintf("Commands: %s.\nRun scfws -h for more.\n", strings.Join(names, ", "))
}

// newFlagSet is the flag set of the command name. It prints nothing while
// parsing: Main prints a mistake, and run prints -h's usage and flags
// (helpRequested).
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs: -h is a helpRequested (run prints the
// usage, and the status is 0), any other problem a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		return helpRequested{fs}
	}
	return usageError{err}
}

// helpRequested is -h or -help: run prints the flag set's usage to
// standard output, and the command succeeds.
type helpRequested struct{ fs *flag.FlagSet }

func (helpRequested) Error() string { return flag.ErrHelp.Error() }

func (helpRequested) Is(target error) bool { return target == flag.ErrHelp }

// A runner runs a command with its arguments and the process's standard
// streams.
type runner func(args []string, stdin io.Reader, stdout, stderr io.Writer) error

// A command is a runner and its help, whose first paragraph is the
// synopsis a usage error shows.
type command struct {
	run   runner
	usage string
}

// commands is the command table. A build with -tags scfws_function (the
// function only) leaves out the commands that run on a laptop, and with them
// local/, deploy/, probe/ and client/: function_only.go stands in for them.
func commands() map[string]command {
	return map[string]command{
		"version": {versionCmd, versionUsage},
		"invoke":  {invokeCmd, invokeUsage},
		"token":   {tokenCmd, tokenUsage},
		"local":   {localCmd, localUsage},
		"publish": {publishCmd, publishUsage},
		"probe":   {probeCmd, probeUsage},
		"deploy":  {deployCmd, deployUsage},
		"destroy": {destroyCmd, destroyUsage},
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
	err := cmd.run(args[1:], stdin, stdout, stderr)
	var help helpRequested
	if errors.As(err, &help) {
		help.fs.SetOutput(stdout)
		help.fs.Usage()
		return nil
	}
	return err
}

//go:embed help/version.txt
var versionUsage string

func versionCmd(args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("version", versionUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("version takes no arguments, got %q", fs.Args())}
	}
	fmt.Fprintf(stdout, "scfws %s %s %s/%s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
