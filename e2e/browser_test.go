package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
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
	testkit.SkipMissing(t, "Chromium", "apt-get install chromium")
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
		chromedp.WindowSize(900, 700),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Closed gracefully first: chromedp's own profile directory (no
	// UserDataDir here) is removed once the browser and its children are
	// gone, where a t.TempDir could race a child still writing to it.
	t.Cleanup(func() { _ = chromedp.Cancel(browser); cancelBrowser(); cancelAlloc() })
	return browser
}

// open opens url in a new tab.
func open(t testing.TB, browser context.Context, url string) (context.Context, context.CancelFunc) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	// A bound on the tab's whole life, not on one step (each wait has its
	// own): far past the longest browser test on a loaded machine.
	ctx, cancelTimeout := context.WithTimeout(tab, 5*time.Minute)
	_ = cancelTimeout // the tab's life is the test's; cancel closes the tab
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return ctx, cancel
}

// page opens url in a new tab and waits until the chat is connected: the
// function has acknowledged its first request.
func page(t testing.TB, browser context.Context, url string) (context.Context, context.CancelFunc) {
	t.Helper()
	tab, cancel := open(t, browser, url)
	waitJS(t, tab, "the page to connect", connected)
	return tab, cancel
}

// as is the chat page's URL for a user: the page takes its name from the
// URL's fragment.
func as(base, name string) string { return base + "/#" + url.PathEscape(name) }

const connected = `document.getElementById("state").dataset.state === "connected"`

// inRoom waits until the tab shows room with its presence list loaded and
// can send there.
func inRoom(t testing.TB, tab context.Context, room string) {
	t.Helper()
	waitJS(t, tab, "#"+room+" to be ready", fmt.Sprintf(`document.querySelector(".log:not([hidden])").dataset.room === %q && `+
		`document.getElementById("presence-count").textContent !== "" && !document.getElementById("send").disabled`, room))
}

// say sends text to the tab's current room and waits for its ack mark.
func say(t testing.TB, tab context.Context, text string) {
	t.Helper()
	waitJS(t, tab, "the send button", `!document.getElementById("send").disabled`)
	if err := chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#send")),
	); err != nil {
		t.Fatalf("say %q: %v", text, err)
	}
	waitJS(t, tab, fmt.Sprintf("the ack of %q", text), fmt.Sprintf(`[...document.querySelectorAll("li.msg.mine")].some(li => `+
		`li.querySelector(".bubble").textContent === %q && li.querySelector(".mark").dataset.ack === "ok")`, text))
}

// join joins room with the page's form (it becomes the current room).
func join(t testing.TB, tab context.Context, room string) {
	t.Helper()
	if err := chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#join-room"), room+kb.Enter),
	); err != nil {
		t.Fatalf("join %q: %v", room, err)
	}
	inRoom(t, tab, room)
}

// leave clicks the room's leave button.
func leave(t testing.TB, tab context.Context, room string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#rooms li[data-room=%q] .leave`, room)))); err != nil {
		t.Fatalf("leave %q: %v", room, err)
	}
	waitJS(t, tab, "#"+room+" to be gone", fmt.Sprintf(`!document.querySelector('#rooms li[data-room=%q]')`, room))
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

// bubbles is JS counting the message bubbles of a kind (mine, theirs,
// server, direct) with exactly text, in room's log ("" for all the logs).
func bubbles(room, kind, text string) string {
	logs := ".log"
	if room != "" {
		logs = fmt.Sprintf(".log[data-room=%q]", room)
	}
	return fmt.Sprintf(`[...document.querySelectorAll(%q)].filter(b => b.textContent === %q).length`, logs+" li.msg."+kind+" .bubble", text)
}

