package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scfws/scfws/internal/skipnote"
)

// chromiumPath finds Debian's chromium; without one the browser tests skip,
// except under CI=true where that is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: .ci/run must install it")
	}
	skipnote.Skip(t, "Chromium", "apt-get install chromium")
	return ""
}

// newBrowser starts headless Chromium; each chromedp.NewContext of the
// result is a new tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 700),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	return browser
}

// page opens url in a new tab and waits until the chat is connected.
func page(t *testing.T, browser context.Context, url string) (context.Context, context.CancelFunc) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	ctx, cancelTimeout := context.WithTimeout(tab, 30*time.Second)
	_ = cancelTimeout // the tab's life is the test's; cancel closes the tab
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#state[data-state="connected"]`))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return ctx, cancel
}

func say(t *testing.T, tab context.Context, text string) {
	t.Helper()
	if err := chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#send")),
	); err != nil {
		t.Fatalf("say %q: %v", text, err)
	}
}

// count runs a JavaScript expression that yields a number.
func count(t *testing.T, tab context.Context, js string) int {
	t.Helper()
	n, err := chromedp.Run(tab, chromedp.Evaluate[int](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

// bubbles is JS counting the message bubbles of a kind with exactly text.
func bubbles(kind, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("li.msg.%s .bubble")].filter(b => b.textContent === %q).length`, kind, text)
}

func waitJS(t *testing.T, tab context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

// Three pages chat through the real function: a message typed in one shows
// once in each other and once (as mine) in its own; the online count is the
// function's, and goes down when a page leaves.
func TestChatPageInChromium(t *testing.T) {
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})

	a, _ := page(t, browser, l.base+"/")
	b, closeB := page(t, browser, l.base+"/")
	waitJS(t, a, "A to see B join", `document.getElementById("online").textContent === "2"`)
	c, _ := page(t, browser, l.base+"/")
	waitJS(t, a, "A to see C join", `document.getElementById("online").textContent === "3"`)

	msg := `hello <b>from</b> A & 连接 🙂`
	say(t, a, msg)
	waitJS(t, b, "B to get A's message", bubbles("theirs", msg)+" === 1")
	waitJS(t, c, "C to get A's message", bubbles("theirs", msg)+" === 1")
	time.Sleep(300 * time.Millisecond) // room for a duplicate to arrive
	for name, tab := range map[string]context.Context{"B": b, "C": c} {
		if n := count(t, tab, bubbles("theirs", msg)); n != 1 {
			t.Errorf("%s shows A's message %d times; want once", name, n)
		}
		if n := count(t, tab, `document.querySelectorAll("li.msg .bubble b").length`); n != 0 {
			t.Errorf("%s rendered markup from a message; want text", name)
		}
	}
	if mine, theirs := count(t, a, bubbles("mine", msg)), count(t, a, bubbles("theirs", msg)); mine != 1 || theirs != 0 {
		t.Errorf("A shows its message %d times as its own and %d as another's; want 1 and 0", mine, theirs)
	}

	// B's tab closes; once the function has processed the closing, the count
	// it reports with C's next message is 2.
	closeB()
	for i := 0; ; i++ {
		say(t, c, fmt.Sprintf("still here %d", i))
		_, err := chromedp.Run(a, chromedp.Poll[chromedp.Void](`document.getElementById("online").textContent === "2"`,
			chromedp.WithPollingTimeout(time.Second)))
		if err == nil {
			break
		}
		if i == 10 {
			online, _ := chromedp.Run(a, chromedp.TextContent(chromedp.CSS("#online")))
			t.Fatalf("A still shows %s online after B closed", online)
		}
	}
	if strings.Contains(l.stderr.String(), "panic") {
		t.Errorf("local's output mentions a panic:\n%s", l.stderr)
	}
}

// The page's heartbeats keep it connected past the idle timeout, and after a
// close it did not ask for (the server pushes closing) it reconnects by
// itself and chats again.
func TestChatPageHeartbeatAndReconnect(t *testing.T) {
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"}, "-idle-timeout", "3s")
	a, _ := page(t, browser, l.base+"/")
	b, _ := page(t, browser, l.base+"/")

	time.Sleep(7 * time.Second) // over two idle timeouts
	for name, tab := range map[string]context.Context{"A": a, "B": b} {
		if n := count(t, tab, `[...document.querySelectorAll("li.system")].filter(li => li.textContent.startsWith("connection closed")).length`); n != 0 {
			t.Errorf("%s was disconnected during the idle timeout despite heartbeats", name)
		}
	}
	if n := len(l.connections(t)); n != 2 {
		t.Fatalf("%d connections open after the idle timeouts; want 2", n)
	}

	// The server closes A's connection through the reverse-push address.
	first := l.connections(t)
	for _, id := range first {
		body := fmt.Sprintf(`{"websocket":{"action":"closing","secConnectionID":%q}}`, id)
		resp, err := http.Post(l.base+"/sendback", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitJS(t, a, "A to notice the close", `[...document.querySelectorAll("li.system")].some(li => li.textContent.startsWith("connection closed (1000"))`)
	waitJS(t, a, "A to reconnect", `document.getElementById("state").dataset.state === "connected"`)
	waitJS(t, b, "B to reconnect", `document.getElementById("state").dataset.state === "connected"`)
	if again := l.connections(t); len(again) != 2 || slices.Equal(again, first) {
		t.Errorf("connections after reconnecting = %q; want two new ones", again)
	}
	say(t, a, "back again")
	waitJS(t, b, "B to get A's message after both reconnected", bubbles("theirs", "back again")+" === 1")
}
