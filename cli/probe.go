//go:build !scfws_function

package cli

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"os/signal"
	"time"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/probe"
)

//go:embed help/probe.txt
var probeUsage string

// probeCmd runs scfws probe. Exit status: 0 when every scenario ran and
// none contradicts scfws beyond what a setting fixes; 1 when one does;
// 2 on usage or connection errors.
func probeCmd(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	return runProbe(args, os.LookupEnv, stdout, stderr)
}

// probeFlags are scfws probe's settings.
type probeFlags struct {
	url, secret  string
	idle, asJSON bool
}

func parseProbeFlags(args []string) (probeFlags, error) {
	var f probeFlags
	fs := newFlagSet("probe", probeUsage)
	fs.StringVar(&f.url, "url", "", "the WebSocket API's address (ws:// or wss://)")
	fs.StringVar(&f.secret, "secret", "", "the function's PROBE_SECRET (default: $PROBE_SECRET)")
	fs.BoolVar(&f.idle, "idle", false, "also measure the idle timer (takes IDLE_TIMEOUT and a little more)")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 || f.url == "" {
		return f, usageError{errors.New("probe wants -url and no arguments")}
	}
	return f, nil
}

// takeSecret reads the secret from the environment unless -secret gave it,
// warns where it could leak, and refuses one the function would refuse.
func (f *probeFlags) takeSecret(lookup config.Lookup, stderr io.Writer) error {
	if f.secret != "" {
		fmt.Fprintln(stderr, "warning: -secret shows PROBE_SECRET to anyone who lists processes or reads your shell history; prefer PROBE_SECRET in the environment")
	} else {
		f.secret, _ = lookup("PROBE_SECRET")
	}
	if u, err := neturl.Parse(f.url); err == nil && u.Scheme == "ws" && !loopback(f.url) {
		fmt.Fprintln(stderr, "warning: ws:// sends PROBE_SECRET in clear text over the network; use wss://")
	}
	if n := len(f.secret); n > 0 && n < config.MinSecretBytes {
		return usageError{fmt.Errorf("PROBE_SECRET is %d bytes; the function refuses one under %d", n, config.MinSecretBytes)}
	}
	return nil
}

// runProbe is probeCmd with the environment replaceable.
func runProbe(args []string, lookup config.Lookup, stdout, stderr io.Writer) error {
	f, err := parseProbeFlags(args)
	if err != nil {
		return err
	}
	if err := f.takeSecret(lookup, stderr); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// probe.Run bounds its scenarios (Budget, and the idle timer by the
	// function's IDLE_TIMEOUT); this bounds connecting before them too.
	if !f.idle {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, probe.Budget+5*time.Second)
		defer cancel()
	}
	report, err := probe.Run(ctx, probe.Config{URL: f.url, Secret: f.secret, Idle: f.idle, Progress: stderr})
	if err != nil {
		return exitError{code: 2, msg: err.Error()}
	}
	if err := printProbe(stdout, report, f.asJSON); err != nil {
		return err
	}
	return probeVerdict(report)
}

func printProbe(w io.Writer, report *probe.Report, asJSON bool) error {
	if !asJSON {
		return report.Table(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}

// probeVerdict is the exit status the report calls for.
func probeVerdict(report *probe.Report) error {
	if report.Contradicted() {
		return exitError{code: 1, msg: "a measurement contradicts what scfws relies on"}
	}
	for _, s := range report.Scenarios {
		if s.Outcome == probe.Failed {
			return exitError{code: 2, msg: fmt.Sprintf("%s: %s", s.Name, s.Measured)}
		}
	}
	return nil
}
