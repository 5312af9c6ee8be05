package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/proto"
)

// handshake: a handshake offering no subprotocol must get no
// Sec-WebSocket-Protocol header (a browser fails on one), one offering
// scfws.v1 gets scfws.v1. And, for the open question: what the client gets
// when the function answers an empty secWebSocketProtocol.
func (p *prober) handshake(ctx context.Context) Scenario {
	s := Scenario{Assumes: "no offer: connected, no Sec-WebSocket-Protocol header; scfws.v1 offered: scfws.v1", Data: map[string]any{}}
	plain, err := p.dial(ctx, "no subprotocol", nil)
	if err != nil {
		return failed(err)
	}
	_, plainHeader := plain.header["Sec-Websocket-Protocol"]
	plain.ws.Close(websocket.StatusNormalClosure, "probe")
	s.Data["noOfferHeader"], s.Data["v1Protocol"] = plainHeader, p.main.protocol
	empty := "connected, Sec-WebSocket-Protocol absent"
	if c, err := p.dial(ctx, "empty reply", []string{proto.ProbeEmptyReply + proto.ProbeTag(p.c.Secret)}); err != nil {
		empty = "refused: " + err.Error()
	} else {
		if v, ok := c.header["Sec-Websocket-Protocol"]; ok {
			empty = fmt.Sprintf("connected, Sec-WebSocket-Protocol %q (browsers that offered a subprotocol fail on it)", strings.Join(v, ","))
		}
		c.ws.Close(websocket.StatusNormalClosure, "probe")
	}
	s.Data["emptyReply"] = empty
	header := "no header"
	if plainHeader {
		header = "a Sec-WebSocket-Protocol header"
	}
	s.Measured = fmt.Sprintf("no offer: connected, %s; scfws.v1 offered: %q; an empty reply: %s", header, p.main.protocol, empty)
	s.Outcome = Agrees
	if plainHeader || p.main.protocol != proto.Subprotocol {
		s.Outcome, s.Fix = Differs, "report this: browsers would fail these handshakes"
	}
	return s
}

// registerKeys: what reaches the register function, by key name.
func (p *prober) registerKeys(ctx context.Context) Scenario {
	s := Scenario{Assumes: "requestContext and websocket only; headers and query string not documented", Outcome: Info}
	r, err := p.ask(ctx, proto.ProbeHandshake, nil, 10*time.Second)
	if err != nil {
		return failed(err)
	}
	var info map[string][]string
	if err := json.Unmarshal(r.Handshake, &info); err != nil || info == nil {
		return failed(fmt.Errorf("no handshake keys kept (%s)", r.Handshake))
	}
	parts := []string{"top level: " + strings.Join(info["top"], ", ")}
	if rc := info["requestContext"]; len(rc) > 0 {
		parts = append(parts, "requestContext: "+strings.Join(rc, ", "))
	}
	for _, k := range []string{"headers", "queryString", "queryStringParameters"} {
		if v, ok := info[k]; ok {
			parts = append(parts, fmt.Sprintf("%s: %d names", k, len(v)))
		} else {
			parts = append(parts, k+": absent")
		}
	}
	s.Measured = strings.Join(parts, "; ")
	s.Data = map[string]any{"keys": info}
	return s
}

// unknownPush: what the push address answers for an ID that never existed.
func (p *prober) unknownPush(ctx context.Context) Scenario {
	s := Scenario{Assumes: "refused: a non-200 answer, or 200 with a non-zero errNo (the connection is pruned)"}
	r, err := p.ask(ctx, proto.ProbePush, &proto.ProbeArgs{}, 10*time.Second)
	if err != nil {
		return failed(err)
	}
	return refusal(s, r)
}

