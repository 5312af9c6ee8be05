//go:build !scfws_function

package cli

import (
	"errors"
	"io"

	"github.com/scfws/scfws/local"
)

// localUsage is scfws local's help, kept beside its flags in package local.
var localUsage = local.Usage

// localCmd runs scfws local: the gateway, SCF and Tencent Cloud API
// emulator on this machine (package local). Its mistakes in the command
// line are usage errors here too.
func localCmd(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	err := local.Main(args, stdout, stderr)
	var u local.UsageError
	if errors.As(err, &u) {
		return usageError{u.Unwrap()}
	}
	return err
}
