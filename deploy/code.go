package deploy

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/scfws/scfws/deploy/scfzip"
)

// Code is the function's package.
type Code struct {
	// Zip is the package, when it was made beforehand (-zip FILE).
	Zip    []byte
	SHA256 string // of the executable main, hex: the function's description records it
	Source string // where it came from, for people

	// exe is an executable zipped only when the code is uploaded: a
	// deploy that changes no code (the SHA-256 says) never zips 12 MB.
	exe *lazyZip
}

type lazyZip struct {
	once sync.Once
	main []byte
	zip  []byte
	err  error
}

// Bytes returns the zip, making it from the executable the first time.
func (c Code) Bytes() ([]byte, error) {
	if c.Zip != nil || c.exe == nil {
		return c.Zip, nil
	}
	c.exe.once.Do(func() {
		var buf bytes.Buffer
		if c.exe.err = scfzip.Write(&buf, bytes.NewReader(c.exe.main)); c.exe.err == nil {
			c.exe.zip = buf.Bytes()
		}
	})
	return c.exe.zip, c.exe.err
}

// size is the package's size, or the executable's (an upper bound of the
// zip's) before it is zipped.
func (c Code) size() int {
	if c.Zip != nil || c.exe == nil {
		return len(c.Zip)
	}
	return len(c.exe.main)
}

// Package limits: SCF takes a zip of at most 50 MB; an executable larger
// than this is not scfws.
const (
	maxZipBytes  = 50 << 20
	maxMainBytes = 256 << 20
	modulePath   = "github.com/scfws/scfws"
)

// PackageOptions says where the code may come from.
type PackageOptions struct {
	// ZipFile is a package made before (-zip FILE); it must hold a static
	// linux/amd64 main.
	ZipFile string
	// Executable is this program (default os.Executable()): when it is a
	// static linux/amd64 build, it is the function, zipped as it is.
	Executable string
	// ModuleDir is the scfws module to build from otherwise (default: the
	// current directory, when it is the scfws module).
	ModuleDir string
	// Version is stamped on a build (default git describe, or dev).
	Version string
	// BuildLog gets the compiler's messages (default none).
	BuildLog io.Writer
}

// Package returns the code to deploy: the -zip file when given; else this
// very executable when SCF can run it as it is and its zip fits in one API
// call; else a build of the function alone (-tags scfws_function) from the
// module.
func Package(ctx context.Context, o PackageOptions) (Code, error) {
	if o.ZipFile != "" {
		return zipFromFile(o.ZipFile)
	}
	exe := o.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return Code{}, fmt.Errorf("find this executable: %w", err)
		}
	}
	code, why := thisExecutable(exe)
	if why == "" {
		return code, nil
	}
	return buildFunction(ctx, o, why)
}

// thisExecutable is exe zipped, when SCF can run it and the zip fits;
// otherwise why not.
func thisExecutable(exe string) (code Code, why string) {
	f, err := os.Open(exe)
	if err != nil {
		return Code{}, "unreadable"
	}
	err = scfzip.CheckStatic(f)
	f.Close()
	if err != nil {
		return Code{}, err.Error()
	}
	code, err = zipExecutable(exe, "this executable ("+filepath.Base(exe)+", static linux/amd64)")
	if err != nil {
		return Code{}, err.Error()
	}
	if err := code.fits(); err != nil {
		// Built without -ldflags="-s -w" (go install, say): its symbols
		// make the zip too big.
		return Code{}, "static, but " + err.Error()
	}
	return code, ""
}

