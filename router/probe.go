package router

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scfws/scfws/proto"
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

// instance names this process for the order-and-concurrency scenario.
var instance = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// inflight counts the invokes in this process, for the same scenario.
var inflight atomic.Int64

func (c *call) probe(conn proto.Conn, req *proto.Request) (proto.Ack, *refusal) {
	if !c.probeSecretOK(req.Secret) {
		return proto.Ack{}, refuse(proto.RefusedInvalidMessage, "unknown type %q", proto.TypeProbe)
	}
	var args proto.ProbeArgs
	if len(req.Args) > 0 && json.Unmarshal(req.Args, &args) != nil {
		return proto.Ack{}, refuse(proto.RefusedInvalidMessage, "probe args must be an object")
	}
	c.op = "probe:" + clip(req.Op)
	res := proto.ProbeResult{Type: proto.TypeProbeResult, Op: clip(req.Op), AckID: req.AckID}
	if ref := c.probeOp(conn, req.Op, args, &res); ref != nil {
		return proto.Ack{}, ref
	}
	req.AckID = nil // the result is the answer; a refusal above is acked
	b, _ := frameJSON(res)
	c.push([]string{conn.ID}, proto.DataText, string(b))
	return proto.Ack{Success: true}, nil
}

// probeSecretOK reports whether a probe request carries PROBE_SECRET; never
// without one configured.
func (c *call) probeSecretOK(given string) bool {
	secret := c.d.Options.ProbeSecret
	return secret != "" && subtle.ConstantTimeCompare([]byte(given), []byte(secret)) == 1
}

// probeOp does one probe op, its findings into res.
func (c *call) probeOp(conn proto.Conn, op string, args proto.ProbeArgs, res *proto.ProbeResult) *refusal {
	switch op {
	case proto.ProbeWhoami:
		o := c.d.Options
		res.ConnectionID, res.Instance = conn.ID, instance
		res.Config = &proto.ProbeSettings{IdleTimeoutMs: o.IdleTimeout.Milliseconds(), MaxMessageBytes: o.maxMessageBytes(),
			PushRate: o.PushRate, Heartbeat: o.HeartbeatMessage != ""}
	case proto.ProbeHandshake:
		res.Handshake = json.RawMessage(conn.Info)
		if conn.Info == "" {
			res.Handshake = json.RawMessage("null")
		}
	case proto.ProbeLookup:
		known, ref := c.probeTarget(args.ConnectionID)
		if ref != nil {
			return ref
		}
		res.Known = &known
	case proto.ProbePush:
		return c.probePush(args, res)
	case proto.ProbeSeq:
		c.probeSeq(args, res)
	case proto.ProbeSize:
		res.Bytes = c.frameBytes
	case proto.ProbeBurst:
		raw, ok := c.d.Pusher.(RawPusher)
		if !ok {
			return refuse(proto.RefusedInvalidMessage, "this push client cannot probe")
		}
		res.Count, res.Statuses, res.ElapsedMs = c.burst(raw, conn.ID, min(max(args.Count, 1), maxBurst))
	default:
		return refuse(proto.RefusedInvalidMessage, "unknown probe op %q", clip(op))
	}
	return nil
}

// probePush posts one push of args.Kind, to args.ConnectionID or to an ID
// that never existed, and reports the gateway's answer as it came: no
// prune, no row removed, since the probe watches what the gateway does.
func (c *call) probePush(args proto.ProbeArgs, res *proto.ProbeResult) *refusal {
	id := args.ConnectionID
	if id == "" {
		id = "probe-never-existed-" + randomID()
	} else if _, ref := c.probeTarget(id); ref != nil {
		return ref
	}
	raw, ok := c.d.Pusher.(RawPusher)
	if !ok {
		return refuse(proto.RefusedInvalidMessage, "this push client cannot probe")
	}
	body, ref := probeBody(args.Kind, id)
	if ref != nil {
		return ref
	}
	status, answer, err := raw.Raw(c.ctx, body)
	res.ConnectionID, res.Status, res.Answer = id, status, clipN(string(answer), 300)
	if err != nil {
		res.Error = clipN(err.Error(), 200)
	}
	return nil
}

// probeSeq reports when this invoke began and ends, holding it up to
// maxHold, and how many invokes the process runs at once.
func (c *call) probeSeq(args proto.ProbeArgs, res *proto.ProbeResult) {
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
			data, _ := frameJSON(map[string]any{"type": proto.TypeProbeBurst, "i": i})
			body, _ := json.Marshal(map[string]any{"websocket": map[string]string{
				"action": ActionDataSend, "secConnectionID": id, "dataType": proto.DataText, "data": string(data)}})
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
	case "", proto.PushData:
		ws = map[string]any{"action": ActionDataSend, "secConnectionID": id, "dataType": proto.DataText, "data": `{"type":"probePush"}`}
	case proto.PushClosing:
		ws = map[string]any{"action": ActionClosing, "secConnectionID": id}
	case proto.PushMalformed:
		// A push the gateway must refuse: does refusing it drop the client?
		ws = map[string]any{"action": ActionDataSend, "secConnectionID": id, "dataType": "no-such-type", "data": map[string]int{"x": 1}}
	default:
		return nil, refuse(proto.RefusedInvalidMessage, "push kind must be data, closing or malformed")
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
		return false, refuse(proto.RefusedInvalidMessage, "connectionId: %s", err.(*failure).msg)
	}
	conn, _, err := c.d.Registry.Lookup(c.ctx, id)
	if err != nil {
		return false, internal(err)
	}
	if conn.ID != "" && conn.Info == "" {
		return false, refuse(proto.RefusedForbidden, "connectionId: not a connection scfws probe opened")
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
