package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
)

const allRoles = "joinLeaveGroup,sendToGroup,sendToUser"

// drop asks local's gateway to drop a connection once, as a failed push
// does.
func (l *localRun) drop(t testing.TB, id string) {
	t.Helper()
	resp, err := http.Post(l.base+"/_scfws/connections/"+url.PathEscape(id)+"/drop", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("drop %s: HTTP %d; want 200", id, resp.StatusCode)
	}
}

// userConnection is the one connection ID the function knows for user.
func (l *localRun) userConnection(t testing.TB, user string) string {
	t.Helper()
	conns, _ := l.publish(t, "-user", user, "-list")["connections"].([]any)
	if len(conns) != 1 {
		t.Fatalf("%s's connections: %v; want one", user, conns)
	}
	return conns[0].(string)
}

// do sends req and waits for its ack.
func (v *v1Client) do(t testing.TB, req map[string]any) v1Frame {
	t.Helper()
	id := v.request(t, req)
	testkit.Eventually(t, 30*time.Second, fmt.Sprintf("%s's %v to be acked", v.user, req["type"]), func() bool { _, ok := v.ack(id); return ok })
	a, _ := v.ack(id)
	if !a.Success {
		t.Fatalf("%s's %v: %+v", v.user, req, a)
	}
	return a
}

// sends sends n messages, one after another (each acked first, so that
// their offsets follow the order), to a group or a user.
func (v *v1Client) sends(t testing.TB, typ, to, prefix string, n int) {
	t.Helper()
	key := "group"
	if typ == "sendToUser" {
		key = "userId"
	}
	for i := 1; i <= n; i++ {
		v.do(t, map[string]any{"type": typ, key: to, "dataType": "text", "data": fmt.Sprintf("%s %d", prefix, i), "noEcho": true})
	}
}

// take returns the frames v got since the last take.
func (v *v1Client) take() []v1Frame {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.frames
	v.frames = nil
	return out
}

// position is where v's frames leave a stream: the last message's offset
// and epoch, of a group or (group "") the user's direct ones.
func position(frames []v1Frame, group string) (uint64, string) {
	var offset uint64
	epoch := ""
	for _, f := range frames {
		if f.Type == "message" && f.Group == group {
			offset, epoch = f.Offset, f.Epoch
		}
	}
	return offset, epoch
}

