//go:build !scfws_function

package cli

import (
	"io"

	"github.com/scfws/scfws/local"
)

// localCmd runs scfws local: the gateway, SCF and Tencent Cloud API
// emulator on this machine (package local).
func localCmd(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	return local.Main(args, stdout, stderr)
}
