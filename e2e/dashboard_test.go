package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/local/emulator"
)

// The dashboard in Chromium, linked from the chat page: after traffic (two
// chat pages, plain clients broadcasting, one client whose pushes fail)
// every chart has drawn something above zero and the list of events shows
// the pushes, filterable by connection. A failure keeps a screenshot of
// the dashboard (its path is in the test's output); with
// SCFWS_DASHBOARD_PNG=FILE the test writes the README's screenshot there.
func TestDashboardInChromium(t *testing.T) {
	browser := newBrowser(t)
	db := mysqltest.New(t)
	env := localDBEnv(db)
	env["LOG_LEVEL"] = "info" // the invoke lines feed the invoke time chart
	l := startLocal(t, env)

	alice, _ := page(t, browser, as(l.base, "alice"))
	page(t, browser, as(l.base, "bob"))
	if got := text(t, alice, `(a => a.hidden ? "hidden" : a.getAttribute("href"))(document.getElementById("dashboard"))`); got != "/_scfws/dashboard" {
		t.Errorf("the chat page's dashboard link: %q; want /_scfws/dashboard", got)
	}
	dash, closeDash := open(t, browser, l.base+"/_scfws/dashboard")
	t.Cleanup(closeDash)
	t.Cleanup(func() { keepScreenshot(t, dash) })
	say(t, alice, "hello, dashboard")

	sender, failing := l.traffic(t, 20)
	send := func(from, to int) {
		for i := from; i < to; i++ {
			if err := sender.Write(context.Background(), websocket.MessageText, []byte(fmt.Sprintf("tick %d", i))); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // paces the traffic over seconds: a time series, not one point
		}
	}
	// The first message's push to the failing client answers 500: its
	// events, and only its, show when filtered by its ID.
	send(0, 1)
	filter(t, dash, failing[:12])
	waitJS(t, dash, "the failed push to show", `[...document.querySelectorAll("#events li .what.bad")].some(s => s.textContent.startsWith("failed (500)"))`)
	const rows = `[...document.querySelectorAll("#events li")].map(li => li.querySelector(".conn").textContent)`
	if n := count(t, dash, rows+fmt.Sprintf(`.filter(c => c !== %q).length`, failing)); n != 0 {
		t.Errorf("filtered by %s, %d rows are another connection's", failing, n)
	}
	filter(t, dash, "")

	messages := 40
	if os.Getenv("SCFWS_DASHBOARD_PNG") != "" {
		messages = 200 // 20 s: charts that show a while
	}
	send(1, messages)
	if out := os.Getenv("SCFWS_DASHBOARD_PNG"); out != "" {
		waitJS(t, dash, "the charts to catch up", `+document.querySelector("#pushes polyline").dataset.peak > 0`)
		writeScreenshot(t, dash, out) // while the traffic still shows at the right
	}
	l.quiet(t)
	for _, chart := range []string{"connections", "invokes", "pushes", "latency", "instances"} {
		waitJS(t, dash, "the "+chart+" chart to rise above 0", fmt.Sprintf(`+document.querySelector("#%s svg").dataset.peak > 0`, chart))
	}
	waitJS(t, dash, "the failed push in the pushes chart", `+document.querySelectorAll("#pushes polyline")[1].dataset.peak > 0`)
	waitJS(t, dash, "the pushes in the list", `[...document.querySelectorAll("#events li .kind")].some(s => s.textContent === "push")`)
}

// filter types conn into the dashboard's filter.
func filter(t testing.TB, tab context.Context, conn string) {
	t.Helper()
	js := fmt.Sprintf(`(f => { f.value = %q; return f.dispatchEvent(new Event("input")); })(document.getElementById("filter"))`, conn)
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](js)); err != nil {
		t.Fatalf("filter %q: %v", conn, err)
	}
}

// traffic connects n plain clients that read everything, and one whose
// pushes answer 500 (?fail-push=500); it returns a sender among them, and
// the failing client's connection ID.
func (l *localRun) traffic(t *testing.T, n int) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range n + 1 {
		url := l.ws
		if i == n {
			url += "?fail-push=500"
		}
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		go func() { // reads, and drops, what it is sent
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	sender, _, err := websocket.Dial(ctx, l.ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.CloseNow() })
	var conns []emulator.ConnectionInfo
	getJSONFrom(t, l.base+"/_scfws/connections", &conns)
	for _, c := range conns {
		if c.FailPush == http.StatusInternalServerError {
			return sender, c.ID
		}
	}
	t.Fatalf("no connection with fail-push=500 in %+v", conns)
	return nil, ""
}

func getJSONFrom(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// keepScreenshot saves the dashboard when the test failed, to a file that
// outlives the test, and names it in the test's output.
func keepScreenshot(t *testing.T, tab context.Context) {
	if !t.Failed() {
		return
	}
	f, err := os.CreateTemp("", "scfws-dashboard-*.png")
	if err != nil {
		t.Log(err)
		return
	}
	f.Close()
	writeScreenshot(t, tab, f.Name())
	t.Logf("screenshot of the dashboard: %s", f.Name())
}

// writeScreenshot writes the tab's whole page as PNG to path.
func writeScreenshot(t testing.TB, tab context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Error(err)
	}
}
