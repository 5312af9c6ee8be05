// Package scfzip makes SCF deployment packages for the Go1 runtime: a zip
// holding one static linux/amd64 executable named main, mode 0755, which
// SCF runs with handler "main". tools/mkzip and scfws deploy use it.
package scfzip

import (
	"archive/zip"
	"compress/flate"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Entry is the executable's name in the zip: the Go1 handler.
const Entry = "main"

// FunctionOnly is the build tag that leaves out of scfws what runs on a
// laptop (scfws local, deploy, destroy, probe, publish and their packages):
// the function alone, for a smaller zip.
const FunctionOnly = "scfws_function"

// Build compiles the main package of the module at dir for SCF (static
// linux/amd64, -trimpath, without symbols, main.version set to version,
// with the build tags given) into the file out. The compiler's messages go
// to stderr.
func Build(ctx context.Context, dir, out, version string, stderr io.Writer, tags ...string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", strings.Join(tags, ","),
		"-ldflags", "-s -w -X main.version="+version, "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// Describe is the version to stamp on a build of dir: git describe, or dev.
func Describe(ctx context.Context, dir string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = dir
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "dev"
}

// Write writes the zip holding exe as main, mode 0755. The same executable
// always gives the same bytes (no timestamps).
func Write(w io.Writer, exe io.Reader) error {
	zw := zip.NewWriter(w)
	// The zip's size is a feature (SCF's upload limit, cold start): the
	// best compression saves about 6% for a second more.
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	h := &zip.FileHeader{Name: Entry, Method: zip.Deflate}
	h.SetMode(0o755) // also marks the entry as made on Unix, so the mode is honoured
	fw, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fw, exe); err != nil {
		return err
	}
	return zw.Close()
}

// WriteFile writes the zip holding the executable at exe to out.
func WriteFile(out, exe string) (err error) {
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	return Write(f, src)
}

// CheckStatic returns nil when r holds a static linux/amd64 executable,
// which SCF's Go1 runtime can run as it is, or an error saying what it is
// instead.
func CheckStatic(r io.ReaderAt) error {
	f, err := elf.NewFile(r)
	if err != nil {
		return errors.New("not an ELF executable")
	}
	defer f.Close()
	switch {
	case f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64:
		return fmt.Errorf("built for %v (%v), not x86-64", f.Machine, f.Class)
	case f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX:
		return fmt.Errorf("built for %v, not Linux", f.OSABI)
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Errorf("an ELF %v, not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (it names an interpreter): build with CGO_ENABLED=0")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("needs shared libraries %q: build with CGO_ENABLED=0", libs)
	}
	return nil
}
