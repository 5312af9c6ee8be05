package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
)

// v1Client is a scfws.v1 connection that records what it receives.
type v1Client struct {
	c    *websocket.Conn
	user string

	mu       sync.Mutex
	nextAck  uint64
	acks     map[uint64]v1Frame
	messages map[string]int // by data
	frames   []v1Frame      // every message and ack, in the order they came
	system   []v1Frame
	done     chan struct{}
}

// v1Frame is any frame the function pushes.
type v1Frame struct {
	Type      string                 `json:"type"`
	AckID     uint64                 `json:"ackId"`
	Success   bool                   `json:"success"`
	Delivered int                    `json:"delivered"`
	Error     *struct{ Name string } `json:"error"`
	Users     []struct {
		UserID      string `json:"userId"`
		Connections int    `json:"connections"`
	} `json:"users"`
	From       string          `json:"from"`
	Group      string          `json:"group"`
	FromUserID string          `json:"fromUserId"`
	Data       json.RawMessage `json:"data"`
	Event      string          `json:"event"`
	UserID     string          `json:"userId"`
	// History's: a message's id and place, a resume's streams.
	ID      string            `json:"id"`
	Offset  uint64            `json:"offset"`
	Epoch   string            `json:"epoch"`
	Streams []v1StreamState   `json:"streams"`
	Message []json.RawMessage `json:"messages"`
}

type v1StreamState struct {
	Group     string `json:"group"`
	User      bool   `json:"user"`
	Recovered bool   `json:"recovered"`
	Offset    uint64 `json:"offset"`
	Epoch     string `json:"epoch"`
}

// token asks local's token endpoint for a token for user with roles
// (comma-separated; "none" for none): DEFAULT_ROLES grants nothing, so a
// client that joins or sends needs them from its token.
func (l *localRun) token(t testing.TB, user, roles string) string {
	t.Helper()
	resp, err := http.Get(l.base + "/_scfws/token?sub=" + url.QueryEscape(user) + "&roles=" + url.QueryEscape(roles))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
		t.Fatalf("token for %s: %v (HTTP %d)", user, err, resp.StatusCode)
	}
	l.mu.Lock()
	l.issued = append(l.issued, body.Token)
	l.mu.Unlock()
	return body.Token
}

// tokens are the tokens handed out so far.
func (l *localRun) tokens() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.issued)
}

// connectV1 connects as user with a token granting roles (see token).
func connectV1(t testing.TB, l *localRun, user, roles string) *v1Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, l.ws, &websocket.DialOptions{Subprotocols: []string{"scfws.v1", "bearer." + l.token(t, user, roles)}})
	if err != nil {
		t.Fatalf("dial as %s: %v", user, err)
	}
	if c.Subprotocol() != "scfws.v1" {
		t.Fatalf("subprotocol %q; want scfws.v1", c.Subprotocol())
	}
	c.SetReadLimit(1 << 20)
	v := &v1Client{c: c, user: user, acks: map[uint64]v1Frame{}, messages: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var f v1Frame
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			v.mu.Lock()
			if f.Type == "ack" || f.Type == "message" {
				v.frames = append(v.frames, f)
			}
			switch f.Type {
			case "ack":
				v.acks[f.AckID] = f
			case "message":
				var s string
				_ = json.Unmarshal(f.Data, &s)
				v.messages[f.From+"|"+f.Group+"|"+f.FromUserID+"|"+s]++
			case "system":
				v.system = append(v.system, f)
			}
			v.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.CloseNow(); <-v.done })
	return v
}

// request sends a request with the next ackId and returns the ackId.
func (v *v1Client) request(t testing.TB, req map[string]any) uint64 {
	t.Helper()
	v.mu.Lock()
	v.nextAck++
	id := v.nextAck
	v.mu.Unlock()
	req["ackId"] = id
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Errorf("%s: write: %v", v.user, err)
	}
	return id
}

func (v *v1Client) ack(id uint64) (v1Frame, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.acks[id]
	return f, ok
}

func (v *v1Client) got(key string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.messages[key]
}