// refusal judges a push answer against "a push to a dead connection is
// refused".
func refusal(s Scenario, r result) Scenario {
	s.Data = map[string]any{"status": r.Status, "answer": r.Answer}
	s.Measured = fmt.Sprintf("HTTP %d %s", r.Status, strings.TrimSpace(r.Answer))
	if r.Error != nil {
		s.Measured += " (" + strings.Trim(string(r.Error), `"`) + ")"
	}
	var body struct {
		ErrNo int `json:"errNo"`
	}
	_ = json.Unmarshal([]byte(r.Answer), &body)
	switch {
	case r.Status != 200 || body.ErrNo != 0:
		s.Outcome = Agrees
	default:
		s.Outcome = Adapt
		s.Fix = "none needed: dead connections then leave only by the idle sweep, so keep IDLE_TIMEOUT equal to the API's backend timeout"
	}
	return s
}

// closedPush: a connection closes; does closing reach the function (its row
// goes), and what does a push to it get?
func (p *prober) closedPush(ctx context.Context) Scenario {
	s := Scenario{Assumes: "closing reaches the function on a client's close; a push to the closed connection is refused"}
	c, id, err := p.second(ctx, "closed")
	if err != nil {
		return failed(err)
	}
	began := time.Now()
	c.ws.Close(websocket.StatusNormalClosure, "probe: closed")
	gone, waited := p.waitGone(ctx, id, 5*time.Second)
	r, err := p.ask(ctx, proto.ProbePush, &proto.ProbeArgs{ConnectionID: id}, 10*time.Second)
	if err != nil {
		return failed(err)
	}
	s = refusal(s, r)
	closing := fmt.Sprintf("closing fired (row gone after %s)", waited.Round(time.Millisecond))
	if !gone {
		closing = "no closing within 5s (the row stays until the idle sweep)"
		if s.Outcome == Agrees {
			s.Outcome, s.Fix = Adapt, "none needed: rows of closed connections then leave by the prune on the next push, or the idle sweep"
		}
	}
	s.Measured = closing + "; push to it: " + s.Measured
	s.Data["closingFired"], s.Data["closeMs"] = gone, time.Since(began).Milliseconds()
	return s
}

// waitGone polls until the registry has no row for id, or wait passes.
func (p *prober) waitGone(ctx context.Context, id string, wait time.Duration) (bool, time.Duration) {
	gone, waited, _ := p.waitGoneOn(ctx, p.main, id, wait)
	return gone, waited
}