// A member the gateway dropped misses 20 messages to its group and 5 to
// its user, sent through 4 instances on MariaDB; connected again, it
// resumes both streams and gets exactly those 25, each once, in offset
// order per stream, before an ack that says both recovered.
func TestResumeAfterDrop(t *testing.T) {
	db := mysqltest.New(t)
	l := startLocal(t, localDBEnv(db), "-instances", "4")
	bob := connectV1(t, l, "bob", allRoles)
	bob.do(t, map[string]any{"type": "joinGroup", "group": "room"})
	amy := connectV1(t, l, "amy", allRoles)
	amy.do(t, map[string]any{"type": "joinGroup", "group": "room"})
	bob.sends(t, "sendToGroup", "room", "before", 3)
	bob.sends(t, "sendToUser", "amy", "dm before", 2)
	testkit.Eventually(t, 30*time.Second, "amy to get the first 5", func() bool { return amy.got("user||bob|dm before 2") == 1 && amy.got("group|room|bob|before 3") == 1 })
	seen := amy.take()
	roomAt, roomEpoch := position(seen, "room")
	userAt, userEpoch := position(seen, "")
	if roomAt != 3 || userAt != 2 || roomEpoch == "" || userEpoch == "" {
		t.Fatalf("amy is at %d %q in room and %d %q in her stream; want 3 and 2", roomAt, roomEpoch, userAt, userEpoch)
	}

	l.drop(t, l.userConnection(t, "amy"))
	<-amy.done
	bob.sends(t, "sendToGroup", "room", "missed", 20)
	bob.sends(t, "sendToUser", "amy", "dm missed", 5)

	back := connectV1(t, l, "amy", allRoles)
	back.do(t, map[string]any{"type": "joinGroup", "group": "room"})
	start := time.Now()
	ack := back.do(t, map[string]any{"type": "resume", "streams": []any{
		map[string]any{"group": "room", "offset": roomAt, "epoch": roomEpoch},
		map[string]any{"user": true, "offset": userAt, "epoch": userEpoch},
	}})
	t.Logf("resume of 25 messages answered in %s", time.Since(start))
	var room, user []string
	var roomOffsets, userOffsets []uint64
	frames := back.take()
	for _, f := range frames {
		var data string
		_ = json.Unmarshal(f.Data, &data)
		switch {
		case f.Type == "message" && f.Group == "room" && f.Epoch == roomEpoch:
			room, roomOffsets = append(room, data), append(roomOffsets, f.Offset)
		case f.Type == "message" && f.From == "user" && f.Epoch == userEpoch:
			user, userOffsets = append(user, data), append(userOffsets, f.Offset)
		case f.Type == "message":
			t.Errorf("an unexpected message: %+v", f)
		}
	}
	if want := numbered("missed", 20); !slices.Equal(room, want) || !slices.Equal(roomOffsets, offsets(4, 23)) {
		t.Errorf("room replayed %q at %v; want %q at 4-23", room, roomOffsets, want)
	}
	if want := numbered("dm missed", 5); !slices.Equal(user, want) || !slices.Equal(userOffsets, offsets(3, 7)) {
		t.Errorf("amy's stream replayed %q at %v; want %q at 3-7", user, userOffsets, want)
	}
	want := []v1StreamState{{Group: "room", Recovered: true, Offset: 23, Epoch: roomEpoch}, {User: true, Recovered: true, Offset: 7, Epoch: userEpoch}}
	if !slices.Equal(ack.Streams, want) {
		t.Errorf("resume ack streams %+v; want %+v", ack.Streams, want)
	}
	if last := frames[len(frames)-1]; last.Type != "ack" || last.AckID != ack.AckID {
		t.Errorf("the last frame is %+v; want the resume's ack after every replayed message", last)
	}
}

func numbered(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

func offsets(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// What cannot be recovered whole is not recovered at all: a gap larger
// than HISTORY_SIZE, a stream silent past HISTORY_TTL, another epoch.
// The resume answers recovered:false and pushes nothing for the stream.
func TestResumeNotRecoveredOnMariaDB(t *testing.T) {
	db := mysqltest.New(t)
	env := localDBEnv(db)
	env["HISTORY_SIZE"], env["HISTORY_TTL"] = "10", "1h"
	l := startLocal(t, env, "-instances", "2")
	bob := connectV1(t, l, "bob", allRoles)
	amy := connectV1(t, l, "amy", allRoles)
	tests := []struct {
		group string
		sent  int
		since func(epoch string) (uint64, string)
		age   bool // the stream's last message an hour and more ago
	}{
		{"gap", 15, func(epoch string) (uint64, string) { return 2, epoch }, false},
		{"epoch", 3, func(string) (uint64, string) { return 1, "0000000000000000" }, false},
		{"expired", 3, func(epoch string) (uint64, string) { return 1, epoch }, true},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			bob.do(t, map[string]any{"type": "joinGroup", "group": tt.group})
			amy.do(t, map[string]any{"type": "joinGroup", "group": tt.group})
			bob.sends(t, "sendToGroup", tt.group, "m", tt.sent)
			testkit.Eventually(t, 30*time.Second, "amy to get them", func() bool { return amy.got(fmt.Sprintf("group|%s|bob|m %d", tt.group, tt.sent)) == 1 })
			_, epoch := position(amy.take(), tt.group)
			if tt.age {
				db.Exec(t, "UPDATE ConnectionID_List_stream SET LastAt = LastAt - INTERVAL 61 MINUTE WHERE StreamKey = ?", "g:"+tt.group)
			}
			offset, since := tt.since(epoch)
			ack := amy.do(t, map[string]any{"type": "resume", "streams": []any{map[string]any{"group": tt.group, "offset": offset, "epoch": since}}})
			for _, f := range amy.take() {
				if f.Type == "message" {
					t.Errorf("replayed %+v; want nothing", f)
				}
			}
			if len(ack.Streams) != 1 || ack.Streams[0].Recovered {
				t.Errorf("ack streams %+v; want recovered false", ack.Streams)
			}
		})
	}
}

