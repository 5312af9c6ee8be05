package e2e

import (
	"testing"
	"time"

	"github.com/scfws/scfws/internal/testkit"
)

// Everything scfws local runs listens on this machine only: local itself
// (-addr 127.0.0.1:0), its own function's instances, and the instances of
// a function deployed into it from an scfws zip. Each instance serves the
// loopback listener local hands it; scf-go-lib would bind 0.0.0.0, where
// anyone who reaches the machine could invoke the function and read the
// settings each invoke carries.
func TestLocalListensOnLoopbackOnly(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	zip, _ := buildZip(t)
	l := startLocal(t, map[string]string{"DB_HOST": "", "STORE": "memory"})
	deployJSON(t, l, zip, "-env", "STORE=memory")

	var procs []int
	testkit.Eventually(t, 30*time.Second, "local's function and the deployed one to run", func() bool {
		procs = testkit.Descendants(t, l.cmd.Process.Pid)
		return len(procs) >= 2
	})
	listening := testkit.Listening(t, append(procs, l.cmd.Process.Pid)...)
	if len(listening[l.cmd.Process.Pid]) == 0 {
		t.Errorf("local (pid %d) listens on nothing: %v; the test reads /proc wrong", l.cmd.Process.Pid, listening)
	}
	for _, pid := range procs {
		if len(listening[pid]) == 0 {
			t.Errorf("function process %d listens on nothing; want the runtime's listener", pid)
		}
	}
	for pid, addrs := range listening {
		for _, a := range addrs {
			if !a.Addr().IsLoopback() {
				t.Errorf("process %d listens on %s; want loopback only (local %d, its functions %v)", pid, a, l.cmd.Process.Pid, procs)
			}
		}
	}
	t.Logf("listening: %v", listening)
}
