// Command mkzip builds the SCF deployment package: a zip holding one static
// linux/amd64 executable named main, mode 0755, which is what the Go1 runtime
// runs with handler "main". It needs only Go, so it works where make, zip or
// Docker do not.
//
//	go run ./tools/mkzip -o dist/main.zip [-function-only]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/scfws/scfws/deploy/scfzip"
)

func main() {
	out := flag.String("o", "dist/main.zip", "the zip to write")
	version := flag.String("version", "", "version to stamp (default: git describe, or dev)")
	functionOnly := flag.Bool("function-only", false, "build the function alone (-tags "+scfzip.FunctionOnly+
		"): without scfws local, deploy, destroy, probe and publish, for a smaller zip")
	flag.Parse()
	began := time.Now()
	fmt.Fprintln(os.Stderr, "mkzip: building a static linux/amd64 scfws (the first build takes a while) ...")
	sizes, err := build(context.Background(), ".", *out, *version, *functionOnly)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkzip: %v\n", err)
		os.Exit(1)
	}
	// The sizes in the README and docs/ come from this line.
	fmt.Printf("%s: %.1f MB zip, main %.1f MB, in %s\n", *out, mb(sizes.zip), mb(sizes.exe), time.Since(began).Round(100*time.Millisecond))
}

func mb(n int64) float64 { return float64(n) / 1e6 }

type sizes struct{ zip, exe int64 }

// build compiles the module at dir (the function alone, when functionOnly),
// writes the zip to out, and says how big both are.
func build(ctx context.Context, dir, out, version string, functionOnly bool) (sizes, error) {
	if version == "" {
		version = scfzip.Describe(ctx, dir)
	}
	var tags []string
	if functionOnly {
		tags = append(tags, scfzip.FunctionOnly)
	}
	tmp, err := os.MkdirTemp("", "mkzip")
	if err != nil {
		return sizes{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, scfzip.Entry)
	if err := scfzip.Build(ctx, dir, bin, version, os.Stderr, tags...); err != nil {
		return sizes{}, err
	}
	if err := scfzip.WriteFile(out, bin); err != nil {
		return sizes{}, err
	}
	exe, err := os.Stat(bin)
	if err != nil {
		return sizes{}, err
	}
	zip, err := os.Stat(out)
	if err != nil {
		return sizes{}, err
	}
	return sizes{zip: zip.Size(), exe: exe.Size()}, nil
}