// Senders on 4 instances at once, 1,000 messages to one group: the offsets
// are 1 to 1,000, each given once, and every member gets each once.
func TestConcurrentSendersOffsets(t *testing.T) {
	const senders, each = 8, 125
	db := mysqltest.New(t)
	l := startLocal(t, localDBEnv(db), "-instances", "4")
	reader := connectV1(t, l, "reader", allRoles)
	reader.do(t, map[string]any{"type": "joinGroup", "group": "busy"})
	cs := make([]*v1Client, senders)
	for i := range cs {
		cs[i] = connectV1(t, l, fmt.Sprint("sender-", i), allRoles)
		cs[i].do(t, map[string]any{"type": "joinGroup", "group": "busy"})
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			ids := make([]uint64, each)
			for j := range each {
				ids[j] = c.request(t, map[string]any{"type": "sendToGroup", "group": "busy", "dataType": "text", "data": fmt.Sprintf("%d-%d", i, j), "noEcho": true})
			}
			testkit.Eventually(t, 120*time.Second, "every send acked", func() bool {
				for _, id := range ids {
					if _, ok := c.ack(id); !ok {
						return false
					}
				}
				return true
			})
		})
	}
	wg.Wait()
	t.Logf("%d messages from %d senders on 4 instances in %s", senders*each, senders, time.Since(start))
	given := map[uint64]int{}
	epochs := map[string]bool{}
	for _, c := range cs {
		for _, f := range c.take() {
			if f.Type == "ack" && f.ID != "" {
				given[f.Offset]++
				epochs[f.Epoch] = true
			}
		}
	}
	testkit.Eventually(t, 60*time.Second, "the reader to get all", func() bool {
		reader.mu.Lock()
		defer reader.mu.Unlock()
		return len(reader.frames) >= senders*each+1
	})
	got := map[uint64]int{}
	for _, f := range reader.take() {
		if f.Type == "message" {
			got[f.Offset]++
		}
	}
	for n := uint64(1); n <= senders*each; n++ {
		if given[n] != 1 || got[n] != 1 {
			t.Errorf("offset %d: given %d times, received %d times; want once each", n, given[n], got[n])
		}
	}
	if len(given) != senders*each || len(got) != senders*each || len(epochs) != 1 {
		t.Errorf("%d offsets given, %d received, %d epochs; want %d, %d, 1", len(given), len(got), len(epochs), senders*each, senders*each)
	}
	if got := db.Strings(t, "SELECT LastSeq FROM ConnectionID_List_stream WHERE StreamKey = 'g:busy'"); !slices.Equal(got, []string{"1000"}) {
		t.Errorf("the stream's counter is %v; want 1000", got)
	}
}

// A group's history is its members'; a user's stream, its own
// connections'.
func TestHistoryPermissionsOnLocal(t *testing.T) {
	l := startLocal(t, nil)
	bob := connectV1(t, l, "bob", allRoles)
	bob.do(t, map[string]any{"type": "joinGroup", "group": "room"})
	bob.sends(t, "sendToGroup", "room", "in room", 2)
	bob.sends(t, "sendToUser", "amy", "for amy", 1)
	cat := connectV1(t, l, "cat", allRoles)
	tests := []struct {
		who  *v1Client
		req  map[string]any
		want string // the error's name, or the messages' data
	}{
		{cat, map[string]any{"type": "history", "group": "room"}, "Forbidden"},
		{cat, map[string]any{"type": "resume", "streams": []any{map[string]any{"group": "room", "offset": 0, "epoch": ""}}}, "Forbidden"},
		{bob, map[string]any{"type": "history", "group": "room"}, `["in room 1","in room 2"]`},
		{bob, map[string]any{"type": "history", "user": true}, `[]`},
		{cat, map[string]any{"type": "history", "user": true}, `[]`},
	}
	for _, tt := range tests {
		id := tt.who.request(t, tt.req)
		testkit.Eventually(t, 30*time.Second, "the ack", func() bool { _, ok := tt.who.ack(id); return ok })
		a, _ := tt.who.ack(id)
		got := ""
		if a.Error != nil {
			got = a.Error.Name
		} else {
			data := []string{}
			for _, m := range a.Message {
				var f v1Frame
				var s string
				_ = json.Unmarshal(m, &f)
				_ = json.Unmarshal(f.Data, &s)
				data = append(data, s)
			}
			b, _ := json.Marshal(data)
			got = string(b)
		}
		if got != tt.want {
			t.Errorf("%s %v: %s; want %s", tt.who.user, tt.req, got, tt.want)
		}
	}
	amy := connectV1(t, l, "amy", allRoles)
	if a := amy.do(t, map[string]any{"type": "history", "user": true}); len(a.Message) != 1 {
		t.Errorf("amy's own stream has %d messages; want the one for her", len(a.Message))
	}
}

