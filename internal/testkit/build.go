package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	builtMu sync.Mutex
	built   = map[string]string{} // package dir -> binary
)

// BuildProgram compiles the main package in dir (relative to the test's
// package) once per test binary and returns the binary's path, for tests
// that run it as a separate process (as the SCF runtime or a user would).
func BuildProgram(t testing.TB, dir string) string {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if bin, ok := built[dir]; ok {
		return bin
	}
	tmp, err := os.MkdirTemp("", "testkit-build")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, filepath.Base(abs))
	// -trimpath and no cgo, as tools/mkzip builds the zip: the compiled
	// packages are then shared through the build cache instead of built
	// twice (the zip test took 128s under -race in CI when they were not).
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as mkzip, which builds static
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	built[dir] = bin
	return bin
}
