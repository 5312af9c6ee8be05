package deploy_test

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scfws/scfws/deploy"
	"github.com/scfws/scfws/internal/testkit"
)

// bigStatic is a static linux/amd64 executable whose zip does not fit in
// one API call (8 MB that do not compress), as an scfws built without
// -ldflags="-s -w" is.
func bigStatic(t testing.TB) string {
	t.Helper()
	blob := make([]byte, 8<<20)
	_, _ = rand.Read(blob)
	bin := filepath.Join(t.TempDir(), "scfws")
	if err := os.WriteFile(bin, testkit.StaticELF(elf.EM_X86_64, blob), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// A static executable too big to upload is not the function: deploy
// builds the function alone from the module, or, with no module here,
// says which flag to use instead; a -zip too big says how to make a
// smaller one.
func TestPackageTooBig(t *testing.T) {
	big := bigStatic(t)
	data, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	bigZip := filepath.Join(t.TempDir(), "main.zip") // stored: random bytes do not deflate
	if err := os.WriteFile(bigZip, testkit.Zip(t, testkit.ZipFile{Name: "main", Mode: 0o755, Data: data, Stored: true}), 0o644); err != nil {
		t.Fatal(err)
	}
	module := tinyModule(t, "github.com/scfws/scfws")
	tests := []struct {
		name       string
		give       deploy.PackageOptions
		elsewhere  bool   // run from a directory that is not the module
		wantSource string // in Code.Source
		wantLog    string // in the build log
		wantErr    []string
	}{
		{name: "built from the module", give: deploy.PackageOptions{Executable: big, ModuleDir: module, Version: "v-test"},
			wantSource: "this scfws is static, but its zip is", wantLog: "building the function alone from " + module + " (go build -tags scfws_function)"},
		{name: "no module here", give: deploy.PackageOptions{Executable: big}, elsewhere: true,
			wantErr: []string{"static, but its zip is", "over what one API call may carry (10 MB)", "pass -zip with a package made by go run ./tools/mkzip -function-only"}},
		{name: "-zip too big", give: deploy.PackageOptions{ZipFile: bigZip},
			wantErr: []string{"over what one API call may carry (10 MB)", "go run ./tools/mkzip -function-only -o dist/main.zip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.elsewhere {
				t.Chdir(t.TempDir())
			}
			var log testkit.SyncBuffer
			tt.give.BuildLog = &log
			code, err := deploy.Package(context.Background(), tt.give)
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Package = %v; want an error with %q", err, w)
				}
			}
			if len(tt.wantErr) > 0 {
				return
			}
			if err != nil {
				t.Fatalf("Package = %v", err)
			}
			if !strings.Contains(code.Source, tt.wantSource) || !strings.Contains(code.Source, "the function alone") {
				t.Errorf("Source = %q; want %q and the function alone", code.Source, tt.wantSource)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("build log %q; want %q", log.String(), tt.wantLog)
			}
		})
	}
}