// systemLines is JS counting the current room's system lines that contain s.
func systemLines(s string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(".log:not([hidden]) li.system")].filter(li => li.textContent.includes(%q)).length`, s)
}

// here is JS giving the presence list's users, sorted, comma-separated.
const here = `[...document.querySelectorAll("#presence li[data-user]")].map(li => li.dataset.user).sort().join(",")`

const hereCount = `document.getElementById("presence-count").textContent`

func waitHere(t testing.TB, tab context.Context, who, users string) {
	t.Helper()
	n := len(strings.Split(users, ","))
	waitJS(t, tab, fmt.Sprintf("%s's presence list to be %s", who, users),
		fmt.Sprintf(`%s === %q && %s === "%d here"`, here, users, hereCount, n))
}

func waitJS(t testing.TB, tab context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

// quiet waits until nothing is on its way to a client: no invoke or push in
// flight, nothing buffered. A frame that was due has then arrived.
func (l *localRun) quiet(t testing.TB) { l.quietWithin(t, 30*time.Second) }

// quietWithin is quiet for a test that keeps every core busy on purpose,
// where draining the pushes takes longer.
func (l *localRun) quietWithin(t testing.TB, within time.Duration) {
	t.Helper()
	testkit.Eventually(t, within, "the emulator to be quiet", func() bool {
		s := l.status(t)
		return s.Invoking == 0 && s.Pushing == 0 && s.Buffered == 0
	})
}

// screenshot saves the tab as PNG (quality 100) under $SCFWS_SCREENSHOTS,
// when set.
func screenshot(t testing.TB, tab context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SCFWS_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Three pages chat in rooms over scfws.v1, each with a token for its name:
// a room's messages reach its members only, once each (the sender's own
// once, marked when acknowledged), and the presence list follows who joins,
// leaves and closes the tab. As on Tencent Cloud: MariaDB, and several
// function instances taking one invoke at a time (an invoke goes to the
// next free one), so one page's requests are served by different instances
// that share only the database.
func TestChatPageRoomsInChromium(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	browser := newBrowser(t)
	db := mysqltest.New(t)
	l := startLocal(t, localDBEnv(db))
	if len(l.fnPids) < 2 {
		t.Fatalf("function instances %v; want several with MySQL", l.fnPids)
	}

	alice, _ := page(t, browser, as(l.base, "alice"))
	bob, closeBob := page(t, browser, as(l.base, "bob"))
	carol, _ := page(t, browser, as(l.base, "carol"))
	// Carol moves from lobby (joined on connect) to dev.
	inRoom(t, carol, "lobby")
	join(t, carol, "dev")
	leave(t, carol, "lobby")
	waitHere(t, carol, "carol", "carol")
	if got := text(t, carol, `[...document.querySelectorAll("#rooms li")].map(li => li.dataset.room).join(",")`); got != "dev" {
		t.Errorf("carol's rooms: %q; want dev", got)
	}
	inRoom(t, alice, "lobby")
	inRoom(t, bob, "lobby")
	// Carol's leave is done (the function told the room) before alice sends.
	for name, tab := range map[string]context.Context{"alice": alice, "bob": bob} {
		waitHere(t, tab, name, "alice,bob")
		waitJS(t, tab, name+" to see carol leave", systemLines("carol left")+" === 1")
	}

	msg := `hello <b>from</b> alice & 连接 🙂`
	say(t, alice, msg)
	// A message is pushed to every recipient before its ack to the sender.
	waitJS(t, bob, "bob to get alice's message", bubbles("lobby", "theirs", msg)+" === 1")
	l.quiet(t)
	if got := text(t, alice, `document.querySelector("li.msg.mine .mark").title`); got != "delivered to 1 other connection" {
		t.Errorf("alice's mark says %q; want delivered to 1 other connection", got)
	}
	if mine, theirs := count(t, alice, bubbles("", "mine", msg)), count(t, alice, bubbles("", "theirs", msg)); mine != 1 || theirs != 0 {
		t.Errorf("alice shows her message %d times as hers and %d as another's; want 1 and 0", mine, theirs)
	}
	if n := count(t, bob, bubbles("", "theirs", msg)+` + `+bubbles("", "mine", msg)); n != 1 {
		t.Errorf("bob shows alice's message %d times; want once", n)
	}
	if got := text(t, bob, `document.querySelector('.log[data-room="lobby"] li.msg.theirs .who').textContent`); !strings.HasPrefix(got, "alice · ") {
		t.Errorf("bob sees the message from %q; want alice", got)
	}
	if n := count(t, carol, `document.querySelectorAll("li.msg").length`); n != 0 {
		t.Errorf("carol, in dev only, shows %d messages; want none", n)
	}
	for name, tab := range map[string]context.Context{"alice": alice, "bob": bob} {
		if n := count(t, tab, `document.querySelectorAll("li.msg .bubble *").length`); n != 0 {
			t.Errorf("%s rendered markup from a message; want text", name)
		}
	}

	// Carol joins lobby: everyone there sees three, and she gets the next
	// message, and the first from the room's history (local keeps it), each
	// once.
	join(t, carol, "lobby")
	for name, tab := range map[string]context.Context{"alice": alice, "bob": bob, "carol": carol} {
		waitHere(t, tab, name, "alice,bob,carol")
	}
	say(t, bob, "welcome carol")
	for name, tab := range map[string]context.Context{"alice": alice, "carol": carol} {
		waitJS(t, tab, name+" to get bob's welcome", bubbles("lobby", "theirs", "welcome carol")+" === 1")
	}
	say(t, carol, "thanks")
	waitJS(t, alice, "alice to get carol's thanks", bubbles("lobby", "theirs", "thanks")+" === 1")
	waitJS(t, bob, "bob to get carol's thanks", bubbles("lobby", "theirs", "thanks")+" === 1")
	l.quiet(t)
	if n := count(t, carol, bubbles("lobby", "theirs", msg)); n != 1 {
		t.Errorf("carol shows alice's first message, sent before she joined, %d times; want once, from the room's history", n)
	}
	if n := count(t, carol, bubbles("", "mine", "thanks")+" + "+bubbles("", "theirs", "thanks")); n != 1 {
		t.Errorf("carol shows her own message %d times; want once", n)
	}
	// Switching rooms shows that room's messages.
	if err := chromedp.Do(carol, chromedp.Click(chromedp.CSS(`#rooms li[data-room="dev"] .room`))); err != nil {
		t.Fatal(err)
	}
	inRoom(t, carol, "dev")
	if n := count(t, carol, `document.querySelectorAll(".log:not([hidden]) li.msg").length`); n != 0 {
		t.Errorf("carol's dev room shows %d messages; want lobby's to stay in lobby", n)
	}
	// Alt+Down walks to the next room.
	if err := chromedp.Do(carol, chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt))); err != nil {
		t.Fatal(err)
	}
	inRoom(t, carol, "lobby")
	screenshot(t, alice, "rooms-alice")

	// Bob closes his tab: the function tells the room.
	closeBob()
	for name, tab := range map[string]context.Context{"alice": alice, "carol": carol} {
		waitHere(t, tab, name, "alice,carol")
		waitJS(t, tab, name+" to see bob leave", systemLines("bob left")+" === 1")
	}
	screenshot(t, carol, "rooms-carol")
	// The instances shared the database: it has the pages still open, in
	// their rooms.
	l.quiet(t)
	if got, conns := db.Strings(t, "SELECT ID FROM ConnectionID_List_v1 ORDER BY ID"), l.connections(t); !slices.Equal(got, conns) || len(conns) != 2 {
		t.Errorf("registry %q; want alice's and carol's open connections %q", got, conns)
	}
	if got := db.Strings(t, "SELECT CONCAT(GroupName, ':', UserID) FROM ConnectionID_List_groups ORDER BY 1"); !slices.Equal(got, []string{"dev:carol", "lobby:alice", "lobby:carol"}) {
		t.Errorf("groups in the database %q; want carol in dev and lobby, alice in lobby", got)
	}
	if strings.Contains(l.stderr.String(), "panic") {
		t.Errorf("local's output mentions a panic:\n%s", l.stderr)
	}
}

