package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scfws/scfws/router"
)

func TestCLI(t *testing.T) {
	bin := buildBinary(t)
	memory := []string{"PATH=/usr/bin:/bin", "STORE=memory", "SENDBACK_HOST=http://127.0.0.1:9/push"}
	tests := []struct {
		name     string
		args     []string
		env      []string
		stdin    string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr
	}{
		{"help", []string{"-h"}, nil, "", 0, "scfws local [flags]", ""},
		{"help lists variables", []string{"help"}, nil, "", 0, "SENDBACK_HOST", ""},
		{"version", []string{"version"}, nil, "", 0, "scfws dev go", ""},
		{"no command", nil, nil, "", 2, "", "no command"},
		{"unknown command", []string{"dance"}, nil, "", 2, "", `unknown command "dance"`},
		{"invoke file", []string{"invoke", "../testdata/golden/register.json"}, memory, "", 0, `"secWebSocketProtocol": "chat"`, `"action": "connecting"`},
		{"invoke stdin", []string{"invoke", "-"}, memory, `{"websocket":{"action":"closing","secConnectionID":"a=="}}`, 0, `"errNo": 0`, ""},
		{"invoke unconfigured", []string{"invoke", "../testdata/golden/register.json"}, []string{"PATH=/usr/bin:/bin", "DB_PASSWORD=s3cret-pw"}, "", 1, `"errNo": 501`, "DB_HOST: required"},
		{"invoke refused event", []string{"invoke", "-"}, memory, `{"websocket":{"action":"dance","secConnectionID":"a=="}}`, 1, `"errNo": 104`, "errNo 104"},
		{"invoke /dev/zero", []string{"invoke", "/dev/zero"}, memory, "", 1, "", "over 6291456 bytes"},
		{"invoke huge stdin", []string{"invoke", "-"}, memory, strings.Repeat(" ", 7<<20), 1, "", "over 6291456 bytes"},
		{"invoke missing file", []string{"invoke", "nope.json"}, memory, "", 1, "", "no such file"},
		{"invoke two files", []string{"invoke", "a", "b"}, memory, "", 2, "", "one event file"},
		{"invoke zero timeout", []string{"invoke", "-timeout", "0s", "../testdata/golden/register.json"}, memory, "", 2, "", "-timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append([]string{}, tt.env...)
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantOut) || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("scfws %q = exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout with %q, stderr with %q",
					tt.args, code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
			if strings.Contains(stdout.String()+stderr.String(), "s3cret-pw") {
				t.Errorf("output contains the DB password")
			}
			if tt.args != nil && tt.args[0] == "invoke" && tt.wantOut != "" {
				var reply router.Reply
				if err := json.Unmarshal([]byte(stdout.String()), &reply); err != nil {
					t.Errorf("invoke printed %q: not a JSON reply: %v", stdout.String(), err)
				}
			}
		})
	}
}

// invoke FILE reads within -timeout: a FIFO nobody writes to gets an
// error naming it, not a command that hangs forever.
func TestInvokeFIFOWithoutWriter(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "events")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buildBinary(t), "invoke", "-timeout", "300ms", fifo)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "STORE=memory", "SENDBACK_HOST=http://127.0.0.1:9/push"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "no event within 300ms") {
			t.Errorf("invoke of a FIFO with no writer = %v, stderr %q; want exit 1 saying no event came", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("invoke of a FIFO with no writer still waiting after 30s")
	}
}
