package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/probe"
)

// runProbe runs the built `scfws probe -json` against l and returns the
// report and the exit status.
func runProbe(t testing.TB, l *localRun, secret string, args ...string) (*probe.Report, int, string) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), append([]string{"probe", "-url", l.ws, "-json"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PROBE_SECRET=" + secret}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if e, ok := err.(*exec.ExitError); ok {
		code = e.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code == 2 {
		return nil, code, stderr.String()
	}
	var r probe.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe printed %s (%v); stderr %s", out, err, stderr.String())
	}
	if strings.Contains(string(out)+stderr.String(), secret) {
		t.Errorf("the probe printed its secret")
	}
	return &r, code, stderr.String()
}

func scenario(t testing.TB, r *probe.Report, name string) probe.Scenario {
	t.Helper()
	for _, s := range r.Scenarios {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q in %+v", name, r.Scenarios)
	return probe.Scenario{}
}

// The probe measures what it claims to: against scfws local with its
// defaults (as strict as Tencent's docs), and with each behaviour flipped
// by a flag, the report follows the flag.
func TestProbeFollowsTheGateway(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	const secret = "e2e-probe-secret-0123456789abcdef"
	tests := []struct {
		name  string
		flags []string
		check func(t *testing.T, r *probe.Report)
	}{
		{"defaults", nil, func(t *testing.T, r *probe.Report) {
			for _, s := range r.Scenarios {
				if s.Outcome != probe.Agrees && s.Outcome != probe.Info {
					t.Errorf("%s: %s %q; want agrees (or info) against the defaults", s.Name, s.Outcome, s.Measured)
				}
			}
			if s := scenario(t, r, "push to a never-existing ID"); s.Data["status"] != 404.0 {
				t.Errorf("unknown push: %v; want 404", s.Data)
			}
			if s := scenario(t, r, "push to a connection that just closed"); s.Data["closingFired"] != true {
				t.Errorf("closed push: %v; want closing to have fired", s.Data)
			}
			if s := scenario(t, r, "closing on a server closing push"); s.Data["closed"] != true || s.Data["closingFired"] != false {
				t.Errorf("server close: %v; want closed, no closing", s.Data)
			}
			if s := scenario(t, r, "a non-200 push answer drops the client"); s.Data["dropped"] != true {
				t.Errorf("refused push: %v; want the client dropped", s.Data)
			}
			if s := scenario(t, r, "frame order and concurrency"); s.Data["inOrder"] != true || s.Data["maxConcurrent"] != 1.0 {
				t.Errorf("order: %v; want in order, one at a time", s.Data)
			}
			if s := scenario(t, r, "what reaches the register function"); strings.Contains(s.Measured, "headers: 0") || !strings.Contains(s.Measured, "headers: absent") {
				t.Errorf("register keys: %q; want no headers", s.Measured)
			}
			if s := scenario(t, r, "push rate"); s.Data["statuses"].(map[string]any)["429"] != nil || s.Data["connectionSurvived"] != true {
				t.Errorf("push rate: %v; want no 429, the connection still open", s.Data)
			}
		}},
		{"flipped", []string{"-unknown-push-status", "200", "-closing-on-server-close", "-max-message-bytes", "65536",
			"-concurrent-frames", "-handshake-extras", "-push-rate-limit", "200"}, func(t *testing.T, r *probe.Report) {
			if s := scenario(t, r, "push to a never-existing ID"); s.Data["status"] != 200.0 || s.Outcome != probe.Adapt {
				t.Errorf("unknown push: %s %v; want 200, adapt", s.Outcome, s.Data)
			}
			if s := scenario(t, r, "closing on a server closing push"); s.Data["closingFired"] != true {
				t.Errorf("server close: %v; want closing to have fired", s.Data)
			}
			s := scenario(t, r, "largest frame")
			if passed := s.Data["passed"].(float64); passed > 65536 || passed < 60000 || s.Outcome != probe.Adapt || !strings.Contains(s.Fix, "MAX_MESSAGE_BYTES=") {
				t.Errorf("largest frame: %s %v %q; want about 64 KiB and MAX_MESSAGE_BYTES to change", s.Outcome, s.Data, s.Fix)
			}
			if s := scenario(t, r, "frame order and concurrency"); s.Data["maxConcurrent"].(float64) < 2 {
				t.Errorf("order: %v; want frames in parallel", s.Data)
			}
			if s := scenario(t, r, "what reaches the register function"); strings.Contains(s.Measured, "headers: absent") || strings.Contains(s.Measured, "queryString: absent") {
				t.Errorf("register keys: %q; want headers and queryString", s.Measured)
			}
			// local answers 429 without dropping the client, as far as we know Tencent does.
			if s := scenario(t, r, "push rate"); s.Data["statuses"].(map[string]any)["429"] == nil || s.Outcome != probe.Adapt ||
				!strings.Contains(s.Fix, "PUSH_RATE=") || s.Data["connectionSurvived"] != true {
				t.Errorf("push rate: %s %v %q; want 429s, PUSH_RATE to set, the connection still open", s.Outcome, s.Data, s.Fix)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := startLocal(t, map[string]string{"PROBE_SECRET": secret, "LOG_LEVEL": "warn"}, tt.flags...)
			began := time.Now()
			r, code, stderr := runProbe(t, l, secret)
			if code != 0 || r == nil {
				t.Fatalf("probe exit %d: %s", code, stderr)
			}
			t.Logf("probe took %s", time.Since(began).Round(time.Millisecond))
			tt.check(t, r)
		})
	}
}

// With -idle the probe measures the idle timer; a gateway where pings keep
// a connection open contradicts scfws (it sweeps rows it cannot see are
// alive): exit 1. Without PROBE_SECRET the function does not answer: 2.
func TestProbeIdleAndExitStatus(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	const secret = "e2e-probe-secret-0123456789abcdef"
	t.Run("pings count", func(t *testing.T) {
		t.Parallel()
		l := startLocal(t, map[string]string{"PROBE_SECRET": secret, "LOG_LEVEL": "warn"}, "-idle-timeout", "2s", "-idle-counts-pings")
		r, code, stderr := runProbe(t, l, secret, "-idle")
		if code != 1 || r == nil {
			t.Fatalf("probe -idle with pings counting: exit %d %s; want 1", code, stderr)
		}
		s := scenario(t, r, "idle timer")
		if s.Data["silentOpen"] != false || s.Data["pingOnlyOpen"] != true || s.Data["pushOnlyOpen"] != false || s.Outcome != probe.Differs {
			t.Errorf("idle: %s %v; want the ping-only connection open, the rest closed, differs", s.Outcome, s.Data)
		}
		// Without -idle-cleanup the gateway sends no closing on idle: the dead
		// rows stay (the function's sweeps leave a probe's alone for a while).
		if s.Data["closingOnIdle"] != false {
			t.Errorf("idle without -idle-cleanup: closingOnIdle %v; want false", s.Data["closingOnIdle"])
		}
	})
	t.Run("idle cleanup", func(t *testing.T) {
		t.Parallel()
		l := startLocal(t, map[string]string{"PROBE_SECRET": secret, "LOG_LEVEL": "warn"}, "-idle-timeout", "2s", "-idle-counts-pings", "-idle-cleanup")
		if r, _, stderr := runProbe(t, l, secret, "-idle"); r == nil {
			t.Errorf("probe -idle with -idle-cleanup: no report: %s", stderr)
		} else if s := scenario(t, r, "idle timer"); s.Data["closingOnIdle"] != true {
			t.Errorf("idle with -idle-cleanup: closingOnIdle %v; want true", s.Data["closingOnIdle"])
		}
	})
	t.Run("no PROBE_SECRET", func(t *testing.T) {
		t.Parallel()
		l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := probe.Run(ctx, probe.Config{URL: l.ws, Secret: secret}); err != probe.ErrNoProbe {
			t.Errorf("probe without PROBE_SECRET on the function = %v; want ErrNoProbe", err)
		}
		if _, code, stderr := runProbe(t, l, secret); code != 2 || !strings.Contains(stderr, "PROBE_SECRET") {
			t.Errorf("probe exit %d %q; want 2 naming PROBE_SECRET", code, stderr)
		}
	})
}
