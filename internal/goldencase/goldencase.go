// Package goldencase holds what the golden-event tests share: the cases in
// testdata/golden, the registry every case starts from, the settings they
// run with, and the outcome a golden file records. The in-process run (root
// package) and the SCF-runtime run (e2e) must agree on the same files.
package goldencase

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/internal/pushtest"
	"github.com/scfws/scfws/router"
)

// Idle is the idle timeout the cases run with.
const Idle = 600 * time.Second

// Seed is the registry every case starts from. The push endpoint answers by
// ID prefix (see pushtest): gone-* (404), errno-* (200 with errNo 1) and
// fail-* (500) are pruned, since the gateway drops a client whose push it
// refuses; busy-* (429) is kept after its retry; status-413-* is kept
// (the frame's fault, not the connection's); dave-expired is past the idle
// timeout.
var Seed = []struct {
	ID  string
	Age time.Duration
}{
	{"alice==", 0}, {"bob==", time.Minute}, {"gone-carol==", 0}, {"errno-frank==", 0},
	{"fail-erin==", 0}, {"busy-gina==", 0}, {"status-413-hal==", 0}, {"dave-expired==", 2 * Idle},
}

// Case is one event file and the settings on top of Env.
type Case struct {
	Name  string
	Event []byte
	Env   map[string]string
}

// Load reads every dir/*.json with its optional .env file. No cases is a
// failure: a moved directory must not make the test pass by running nothing.
func Load(t testing.TB, dir string) []Case {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events in %s (%v)", dir, err)
	}
	var cases []Case
	for _, f := range files {
		event, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := Case{Name: strings.TrimSuffix(filepath.Base(f), ".json"), Event: event, Env: map[string]string{}}
		if envFile, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".env"); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(envFile)), "\n") {
				k, v, _ := strings.Cut(line, "=")
				c.Env[k] = v
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// Path is the golden file of the case name in dir.
func Path(dir, name string) string { return filepath.Join(dir, name+".golden") }

// Env is the settings every case shares, with the case's on top. A case's
// SENDBACK_HOST that starts with "/" is a path on the push endpoint (see
// pushtest: /wrong-* refuses every push, as a mistyped address does).
func Env(pushBase string, c Case) map[string]string {
	env := map[string]string{"SENDBACK_HOST": pushBase + "/api-golden", "PUSH_RETRIES": "1", "IDLE_TIMEOUT": "600", "LOG_LEVEL": "debug"}
	for k, v := range c.Env {
		if k == "SENDBACK_HOST" && strings.HasPrefix(v, "/") {
			v = pushBase + v
		}
		env[k] = v
	}
	return env
}

// Outcome is every observable effect of one event.
type Outcome struct {
	Reply    router.Reply    `json:"reply"`
	Pushes   []pushtest.Push `json:"pushes"`
	Registry []string        `json:"registry"`
}

// Marshal renders o deterministically: indented, no HTML escaping, the
// clock-dependent elapsedMs zeroed, a trailing newline.
func (o Outcome) Marshal(t testing.TB) []byte {
	t.Helper()
	if o.Reply.Summary != nil {
		o.Reply.Summary.ElapsedMs = 0
	}
	if o.Pushes == nil {
		o.Pushes = []pushtest.Push{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(o); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
