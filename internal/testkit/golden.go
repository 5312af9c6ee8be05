package testkit

import (
	"flag"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update is -update: every test package imports testkit, so that
// `go test ./... -update` runs everywhere.
var update = flag.Bool("update", false, "rewrite golden files instead of comparing with them")

// Updating reports whether this run rewrites golden files.
func Updating() bool { return *update }

// CheckGolden compares got with the file at path, or rewrites the file under
// -update when write is true (only one of several runs of the same cases
// should write).
func CheckGolden(t testing.TB, path string, got []byte, write bool) {
	t.Helper()
	if write && *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./... -update creates it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
	}
}
