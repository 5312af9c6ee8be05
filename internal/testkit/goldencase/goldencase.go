// Package goldencase holds what the golden-event tests share: the cases in
// testdata/golden, the registry every case starts from, the settings they
// run with, and the outcome a golden file records. The in-process run (root
// package) and the SCF-runtime run (e2e) must agree on the same files.
package goldencase

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/proto"
)

// Idle is the idle timeout the cases run with.
const Idle = 600 * time.Second

// SeedConn is one connection every case starts with.
type SeedConn struct {
	ID     string
	Age    time.Duration // since its last frame
	V1     bool
	UserID string
	Roles  []string
	Groups []string
}

// Seed is the registry every case starts from. The push endpoint answers by
// ID prefix (see pushtest): gone-* (404), errno-* (200 with errNo 1) and
// fail-* (500) are pruned, since the gateway drops a client whose push it
// refuses; busy-* (429) is kept after its retry; status-413-* is kept
// (the frame's fault, not the connection's); *-expired are past the idle
// timeout. The plain cases' sender is xawexasdfewezdfsdfeasdfffa==; the
// scfws.v1 cases' senders are v1-ann== (user ann, in lobby and dev, whose
// token granted joinLeaveGroup and sendToGroup), v1-ben== (may join and
// leave), v1-cat== (cat, who may send to users only) and v1-anon== (no
// token: only what DEFAULT_ROLES grants, nothing by default).
var Seed = []SeedConn{
	{ID: "xawexasdfewezdfsdfeasdfffa=="},
	{ID: "alice=="}, {ID: "bob==", Age: time.Minute}, {ID: "gone-carol=="}, {ID: "errno-frank=="},
	{ID: "fail-erin=="}, {ID: "busy-gina=="}, {ID: "status-413-hal=="}, {ID: "dave-expired==", Age: 2 * Idle},
	{ID: "v1-ann==", V1: true, UserID: "ann", Roles: []string{"joinLeaveGroup", "sendToGroup"}, Groups: []string{"dev", "lobby"}},
	{ID: "v1-ann-phone==", V1: true, UserID: "ann", Roles: []string{"joinLeaveGroup", "sendToGroup"}, Groups: []string{"lobby"}},
	{ID: "v1-ben==", V1: true, UserID: "ben", Roles: []string{"joinLeaveGroup"}, Groups: []string{"lobby"}},
	{ID: "v1-cat==", V1: true, UserID: "cat", Roles: []string{"sendToUser"}, Groups: []string{"dev"}},
	{ID: "v1-anon==", V1: true, Groups: []string{"lobby"}},
	{ID: "gone-v1-dan==", V1: true, UserID: "dan", Groups: []string{"lobby"}},
	{ID: "v1-eve-expired==", V1: true, UserID: "eve", Groups: []string{"lobby"}, Age: 2 * Idle},
}

// Registerer is what Plant needs of a registry.
type Registerer interface {
	Register(ctx context.Context, c proto.Conn, groups []string) ([]string, error)
}

// Plant registers the Seed in reg and ages each connection with age.
func Plant(t testing.TB, reg Registerer, age func(id string, by time.Duration)) {
	t.Helper()
	for _, s := range Seed {
		if _, err := reg.Register(context.Background(), proto.Conn{ID: s.ID, V1: s.V1, UserID: s.UserID, Roles: s.Roles}, s.Groups); err != nil {
			t.Fatalf("seed %s: %v", s.ID, err)
		}
		if s.Age > 0 {
			age(s.ID, s.Age)
		}
	}
}

// History is what PlantHistory keeps before every case: lobby's stream
// holds HistoryLobby messages from ann, ann's own stream HistoryAnn from
// the server. Cases that turn history on (HISTORY_SIZE) see them.
const (
	HistoryLobby = 3
	HistoryAnn   = 2
)

// HistoryAppender is what PlantHistory needs of a registry.
type HistoryAppender interface {
	Append(ctx context.Context, s proto.Stream, frame []byte, keep proto.Retention) (proto.Position, error)
}

// PlantHistory keeps the History messages in reg and returns each
// stream's epoch by the placeholder an event names it with: "{{epoch:lobby}}"
// and "{{epoch:user:ann}}" (see Prepare).
func PlantHistory(t testing.TB, reg HistoryAppender) map[string]string {
	t.Helper()
	keep := proto.Retention{Size: 100, TTL: time.Hour}
	epochs := map[string]string{}
	for _, p := range []struct {
		placeholder string
		stream      proto.Stream
		n           int
		frame       string
	}{
		{"{{epoch:lobby}}", proto.Stream{Group: "lobby"}, HistoryLobby,
			`{"type":"message","from":"group","group":"lobby","fromUserId":"ann","dataType":"text","data":"earlier %d","id":"00000000000000000000000L%02d"}`},
		{"{{epoch:user:ann}}", proto.Stream{UserID: "ann"}, HistoryAnn,
			`{"type":"message","from":"server","dataType":"text","data":"for ann %d","id":"00000000000000000000000U%02d"}`},
	} {
		for i := 1; i <= p.n; i++ {
			pos, err := reg.Append(context.Background(), p.stream, fmt.Appendf(nil, p.frame, i, i), keep)
			if err != nil {
				t.Fatalf("plant history: %v", err)
			}
			epochs[p.placeholder] = pos.Epoch
		}
	}
	return epochs
}

