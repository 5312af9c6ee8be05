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
func chromiumPath(t testing.TB) string {
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
func newBrowser(t testing.TB) context.Context {
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

// open opens url in a new tab.
func open(t testing.TB, browser context.Context, url string) (context.Context, context.CancelFunc) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	ctx, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
	_ = cancelTimeout // the tab's life is the test's; cancel closes the tab
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return ctx, cancel
}

// page opens url in a new tab and waits until the chat is connected.
func page(t testing.TB, browser context.Context, url string) (context.Context, context.CancelFunc) {
	t.Helper()
	tab, cancel := open(t, browser, url)
	waitJS(t, tab, "the page to connect", `document.getElementById("state").dataset.state === "connected"`)
	return tab, cancel
}

func say(t testing.TB, tab context.Context, text string) {
	t.Helper()
	if err := chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#send")),
	); err != nil {
		t.Fatalf("say %q: %v", text, err)
	}
}

// count runs a JavaScript expression that yields a number.
func count(t testing.TB, tab context.Context, js string) int {
	t.Helper()
	n, err := chromedp.Run(tab, chromedp.Evaluate[int](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

func text(t testing.TB, tab context.Context, js string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// bubbles is JS counting the message bubbles of a kind with exactly text.
func bubbles(kind, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("li.msg.%s .bubble")].filter(b => b.textContent === %q).length`, kind, text)
}

const online = `document.getElementById("online").textContent`

func waitJS(t testing.TB, tab context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

// Three pages chat through the real function: a message typed in one shows
// once in each other and once (as mine) in its own. The online count is the
// emulator's: right from the moment of connecting, and none while
// disconnected.
func TestChatPageInChromium(t *testing.T) {
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})

	a, _ := page(t, browser, l.base+"/")
	waitJS(t, a, "A to count itself before anyone speaks", online+` === "1"`)
	b, closeB := page(t, browser, l.base+"/")
	waitJS(t, b, "B to count 2 on connecting", online+` === "2"`)
	waitJS(t, a, "A to see B join", online+` === "2"`)
	c, _ := page(t, browser, l.base+"/")
	waitJS(t, a, "A to see C join", online+` === "3"`)

	msg := `hello <b>from</b> A & 连接 🙂`
	say(t, a, msg)
	// A's next message is invoked after the first has returned, retries
	// included: once it is shown, no duplicate of the first can follow.
	say(t, a, "sentinel")
	for name, tab := range map[string]context.Context{"B": b, "C": c} {
		waitJS(t, tab, name+" to get A's sentinel", bubbles("theirs", "sentinel")+" === 1")
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

	closeB()
	waitJS(t, a, "A to count 2 after B left", online+` === "2"`)
	if err := chromedp.Do(a, chromedp.Click(chromedp.CSS("#toggle"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, a, "A to be disconnected", `document.getElementById("state").dataset.state === "disconnected"`)
	if got := text(t, a, online); got != "–" {
		t.Errorf("A disconnected shows %q online; want –", got)
	}
	waitJS(t, c, "C to count 1 after A left", online+` === "1"`)
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
	first := l.connections(t)

	// Two silent witnesses, one after the other, each closed by the idle
	// timeout: the pages have been connected for over two idle timeouts.
	for i := range 2 {
		w := connect(t, l.ws)
		select {
		case <-w.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("witness %d was not closed by the idle timeout", i)
		}
	}
	l.waitDisconnects(t, 2)
	for name, tab := range map[string]context.Context{"A": a, "B": b} {
		if n := count(t, tab, `[...document.querySelectorAll("li.system")].filter(li => li.textContent.startsWith("connection closed")).length`); n != 0 {
			t.Errorf("%s was disconnected during the idle timeout despite heartbeats", name)
		}
	}
	if got := l.connections(t); !slices.Equal(got, first) {
		t.Fatalf("connections %q after two idle timeouts; want the pages' %q", got, first)
	}

	// The server closes both connections through the reverse-push address.
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

// A push that the gateway answers 500 makes it drop that client without a
// close frame (the browser sees 1006); the page reconnects by itself.
func TestChatPageReconnectsAfterAbruptDrop(t *testing.T) {
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})
	a, _ := page(t, browser, l.base+"/?fail-push=500") // the page passes its query on
	b, _ := page(t, browser, l.base+"/")
	before := l.connections(t)
	say(t, b, "knock knock") // its push to A is answered 500
	waitJS(t, a, "A to see the drop", `[...document.querySelectorAll("li.system")].some(li => li.textContent.startsWith("connection closed (1006)"))`)
	waitJS(t, a, "A to reconnect", `document.getElementById("state").dataset.state === "connected"`)
	eventually(t, 30*time.Second, "A's new connection", func() bool {
		now := l.connections(t)
		return len(now) == 2 && !slices.Equal(now, before)
	})
}

// A refused handshake's reason shows on the page (browsers cannot read the
// refusal itself), and an outage shows one retry line, updated in place.
func TestChatPageShowsRefusal(t *testing.T) {
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn", "PUSH_TIMEOUT": "abc"})
	a, _ := open(t, browser, l.base+"/")
	waitJS(t, a, "the reason", `document.getElementById("problem").textContent.includes("PUSH_TIMEOUT")`)
	got := text(t, a, `document.getElementById("problem").textContent`)
	if !strings.Contains(got, "errNo 501") || !strings.Contains(got, "terminal") {
		t.Errorf("problem shown: %q; want the function's errNo 501, its errMsg, and a pointer to the terminal", got)
	}
	waitJS(t, a, "three attempts", `Number(document.getElementById("state").dataset.attempt) >= 3`)
	if n := count(t, a, `[...document.querySelectorAll("li.system")].filter(li => li.textContent.includes("retrying")).length`); n != 1 {
		t.Errorf("%d retry lines after three attempts; want one, updated in place", n)
	}
	if got := text(t, a, online); got != "–" {
		t.Errorf("online shows %q while not connected; want –", got)
	}
}
