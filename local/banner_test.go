package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/local/emulator"
	"github.com/scfws/scfws/proto"
)

// The banner says plainly when the function's processes listen beyond this
// machine: a -function that is not scfws binds every interface.
func TestBannerWarnsOfAForeignFunction(t *testing.T) {
	scfwsLike := filepath.Join(t.TempDir(), "scfws")
	if err := os.WriteFile(scfwsLike, []byte("\x7fELF "+proto.RuntimeListenerFD), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		give string // -function
		want bool   // warned
	}{
		{testkit.BuildProgram(t, "./emulator/testdata/badfn"), true},
		{scfwsLike, false},
	}
	for _, tt := range tests {
		fn, err := emulator.NewFunction(tt.give, emulator.FunctionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f := testFlags(t)
		f.function = tt.give
		b := banner(f, false, "http://127.0.0.1:1", "127.0.0.1:1", "http://127.0.0.1:1/sendback", fn, 1, 1, map[string]string{})
		if got := strings.Contains(b, "listen on every interface"); got != tt.want {
			t.Errorf("banner for -function %s warns %v; want %v:\n%s", filepath.Base(tt.give), got, tt.want, b)
		}
	}
}

// The banner says whether history is on, as local turns it on for its
// session, and how to drop a client to see a recovery.
func TestBannerSaysHistory(t *testing.T) {
	fn, err := emulator.NewFunction(testkit.BuildProgram(t, "./emulator/testdata/badfn"), emulator.FunctionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		give map[string]string
		want string
	}{
		{map[string]string{"HISTORY_SIZE": "100", "HISTORY_TTL": "1h"}, "  history       on: the last 100 messages of each group and user, for 1h"},
		{map[string]string{"HISTORY_SIZE": "0"}, "  history       off (HISTORY_SIZE=0)"},
	}
	for _, tt := range tests {
		b := banner(testFlags(t), false, "http://127.0.0.1:1", "127.0.0.1:1", "http://127.0.0.1:1/sendback", fn, 1, 1, tt.give)
		if !strings.Contains(b, tt.want) || !strings.Contains(b, "/drop") != (tt.give["HISTORY_SIZE"] == "0") {
			t.Errorf("banner with %v:\n%s\nwant %q", tt.give, b, tt.want)
		}
	}
}