// waitGoneOn asks through c. err is the last lookup's failure when none
// answered: then nothing was measured.
func (p *prober) waitGoneOn(ctx context.Context, c *conn, id string, wait time.Duration) (gone bool, waited time.Duration, err error) {
	began := time.Now()
	answered := false
	for time.Since(began) < wait {
		r, lerr := c.askWith(ctx, p.c.Secret, proto.ProbeLookup, &proto.ProbeArgs{ConnectionID: id}, 5*time.Second)
		if lerr == nil {
			answered = true
			if r.Known != nil && !*r.Known {
				return true, time.Since(began), nil
			}
		} else {
			err = lerr
		}
		select {
		case <-ctx.Done():
			return false, time.Since(began), ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if answered {
		err = nil
	}
	return false, time.Since(began), err
}

// serverClose: a closing push closes the client; does the gateway then send
// closing too? (scfws removes the row itself either way.)
func (p *prober) serverClose(ctx context.Context) Scenario {
	s := Scenario{Assumes: "a closing push closes the client; no closing event is needed (scfws removes the row itself)", Outcome: Info}
	c, id, err := p.second(ctx, "server-closed")
	if err != nil {
		return failed(err)
	}
	r, err := p.ask(ctx, proto.ProbePush, &proto.ProbeArgs{ConnectionID: id, Kind: proto.PushClosing}, 10*time.Second)
	if err != nil {
		return failed(err)
	}
	closed, how := c.closedWithin(ctx, 5*time.Second)
	gone, _ := p.waitGone(ctx, id, 3*time.Second)
	s.Data = map[string]any{"status": r.Status, "closed": closed, "closingFired": gone}
	switch {
	case !closed:
		s.Measured = fmt.Sprintf("HTTP %d, but the client was still open 5s later", r.Status)
		s.Outcome, s.Fix = Differs, "report this: closeConnection and closeUser would not disconnect anyone"
	case gone:
		s.Measured = fmt.Sprintf("HTTP %d; the client was %s; closing fired too", r.Status, how)
	default:
		s.Measured = fmt.Sprintf("HTTP %d; the client was %s; no closing event", r.Status, how)
	}
	return s
}

// refusedPush: Tencent says a non-200 push answer is a system fault after
// which the gateway sends FIN to the client. scfws prunes such a
// connection; if the gateway kept it open, scfws would forget a live client.
func (p *prober) refusedPush(ctx context.Context) Scenario {
	s := Scenario{Assumes: "after a non-200 answer the gateway drops that client (scfws prunes it)"}
	c, id, err := p.second(ctx, "refused")
	if err != nil {
		return failed(err)
	}
	r, err := p.ask(ctx, proto.ProbePush, &proto.ProbeArgs{ConnectionID: id, Kind: proto.PushMalformed}, 10*time.Second)
	if err != nil {
		return failed(err)
	}
	s.Data = map[string]any{"status": r.Status, "answer": r.Answer}
	if r.Status == 200 {
		s.Measured, s.Outcome = "a malformed push was answered 200: nothing to learn", Info
		c.ws.Close(websocket.StatusNormalClosure, "probe")
		return s
	}
	closed, how := c.closedWithin(ctx, 3*time.Second)
	s.Data["dropped"] = closed
	if closed {
		s.Measured, s.Outcome = fmt.Sprintf("HTTP %d, then the client was %s", r.Status, how), Agrees
		return s
	}
	s.Measured = fmt.Sprintf("HTTP %d, and the client stayed open", r.Status)
	s.Outcome = Differs
	s.Fix = "report this: scfws prunes connections on a non-200 answer, which would forget open ones (they reconnect on their next frame)"
	c.ws.Close(websocket.StatusNormalClosure, "probe")
	return s
}

// order: 20 numbered frames back to back, each held 100ms by the function.
func (p *prober) order(ctx context.Context) Scenario {
	s := Scenario{Assumes: "frames may be handled out of order and in parallel: scfws keeps no per-connection order", Outcome: Info}
	c, err := p.open(ctx, "order")
	if err != nil {
		return failed(err)
	}
	const n = 20
	chans := make([]chan result, n)
	for i := range n {
		if chans[i], err = c.send(ctx, p.c.Secret, proto.ProbeSeq, &proto.ProbeArgs{N: i, HoldMs: 100}, 0); err != nil {
			return failed(err)
		}
	}
	var rs []result
	for _, ch := range chans {
		r, err := c.await(ctx, ch, 30*time.Second)
		if err != nil {
			return failed(fmt.Errorf("%d of %d frames answered: %w", len(rs), n, err))
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b result) int { return int(a.StartMs - b.StartMs) })
	inOrder := slices.IsSortedFunc(rs, func(a, b result) int { return a.N - b.N })
	overlap := 0
	for i, a := range rs {
		k := 1
		for j, b := range rs {
			if i != j && b.StartMs < a.EndMs && a.StartMs < b.EndMs {
				k++
			}
		}
		overlap = max(overlap, k)
	}
	instances := map[string]bool{}
	for _, r := range rs {
		instances[r.Instance] = true
	}
	order := "in order"
	if !inOrder {
		order = "out of order"
	}
	s.Measured = fmt.Sprintf("%s; up to %d at once; %d instance(s)", order, overlap, len(instances))
	s.Data = map[string]any{"inOrder": inOrder, "maxConcurrent": overlap, "instances": len(instances)}
	return s
}

// largestFrame: frames of growing size until the gateway refuses one.
func (p *prober) largestFrame(ctx context.Context) Scenario {
	limit := p.report.Function.MaxMessageBytes
	s := Scenario{Assumes: fmt.Sprintf("the gateway passes frames up to MAX_MESSAGE_BYTES (%d)", limit)}
	// Doubling until a frame is refused, then halving the gap: a refusal
	// closes the connection, so each try after one opens another.
	var c *conn
	frame := 0 // the largest frame that passed, as the function saw it
	try := func(size int) (bool, string, error) {
		if c == nil {
			var err error
			if c, err = p.open(ctx, "frames"); err != nil {
				return false, "", err
			}
		}
		ch, err := c.send(ctx, p.c.Secret, proto.ProbeSize, nil, size)
		var r result
		if err == nil {
			r, err = c.await(ctx, ch, 15*time.Second)
		}
		if err == nil {
			frame = max(frame, r.Bytes)
			return true, "", nil
		}
		how := "no answer"
		if closed, h := c.closedWithin(ctx, time.Second); closed {
			how = h
		}
		c.ws.CloseNow()
		c = nil
		return false, how, nil
	}
	passed, refusedAt, how := 0, 0, ""
	for size := 1 << 10; size <= 4<<20; size *= 2 {
		ok, h, err := try(size)
		if err != nil {
			return failed(err)
		}
		if !ok {
			refusedAt, how = size, h
			break
		}
		passed = size
	}
	for i := 0; i < 6 && refusedAt-passed > 1<<10; i++ {
		mid := passed + (refusedAt-passed)/2
		ok, h, err := try(mid)
		if err != nil {
			return failed(err)
		}
		if ok {
			passed = mid
		} else {
			refusedAt, how = mid, h
		}
	}
	if c != nil {
		c.ws.Close(websocket.StatusNormalClosure, "probe")
	}
	passed = max(passed, frame)
	s.Data = map[string]any{"passed": passed, "refusedAt": refusedAt}
	switch {
	case refusedAt == 0:
		s.Measured = fmt.Sprintf("every frame up to %d bytes passed", passed)
	default:
		s.Measured = fmt.Sprintf("a %d-byte frame passed; about %d did not (%s)", passed, refusedAt, how)
	}
	s.Outcome = Agrees
	if refusedAt != 0 && refusedAt <= limit {
		s.Outcome, s.Fix = Adapt, fmt.Sprintf("MAX_MESSAGE_BYTES=%d (and tell clients the limit)", passed)
	}
	return s
}

// pushRate: a burst of 1,000 pushes to the probe's own connection.
func (p *prober) pushRate(ctx context.Context) Scenario {
	s := Scenario{Assumes: "no 429 at full concurrency (PUSH_RATE unlimited)"}
	before := len(p.main.others())
	r, err := p.ask(ctx, proto.ProbeBurst, &proto.ProbeArgs{Count: 1000}, 60*time.Second)
	if err != nil {
		return failed(err)
	}
	accepted := r.Statuses["200"]
	deadline := time.Now().Add(5 * time.Second)
	arrived := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		arrived = 0
		for _, f := range p.main.others()[before:] {
			if strings.Contains(string(f), `"`+proto.TypeProbeBurst+`"`) {
				arrived++
			}
		}
		if arrived >= accepted {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Statuses)) {
		parts = append(parts, fmt.Sprintf("%s x%d", k, r.Statuses[k]))
	}
	secs := max(float64(r.ElapsedMs)/1000, 0.001)
	// Open question: does a burst the gateway answers 429 drop the client?
	// The socket says: a frame's answer could itself be 429'd.
	closed, _ := p.main.closedWithin(ctx, time.Second)
	if ctx.Err() != nil {
		return failed(fmt.Errorf("out of time after the burst: %w", ctx.Err()))
	}
	survived := !closed
	s.Measured = fmt.Sprintf("%d pushes in %dms (%.0f/s): %s; %d frames arrived; the connection %s", r.Count, r.ElapsedMs, float64(r.Count)/secs,
		strings.Join(parts, ", "), arrived, map[bool]string{true: "survived", false: "was dropped"}[survived])
	s.Data = map[string]any{"statuses": r.Statuses, "elapsedMs": r.ElapsedMs, "arrived": arrived, "connectionSurvived": survived}
	switch {
	case !survived:
		s.Outcome = Differs
		s.Fix = "report this: the burst dropped the connection it was pushed to"
		if r.Statuses["429"] > 0 {
			s.Fix = fmt.Sprintf("PUSH_RATE=%d: a burst answered 429 dropped the client", max(1, int(0.8*float64(accepted)/secs)))
		}
	case arrived < accepted:
		s.Outcome = Differs
		s.Fix = fmt.Sprintf("report this: %d pushes were accepted but only %d frames arrived", accepted, arrived)
	case r.Statuses["429"] > 0:
		rate := max(1, int(0.8*float64(accepted)/secs))
		s.Outcome, s.Fix = Adapt, fmt.Sprintf("PUSH_RATE=%d", rate)
	default:
		s.Outcome = Agrees
	}
	return s
}

// idle: three connections through the idle timeout: one silent, one
// sending only WebSocket pings, one only receiving pushes.
func (p *prober) idle(ctx context.Context) Scenario {
	t := time.Duration(p.report.Function.IdleTimeoutMs) * time.Millisecond
	s := Scenario{Assumes: fmt.Sprintf("only client frames reset the idle timer (IDLE_TIMEOUT %s): the silent, the ping-only and the push-only connections are all closed", t)}
	if t <= 0 {
		return failed(fmt.Errorf("the function did not say its IDLE_TIMEOUT"))
	}
	silent, silentID, err := p.second(ctx, "silent")
	if err != nil {
		return failed(err)
	}
	pinger, _, err := p.second(ctx, "pinger")
	if err != nil {
		return failed(err)
	}
	receiver, receiverID, err := p.second(ctx, "receiver")
	if err != nil {
		return failed(err)
	}
	// Its own connection drives the scenario, kept alive by its frames:
	// the main one may have gone idle in the scenarios before.
	driver, _, err := p.second(ctx, "driver")
	if err != nil {
		return failed(err)
	}
	// Measured at end itself, not at the first tick after it: a tick of
	// t/4 would overshoot by up to t/4 (minutes, for a long timeout).
	end := time.NewTimer(t + max(2*time.Second, t/10))
	defer end.Stop()
	tick := time.NewTicker(max(t/4, 200*time.Millisecond))
	defer tick.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			return failed(ctx.Err())
		case <-end.C:
			break wait
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = pinger.ws.Ping(pctx)
		cancel()
		// The driver's frame keeps it alive and pushes to the receiver.
		_, _ = driver.askWith(ctx, p.c.Secret, proto.ProbePush, &proto.ProbeArgs{ConnectionID: receiverID}, 5*time.Second)
	}
	open := func(c *conn) bool { closed, _ := c.closedWithin(ctx, 100*time.Millisecond); return !closed }
	silentOpen, pingerOpen, receiverOpen := open(silent), open(pinger), open(receiver)
	gone, _, err := p.waitGoneOn(ctx, driver, silentID, 2*time.Second)
	if err != nil {
		return failed(fmt.Errorf("whether closing fired on idle: %w", err))
	}
	state := func(b bool) string {
		if b {
			return "open"
		}
		return "closed"
	}
	s.Measured = fmt.Sprintf("after %s: silent %s, ping-only %s, push-only %s; closing fired on idle: %v",
		(t + max(2*time.Second, t/10)).Round(time.Second), state(silentOpen), state(pingerOpen), state(receiverOpen), gone)
	s.Data = map[string]any{"silentOpen": silentOpen, "pingOnlyOpen": pingerOpen, "pushOnlyOpen": receiverOpen, "closingOnIdle": gone}
	switch {
	case silentOpen:
		s.Outcome, s.Fix = Adapt, "IDLE_TIMEOUT must equal the API's backend timeout: a silent client outlived it"
	case pingerOpen || receiverOpen:
		s.Outcome = Differs
		s.Fix = "report this, and have clients send HEARTBEAT_MESSAGE frames: the gateway keeps connections scfws cannot see are alive, so it sweeps them"
	default:
		s.Outcome = Agrees
	}
	return s
}
