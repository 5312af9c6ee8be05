package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/scfws/scfws/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTransport records the command and answers a canned reply.
type fakeTransport struct {
	got   []byte
	calls int
	reply string
	err   error
}

func (f *fakeTransport) Invoke(_ context.Context, command []byte) ([]byte, error) {
	f.got, f.calls = command, f.calls+1
	return []byte(f.reply), f.err
}

const okSend = `{"errNo":0,"errMsg":"ok","recipients":3,"delivered":2,"pruned":1,"failed":0,"skipped":0,"elapsedMs":12}`

const okHistory = `{"errNo":0,"errMsg":"ok","messages":[{"type":"message","from":"server","group":"lobby","dataType":"text","data":"hi",` +
	`"id":"01JDZ0000000000000000000AB","offset":7,"epoch":"E"}],"offset":7,"epoch":"E"}`

// History and a send's place in its stream come back decoded.
func TestHistoryAndSendPlace(t *testing.T) {
	ctx := context.Background()
	c := client.New(&fakeTransport{reply: okHistory})
	h, err := c.GroupHistory(ctx, "lobby", 0, 0)
	if err != nil || h.Offset != 7 || h.Epoch != "E" || len(h.Messages) != 1 || h.Messages[0].Offset != 7 || string(h.Messages[0].Data) != `"hi"` {
		t.Errorf("GroupHistory = %+v, %v; want one message at 7", h, err)
	}
	c = client.New(&fakeTransport{reply: `{"errNo":0,"errMsg":"ok","recipients":1,"delivered":1,"id":"X","offset":3,"epoch":"E"}`})
	r, err := c.SendToGroup(ctx, "lobby", client.Text("hi"))
	if err != nil || r.ID != "X" || r.Offset != 3 || r.Epoch != "E" {
		t.Errorf("SendToGroup = %+v, %v; want id X at offset 3 of E", r, err)
	}
	if _, err := c.UserHistory(ctx, "", 0, 0); err == nil {
		t.Errorf("UserHistory without a user = nil error")
	}
}

