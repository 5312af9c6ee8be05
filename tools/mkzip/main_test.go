package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/scfws/scfws/internal/testkit"
)

// The zip is what SCF's Go1 runtime needs: one entry, main, executable,
// a static linux/amd64 ELF; built with the function alone, it is smaller
// and refuses the commands it leaves out.
func TestZip(t *testing.T) {
	tests := []struct {
		name         string
		functionOnly bool
		wantLocal    string // what main local says
	}{
		{name: "full", wantLocal: "Usage"},
		{name: "function only", functionOnly: true, wantLocal: "not in this build"},
	}
	var full sizes
	built := map[string]sizes{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "main.zip")
			printed := mkzip(t, out, tt.functionOnly)
			data := checkEntry(t, out)
			sz := sizes{zip: fileSize(t, out), exe: int64(len(data))}
			if want := fmt.Sprintf("%s: %.1f MB zip, main %.1f MB, in ", out, mb(sz.zip), mb(sz.exe)); !strings.HasPrefix(printed, want) || sz.exe <= sz.zip {
				t.Errorf("mkzip printed %q; want %q... for the zip's %d bytes and main's %d", printed, want, sz.zip, sz.exe)
			}
			if tt.functionOnly && full.zip > 0 && (sz.zip >= full.zip || sz.exe >= full.exe) {
				t.Errorf("the function alone is %+v; want smaller than the full build's %+v", sz, full)
			}
			if !tt.functionOnly {
				full = sz
			}
			built[tt.name] = sz
			t.Logf("zip %d bytes, main %d bytes", fileSize(t, out), len(data))
			checkStatic(t, data)
			runs(t, data, tt.wantLocal)
		})
	}
	checkDocumentedSizes(t, built)
}

// mkzip runs mkzip as a user does, from the module's root, and returns
// what it printed. It runs built without the race detector, which would
// take half a minute to deflate 13 MB.
func mkzip(t *testing.T, out string, functionOnly bool) string {
	t.Helper()
	args := []string{"-o", out, "-version", "v-test"}
	if functionOnly {
		args = append(args, "-function-only")
	}
	cmd := exec.Command(testkit.BuildProgram(t, "."), args...)
	cmd.Dir = "../.."
	var stderr strings.Builder
	cmd.Stderr = &stderr
	printed, err := cmd.Output()
	if err != nil {
		t.Fatalf("mkzip %q: %v\n%s", args, err, stderr.String())
	}
	return string(printed)
}

// The sizes docs/performance.md and docs/deploy.md give are what the builds make,
// within 10%: they drift as the code grows, and the docs must follow.
func checkDocumentedSizes(t *testing.T, built map[string]sizes) {
	t.Helper()
	claims := []struct {
		file, pattern string
		build         string
		zip           bool // the zip's size, else main's
	}{
		{"docs/performance.md", "\\| `main\\.zip` / `main` \\(`go run ./tools/mkzip` prints them\\) \\| ([0-9.]+) MB / [0-9.]+ MB;", "full", true},
		{"docs/performance.md", "\\| `main\\.zip` / `main` \\(`go run ./tools/mkzip` prints them\\) \\| [0-9.]+ MB / ([0-9.]+) MB;", "full", false},
		{"docs/performance.md", "the function alone \\(`-function-only`\\) ([0-9.]+) MB / [0-9.]+ MB \\|", "function only", true},
		{"docs/performance.md", "the function alone \\(`-function-only`\\) [0-9.]+ MB / ([0-9.]+) MB \\|", "function only", false},
		{"docs/deploy.md", "the function alone \\(`go build -tags scfws_function`, static, without symbols: a ([0-9.]+) MB zip\\)", "function only", true},
	}
	for _, c := range claims {
		text, err := os.ReadFile(filepath.Join("../..", c.file))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(c.pattern).FindSubmatch(text)
		sz, ok := built[c.build]
		if m == nil || !ok {
			t.Errorf("%s: no size matching %s (or no %s build)", c.file, c.pattern, c.build)
			continue
		}
		claimed, _ := strconv.ParseFloat(string(m[1]), 64)
		got := mb(sz.exe)
		if c.zip {
			got = mb(sz.zip)
		}
		if math.Abs(got-claimed) > claimed/10 {
			t.Errorf("%s says %s MB (%s build, zip %v); the build makes %.1f MB", c.file, m[1], c.build, c.zip, got)
		}
	}
}

// checkEntry checks the zip holds just main, mode 0755 as made on Unix, and
// returns main.
func checkEntry(t *testing.T, zipFile string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "main" {
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		t.Fatalf("zip entries = %q; want just main", names)
	}
	f := zr.File[0]
	if mode := f.Mode(); !mode.IsRegular() || mode.Perm() != 0o755 {
		t.Errorf("main mode = %v; want -rwxr-xr-x", mode)
	}
	if f.CreatorVersion>>8 != 3 {
		t.Errorf("zip creator OS = %d; want 3 (Unix) so the mode is honoured", f.CreatorVersion>>8)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// checkStatic checks main is a static x86-64 ELF.
func checkStatic(t *testing.T, data []byte) {
	t.Helper()
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("main is not ELF: %v", err)
	}
	defer ef.Close()
	if ef.Machine != elf.EM_X86_64 || ef.Class != elf.ELFCLASS64 {
		t.Errorf("main is %v %v; want EM_X86_64 ELFCLASS64", ef.Machine, ef.Class)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("main has a %v program header; want a static executable", p.Type)
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("main needs %q; want no shared libraries", libs)
	}
}

// runs checks, on this kind of machine where the binary runs as it is, that
// main says who it is and what main local says.
func runs(t *testing.T, data []byte, wantLocal string) {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return
	}
	bin := filepath.Join(t.TempDir(), "main")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(got), "scfws v-test ") {
		t.Errorf("main version = %q, %v; want scfws v-test ...", got, err)
	}
	got, _ = exec.Command(bin, "local", "-h").CombinedOutput()
	if !strings.Contains(string(got), wantLocal) {
		t.Errorf("main local -h = %q; want %q", got, wantLocal)
	}
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
