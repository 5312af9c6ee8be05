package scfzip_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scfws/scfws/deploy/scfzip"
)

// Tiny builds a minimal Go program for goos/goarch with cgo off, the
// quickest way to get a static executable (or a foreign one).
func Tiny(t testing.TB, goos, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":  "module tiny\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build tiny: %v\n%s", err, b)
	}
	return out
}

func TestCheckStatic(t *testing.T) {
	text := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(text, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give string
		want string // "" for static linux/amd64
	}{
		{name: "static linux/amd64", give: Tiny(t, "linux", "amd64")},
		{name: "linux/arm64", give: Tiny(t, "linux", "arm64"), want: "not x86-64"},
		{name: "freebsd/amd64", give: Tiny(t, "freebsd", "amd64"), want: "not Linux"},
		{name: "text", give: text, want: "not an ELF executable"},
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		if sh, err = filepath.EvalSymlinks(sh); err == nil {
			tests = append(tests, struct{ name, give, want string }{name: "a C program", give: sh, want: "dynamically linked"})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = scfzip.CheckStatic(f)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("CheckStatic(%s) = %v; want %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestWriteIsOneExecutableMainAndDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := scfzip.Write(&a, strings.NewReader("\x7fELF...")); err != nil {
		t.Fatal(err)
	}
	if err := scfzip.Write(&b, strings.NewReader("\x7fELF...")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two zips of the same executable differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "main" || zr.File[0].Mode().Perm() != 0o755 || zr.File[0].CreatorVersion>>8 != 3 {
		t.Fatalf("zip = %+v; want one entry main, 0755, made on Unix", zr.File)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); string(got) != "\x7fELF..." {
		t.Errorf("main = %q", got)
	}
}

func TestBuild(t *testing.T) {
	dir := filepath.Dir(Tiny(t, "linux", "amd64"))
	out := filepath.Join(t.TempDir(), "main")
	if err := scfzip.Build(context.Background(), dir, out, "v-test", io.Discard); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := scfzip.CheckStatic(f); err != nil {
		t.Errorf("the build is not static linux/amd64: %v", err)
	}
}
