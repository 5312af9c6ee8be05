package deploy_test

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scfws/scfws/deploy"
	"github.com/scfws/scfws/internal/testkit"
)

// bigStatic is a static linux/amd64 executable whose zip does not fit in
// one API call (9 MB that do not compress), as an scfws built without
// -ldflags="-s -w" is.
func bigStatic(t testing.TB) string {
	t.Helper()
	src := t.TempDir()
	blob := make([]byte, 9<<20)
	_, _ = rand.Read(blob)
	files := map[string][]byte{
		"go.mod":  []byte("module big\n\ngo 1.22\n"),
		"main.go": []byte("package main\n\nimport _ \"embed\"\n\n//go:embed blob\nvar blob []byte\n\nfunc main() { println(len(blob)) }\n"),
		"blob":    blob,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "scfws")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// A static executable too big to upload is not the function: deploy
// builds the function alone from the module, or, with no module here,
// says which flag to use instead; a -zip too big says how to make a
// smaller one.
func TestPackageTooBig(t *testing.T) {
	big := bigStatic(t)
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
		{name: "-zip too big", give: deploy.PackageOptions{ZipFile: zipWith(t, big, 0o755)},
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
