// Command scfws is one binary for the register, transmission and cleanup
// functions of a Tencent Cloud API Gateway WebSocket API. Under SCF
// (_LAMBDA_SERVER_PORT set) it serves the Go1 runtime: package function.
// Elsewhere it runs a command: package cli.
package main

import (
	"fmt"
	"os"

	"github.com/scfws/scfws/cli"
	"github.com/scfws/scfws/function"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if os.Getenv("_LAMBDA_SERVER_PORT") != "" {
		err := function.Serve(os.Stdout, version)
		fmt.Fprintf(os.Stderr, "scfws: %v\n", err)
		os.Exit(1)
	}
	cli.Version = version
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
