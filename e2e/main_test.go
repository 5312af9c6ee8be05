package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// TestMain skips the whole package under -short: every test here starts
// processes, and some start a browser or a database schema. Run with
// SCFWS_E2E_HELPER set, the test binary is one of those processes instead
// (see helper).
func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(helper(name))
	}
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped under -short (process-level tests)")
		os.Exit(0)
	}
	os.Exit(m.Run())
}