// A backend's message (scfws publish through local's Tencent Cloud API)
// shows once, marked as the server's; a name can be changed (a new token);
// hostile names stay text; a close with a reason shows the reason.
func TestChatPageServerMessage(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})
	hostile := `<img src=x onerror=alert(1)> & frank`
	a, _ := page(t, browser, as(l.base, "dave"))
	b, closeB := page(t, browser, as(l.base, hostile))
	inRoom(t, a, "lobby")
	waitHere(t, b, "b", strings.Join(sorted("dave", hostile), ","))

	// A new name reconnects with a token for it.
	if err := chromedp.Do(a, chromedp.Evaluate[chromedp.Void](`document.getElementById("name").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#name"), "erin"+kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitHere(t, a, "a", strings.Join(sorted("erin", hostile), ","))
	waitHere(t, b, "b", strings.Join(sorted("erin", hostile), ","))
	if got := text(t, a, `localStorage.getItem("scfws-name") + " " + location.hash`); got != "erin #erin" {
		t.Errorf("the page remembers %q; want erin in localStorage and the URL", got)
	}
	if n := count(t, a, `document.querySelectorAll("#presence *:not(li)").length`); n != 0 {
		t.Errorf("a's presence list rendered markup from a name; want text")
	}
	say(t, b, "hi from frank")
	waitJS(t, a, "erin to get frank's message", bubbles("lobby", "theirs", "hi from frank")+" === 1")
	if got := text(t, a, `document.querySelector("li.msg.theirs .who").textContent`); !strings.HasPrefix(got, hostile+" · ") {
		t.Errorf("the sender shows as %q; want the name as text", got)
	}

	publish := func(args ...string) {
		t.Helper()
		cmd := exec.Command(buildBinary(t), append([]string{"publish", "-endpoint", l.base, "-region", "ap-guangzhou", "-function", "scfws"}, args...)...)
		// local's key, as its banner shows it.
		cmd.Env = []string{"PATH=/usr/bin:/bin", "TENCENTCLOUD_SECRETID=" + l.secretID, "TENCENTCLOUD_SECRETKEY=" + l.secretKey}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scfws publish %q: %v\n%s", args, err, out)
		}
	}
	publish("-group", "lobby", "maintenance at 5")
	for name, tab := range map[string]context.Context{"erin": a, "frank": b} {
		waitJS(t, tab, name+" to show the server's message", bubbles("lobby", "server", "maintenance at 5")+" === 1")
	}
	publish("-user", "erin", "<b>just</b> for erin")
	waitJS(t, a, "erin to get the server's message to her", bubbles("", "server", "<b>just</b> for erin")+" === 1")
	l.quiet(t)
	for name, tab := range map[string]context.Context{"erin": a, "frank": b} {
		if n := count(t, tab, `[...document.querySelectorAll("li.msg")].filter(li => li.textContent.includes("maintenance at 5")).length`); n != 1 {
			t.Errorf("%s shows the server's message %d times; want once", name, n)
		}
		if got := text(t, tab, `document.querySelector("li.msg.server .badge").textContent`); got != "server" {
			t.Errorf("%s marks the server's message %q; want server", name, got)
		}
		if n := count(t, tab, `document.querySelectorAll("li.msg .bubble *").length`); n != 0 {
			t.Errorf("%s rendered markup from a message; want text", name)
		}
	}
	if n := count(t, b, bubbles("", "server", "<b>just</b> for erin")); n != 0 {
		t.Errorf("frank shows the server's message to erin")
	}
	screenshot(t, a, "server-erin")

	// A close with a reason: the page shows it and, as scfws-client does
	// after the server's disconnected event, stays disconnected; Connect
	// connects again.
	closeB()
	testkit.Eventually(t, 30*time.Second, "frank's connection to close", func() bool { return len(l.connections(t)) == 1 })
	publish("-connection", l.connections(t)[0], "-close", "-reason", "banned for spam")
	waitJS(t, a, "erin to see why she was disconnected", systemLines("The server disconnected you: banned for spam")+" === 1")
	waitJS(t, a, "erin to stay disconnected", `document.getElementById("state").dataset.state === "disconnected" && `+
		`document.getElementById("toggle").textContent === "Connect"`)
	testkit.Eventually(t, 30*time.Second, "erin's connection to close", func() bool { return len(l.connections(t)) == 0 })
	if n := count(t, a, systemLines("retrying")); n != 0 {
		t.Errorf("the page retried after the server disconnected it")
	}
	if err := chromedp.Do(a, chromedp.Click(chromedp.CSS("#toggle"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, a, "erin to be back", connected)
	waitHere(t, a, "a", "erin")
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// The page's heartbeats keep it connected past the idle timeout, and after a
// close it did not ask for (the server pushes closing) it reconnects by
// itself, rejoins its rooms and chats again.
func TestChatPageHeartbeatAndReconnect(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"}, "-idle-timeout", "3s")
	a, _ := page(t, browser, as(l.base, "ann"))
	b, _ := page(t, browser, as(l.base, "ben"))
	join(t, a, "tea")
	join(t, b, "tea")
	waitHere(t, a, "ann", "ann,ben")
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
	for name, tab := range map[string]context.Context{"ann": a, "ben": b} {
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
	waitJS(t, a, "ann to notice the close", systemLines("connection closed (1000")+" === 1")
	for name, tab := range map[string]context.Context{"ann": a, "ben": b} {
		waitJS(t, tab, name+" to reconnect", systemLines("reconnected after")+" === 1 && "+connected)
		inRoom(t, tab, "tea")
		// Rejoined both rooms: lobby too.
		waitJS(t, tab, name+" to rejoin lobby", `document.querySelector('#rooms li[data-room="lobby"]').dataset.joined === "true"`)
	}
	if again := l.connections(t); len(again) != 2 || slices.Equal(again, first) {
		t.Errorf("connections after reconnecting = %q; want two new ones", again)
	}
	say(t, a, "back again")
	waitJS(t, b, "ben to get ann's message after both reconnected", bubbles("tea", "theirs", "back again")+" === 1")
}

// After one abrupt drop (no close frame: the browser sees 1006) the page
// reconnects by itself, on a new connection, rejoins its room and chats
// both ways again. The drop is the gateway's own: a push it refuses as
// malformed (400) drops the client it names, as any non-200 answer does.
func TestChatPageReconnectsAfterAbruptDrop(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})
	a, _ := page(t, browser, as(l.base, "amy"))
	inRoom(t, a, "lobby")
	dropped := l.connections(t)
	if len(dropped) != 1 {
		t.Fatalf("connections %q; want the page's one", dropped)
	}
	// Another user, a Go scfws.v1 client, in the same room.
	zed := connectV1(t, l, "zed", "joinLeaveGroup,sendToGroup")
	joinAck := zed.request(t, map[string]any{"type": "joinGroup", "group": "lobby"})
	testkit.Eventually(t, 30*time.Second, "zed's join to be acked", func() bool { _, ok := zed.ack(joinAck); return ok })
	if ack, _ := zed.ack(joinAck); !ack.Success {
		t.Fatalf("zed's join: %+v", ack)
	}
	waitHere(t, a, "amy", "amy,zed")

	// A push with an unknown action names the page's connection: 400, and
	// the gateway drops the page.
	resp, err := http.Post(l.base+"/sendback", "application/json",
		strings.NewReader(fmt.Sprintf(`{"websocket":{"action":"bogus","secConnectionID":%q}}`, dropped[0])))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the malformed push answered %d; want 400", resp.StatusCode)
	}
	waitJS(t, a, "amy to see the drop", systemLines("connection closed (1006)")+" === 1")
	waitJS(t, a, "amy to reconnect", systemLines("connection closed (1006); reconnected after 1 attempt")+" === 1 && "+connected)
	inRoom(t, a, "lobby")
	waitHere(t, a, "amy", "amy,zed")
	if n := count(t, a, systemLines("retrying")); n != 0 {
		t.Errorf("%d retry lines left after the reconnect; want the outage's line to say it reconnected", n)
	}
	conns := l.connections(t)
	if len(conns) != 2 || slices.Contains(conns, dropped[0]) {
		t.Errorf("connections %q after the reconnect; want zed's and a new one for the page (not %s)", conns, dropped[0])
	}

	// The page's message reaches zed, once, and zed's reaches the page.
	say(t, a, "back after the drop")
	testkit.Eventually(t, 30*time.Second, "zed to get amy's message", func() bool { return zed.got("group|lobby|amy|back after the drop") == 1 })
	send := zed.request(t, map[string]any{"type": "sendToGroup", "group": "lobby", "dataType": "text", "data": "welcome back amy", "noEcho": true})
	waitJS(t, a, "amy to get zed's message", bubbles("lobby", "theirs", "welcome back amy")+" === 1")
	testkit.Eventually(t, 30*time.Second, "zed's send to be acked", func() bool { _, ok := zed.ack(send); return ok })
	if ack, _ := zed.ack(send); !ack.Success || ack.Delivered != 1 {
		t.Errorf("zed's send: %+v; want it delivered to amy's one connection", ack)
	}
	l.quiet(t)
	if n := zed.got("group|lobby|amy|back after the drop"); n != 1 {
		t.Errorf("zed got amy's message %d times; want once", n)
	}
	if n := count(t, a, bubbles("", "theirs", "welcome back amy")); n != 1 {
		t.Errorf("amy shows zed's message %d times; want once", n)
	}
}

// A push that the gateway answers 500 makes it drop that client without a
// close frame (the browser sees 1006). With ?fail-push=500 (the page passes
// its query on) every push to the page fails, its acks included: it
// reconnects again and again, backing off, on one line, and never calls
// itself connected.
func TestChatPageRetriesWhilePushesFail(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn"})
	a, _ := open(t, browser, l.base+"/?fail-push=500#amy")
	waitJS(t, a, "the drop", systemLines("connection closed (1006)")+" === 1")
	waitJS(t, a, "three attempts", `Number(document.getElementById("state").dataset.attempt) >= 3`)
	if n := count(t, a, systemLines("retrying")); n != 1 {
		t.Errorf("%d retry lines after three attempts; want one, updated in place", n)
	}
	if n := count(t, a, systemLines("connected as")+" + "+systemLines("reconnected")); n != 0 {
		t.Errorf("the page said it was connected although no ack came")
	}
	if got := l.status(t).Disconnects; got < 2 {
		t.Errorf("%d connections ended; want the page to have connected again", got)
	}
	// A page without the fault next to it works.
	b, _ := page(t, browser, as(l.base, "bea"))
	inRoom(t, b, "lobby")
	say(t, b, "anyone?")
}

// A refused handshake's reason shows on the page (browsers cannot read the
// refusal itself), and an outage shows one retry line, updated in place.
func TestChatPageShowsRefusal(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn", "PUSH_TIMEOUT": "abc"})
	a, _ := open(t, browser, l.base+"/")
	waitJS(t, a, "the reason", `document.getElementById("problem").textContent.includes("PUSH_TIMEOUT")`)
	got := text(t, a, `document.getElementById("problem").textContent`)
	if !strings.Contains(got, "errNo 501") || !strings.Contains(got, "terminal") {
		t.Errorf("problem shown: %q; want the function's errNo 501, its errMsg, and a pointer to the terminal", got)
	}
	waitJS(t, a, "three attempts", `Number(document.getElementById("state").dataset.attempt) >= 3`)
	if n := count(t, a, systemLines("retrying")); n != 1 {
		t.Errorf("%d retry lines after three attempts; want one, updated in place", n)
	}
	if got := text(t, a, hereCount+` + "|" + `+here); got != "|" {
		t.Errorf("presence shows %q while not connected; want nothing", got)
	}
	screenshot(t, a, "refused")
}

// Refusals show where they happened: a join the roles do not allow, next to
// the join form (the room is not kept); a message the roles do not allow,
// on the message's mark. The page's ?roles= asks for a token with only
// sendToUser, so DEFAULT_ROLES decides the rest.
func TestChatPageShowsFailedAcks(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	browser := newBrowser(t)
	l := startLocal(t, map[string]string{"LOG_LEVEL": "warn", "DEFAULT_ROLES": "joinLeaveGroup.lobby,joinLeaveGroup.quiet,sendToGroup.lobby"})
	a, _ := page(t, browser, l.base+"/?roles=sendToUser#gus")
	inRoom(t, a, "lobby")
	say(t, a, "allowed")

	if err := chromedp.Do(a, chromedp.SendKeys(chromedp.CSS("#join-room"), "vip"+kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, a, "the refused join", `document.getElementById("notice").textContent === 'Could not join #vip: no permission to join or leave "vip"'`)
	waitJS(t, a, "vip to be dropped", `!document.querySelector('#rooms li[data-room="vip"]')`)

	join(t, a, "quiet")
	// Enter sends. (chromedp types Enter as keyDown, char, keyUp: the char
	// event then puts a newline in the emptied box, which a real keyboard's
	// Enter, its keyDown prevented, does not.)
	if err := chromedp.Do(a, chromedp.SendKeys(chromedp.CSS("#text"), "shh"+kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, a, "the refused message's mark", `[...document.querySelectorAll('.log[data-room="quiet"] li.msg.mine .mark')].some(m => `+
		`m.dataset.ack === "failed" && m.textContent === '✕ no permission to send to "quiet"')`)
	screenshot(t, a, "failed-ack")
}
