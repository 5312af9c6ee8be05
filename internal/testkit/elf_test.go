package testkit

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/scfws/scfws/deploy/scfzip"
)

// StaticELF's executables are what SCF's Go1 runtime runs as they are
// (scfzip.CheckStatic), for their machine, and the x86-64 one runs here
// and exits 0.
func TestStaticELF(t *testing.T) {
	tests := []struct {
		give elf.Machine
		want string // CheckStatic's error, "" for none
	}{
		{elf.EM_X86_64, ""},
		{elf.EM_AARCH64, "built for EM_AARCH64 (ELFCLASS64), not x86-64"},
	}
	for _, tt := range tests {
		exe := StaticELF(tt.give, []byte("v1"))
		err := scfzip.CheckStatic(bytes.NewReader(exe))
		if got := errString(err); got != tt.want {
			t.Errorf("CheckStatic(StaticELF(%v)) = %q; want %q", tt.give, got, tt.want)
		}
		if f, err := elf.NewFile(bytes.NewReader(exe)); err != nil || f.Machine != tt.give {
			t.Errorf("StaticELF(%v) reads as %v, %v", tt.give, f, err)
		}
	}
	if bytes.Equal(StaticELF(elf.EM_X86_64, []byte("v1")), StaticELF(elf.EM_X86_64, []byte("v2"))) {
		t.Error("StaticELF with payloads v1 and v2: the same bytes; want them to differ")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return
	}
	bin := filepath.Join(t.TempDir(), "static")
	if err := os.WriteFile(bin, StaticELF(elf.EM_X86_64, []byte("v1")), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin).CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("running StaticELF(EM_X86_64) = %v, %q; want exit 0, no output", err, out)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
