package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

var (
	notedMu sync.Mutex
	noted   = map[string]bool{}
)

// SkipMissing skips t because what is missing, and tells the person at the
// terminal, once per `go test` run (the go command's process), the command
// that installs it. go test hides the output of passing packages, so the
// note goes to the controlling terminal (/dev/tty) when there is one; in CI
// there is none, and there a missing dependency is a failure anyway.
func SkipMissing(t testing.TB, what, install string) {
	t.Helper()
	note(what, install)
	t.Skipf("%s (%s)", what, install)
}

func note(what, install string) {
	notedMu.Lock()
	defer notedMu.Unlock()
	if noted[what] {
		return
	}
	noted[what] = true
	// One note per go command and dependency: each test binary is its
	// child, so the parent's PID names the run.
	marker := filepath.Join(os.TempDir(), "scfws-skipnote-"+strconv.Itoa(os.Getppid())+"-"+strconv.Itoa(len(what))+"-"+sanitize(what))
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return // noted by another package of this run
	}
	f.Close()
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer tty.Close()
	fmt.Fprintf(tty, "scfws tests: skipping the tests that need %s; to run them: %s\n", what, install)
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
