package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// helperEnv names the process the test binary runs as, for tests that
// need load outside their own process.
const helperEnv = "SCFWS_E2E_HELPER"

// helper runs as the process name says until its stdin closes: "burn"
// keeps one core busy.
func helper(name string) int {
	if name != "burn" {
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	go func() {
		for n := 0; ; n++ {
			_ = n
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// burn keeps every core busy in other processes until the test ends.
func burn(t testing.TB) {
	t.Helper()
	for range runtime.NumCPU() {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"=burn", "GOMAXPROCS=1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stdin.Close()
			_ = cmd.Wait()
		})
	}
}

// oneThread is the built binary run with GOMAXPROCS=1: a 128 MB SCF
// instance's share of a CPU.
func oneThread(t testing.TB) string {
	t.Helper()
	wrapper := filepath.Join(t.TempDir(), "scfws-gomaxprocs-1")
	script := fmt.Sprintf("#!/bin/sh\nGOMAXPROCS=1 exec %q \"$@\"\n", buildBinary(t))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return wrapper
}

// invokeLine is the function's log line of a frame's invoke.
var invokeLine = regexp.MustCompile(`dataBytes=(\d+) errNo=(\d+) .*recipients=(\d+) delivered=(\d+) .*durationMs=([0-9.]+)`)

// A frame whose fan-out saturates the function's CPU and the gateway's
// still gets its reply before the invoke's deadline: a late reply makes
// the gateway drop the sender, and the pushes still in flight are lost.
// scfws local, as in the report (one 262,000-byte frame of control
// characters to 500 plain clients kept an invoke busy 2.55s and its reply
// missed the 3s deadline), with the function on one thread and every core
// also busy in other processes. The deadline is an event here (the
// runtime's timer), not a measure of speed.
func TestRepliesInTimeOnSaturatedCPU(t *testing.T) {
	const clients = 500
	l := startLocal(t, map[string]string{"LOG_LEVEL": "info", "MAX_MESSAGE_BYTES": "1048576"}, "-function", oneThread(t))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			connect(t, l.ws)
		})
	}
	wg.Wait()
	sender := connect(t, l.ws)
	burn(t)
	tests := []struct { // each of its own size, to find its log line
		name string
		data string
	}{
		// Refused: escaped, it would be 1,572,000 bytes in each push.
		{"262,000 control characters", strings.Repeat("\x01", 262000)},
		{"200,000 control characters", strings.Repeat("\x01", 200000)},
		{"1,000,000 letters", strings.Repeat("a", 1000000)},
		{"999,998 quotes and backslashes (1,999,996 escaped)", strings.Repeat(`"\`, 499999)},
	}
	for _, tt := range tests {
		sender.send(t, tt.data)
		line := l.waitLog(t, fmt.Sprintf("dataBytes=%d ", len(tt.data)))
		// Up to 500 pushes of 1-2 MB drain while burn keeps the cores busy.
		l.quietWithin(t, 2*time.Minute)
		m := invokeLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s: no summary in the log line %q", tt.name, line)
		}
		t.Logf("%s: errNo %s, busy %s ms, delivered %s of %s", tt.name, m[2], m[5], m[4], m[3])
		// The gateway drops the sender when its reply is late.
		if n := l.status(t).Disconnects; n != 0 {
			t.Fatalf("%s: %d clients dropped; want none (%s)", tt.name, n, l.waitLog(t, "transmit invoke failed"))
		}
	}
}