// buildFunction builds the function alone from the module (the current
// directory unless o.ModuleDir), the smallest package, since this
// executable cannot be the function (why).
func buildFunction(ctx context.Context, o PackageOptions, why string) (Code, error) {
	const instead = "pass -zip with a package made by go run ./tools/mkzip -function-only -o dist/main.zip"
	dir := o.ModuleDir
	if dir == "" {
		dir = "."
		if !isModule(dir) {
			return Code{}, fmt.Errorf("this scfws cannot be the function (it is %s), and the current directory is not the scfws module to build the function from: "+
				"run deploy from the module, or %s", why, instead)
		}
	}
	if _, err := exec.LookPath("go"); err != nil {
		return Code{}, fmt.Errorf("this scfws cannot be the function (it is %s), and there is no go command to build the function with: %s", why, instead)
	}
	version := o.Version
	if version == "" {
		version = scfzip.Describe(ctx, dir)
	}
	tmp, err := os.MkdirTemp("", "scfws-deploy")
	if err != nil {
		return Code{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, scfzip.Entry)
	log := o.BuildLog
	if log == nil {
		log = io.Discard
	}
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(log, "deploy: this scfws cannot be the function (it is %s); building the function alone from %s (go build -tags %s) ...\n", why, abs, scfzip.FunctionOnly)
	if err := scfzip.Build(ctx, dir, bin, version, log, scfzip.FunctionOnly); err != nil {
		return Code{}, fmt.Errorf("this scfws cannot be the function (it is %s), and building the function failed: %w", why, err)
	}
	return zipExecutable(bin, fmt.Sprintf("built from %s (version %s; this scfws is %s), the function alone", abs, version, why))
}

// requestOverhead is what an upload's request carries besides the zip.
const requestOverhead = 64 << 10

// fits says whether the code, as base64 in one API call, fits in the
// call's MaxRequestBytes; if not, how big it is.
func (c Code) fits() error {
	if base64.StdEncoding.EncodedLen(c.size()) <= MaxRequestBytes-requestOverhead {
		return nil
	}
	zip, err := c.Bytes() // the executable's size only bounds its zip's
	if err != nil {
		return fmt.Errorf("zip it: %w", err)
	}
	if n := base64.StdEncoding.EncodedLen(len(zip)); n > MaxRequestBytes-requestOverhead {
		return fmt.Errorf("its zip is %.1f MB, %.1f MB in base64: over what one API call may carry (%d MB)",
			float64(len(zip))/(1<<20), float64(n)/(1<<20), MaxRequestBytes>>20)
	}
	return nil
}

// isModule says whether dir holds the scfws module.
func isModule(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" && strings.Trim(fields[1], `"`) == modulePath {
			return true
		}
	}
	return false
}

func zipExecutable(path, source string) (Code, error) {
	main, err := os.ReadFile(path)
	if err != nil {
		return Code{}, err
	}
	sum := sha256.Sum256(main)
	return Code{SHA256: hex.EncodeToString(sum[:]), exe: &lazyZip{main: main},
		Source: fmt.Sprintf("%s, main %s", source, size(len(main)))}, nil
}

func zipFromFile(name string) (Code, error) {
	f, err := os.Open(name)
	if err != nil {
		return Code{}, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxZipBytes+1))
	if err != nil {
		return Code{}, fmt.Errorf("-zip %s: %w", name, err)
	}
	if len(raw) > maxZipBytes {
		return Code{}, fmt.Errorf("-zip %s: over SCF's 50 MB", name)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return Code{}, fmt.Errorf("-zip %s: not a zip file: %w", name, err)
	}
	var entry *zip.File
	for _, zf := range zr.File {
		if zf.Name == scfzip.Entry {
			entry = zf
		}
	}
	if entry == nil || !entry.Mode().IsRegular() {
		return Code{}, fmt.Errorf("-zip %s: no file main at its root (the Go1 runtime runs handler main)", name)
	}
	rc, err := entry.Open()
	if err != nil {
		return Code{}, fmt.Errorf("-zip %s: %w", name, err)
	}
	main, err := io.ReadAll(io.LimitReader(rc, maxMainBytes+1))
	rc.Close()
	if err != nil {
		return Code{}, fmt.Errorf("-zip %s: main: %w", name, err)
	}
	if len(main) > maxMainBytes {
		return Code{}, fmt.Errorf("-zip %s: main is over %d MB", name, maxMainBytes>>20)
	}
	if err := scfzip.CheckStatic(bytes.NewReader(main)); err != nil {
		return Code{}, fmt.Errorf("-zip %s: main is not what SCF's Go1 runtime runs: %w", name, err)
	}
	if entry.Mode().Perm()&0o100 == 0 {
		return Code{}, errors.New("-zip " + name + ": main is not executable (mode " + entry.Mode().String() + "); make it with go run ./tools/mkzip")
	}
	sum := sha256.Sum256(main)
	code := Code{Zip: raw, SHA256: hex.EncodeToString(sum[:]),
		Source: fmt.Sprintf("-zip %s, main %s, zip %s", name, size(len(main)), size(len(raw)))}
	if err := code.fits(); err != nil {
		return Code{}, fmt.Errorf("-zip %s: %w; build the function alone, which is smaller: go run ./tools/mkzip -function-only -o dist/main.zip", name, err)
	}
	return code, nil
}
