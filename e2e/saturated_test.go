package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
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

// The frame of the report (262,000 control characters, 1,572,000 bytes
// once escaped, to 500 plain clients) kept an invoke busy 2.55s on a
// saturated CPU and its reply missed the 3s deadline, so the gateway
// dropped the sender. It is refused now, at once, with the function on one
// thread and every core also busy in other processes; nobody is dropped.
// How the frames it still allows fare on such a CPU is a measure of speed:
// BenchmarkRepliesOnSaturatedCPU.
func TestRepliesInTimeOnSaturatedCPU(t *testing.T) {
	for _, r := range saturated(t, []saturatedCase{{"262,000 control characters", strings.Repeat("\x01", 262000)}}) {
		if r.errNo != "106" || r.dropped != 0 {
			t.Errorf("%s: errNo %s, %d clients dropped; want 106 (TooLarge) and none", r.name, r.errNo, r.dropped)
		}
	}
}

// BenchmarkRepliesOnSaturatedCPU sends frames the function allows, whose
// fan-out to 500 plain clients saturates its one thread while every core
// is busy elsewhere too, and reports how many replies came late (the
// gateway then drops the sender) and how many pushes went out in time.
//
//	go test ./e2e -run '^$' -bench SaturatedCPU -benchtime 1x
func BenchmarkRepliesOnSaturatedCPU(b *testing.B) {
	cases := []saturatedCase{
		{"200,000 control characters", strings.Repeat("\x01", 200000)},
		{"1,000,000 letters", strings.Repeat("a", 1000000)},
		{"999,998 quotes and backslashes (1,999,996 escaped)", strings.Repeat(`"\`, 499999)},
	}
	var late, delivered int64
	for range b.N {
		for _, r := range saturated(b, cases) {
			b.Logf("%s: errNo %s, busy %s ms, delivered %s of %s, %d dropped", r.name, r.errNo, r.busy, r.delivered, r.recipients, r.dropped)
			late += r.dropped
			n, _ := strconv.ParseInt(r.delivered, 10, 64)
			delivered += n
		}
	}
	b.ReportMetric(float64(late)/float64(b.N), "late/op")
	b.ReportMetric(float64(delivered)/float64(b.N*len(cases)), "delivered/frame")
}

type saturatedCase struct {
	name string
	data string // each of its own size, to find its log line
}

// saturatedResult is one frame's invoke, from the function's log line.
type saturatedResult struct {
	name                               string
	errNo, busy, delivered, recipients string
	dropped                            int64 // clients the gateway dropped so far: a late reply
}

// saturated starts scfws local with the function on one thread (a 128 MB
// SCF instance's share of a CPU), 500 plain clients and every core busy in
// other processes, and sends each case from one more client.
func saturated(tb testing.TB, cases []saturatedCase) []saturatedResult {
	tb.Helper()
	const clients = 500
	l := startLocal(tb, map[string]string{"LOG_LEVEL": "info", "MAX_MESSAGE_BYTES": "1048576"}, "-function", oneThread(tb))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			connect(tb, l.ws)
		})
	}
	wg.Wait()
	sender := connect(tb, l.ws)
	burn(tb)
	var out []saturatedResult
	for _, c := range cases {
		sender.send(tb, c.data)
		line := l.waitLog(tb, fmt.Sprintf("dataBytes=%d ", len(c.data)))
		// Up to 500 pushes of 1-2 MB drain while burn keeps the cores busy.
		l.quietWithin(tb, 2*time.Minute)
		m := invokeLine.FindStringSubmatch(line)
		if m == nil {
			tb.Fatalf("%s: no summary in the log line %q", c.name, line)
		}
		out = append(out, saturatedResult{name: c.name, errNo: m[2], busy: m[5], delivered: m[4], recipients: m[3],
			dropped: l.status(tb).Disconnects})
	}
	return out
}
