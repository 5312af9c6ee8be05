package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"os/signal"
	"time"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/probe"
)

// probeCmd runs scfws probe. Exit status: 0 when every scenario ran and
// none contradicts scfws beyond what a setting fixes; 1 when one does;
// 2 on usage or connection errors.
func probeCmd(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: scfws probe -url wss://service-xxx.gz.apigw.tencentcs.com/release/websocket [-secret S] [-idle] [-json]

Measures, on a deployed API whose function is scfws with PROBE_SECRET set,
every gateway behaviour scfws relies on that Tencent does not document, and
says what to change when the deployment differs. No Tencent credentials; it
touches only its own connections, in under a minute (-idle adds the
function's IDLE_TIMEOUT). The secret comes from -secret or PROBE_SECRET.
Remove PROBE_SECRET from the function afterwards.

Exit status: 0 all ran (settings to change are printed), 1 a measurement
contradicts what scfws relies on, 2 usage or connection errors.

Flags:
`)
		fs.PrintDefaults()
	}
	url := fs.String("url", "", "the WebSocket API's address (ws:// or wss://)")
	secret := fs.String("secret", "", "the function's PROBE_SECRET (default: $PROBE_SECRET)")
	idle := fs.Bool("idle", false, "also measure the idle timer (takes IDLE_TIMEOUT and a little more)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 || *url == "" {
		return usageError{errors.New("probe wants -url and no arguments")}
	}
	if *secret != "" {
		fmt.Fprintln(stderr, "warning: -secret shows PROBE_SECRET to anyone who lists processes or reads your shell history; prefer PROBE_SECRET in the environment")
	} else {
		*secret, _ = lookup("PROBE_SECRET")
	}
	if u, err := neturl.Parse(*url); err == nil && u.Scheme == "ws" && !loopback(*url) {
		fmt.Fprintln(stderr, "warning: ws:// sends PROBE_SECRET in clear text over the network; use wss://")
	}
	if n := len(*secret); n > 0 && n < config.MinSecretBytes {
		return usageError{fmt.Errorf("PROBE_SECRET is %d bytes; the function refuses one under %d", n, config.MinSecretBytes)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// probe.Run bounds its scenarios (Budget, and the idle timer by the
	// function's IDLE_TIMEOUT); this bounds connecting before them too.
	if !*idle {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, probe.Budget+5*time.Second)
		defer cancel()
	}
	progress := stderr
	report, err := probe.Run(ctx, probe.Config{URL: *url, Secret: *secret, Idle: *idle, Progress: progress})
	if err != nil {
		return exitError{code: 2, msg: err.Error()}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else if err := report.Table(stdout); err != nil {
		return err
	}
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