func TestCommandJSON(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		reply string
		give  func(*client.Client) error
		want  string
	}{
		{"sendToAll", okSend, func(c *client.Client) error { _, err := c.SendToAll(ctx, client.Text("maintenance at 5")); return err },
			`{"scfws":{"op":"sendToAll","dataType":"text","data":"maintenance at 5"}}`},
		{"sendToGroup", okSend, func(c *client.Client) error {
			_, err := c.SendToGroup(ctx, "lobby", client.JSON(map[string]int{"score": 3}))
			return err
		}, `{"scfws":{"op":"sendToGroup","group":"lobby","dataType":"json","data":{"score":3}}}`},
		{"sendToUser", okSend, func(c *client.Client) error {
			_, err := c.SendToUser(ctx, "bob", client.Text("your order shipped"))
			return err
		}, `{"scfws":{"op":"sendToUser","userId":"bob","dataType":"text","data":"your order shipped"}}`},
		{"sendToConnection", okSend, func(c *client.Client) error {
			_, err := c.SendToConnection(ctx, "c1+/=", client.Binary([]byte{0, 1, 2}))
			return err
		}, `{"scfws":{"op":"sendToConnection","connectionId":"c1+/=","dataType":"binary","data":"AAEC"}}`},
		{"raw JSON is compacted", okSend, func(c *client.Client) error {
			_, err := c.SendToAll(ctx, client.JSON(json.RawMessage("[1, 2,\n 3]")))
			return err
		}, `{"scfws":{"op":"sendToAll","dataType":"json","data":[1,2,3]}}`},
		{"JSON null", okSend, func(c *client.Client) error { _, err := c.SendToAll(ctx, client.JSON(nil)); return err },
			`{"scfws":{"op":"sendToAll","dataType":"json","data":null}}`},
		{"empty text", okSend, func(c *client.Client) error { _, err := c.SendToAll(ctx, client.Text("")); return err },
			`{"scfws":{"op":"sendToAll","dataType":"text","data":""}}`},
		{"closeConnection", okSend, func(c *client.Client) error { _, err := c.CloseConnection(ctx, "c1", "banned"); return err },
			`{"scfws":{"op":"closeConnection","connectionId":"c1","reason":"banned"}}`},
		{"closeConnection without reason", okSend, func(c *client.Client) error { _, err := c.CloseConnection(ctx, "c1", ""); return err },
			`{"scfws":{"op":"closeConnection","connectionId":"c1"}}`},
		{"closeUser", okSend, func(c *client.Client) error { _, err := c.CloseUser(ctx, "bob"); return err },
			`{"scfws":{"op":"closeUser","userId":"bob"}}`},
		{"group history", okHistory, func(c *client.Client) error { _, err := c.GroupHistory(ctx, "lobby", 0, 0); return err },
			`{"scfws":{"op":"history","group":"lobby"}}`},
		{"user history", okHistory, func(c *client.Client) error { _, err := c.UserHistory(ctx, "bob", 20, 41); return err },
			`{"scfws":{"op":"history","userId":"bob","limit":20,"before":41}}`},
		{"addToGroup user", `{"errNo":0,"errMsg":"ok","connections":2}`,
			func(c *client.Client) error { _, err := c.AddToGroup(ctx, "vip", client.User("bob")); return err },
			`{"scfws":{"op":"addToGroup","userId":"bob","group":"vip"}}`},
		{"addToGroup connection", `{"errNo":0,"errMsg":"ok","connections":1}`,
			func(c *client.Client) error { _, err := c.AddToGroup(ctx, "vip", client.Connection("c1")); return err },
			`{"scfws":{"op":"addToGroup","connectionId":"c1","group":"vip"}}`},
		{"removeFromGroup user", `{"errNo":0,"errMsg":"ok","connections":2}`,
			func(c *client.Client) error { _, err := c.RemoveFromGroup(ctx, "vip", client.User("bob")); return err },
			`{"scfws":{"op":"removeFromGroup","userId":"bob","group":"vip"}}`},
		{"removeFromGroup connection", `{"errNo":0,"errMsg":"ok","connections":0}`,
			func(c *client.Client) error {
				_, err := c.RemoveFromGroup(ctx, "vip", client.Connection("c1"))
				return err
			},
			`{"scfws":{"op":"removeFromGroup","connectionId":"c1","group":"vip"}}`},
		{"listGroup", `{"errNo":0,"errMsg":"ok","group":"lobby","users":[],"anonymous":0,"truncated":false}`,
			func(c *client.Client) error { _, err := c.ListGroup(ctx, "lobby"); return err },
			`{"scfws":{"op":"listGroup","group":"lobby"}}`},
		{"listUser", `{"errNo":0,"errMsg":"ok","userId":"bob","connections":[]}`,
			func(c *client.Client) error { _, err := c.ListUser(ctx, "bob"); return err },
			`{"scfws":{"op":"listUser","userId":"bob"}}`},
		{"Do", `{"errNo":0,"errMsg":"ok"}`,
			func(c *client.Client) error {
				_, err := c.Do(ctx, client.Command{Op: "futureOp", Group: "g"})
				return err
			},
			`{"scfws":{"op":"futureOp","group":"g"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTransport{reply: tt.reply}
			if err := tt.give(client.New(f)); err != nil {
				t.Fatalf("call = %v", err)
			}
			if string(f.got) != tt.want {
				t.Errorf("command = %s; want %s", f.got, tt.want)
			}
		})
	}
}

func TestReplies(t *testing.T) {
	ctx := context.Background()
	t.Run("send", func(t *testing.T) {
		got, err := client.New(&fakeTransport{reply: okSend}).SendToAll(ctx, client.Text("hi"))
		want := client.SendResult{Recipients: 3, Delivered: 2, Pruned: 1, Elapsed: 12 * time.Millisecond}
		if err != nil || got != want {
			t.Errorf("SendToAll = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("membership", func(t *testing.T) {
		got, err := client.New(&fakeTransport{reply: `{"errNo":0,"errMsg":"ok","connections":2}`}).AddToGroup(ctx, "vip", client.User("bob"))
		if err != nil || got != 2 {
			t.Errorf("AddToGroup = %d, %v; want 2", got, err)
		}
	})
	t.Run("listGroup", func(t *testing.T) {
		reply := `{"errNo":0,"errMsg":"ok","group":"lobby","users":[{"userId":"alice","connections":2},{"userId":"bob","connections":1}],"anonymous":1,"truncated":true}`
		got, err := client.New(&fakeTransport{reply: reply}).ListGroup(ctx, "lobby")
		want := &client.GroupList{Group: "lobby", Users: []client.GroupUser{{UserID: "alice", Connections: 2}, {UserID: "bob", Connections: 1}}, Anonymous: 1, Truncated: true}
		if err != nil {
			t.Fatalf("ListGroup = %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListGroup (-want +got):\n%s", diff)
		}
	})
	t.Run("listUser", func(t *testing.T) {
		got, err := client.New(&fakeTransport{reply: `{"errNo":0,"errMsg":"ok","userId":"bob","connections":["id1","id2"]}`}).ListUser(ctx, "bob")
		want := &client.UserConnections{UserID: "bob", Connections: []string{"id1", "id2"}}
		if err != nil {
			t.Fatalf("ListUser = %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListUser (-want +got):\n%s", diff)
		}
	})
	t.Run("Do returns the reply as it came", func(t *testing.T) {
		reply := `{"errNo":0,"errMsg":"ok","recipients":1,"swept":4}`
		got, err := client.New(&fakeTransport{reply: reply}).Do(ctx, client.Command{Op: client.OpSendToAll})
		if err != nil || string(got) != reply {
			t.Errorf("Do = %s, %v; want %s", got, err, reply)
		}
	})
}

func TestErrNoIsError(t *testing.T) {
	tests := []struct {
		give string
		want client.Error
	}{
		{`{"errNo":108,"errMsg":"unknown op \"x\""}`, client.Error{ErrNo: client.ErrNoUnknownOp, Msg: `unknown op "x"`}},
		{`{"errNo":109,"errMsg":"bad argument: group"}`, client.Error{ErrNo: client.ErrNoBadArgument, Msg: "bad argument: group"}},
		{`{"errNo":501,"errMsg":"not configured"}`, client.Error{ErrNo: client.ErrNoNotConfigured, Msg: "not configured"}},
		{`{"errNo":502,"errMsg":"registry unavailable","recipients":0}`, client.Error{ErrNo: client.ErrNoRegistry, Msg: "registry unavailable"}},
	}
	for _, tt := range tests {
		c := client.New(&fakeTransport{reply: tt.give})
		raw, err := c.Do(context.Background(), client.Command{Op: client.OpSendToAll})
		var e *client.Error
		if !errors.As(err, &e) || *e != tt.want {
			t.Errorf("Do with reply %s = %v; want %+v", tt.give, err, tt.want)
		}
		if string(raw) != tt.give {
			t.Errorf("Do with reply %s returned %s; want the reply too", tt.give, raw)
		}
		var te *client.TransportError
		if errors.As(err, &te) {
			t.Errorf("an errNo is a TransportError: %v", err)
		}
		if _, err := c.SendToGroup(context.Background(), "g", client.Text("x")); !errors.As(err, &e) {
			t.Errorf("SendToGroup with reply %s = %v; want *Error", tt.give, err)
		}
	}
}

func TestBadReplies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		reply string
		call  func(*client.Client) error
		want  string
	}{
		{"not JSON", "hello", func(c *client.Client) error { _, err := c.SendToAll(ctx, client.Text("x")); return err }, "not a JSON object"},
		{"no errNo", `{"statusCode":200}`, func(c *client.Client) error { _, err := c.SendToAll(ctx, client.Text("x")); return err }, "no errNo"},
		{"a count that is not", `{"errNo":0,"connections":"two"}`,
			func(c *client.Client) error { _, err := c.AddToGroup(ctx, "g", client.User("u")); return err }, "not a count"},
		{"IDs that are not", `{"errNo":0,"connections":2}`,
			func(c *client.Client) error { _, err := c.ListUser(ctx, "u"); return err }, "not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(client.New(&fakeTransport{reply: tt.reply}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want one with %q", err, tt.want)
			}
		})
	}
}

func TestTransportErrorPassesThrough(t *testing.T) {
	cause := &client.TransportError{Via: "http", Err: context.DeadlineExceeded}
	_, err := client.New(&fakeTransport{err: cause}).SendToAll(context.Background(), client.Text("x"))
	if err != cause || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want the transport's", err)
	}
}

func TestArgumentsCheckedBeforeSending(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(*client.Client) error
		want string
	}{
		{"no group", func(c *client.Client) error { _, err := c.SendToGroup(ctx, "", client.Text("x")); return err }, "group is empty"},
		{"no user", func(c *client.Client) error { _, err := c.SendToUser(ctx, "", client.Text("x")); return err }, "userId is empty"},
		{"no connection", func(c *client.Client) error { _, err := c.SendToConnection(ctx, "", client.Text("x")); return err }, "connectionId is empty"},
		{"close no connection", func(c *client.Client) error { _, err := c.CloseConnection(ctx, "", "r"); return err }, "connectionId is empty"},
		{"close no user", func(c *client.Client) error { _, err := c.CloseUser(ctx, ""); return err }, "userId is empty"},
		{"add no group", func(c *client.Client) error { _, err := c.AddToGroup(ctx, "", client.User("u")); return err }, "group is empty"},
		{"add no member", func(c *client.Client) error { _, err := c.AddToGroup(ctx, "g", client.Member{}); return err }, "no member"},
		{"remove no member", func(c *client.Client) error { _, err := c.RemoveFromGroup(ctx, "g", client.User("")); return err }, "no member"},
		{"list no group", func(c *client.Client) error { _, err := c.ListGroup(ctx, ""); return err }, "group is empty"},
		{"list no user", func(c *client.Client) error { _, err := c.ListUser(ctx, ""); return err }, "userId is empty"},
		{"no op", func(c *client.Client) error { _, err := c.Do(ctx, client.Command{}); return err }, "no op"},
		{"zero payload", func(c *client.Client) error { _, err := c.SendToAll(ctx, client.Payload{}); return err }, "empty Payload"},
		{"text not UTF-8", func(c *client.Client) error { _, err := c.SendToAll(ctx, client.Text("\xff")); return err }, "not valid UTF-8"},
		{"JSON that cannot be", func(c *client.Client) error { _, err := c.SendToAll(ctx, client.JSON(func() {})); return err }, "encode JSON payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTransport{reply: okSend}
			err := tt.call(client.New(f))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want one with %q", err, tt.want)
			}
			if f.calls != 0 {
				t.Errorf("sent %s; want nothing sent", f.got)
			}
		})
	}
}
