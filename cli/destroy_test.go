//go:build !scfws_function

package cli

import (
	"strings"
	"testing"
)

// destroy's progress reads top down: each step's line comes before what
// it waited for ("chat is gone"), as deploy's do.
func TestDestroyProgressOrder(t *testing.T) {
	c := newTestCloud(t)
	mustDeploy(t, c, testHooks(t), secretArgs(t)...)
	_, stderr, err := runDestroyT(t, c, "", "-yes")
	if err != nil {
		t.Fatalf("destroy = %v", err)
	}
	step, gone := strings.Index(stderr, "\n  delete the function chat\n"), strings.Index(stderr, "\n    chat is gone (")
	if step < 0 || gone < 0 || gone < step {
		t.Errorf("destroy's progress:\n%s\nwant \"delete the function chat\", then \"chat is gone\" under it", stderr)
	}
}