// lobbyTexts is JS giving the texts of others' messages in the lobby (not
// the direct ones the page shows there too), in the order the page shows
// them, one per line.
const lobbyTexts = `[...document.querySelectorAll('.log[data-room="lobby"] li.msg.theirs .bubble')].map(b => b.textContent).join("\n")`

// The chat page on MariaDB with 4 instances: entering a room shows its
// last 50 messages; dropped by the gateway, it reconnects and shows
// everything sent meanwhile (to the room and to its user), each once, in
// order.
func TestChatPageHistoryAndRecovery(t *testing.T) {
	browser := newBrowser(t)
	db := mysqltest.New(t)
	l := startLocal(t, localDBEnv(db), "-instances", "4")
	bob := connectV1(t, l, "bob", allRoles)
	bob.do(t, map[string]any{"type": "joinGroup", "group": "lobby"})
	bob.sends(t, "sendToGroup", "lobby", "earlier", 60)

	amy, _ := page(t, browser, as(l.base, "amy"))
	inRoom(t, amy, "lobby")
	want := numbered("earlier", 60)[10:]
	waitText(t, amy, "amy to show the last 50", lobbyTexts, joinLines(want))

	l.drop(t, l.userConnection(t, "amy"))
	bob.sends(t, "sendToGroup", "lobby", "while away", 10)
	bob.sends(t, "sendToUser", "amy", "dm while away", 2)
	waitJS(t, amy, "amy to reconnect", systemLines("connection closed (1006); reconnected")+" === 1 && "+connected)
	bob.sends(t, "sendToGroup", "lobby", "after", 2)
	want = append(append(want, numbered("while away", 10)...), numbered("after", 2)...)
	waitText(t, amy, "amy to show everything, once, in order", lobbyTexts, joinLines(want))
	for _, dm := range numbered("dm while away", 2) {
		if n := count(t, amy, bubbles("", "direct", dm)); n != 1 {
			t.Errorf("amy shows %q %d times; want once", dm, n)
		}
	}
	l.quiet(t)
	if got := text(t, amy, lobbyTexts); got != joinLines(want) {
		t.Errorf("amy's lobby, once quiet:\n%s\nwant:\n%s", got, joinLines(want))
	}
	if n := count(t, amy, systemLines("may be missing")); n != 0 {
		t.Errorf("amy was told %d times that messages may be missing; want the room recovered", n)
	}
	screenshot(t, amy, "history-amy")
}

func joinLines(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "\n"
		}
		out += x
	}
	return out
}

// waitText waits until js, a string expression, is want; on a timeout it
// shows the last value.
func waitText(t testing.TB, tab context.Context, what, js, want string) {
	t.Helper()
	last := ""
	deadline := time.Now().Add(30 * time.Second)
	for {
		if last = text(t, tab, js); last == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: got\n%s\nwant\n%s\nlog:\n%s", what, last, want,
				text(t, tab, `[...document.querySelectorAll('.log[data-room="lobby"] li')].map(li => li.className + ": " + li.textContent).join("\n")`))
		}
		if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](`true`, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
}
