package deploy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/deploy"
	"github.com/scfws/scfws/deploy/scfzip"
	"github.com/scfws/scfws/internal/testkit"
)

// tinyModule writes a minimal main package under module path into a new
// directory.
func tinyModule(t testing.TB, path string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":  "module " + path + "\n\ngo 1.22\n",
		"main.go": "package main\n\nvar version = \"dev\"\n\nfunc main() { println(version) }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tiny is a minimal static Linux program for goarch (amd64 or arm64),
// standing in for an scfws build.
func tiny(t testing.TB, goarch string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tiny-"+goarch)
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
	if err := os.WriteFile(bin, testkit.StaticELF(machine, nil), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// zipWith writes a zip holding main (content of file exe) with mode.
func zipWith(t testing.TB, exe string, mode os.FileMode) string {
	t.Helper()
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "main.zip")
	if err := os.WriteFile(out, testkit.Zip(t, testkit.ZipFile{Name: "main", Mode: mode, Data: data}), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func sha(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// mainOf returns the main entry of a zip.
func mainOf(t testing.TB, zipped []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "main" || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip entries = %v; want main, 0755", zr.File)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The three sources of the code: this executable when static, a build,
// -zip FILE.
func TestPackage(t *testing.T) {
	static, arm := tiny(t, "amd64"), tiny(t, "arm64")
	text := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	module := tinyModule(t, "github.com/scfws/scfws")
	tests := []struct {
		name       string
		give       deploy.PackageOptions
		wantSource string // in Code.Source
		wantSHA    string // of main; "" to skip
		wantErr    string
	}{
		{name: "this executable, static", give: deploy.PackageOptions{Executable: static},
			wantSource: "this executable (tiny-amd64, static linux/amd64)", wantSHA: sha(t, static)},
		{name: "not static: built from the module", give: deploy.PackageOptions{Executable: text, ModuleDir: module, Version: "v-test"},
			wantSource: "built from " + module + " (version v-test; this scfws is not an ELF executable)"},
		{name: "arm64: built from the module", give: deploy.PackageOptions{Executable: arm, ModuleDir: module, Version: "v-test"},
			wantSource: "this scfws is built for EM_AARCH64"},
		{name: "-zip FILE", give: deploy.PackageOptions{ZipFile: zipWith(t, static, 0o755), Executable: text},
			wantSource: "-zip ", wantSHA: sha(t, static)},
		{name: "-zip with a foreign main", give: deploy.PackageOptions{ZipFile: zipWith(t, arm, 0o755)},
			wantErr: "main is not what SCF's Go1 runtime runs: built for EM_AARCH64"},
		{name: "-zip with main not executable", give: deploy.PackageOptions{ZipFile: zipWith(t, static, 0o644)},
			wantErr: "main is not executable"},
		{name: "-zip not a zip", give: deploy.PackageOptions{ZipFile: text}, wantErr: "not a zip file"},
		{name: "not static, and no module here", give: deploy.PackageOptions{Executable: text},
			wantErr: "the current directory is not the scfws module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "not static, and no module here" {
				t.Chdir(t.TempDir())
			}
			code, err := deploy.Package(context.Background(), tt.give)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Package = %v; want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Package = %v", err)
			}
			if !strings.Contains(code.Source, tt.wantSource) {
				t.Errorf("Source = %q; want it to contain %q", code.Source, tt.wantSource)
			}
			zip, err := code.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			main := mainOf(t, zip)
			if err := scfzip.CheckStatic(bytes.NewReader(main)); err != nil {
				t.Errorf("main is not static linux/amd64: %v", err)
			}
			sum := sha256.Sum256(main)
			if got := hex.EncodeToString(sum[:]); got != code.SHA256 || tt.wantSHA != "" && got != tt.wantSHA {
				t.Errorf("SHA256 = %s, main's %s; want %s", code.SHA256, got, tt.wantSHA)
			}
		})
	}
}

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    map[string]string
		wantErr string
	}{
		{name: "lines", give: "# db\nDB_HOST=db.example\n\nexport DB_USER=chat\nDB_PASSWORD=\"p=w d\"\n",
			want: map[string]string{"DB_HOST": "db.example", "DB_USER": "chat", "DB_PASSWORD": "p=w d"}},
		{name: "single quotes", give: "A='x'\n", want: map[string]string{"A": "x"}},
		{name: "no =", give: "A=1\nhunter2\n", wantErr: "line 2: not KEY=VALUE"},
		{name: "bad name", give: "1PASSWORD=hunter2\n", wantErr: "line 1: the variable name"},
		// SCF refuses these (the SDK's Variable, SCF's environment doc).
		{name: "empty value", give: "A=1\nEMPTY=\n", wantErr: "line 2: EMPTY has an empty value"},
		{name: "empty quotes", give: "EMPTY=''\n", wantErr: "line 1: EMPTY has an empty value"},
		{name: "SCF_", give: "SCF_RUNTIME=hunter2\n", wantErr: "line 1: SCF_RUNTIME: names starting with SCF_ are reserved"},
		{name: "QCLOUD_", give: "QCLOUD_APPID=hunter2\n", wantErr: "names starting with QCLOUD_ are reserved"},
		{name: "TENCENTCLOUD_", give: "TENCENTCLOUD_SECRETKEY=hunter2\n", wantErr: "names starting with TENCENTCLOUD_ are reserved"},
		{name: "reserved in lower case", give: "scf_x=hunter2\n", wantErr: "names starting with SCF_ are reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]string{}
			err := deploy.ParseEnvFile(strings.NewReader(tt.give), got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("ParseEnvFile = %v; want %q, quoting nothing", err, tt.wantErr)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("ParseEnvFile = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestIsSecret(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"DB_PASSWORD", true}, {"AUTH_SECRET", true}, {"api_token", true}, {"AUTH_PUBLIC_KEY", true},
		{"DB_HOST", false}, {"STORE", false}, {"IDLE_TIMEOUT", false},
	}
	for _, tt := range tests {
		if got := deploy.IsSecret(tt.give); got != tt.want {
			t.Errorf("IsSecret(%q) = %v; want %v", tt.give, got, tt.want)
		}
	}
}

func TestStepErrorNamesStepActionCodeAndRemedy(t *testing.T) {
	err := error(&deploy.StepError{Step: "create the API", Action: "apigw:CreateApi", Code: "AuthFailure.UnauthorizedOperation",
		Err: &deploy.APIError{Code: "AuthFailure.UnauthorizedOperation", Message: "no", RequestID: "r-1"}, Hint: "grant it"})
	want := "create the API (apigw:CreateApi): AuthFailure.UnauthorizedOperation: no (RequestId r-1)\n  what to do: grant it"
	if err.Error() != want {
		t.Errorf("Error() = %q; want %q", err.Error(), want)
	}
	var api *deploy.APIError
	if !errors.As(err, &api) || api.Code != "AuthFailure.UnauthorizedOperation" {
		t.Errorf("errors.As(*APIError) = %v", api)
	}
}

func TestServiceName(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{"chat", "scfws_chat"},
		{"chat-eu", "scfws_chat_eu"},
		{strings.Repeat("a", 60), "scfws_" + strings.Repeat("a", 44)},
	}
	for _, tt := range tests {
		if got := (deploy.Target{Name: tt.give}).ServiceName(); got != tt.want {
			t.Errorf("ServiceName(%q) = %q; want %q", tt.give, got, tt.want)
		}
	}
}

func TestConfigChecks(t *testing.T) {
	base := deploy.Config{Target: deploy.Target{Region: "ap-guangzhou", Name: "chat"}, MemoryMB: 128, Timeout: 3 * time.Second,
		IdleTimeout: 600 * time.Second, Path: "/websocket", Code: deploy.Code{Zip: []byte("PK")}}
	tests := []struct {
		name string
		give func(*deploy.Config)
		want string
	}{
		{name: "SENDBACK_HOST", give: func(c *deploy.Config) { c.Env = map[string]string{"SENDBACK_HOST": "http://x"} }, want: "SENDBACK_HOST is set by deploy"},
		{name: "fractional timeout", give: func(c *deploy.Config) { c.Timeout = 1500 * time.Millisecond }, want: "whole seconds"},
		{name: "path", give: func(c *deploy.Config) { c.Path = "ws" }, want: "must start with /"},
		{name: "zip too big", give: func(c *deploy.Config) { c.Code.Zip = make([]byte, 8<<20) }, want: "over what one API call may carry"},
		{name: "idle timeout over 1800s", give: func(c *deploy.Config) { c.IdleTimeout = 1801 * time.Second }, want: "idle timeout 30m1s: whole seconds, 1s to 30m0s"},
		{name: "empty value", give: func(c *deploy.Config) { c.Env = map[string]string{"A": ""} }, want: "environment: A has an empty value"},
		{name: "reserved name", give: func(c *deploy.Config) { c.Env = map[string]string{"TENCENTCLOUD_REGION": "x"} }, want: "reserved by SCF"},
		// Settings the function would refuse, or run without a feature for,
		// are refused before anything is uploaded; never quoted.
		{name: "short PUBLISH_SECRET", give: func(c *deploy.Config) { c.Env = map[string]string{"PUBLISH_SECRET": "hunter2"} },
			want: "the function's settings: PUBLISH_SECRET: must be at least 32 bytes, not 7"},
		{name: "short PROBE_SECRET", give: func(c *deploy.Config) { c.Env = map[string]string{"PROBE_SECRET": "hunter2"} },
			want: "PROBE_SECRET: must be at least 32 bytes, not 7"},
		{name: "bad LOG_LEVEL", give: func(c *deploy.Config) { c.Env = map[string]string{"LOG_LEVEL": "loud"} }, want: "LOG_LEVEL: must be debug"},
		{name: "AUTH_REQUIRED without a key", give: func(c *deploy.Config) { c.Env = map[string]string{"AUTH_REQUIRED": "true"} },
			want: "AUTH_REQUIRED: needs AUTH_SECRET or AUTH_PUBLIC_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.give(&cfg)
			_, err := (&deploy.Deployer{}).Deploy(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Deploy = %v; want %q, no secret quoted", err, tt.want)
			}
		})
	}
}

// deploy reaches Tencent Cloud only through the SDK: it must not pull in
// the function's own packages or the emulator.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"/emulator", "/router", "/store", "/gateway"} {
			if strings.HasPrefix(pkg, "github.com/scfws/scfws") && strings.Contains(pkg, banned) {
				t.Errorf("deploy depends on %s", pkg)
			}
		}
	}
}

// The call's deadline reaches the SDK's HTTP request: a Cloud API that
// never answers fails the step when the call time is up.
func TestCallDeadlineReachesTheRequest(t *testing.T) {
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server sees the client go
		<-r.Context().Done()
	}))
	defer hung.Close()
	d := &deploy.Deployer{Credentials: deploy.Credentials{SecretID: "AKIDx", SecretKey: "k"}, Endpoint: hung.URL, CallTimeout: 50 * time.Millisecond}
	cfg := deploy.Config{Target: deploy.Target{Region: "ap-guangzhou", Name: "chat"}, MemoryMB: 128, Timeout: 3 * time.Second,
		IdleTimeout: 600 * time.Second, Path: "/websocket", Code: deploy.Code{Zip: []byte("PK")}}
	start := time.Now()
	_, err := d.Deploy(context.Background(), cfg)
	var se *deploy.StepError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) || se.Step != "read the function" {
		t.Fatalf("Deploy = %v; want the step read the function to fail with the deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Deploy took %s with a 50ms call timeout", took)
	}
}
