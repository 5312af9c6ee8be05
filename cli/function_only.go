//go:build scfws_function

package cli

import (
	"fmt"
	"io"
)

// Built with -tags scfws_function, scfws is the function only (and invoke,
// token, version): the commands that run on a laptop are left out, and with
// them local/, deploy/, probe/ and client/, for a smaller zip.
var (
	localCmd   = leftOut("local")
	publishCmd = leftOut("publish")
	probeCmd   = leftOut("probe")
	deployCmd  = leftOut("deploy")
	destroyCmd = leftOut("destroy")

	// Their help is left out too: a usage error cannot happen.
	localUsage, publishUsage, probeUsage, deployUsage, destroyUsage string
)

func leftOut(name string) runner {
	return func([]string, io.Reader, io.Writer, io.Writer) error {
		return fmt.Errorf("%s is not in this build: it was built with -tags scfws_function, the function only", name)
	}
}
