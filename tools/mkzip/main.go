// Command mkzip builds the SCF deployment package: a zip holding one static
// linux/amd64 executable named main, mode 0755, which is what the Go1 runtime
// runs with handler "main". It needs only Go, so it works where make, zip or
// Docker do not.
//
//	go run ./tools/mkzip -o dist/main.zip
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/scfws/scfws/internal/zipbuild"
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
		version = zipbuild.Describe(ctx, dir)
	}
	tmp, err := os.MkdirTemp("", "mkzip")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, zipbuild.Entry)
	if err := zipbuild.Build(ctx, dir, bin, version, os.Stderr); err != nil {
		return err
	}
	return zipbuild.WriteFile(out, bin)
}