// Case is one event file and the settings on top of Env. Epochs fill the
// event's epoch placeholders (PlantHistory's).
type Case struct {
	Name   string
	Event  []byte
	Env    map[string]string
	Epochs map[string]string
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
// SENDBACK_HOST or wsBackUrl that starts with "/" is a path on the push
// endpoint (see pushtest: /wrong-* refuses every push, as a mistyped address
// does).
func Env(pushBase string, c Case) map[string]string {
	env := map[string]string{"SENDBACK_HOST": pushBase + "/api-golden", "PUSH_RETRIES": "1", "IDLE_TIMEOUT": "600", "LOG_LEVEL": "debug"}
	for k, v := range c.Env {
		if (k == "SENDBACK_HOST" || k == "wsBackUrl") && strings.HasPrefix(v, "/") {
			v = pushBase + v
		}
		env[k] = v
	}
	return env
}

// Outcome is every observable effect of one event: the invoke's payload
// (a reply, or an HTTP response holding one), the pushes, and the registry
// after, its groups included.
type Outcome struct {
	Reply    json.RawMessage `json:"reply"`
	Pushes   []pushtest.Push `json:"pushes"`
	Registry []string        `json:"registry"`
	Groups   [][2]string     `json:"groups"`
}

// Marshal renders o deterministically: indented, no HTML escaping, the
// clock-dependent elapsedMs zeroed, a trailing newline.
func (o Outcome) Marshal(t testing.TB) []byte {
	t.Helper()
	o.Reply = stable(t, o.Reply)
	if o.Pushes == nil {
		o.Pushes = []pushtest.Push{}
	}
	for i, p := range o.Pushes {
		o.Pushes[i].Data = elapsedZero.ReplaceAllString(p.Data, "")
	}
	if o.Groups == nil {
		o.Groups = [][2]string{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(o); err != nil {
		t.Fatal(err)
	}
	return numbered(b.Bytes())
}

// generated finds the values the function makes up, a message's id and a
// stream's epoch, in a reply or (escaped) in a pushed frame.
var generated = regexp.MustCompile(`(\\?"(id|epoch)\\?":\s*\\?")([0-9A-Z]{16,26})(\\?")`)

// numbered replaces each id and epoch by its kind and the order in which
// it first appears ("id-1", "epoch-1"): runs differ in the values, never
// in which messages share one.
func numbered(out []byte) []byte {
	seen := map[string]string{}
	count := map[string]int{}
	return generated.ReplaceAllFunc(out, func(m []byte) []byte {
		g := generated.FindSubmatch(m)
		kind, value := string(g[2]), string(g[3])
		name, ok := seen[kind+value]
		if !ok {
			count[kind]++
			name = fmt.Sprintf("%s-%d", kind, count[kind])
			seen[kind+value] = name
		}
		return append(append(append([]byte{}, g[1]...), name...), g[4]...)
	})
}

// stable zeroes the clock-dependent elapsedMs of a reply, also inside an
// HTTP response's body, and indents it.
func stable(t testing.TB, payload json.RawMessage) json.RawMessage {
	t.Helper()
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("payload %s is not a JSON object: %v", payload, err)
	}
	if _, ok := v["elapsedMs"]; ok {
		v["elapsedMs"] = 0
	}
	if body, ok := v["body"].(string); ok {
		var inner map[string]any
		if json.Unmarshal([]byte(body), &inner) == nil {
			if _, ok := inner["elapsedMs"]; ok {
				inner["elapsedMs"] = 0
			}
			v["body"] = inner // shown decoded: readable, and stable
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b.Bytes())
}

// Prepare fills a case's placeholders that depend on the run: the epochs
// of the planted history (c.Epochs), and in an HTTP event, "{{now}}" and "{{now-400}}" in the timestamp header
// become unix seconds, and "{{sign}}" in the signature header becomes the
// signature of the body with the case's PUBLISH_SECRET.
func Prepare(t testing.TB, c Case) []byte {
	t.Helper()
	for placeholder, epoch := range c.Epochs {
		c.Event = bytes.ReplaceAll(c.Event, []byte(placeholder), []byte(epoch))
	}
	if !bytes.Contains(c.Event, []byte("{{now")) && !bytes.Contains(c.Event, []byte("{{sign}}")) {
		return c.Event
	}
	var ev map[string]any
	if err := json.Unmarshal(c.Event, &ev); err != nil {
		t.Fatal(err)
	}
	headers, _ := ev["headers"].(map[string]any)
	body, _ := ev["body"].(string)
	ts := ""
	for k, v := range headers {
		s, _ := v.(string)
		switch s {
		case "{{now}}":
			ts = strconv.FormatInt(time.Now().Unix(), 10)
			headers[k] = ts
		case "{{now-400}}":
			ts = strconv.FormatInt(time.Now().Unix()-400, 10)
			headers[k] = ts
		}
	}
	for k, v := range headers {
		if v == "{{sign}}" {
			headers[k] = proto.RouteSignature([]byte(c.Env["PUBLISH_SECRET"]), ts, []byte(body))
		}
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jwt matches a token's header.payload: what must never reach a log line,
// a reply or a push.
// elapsedZero finds the clock-dependent field in a pushed frame (omitted
// when 0, so it is dropped rather than zeroed).
var elapsedZero = regexp.MustCompile(`,"elapsedMs":[0-9]+`)

var jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// NoTokens fails the test if a token in the case's event shows in any of
// outputs (the log, the reply, the pushes).
func NoTokens(t testing.TB, c Case, outputs ...string) {
	t.Helper()
	for _, tok := range jwt.FindAllString(string(c.Event), -1) {
		for _, out := range outputs {
			if strings.Contains(out, tok) {
				t.Errorf("a token from the event appears in the output:\n%.300s", out)
			}
		}
	}
}
