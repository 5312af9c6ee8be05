// Command mkzip builds the SCF deployment package: a zip holding one static
// linux/amd64 executable named main, mode 0755, which is what the Go1 runtime
// runs with handler "main". It needs only Go, so it works where make, zip or
// Docker do not.
//
//	go run ./tools/mkzip -o dist/main.zip
package main

import (
	"archive/zip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	out := flag.String("o", "dist/main.zip", "the zip to write")
	version := flag.String("version", "", "version to stamp (default: git describe, or dev)")
	flag.Parse()
	if err := build(context.Background(), ".", *out, *version); err != nil {
		fmt.Fprintf(os.Stderr, "mkzip: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}

// build compiles the module at dir and writes the zip to out.
func build(ctx context.Context, dir, out, version string) error {
	if version == "" {
		version = describe(ctx, dir)
	}
	tmp, err := os.MkdirTemp("", "mkzip")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "main")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+version, "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return writeZip(out, bin)
}

func writeZip(out, bin string) (err error) {
	src, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "main", Method: zip.Deflate}
	h.SetMode(0o755) // also marks the entry as made on Unix, so the mode is honoured
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	return zw.Close()
}

func describe(ctx context.Context, dir string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = dir
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "dev"
}
