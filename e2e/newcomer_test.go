package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/internal/testkit"
)

// A newcomer's first hour, as the README and local's banner tell it: the
// README's build, then deploy, a token and the probe with the commands
// local prints.

// readmeBuild is the README's build line: CGO_ENABLED=0 go build ... -o scfws .
var readmeBuild = regexp.MustCompile("`(CGO_ENABLED=0 go build [^`]*-o scfws \\.)`")

// shellFields splits a command line as sh does for the README's commands:
// on spaces, with double quotes grouping and removed.
func shellFields(line string) []string {
	var fields []string
	var cur strings.Builder
	quoted, inField := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inField = !quoted, true
		case r == ' ' && !quoted:
			if inField {
				fields = append(fields, cur.String())
				cur.Reset()
			}
			inField = false
		default:
			cur.WriteRune(r)
			inField = true
		}
	}
	if inField {
		fields = append(fields, cur.String())
	}
	return fields
}

// buildAsREADME runs the README's build line in the module, writing the
// binary into a temporary directory instead of the checkout.
func buildAsREADME(t testing.TB) (bin, line string) {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := readmeBuild.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no `CGO_ENABLED=0 go build ... -o scfws .` line")
	}
	line = string(m[1])
	f := shellFields(line)
	bin = filepath.Join(t.TempDir(), "scfws")
	for i := range f {
		if f[i] == "-o" {
			f[i+1] = bin
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f[1], f[2:]...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), f[0])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return bin, line
}

// bannerLine is the line of local's banner that starts with name.
func bannerLine(t testing.TB, l *localRun, name string) []string {
	t.Helper()
	var found []string
	testkit.Eventually(t, 10*time.Second, "local's "+name+" line", func() bool {
		for _, line := range append(l.banner, strings.Split(l.later.String(), "\n")...) {
			if f := strings.Fields(line); len(f) > 1 && f[0] == name {
				found = f[1:]
				return true
			}
		}
		return false
	})
	return found
}

// runPasted runs a command as pasted from the banner: leading KEY=VALUE
// words are its environment, "scfws" is bin; dir is where it runs.
func runPasted(t testing.TB, bin, dir string, words []string) (stdout, stderr string, code int) {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) == 0 || words[0] != "scfws" {
		t.Fatalf("banner command %q does not run scfws", words)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, words[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var out, errOut testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("scfws %s: %v", words[1], err)
	}
	return out.String(), errOut.String(), code
}

// The binary the README's build line makes is deployable as it is: from
// outside the checkout (so deploy cannot build one), local's banner deploy
// command puts it into local, and a message goes through the client URL it
// prints.
func TestREADMEBuildDeploys(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	start := time.Now()
	bin, line := buildAsREADME(t)
	built := time.Since(start)
	checkREADMEBuildSizes(t, bin)
	l := startLocalWith(t, bin, map[string]string{"LOG_LEVEL": "warn"})
	deployAt := time.Now()
	stdout, stderr, code := runPasted(t, bin, t.TempDir(), bannerLine(t, l, "deploy"))
	if code != 0 || !strings.Contains(stderr, "code: this executable") {
		t.Fatalf("%s, then local's deploy command = exit %d:\n%s%s\nwant this very executable deployed", line, code, stdout, stderr)
	}
	var url string
	for _, ln := range strings.Split(stdout, "\n") {
		if f := strings.Fields(ln); len(f) == 3 && f[0] == "client" && f[1] == "URL" {
			url = f[2]
		}
	}
	if url == "" {
		t.Fatalf("deploy printed no client URL:\n%s", stdout)
	}
	a, b := connect(t, url), connect(t, url)
	a.send(t, "hello")
	testkit.Eventually(t, 30*time.Second, "b to get hello through the deployed API", func() bool { return b.count() >= 1 })
	t.Logf("%s: %s; deploy to the first message through the client URL: %s", line, built.Round(100*time.Millisecond), time.Since(deployAt).Round(time.Millisecond))
}

// readmeSizes are the sizes the README gives for its build: the binary, and
// the zip deploy makes of it.
var readmeSizes = regexp.MustCompile("without symbols, ([0-9.]+) MB, so\\s+`scfws deploy` uploads this very binary, a ([0-9.]+) MB zip")

// checkREADMEBuildSizes checks the README's sizes are bin's and its zip's
// (scfzip.WriteFile, as deploy zips it), within 10%.
func checkREADMEBuildSizes(t testing.TB, bin string) {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := readmeSizes.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("README's build line gives no sizes matching %s", readmeSizes)
	}
	zip := filepath.Join(t.TempDir(), "main.zip")
	writeZip(t, bin, zip)
	var sizes []int64
	for _, f := range []string{bin, zip} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	for i, got := range sizes {
		claimed, _ := strconv.ParseFloat(string(m[i+1]), 64)
		if mb := float64(got) / 1e6; math.Abs(mb-claimed) > claimed/10 {
			t.Errorf("README says %s MB; the README's build makes %.1f MB (%s)", m[i+1], mb, []string{"binary", "zip"}[i])
		}
	}
}

// scfws token -endpoint, as local's banner prints it, gets a token that
// local's function accepts as that user.
func TestTokenFromLocal(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})
	words := bannerLine(t, l, "tokens")
	cmd := strings.Join(words, " ")
	cmd, _, _ = strings.Cut(cmd, ",")
	stdout, stderr, code := runPasted(t, buildBinary(t), t.TempDir(), strings.Fields(strings.Replace(cmd, "NAME", "alice", 1)))
	if code != 0 {
		t.Fatalf("%s = exit %d: %s", cmd, code, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, _, err := websocket.Dial(ctx, l.ws, &websocket.DialOptions{Subprotocols: []string{"scfws.v1", "bearer." + strings.TrimSpace(stdout)}})
	if err != nil {
		t.Fatalf("dial with the token from %s: %v", cmd, err)
	}
	defer alice.CloseNow()
	bob := connectV1(t, l, "bob", "")
	msg, _ := json.Marshal(map[string]any{"type": "sendToUser", "userId": "bob", "dataType": "text", "data": "hi from alice"})
	if err := alice.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "bob to get alice's message", func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		for k := range bob.messages {
			if strings.HasSuffix(k, "|alice|hi from alice") {
				return true
			}
		}
		return false
	})
}

// local makes a PROBE_SECRET for its session and prints the probe command:
// pasted as it is, the probe runs and finds nothing wrong.
func TestProbeFromLocal(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})
	words := bannerLine(t, l, "probe")
	stdout, stderr, code := runPasted(t, buildBinary(t), t.TempDir(), words)
	if code != 0 || !strings.Contains(stdout, "agrees") {
		t.Errorf("%s = exit %d:\n%s%s\nwant 0 and a report", strings.Join(words, " "), code, stdout, stderr)
	}
}
