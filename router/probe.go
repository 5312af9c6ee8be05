package router

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The probe: with PROBE_SECRET set, a scfws.v1 frame
//
//	{"type":"probe","secret":"...","op":"...","args":{...},"ackId":1}
//
// makes the function do one measured action and push the result back to
// the sender as {"type":"probeResult","op":"...","ackId":1,...}. scfws probe
// drives these ops to measure what Tencent does not document. Every op
// touches only the probe's own connections, or IDs that never existed, and
// is bounded: a burst is at most maxBurst pushes.
//
// Without PROBE_SECRET, or with another secret, a probe frame is an unknown
// request like any other: nothing happens and nothing says probing exists.

// RawPusher is what the probe needs beyond Pusher: to post a push body as it
// is and see the answer, without retries or classification.
type RawPusher interface {
	Raw(ctx context.Context, body []byte) (status int, answer []byte, err error)
}

const (
	maxBurst = 1000
	maxHold  = 2 * time.Second
)

// probeArgs are the ops' arguments.
type probeArgs struct {
	ConnectionID string `json:"connectionId"`
	Kind         string `json:"kind"` // push: data, closing, malformed
	N            int    `json:"n"`
	HoldMs       int    `json:"holdMs"`
	Count        int    `json:"count"`
}

// probeResult is pushed back to the prober.
type probeResult struct {
	Type  string  `json:"type"`
	Op    string  `json:"op"`
	AckID *uint64 `json:"ackId,omitempty"`
	Error string  `json:"error,omitempty"`

	// whoami
	ConnectionID string         `json:"connectionId,omitempty"`
	Instance     string         `json:"instance,omitempty"`
	Config       map[string]any `json:"config,omitempty"`
	// handshake
	Handshake json.RawMessage `json:"handshake,omitempty"`
	// lookup
	Known *bool `json:"known,omitempty"`
	// push
	Status int    `json:"status,omitempty"`
	Answer string `json:"answer,omitempty"`
	// seq
	N        int   `json:"n,omitempty"`
	StartMs  int64 `json:"startMs,omitempty"`
	EndMs    int64 `json:"endMs,omitempty"`
	Inflight int64 `json:"inflight,omitempty"`
	// size
	Bytes int `json:"bytes,omitempty"`
	// burst
	Count     int            `json:"count,omitempty"`
	Statuses  map[string]int `json:"statuses,omitempty"`
	ElapsedMs int64          `json:"elapsedMs,omitempty"`
}

// instance names this process for the order-and-concurrency scenario.
var instance = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// inflight counts the invokes in this process, for the same scenario.
var inflight atomic.Int64

func (c *call) probe(conn Conn, req *request) (ack, *refusal) {
	secret := c.d.Options.ProbeSecret
	if secret == "" || subtle.ConstantTimeCompare([]byte(req.Secret), []byte(secret)) != 1 {
		return ack{}, refuse("InvalidMessage", "unknown type %q", "probe")
	}
	var args probeArgs
	if len(req.Args) > 0 && json.Unmarshal(req.Args, &args) != nil {
		return ack{}, refuse("InvalidMessage", "probe args must be an object")
	}
	c.op = "probe:" + clip(req.Op)
	res := probeResult{Type: "probeResult", Op: clip(req.Op), AckID: req.AckID}
	switch req.Op {
	case "whoami":
		o := c.d.Options
		res.ConnectionID, res.Instance = conn.ID, instance
		res.Config = map[string]any{"idleTimeoutMs": o.IdleTimeout.Milliseconds(), "maxMessageBytes": o.maxMessageBytes(),
			"pushRate": o.PushRate, "heartbeat": o.HeartbeatMessage != ""}
	case "handshake":
		res.Handshake = json.RawMessage(conn.Info)
		if conn.Info == "" {
			res.Handshake = json.RawMessage("null")
		}
	case "lookup":
		known, ref := c.probeTarget(args.ConnectionID)
		if ref != nil {
			return ack{}, ref
		}
		res.Known = &known
	case "push":
		id := args.ConnectionID
		if id == "" {
			id = "probe-never-existed-" + randomID()
		} else if _, ref := c.probeTarget(id); ref != nil {
			return ack{}, ref
		}
		raw, ok := c.d.Pusher.(RawPusher)
		if !ok {
			return ack{}, refuse("InvalidMessage", "this push client cannot probe")
		}
		body, ref := probeBody(args.Kind, id)
		if ref != nil {
			return ack{}, ref
		}
		// No prune, no row removed: the probe watches what the gateway does.
		status, answer, err := raw.Raw(c.ctx, body)
		res.ConnectionID, res.Status, res.Answer = id, status, clipN(string(answer), 300)
		if err != nil {
			res.Error = clipN(err.Error(), 200)
		}
	case "seq":
		res.N, res.Instance = args.N, instance
		res.StartMs = c.start.UnixMilli()
		res.Inflight = inflight.Load()
		if hold := min(time.Duration(args.HoldMs)*time.Millisecond, maxHold); hold > 0 {
			t := time.NewTimer(hold)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
			}
		}
		res.EndMs = time.Now().UnixMilli()
	case "size":
		res.Bytes = c.frameBytes
	case "burst":
		n := min(max(args.Count, 1), maxBurst)
		raw, ok := c.d.Pusher.(RawPusher)
		if !ok {
			return ack{}, refuse("InvalidMessage", "this push client cannot probe")
		}
		res.Count, res.Statuses, res.ElapsedMs = c.burst(raw, conn.ID, n)
	default:
		return ack{}, refuse("InvalidMessage", "unknown probe op %q", clip(req.Op))
	}
	req.AckID = nil // the result is the answer; a refusal above is acked
	b, _ := frameJSON(res)
	c.push([]string{conn.ID}, DataText, string(b))
	return ack{Success: true}, nil
}

