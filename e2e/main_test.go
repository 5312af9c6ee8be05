package e2e

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestMain skips the whole package under -short: every test here starts
// processes, and some start a browser or a database schema. Run with
// SCFWS_E2E_HELPER set, the test binary is one of those processes instead
// (see helper).
//
// Tests that mostly wait (for timers, processes, a browser) call
// t.Parallel(): they run after the others, -parallel (GOMAXPROCS) at a
// time. Those that load the CPU on purpose or time replies under load (the
// 200 and 300 clients, the soak, the saturated CPU) stay serial, alone.
func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(helper(name))
	}
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped under -short (process-level tests)")
		os.Exit(0)
	}
	code := m.Run()
	if tempDir != "" {
		os.RemoveAll(tempDir)
	}
	os.Exit(code)
}

// tempDir holds what tests share for the test binary's run (the zips),
// removed when it ends; "" until tempRoot makes it.
var (
	tempMu  sync.Mutex
	tempDir string
)

// tempRoot is tempDir, made on first use.
func tempRoot(t testing.TB) string {
	t.Helper()
	tempMu.Lock()
	defer tempMu.Unlock()
	if tempDir == "" {
		dir, err := os.MkdirTemp("", "scfws-e2e")
		if err != nil {
			t.Fatal(err)
		}
		tempDir = dir
	}
	return tempDir
}
