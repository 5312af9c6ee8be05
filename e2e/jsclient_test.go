package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scfws/scfws/internal/testkit"
)

// jsDir is scfws-client's folder, installed (npm ci) and with Node 20 or
// later on PATH; else the test is skipped, and fails under CI, whose
// .ci/run installs both.
func jsDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	out, nodeErr := exec.Command("node", "--version").Output()
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".", 2)[0])
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "ws"))
	switch {
	case nodeErr == nil && major >= 20 && modErr == nil:
		return dir
	case os.Getenv("CI") == "true":
		t.Fatalf("node %q (%v) must be 20 or later, and js/node_modules (%v) installed: .ci/run does both (npm ci in js)", out, nodeErr, modErr)
	}
	testkit.SkipMissing(t, "Node 20 and scfws-client's dev dependencies", "Node 20 or later, then npm ci in js")
	return ""
}

// TestJSClient runs scfws-client's own tests (node --test in js/: a
// scripted server, a real scfws local built from this checkout, the
// package as npm packs it, tsc --strict on its types).
func TestJSClient(t *testing.T) {
	dir := jsDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no js/test/*.test.mjs (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test"}, files...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SCFWS_BIN="+buildBinary(t))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	summary := regexp.MustCompile(`(?m)^# (tests|pass|fail) \d+$`).FindAllString(string(out), -1)
	t.Logf("node --test in js: %s in %v", strings.Join(summary, ", "), time.Since(start).Round(time.Millisecond))
}

// The browser example of js/README.md (and README.md's, the same) runs as
// written in a page of local's address: it connects as alice, joins lobby
// and says hello, which a Go scfws.v1 client in lobby gets once, and the
// page shows.
func TestJSClientBrowserExample(t *testing.T) {
	code := browserExample(t)
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})
	zed := connectV1(t, l, "zed", allRoles)
	zed.do(t, map[string]any{"type": "joinGroup", "group": "lobby"})

	// Any page of local's address: this one is its 404.
	tab, _ := open(t, browser, l.base+"/example")
	inject := fmt.Sprintf(`(() => { const s = document.createElement("script"); s.type = "module"; s.textContent = %q; document.head.append(s); })()`, code)
	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](inject)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tab, "the page to show its own message", `document.body.textContent.includes("alice: hello from the browser\n")`)
	testkit.Eventually(t, 30*time.Second, "zed to get alice's message", func() bool { return zed.got("group|lobby|alice|hello from the browser") == 1 })
	l.quiet(t)
	if n := zed.got("group|lobby|alice|hello from the browser"); n != 1 {
		t.Errorf("zed got the example's message %d times; want once", n)
	}
}

// browserExample is the code in js/README.md's <script type="module">
// block, which README.md shows too.
func browserExample(t testing.TB) string {
	t.Helper()
	return sharedExample(t, "browser example (a ```html block with a module script)",
		regexp.MustCompile("(?s)```html\n<script type=\"module\">\n(.*?)</script>\n```"))
}

// The README's Node example is js/README.md's, which js's package test
// runs as written against scfws local.
func TestREADMENodeExampleIsTheLibrarys(t *testing.T) {
	sharedExample(t, "Node example (a ```js block importing ws)", regexp.MustCompile("(?s)```js\n(import WebSocket from \"ws\";\n.*?)```"))
}

// sharedExample is the code block's first group in js/README.md, which
// README.md must show the same.
func sharedExample(t testing.TB, what string, block *regexp.Regexp) string {
	t.Helper()
	var code string
	for _, name := range []string{"../js/README.md", "../README.md"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		m := block.FindSubmatch(b)
		switch {
		case m == nil:
			t.Fatalf("%s shows no %s", name, what)
		case code == "":
			code = string(m[1])
		case string(m[1]) != code:
			t.Errorf("%s's %s differs from js/README.md's:\n%s", name, what, m[1])
		}
	}
	return code
}