// burst pushes n numbered frames to id at once, as a broadcast does, and
// counts the answers by status ("error" for none).
func (c *call) burst(raw RawPusher, id string, n int) (int, map[string]int, int64) {
	start := time.Now()
	statuses := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			data, _ := frameJSON(map[string]any{"type": "probeBurst", "i": i})
			body, _ := json.Marshal(map[string]any{"websocket": map[string]string{
				"action": ActionDataSend, "secConnectionID": id, "dataType": DataText, "data": string(data)}})
			status, _, err := raw.Raw(c.ctx, body)
			key := strconv.Itoa(status)
			if err != nil {
				key = "error"
			}
			mu.Lock()
			statuses[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return n, statuses, time.Since(start).Milliseconds()
}

// probeBody is a push of kind for id.
func probeBody(kind, id string) ([]byte, *refusal) {
	var ws map[string]any
	switch kind {
	case "", "data":
		ws = map[string]any{"action": ActionDataSend, "secConnectionID": id, "dataType": DataText, "data": `{"type":"probePush"}`}
	case "closing":
		ws = map[string]any{"action": ActionClosing, "secConnectionID": id}
	case "malformed":
		// A push the gateway must refuse: does refusing it drop the client?
		ws = map[string]any{"action": ActionDataSend, "secConnectionID": id, "dataType": "no-such-type", "data": map[string]int{"x": 1}}
	default:
		return nil, refuse("InvalidMessage", "push kind must be data, closing or malformed")
	}
	b, _ := json.Marshal(map[string]any{"websocket": ws})
	return b, nil
}

// probeTarget refuses an ID the probe may not touch: one the registry has
// a row for, live or not (a client can outlive its row's lease), that did
// not offer ProbeConnection's tag. Only those, and IDs the registry has no
// row for, are the probe's: PROBE_SECRET must not be a way to push to or
// close anyone else. exists says whether id still has a row, live or not:
// only cleanup (a closing event) removes one, where a lapsed lease makes a
// row dead (and sweeps leave a probe's dead rows for store.ProbeGrace).
func (c *call) probeTarget(id string) (exists bool, ref *refusal) {
	if err := checkID(id); err != nil {
		return false, refuse("InvalidMessage", "connectionId: %s", err.(*failure).msg)
	}
	conn, _, err := c.d.Registry.Lookup(c.ctx, id)
	if err != nil {
		return false, internal(err)
	}
	if conn.ID != "" && conn.Info == "" {
		return false, refuse("Forbidden", "connectionId: not a connection scfws probe opened")
	}
	return conn.ID != "", nil
}

func randomID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// handshakeInfo is what register keeps of a connecting event for the
// probe: the names (never the values) of its top-level and requestContext
// keys, and of its headers and query string if any reached the function.
func handshakeInfo(payload []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(payload, &top) != nil {
		return ""
	}
	info := map[string][]string{"top": keys(top)}
	for _, k := range []string{"requestContext", "headers", "queryString", "queryStringParameters"} {
		var m map[string]json.RawMessage
		if json.Unmarshal(top[k], &m) == nil && m != nil {
			info[k] = keys(m)
		}
	}
	b, _ := json.Marshal(info)
	for len(b) > 1024 { // the registry keeps 1 KiB: drop the longest list's tail
		longest := ""
		for k, v := range info {
			if longest == "" || len(v) > len(info[longest]) {
				longest = k
			}
		}
		info[longest] = info[longest][:len(info[longest])/2]
		b, _ = json.Marshal(info)
	}
	return string(b)
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, clip(k))
	}
	sort.Strings(out)
	return out
}

// ProbeTag is what a handshake offers, as the subprotocol entry
// "scfws.probe-empty-reply.<tag>", to ask the register function to answer
// an empty secWebSocketProtocol: the only way to learn whether the gateway
// passes an empty header to the client (which breaks browsers). Derived
// from the secret, so nobody else can ask.
func ProbeTag(secret string) string { return probeTag(secret, "empty secWebSocketProtocol") }

// ProbeConnectionTag is what each scfws probe connection offers, as
// "scfws.probe-connection.<tag>": register keeps its handshake's key names
// (the handshake op), and marks it as one the probe's pushes may target.
func ProbeConnectionTag(secret string) string { return probeTag(secret, "connection") }

func probeTag(secret, purpose string) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprint(m, "scfws probe: "+purpose)
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// The subprotocol entry prefixes that carry ProbeTag and
// ProbeConnectionTag. Neither is ever selected as a subprotocol.
const (
	ProbeEmptyReply = "scfws.probe-empty-reply."
	ProbeConnection = "scfws.probe-connection."
)
