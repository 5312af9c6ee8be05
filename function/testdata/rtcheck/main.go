// Command rtcheck serves one handler over SCF's Go1 runtime protocol
// through function.StartHandler: on the listener scfws local hands it when
// SCFWS_RUNTIME_LISTENER_FD is set, through scf-go-lib otherwise, so that
// a test can compare the two over the real protocol. Payloads: "echo:X"
// answers X, "env:K" the variable K, "ctx" what the invoke's context says,
// "error" fails with a *refusal, "panic" and "panicerr" panic with a string
// and an error.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/tencentyun/scf-go-lib/functioncontext"

	"github.com/scfws/scfws/function"
)

type refusal struct{ why string }

func (r *refusal) Error() string { return "refused: " + r.why }

type handler struct{}

func (handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	p := string(payload)
	switch {
	case strings.HasPrefix(p, "echo:"):
		return []byte(strings.TrimPrefix(p, "echo:")), nil
	case strings.HasPrefix(p, "env:"):
		return []byte(os.Getenv(strings.TrimPrefix(p, "env:"))), nil
	case p == "ctx":
		fc, _ := functioncontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		return json.Marshal(map[string]any{"fc": fc, "deadline": deadline.UnixNano()})
	case p == "error":
		return nil, &refusal{"asked to"}
	case p == "panic":
		panic("asked to panic")
	case p == "panicerr":
		panic(fmt.Errorf("asked to panic with %w", &refusal{"an error"}))
	}
	return nil, nil
}

func main() {
	err := function.StartHandler(handler{})
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
