// Command zipper writes the SCF zip of an executable (scfzip.WriteFile),
// for e2e: the test binary runs under the race detector, where deflating
// 13 MB at the best compression takes 30 s instead of 1.
//
//	zipper EXE ZIP
package main

import (
	"fmt"
	"os"

	"github.com/scfws/scfws/deploy/scfzip"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: zipper EXE ZIP")
		os.Exit(2)
	}
	if err := scfzip.WriteFile(os.Args[2], os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "zipper:", err)
		os.Exit(1)
	}
}