// 300 clients as 100 users (3 connections each) in 10 groups, through
// scfws local with MariaDB and 4 instances: every group and user message
// arrives exactly once at every connection that should get it and at no
// other, the acks count the deliveries, and after half the clients close,
// listGroup agrees with the connections the gateway has open.
func TestV1Groups300Clients(t *testing.T) {
	const users, perUser, groups, groupMsgs, userMsgs = 100, 3, 10, 5, 2
	db := mysqltest.New(t)
	l := startLocal(t, localDBEnv(db), "-instances", "4")
	if len(l.fnPids) != 4 {
		t.Fatalf("function pids %v; want 4 instances", l.fnPids)
	}
	user := func(u int) string { return fmt.Sprintf("user-%03d", u) }
	group := func(u int) string { return fmt.Sprintf("group-%d", u%groups) }

	cs := make([]*v1Client, users*perUser) // cs[u*perUser+k]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range cs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cs[i] = connectV1(t, l, user(i/perUser), "joinLeaveGroup,sendToGroup,sendToUser")
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Everyone joins the group of their user; the acks say it worked.
	joins := make([]uint64, len(cs))
	for i, c := range cs {
		joins[i] = c.request(t, map[string]any{"type": "joinGroup", "group": group(i / perUser)})
	}
	testkit.Eventually(t, 60*time.Second, "every join acked", func() bool {
		for i, c := range cs {
			if _, ok := c.ack(joins[i]); !ok {
				return false
			}
		}
		return true
	})
	for i, c := range cs {
		if a, _ := c.ack(joins[i]); !a.Success {
			t.Fatalf("join of client %d failed: %+v", i, a)
		}
	}

	// Each client: 5 messages to its group, 2 to the next user.
	type sent struct {
		client int
		ackID  uint64
		want   int
	}
	var mu sync.Mutex
	var all []sent
	for i, c := range cs {
		wg.Go(func() {
			u := i / perUser
			for m := range groupMsgs {
				id := c.request(t, map[string]any{"type": "sendToGroup", "group": group(u), "data": fmt.Sprintf("c%03d-g%d", i, m)})
				mu.Lock()
				all = append(all, sent{i, id, perUser * users / groups})
				mu.Unlock()
			}
			for m := range userMsgs {
				id := c.request(t, map[string]any{"type": "sendToUser", "userId": user((u + 1) % users), "data": fmt.Sprintf("c%03d-u%d", i, m)})
				mu.Lock()
				all = append(all, sent{i, id, perUser})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	testkit.Eventually(t, 180*time.Second, "every request acked", func() bool {
		for _, s := range all {
			if _, ok := cs[s.client].ack(s.ackID); !ok {
				return false
			}
		}
		return true
	})
	for _, s := range all {
		if a, _ := cs[s.client].ack(s.ackID); !a.Success || a.Delivered != s.want {
			t.Errorf("client %d ack %d = %+v; want success, delivered %d", s.client, s.ackID, a, s.want)
		}
	}
	// Every push of a message was answered before its ack was pushed, so
	// with every ack in, every message is in too.
	for i, c := range cs {
		u := i / perUser
		c.mu.Lock()
		total := 0
		for _, n := range c.messages {
			total += n
		}
		c.mu.Unlock()
		want := groupMsgs*perUser*(users/groups) + userMsgs*perUser
		if total != want {
			t.Errorf("client %d got %d messages; want %d", i, total, want)
		}
		// From every client of its group, each of their 5, once.
		for j := range cs {
			if group(j/perUser) != group(u) {
				continue
			}
			for m := range groupMsgs {
				key := fmt.Sprintf("group|%s|%s|c%03d-g%d", group(u), user(j/perUser), j, m)
				if n := c.got(key); n != 1 {
					t.Errorf("client %d got %q %d times; want once", i, key, n)
				}
			}
		}
		// From the previous user's 3 clients, 2 each.
		prev := (u + users - 1) % users
		for k := range perUser {
			j := prev*perUser + k
			for m := range userMsgs {
				key := fmt.Sprintf("user||%s|c%03d-u%d", user(prev), j, m)
				if n := c.got(key); n != 1 {
					t.Errorf("client %d got %q %d times; want once", i, key, n)
				}
			}
		}
		if t.Failed() {
			break
		}
	}

	// Half leave; listGroup equals what the gateway has open.
	for i := 0; i < len(cs); i += 2 {
		wg.Go(func() { cs[i].c.Close(websocket.StatusNormalClosure, "bye") })
	}
	wg.Wait()
	l.waitDisconnects(t, int64(len(cs)/2))
	open := map[string]bool{}
	for _, id := range l.connections(t) {
		open[id] = true
	}
	if len(open) != len(cs)/2 {
		t.Fatalf("gateway has %d open; want %d", len(open), len(cs)/2)
	}
	for g := range groups {
		// Who should be there: the survivors of the users of this group.
		want := map[string]int{}
		var asker *v1Client
		for i := 1; i < len(cs); i += 2 {
			if group(i/perUser) == fmt.Sprintf("group-%d", g) {
				want[user(i/perUser)]++
				asker = cs[i]
			}
		}
		id := asker.request(t, map[string]any{"type": "listGroup", "group": fmt.Sprintf("group-%d", g)})
		var a v1Frame
		testkit.Eventually(t, 30*time.Second, "the listGroup ack", func() bool { var ok bool; a, ok = asker.ack(id); return ok })
		got := map[string]int{}
		for _, u := range a.Users {
			got[u.UserID] = u.Connections
		}
		if !a.Success || !maps.Equal(got, want) {
			t.Errorf("listGroup(group-%d) = %+v; want %v", g, a, want)
		}
	}
	out := l.stderr.String()
	for _, tok := range l.tokens() {
		if strings.Contains(out, tok[strings.LastIndexByte(tok, '.')+1:]) {
			t.Errorf("local's output contains a token's signature")
		}
	}
}
