package router

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scfws/scfws/proto"
)

// call is one invoke's work: the Deps, the deadline, and what went wrong
// along the way that does not change the reply but belongs in its log line.
type call struct {
	r   *Router
	d   *Deps
	ctx context.Context
	// whole has the invoke's own deadline, not less the reply's reserve:
	// for recording, after the pushes the deadline cut short, what they did.
	whole context.Context

	failed     int
	firstFail  error // the first push that failed
	addressErr error // the first push that says the address looks wrong
	errs       []error
	announcing bool // a presence event's pushes are under way
	// pendingLeft are departures a presence event's own prunes found: told
	// after it, not from inside it.
	pendingLeft []proto.Membership
	untold      []proto.System // presence events not told to every member
	op          string         // a scfws.v1 request's type, for the log

	start      time.Time // when the invoke began
	payload    []byte    // the event, for what register keeps of it
	frameBytes int       // the size of the frame being handled
	// handoff is what a send of this invoke handed off, for the reply.
	handoff *proto.Handoff
}

// problems is what the log line's error says when the reply is a success.
func (c *call) problems() error {
	errs := append(c.errs, untoldError(c.untold))
	if c.firstFail != nil {
		errs = append([]error{fmt.Errorf("%d pushes failed, first: %w", c.failed, c.firstFail)}, errs...)
	}
	return warning(errors.Join(errs...))
}

// push sends one frame to ids, prunes those the gateway says are gone, and
// says what happened.
func (c *call) push(ids []string, dataType, data string) proto.Summary {
	s := proto.Summary{Recipients: len(ids)}
	if len(ids) == 0 {
		return s
	}
	c.prune(&s, c.tally(&s, ids, c.d.Pusher.Broadcast(c.ctx, ids, dataType, data)))
	return s
}

// disconnect asks the gateway to close ids and forgets them: the gateway
// sends no closing event for a close it was asked to make.
func (c *call) disconnect(ids []string) proto.Summary {
	s := proto.Summary{Recipients: len(ids)}
	if len(ids) == 0 {
		return s
	}
	errs := c.d.Pusher.Disconnect(c.ctx, ids)
	gone := c.tally(&s, ids, errs)
	// Closed or gone, each is forgotten; only a gone one counts as pruned.
	// A close that failed or was skipped leaves its client open, so its row
	// stays: the next close, or the idle sweep, finds it.
	done := gone
	for i, err := range errs {
		if err == nil {
			done = append(done, ids[i])
		}
	}
	if len(done) == 0 {
		return s
	}
	left, err := c.d.Registry.Remove(c.ctx, done...)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("forget %d closed connections: %w", len(done), err))
		return s
	}
	s.Pruned = len(gone)
	c.announceLeft(left)
	return s
}

// tally counts each push's outcome into s and returns the gone ones.
func (c *call) tally(s *proto.Summary, ids []string, errs []error) (gone []string) {
	for i, err := range errs {
		var g interface{ Gone() bool }
		var sk interface{ Skipped() bool }
		var af interface{ AddressFault() bool }
		switch {
		case err == nil:
			s.Delivered++
		case errors.As(err, &g) && g.Gone():
			gone = append(gone, ids[i])
		case errors.As(err, &sk) && sk.Skipped():
			s.Skipped++
		default:
			s.Failed++
			c.failed++
			if c.firstFail == nil {
				c.firstFail = err
			}
			if c.addressErr == nil && errors.As(err, &af) && af.AddressFault() {
				c.addressErr = err
			}
		}
	}
	return gone
}

// prune forgets connections the gateway has dropped.
func (c *call) prune(s *proto.Summary, gone []string) {
	if len(gone) == 0 {
		return
	}
	left, err := c.d.Registry.Remove(c.ctx, gone...)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("prune %d gone connections: %w", len(gone), err))
		return
	}
	s.Pruned += len(gone)
	c.announceLeft(left)
}

// sweep deletes dead rows, when this process's turn has come.
func (c *call) sweep(s *proto.Summary) {
	if !c.r.sweepDue(c.d.Options.SweepEvery) {
		return
	}
	n, left, err := c.d.Registry.Sweep(c.ctx)
	if err != nil {
		c.errs = append(c.errs, err)
	}
	s.Swept = n
	c.announceLeft(left)
	if c.d.History != nil {
		if _, err := c.d.History.SweepHistory(c.ctx, c.d.Options.History); err != nil {
			c.errs = append(c.errs, err)
		}
	}
	if c.d.Fanout != nil {
		if _, err := c.d.Fanout.SweepJobs(c.ctx); err != nil {
			c.errs = append(c.errs, err)
		}
	}
}

// addSummary adds o's counts of pushes into s.
func addSummary(s *proto.Summary, o proto.Summary) {
	s.Recipients += o.Recipients
	s.Delivered += o.Delivered
	s.Pruned += o.Pruned
	s.Failed += o.Failed
	s.Skipped += o.Skipped
}

// finishSends puts what the pushes said about the address into the reply:
// errNo stays 0 (a failed transmit would close the sender), but the reply
// says what the log says.
func (c *call) finishSends(reply *Reply) {
	if c.addressErr != nil && reply.ErrNo == proto.CodeOK && (reply.ErrMsg == "" || reply.ErrMsg == "ok") {
		reply.ErrMsg = "push address looks wrong: " + c.addressErr.Error()
	}
}

// register accepts or refuses a handshake, and stores the connection
// before accepting it: nobody is connected without being registered.
func (c *call) register(ws *WebSocket) (Reply, error) {
	var offer string
	if ws.SecWebSocketProtocol != nil {
		offer = *ws.SecWebSocketProtocol
	}
	v1, tokens, err := scan(offer)
	if err != nil {
		return Reply{}, err
	}
	hs := c.handshake(ws, offer, v1)
	conn := proto.Conn{ID: ws.SecConnectionID, V1: v1}
	var groups []string
	if v1 {
		if conn, groups, err = c.identify(conn, tokens); err != nil {
			return Reply{}, err
		}
		if c.offersProbeTag(offer, proto.ProbeConnection+proto.ProbeConnectionTag(c.d.Options.ProbeSecret)) {
			conn.Info = handshakeInfo(c.payload)
		}
	} else if c.d.Options.AuthRequired {
		return Reply{}, fail(proto.CodeUnauthorized, nil, "token required: connect with the scfws.v1 subprotocol and a bearer token")
	}
	firsts, err := c.d.Registry.Register(c.ctx, conn, groups)
	if err != nil {
		var u interface{ Unavailable() bool }
		if errors.As(err, &u) && u.Unavailable() {
			return Reply{}, fail(proto.CodeNotReady, err, "not ready: scfws.v1 needs its tables (turn DB_AUTO_MIGRATE on, or create them as the README says)")
		}
		return Reply{}, errRegistry(err)
	}
	// Never pushed to the new connection itself: it is not open yet.
	for _, g := range firsts {
		c.announceJoined(g, conn.UserID, conn.ID)
	}
	return Reply{WebSocket: hs}, nil
}

// handshake is the reply's websocket object: scfws.v1 when offered, else
// the negotiated subprotocol, each header only when the event had it.
func (c *call) handshake(ws *WebSocket, offer string, v1 bool) *Handshake {
	hs := &Handshake{Action: ActionConnecting, SecConnectionID: ws.SecConnectionID}
	if ws.SecWebSocketExtensions != nil {
		// Always none: the gateway's support for permessage-deflate is not
		// documented, and echoing the offer breaks browsers.
		none := ""
		hs.SecWebSocketExtensions = &none
	}
	switch {
	case v1:
		p := proto.Subprotocol
		hs.SecWebSocketProtocol = &p
	case ws.SecWebSocketProtocol != nil:
		p := negotiate(offer, c.d.Options.Subprotocols)
		if c.offersProbeTag(offer, proto.ProbeEmptyReply+proto.ProbeTag(c.d.Options.ProbeSecret)) {
			p = "" // present and empty, as scfws probe asked
		}
		hs.SecWebSocketProtocol = &p
	}
	return hs
}

// identify gives a scfws.v1 connection the user and roles its token names,
// and returns the groups to join; anonymous unless AUTH_REQUIRED.
func (c *call) identify(conn proto.Conn, tokens []string) (proto.Conn, []string, error) {
	switch {
	case len(tokens) > 1:
		return conn, nil, fail(proto.CodeUnauthorized, nil, "more than one token")
	case len(tokens) == 0 && c.d.Options.AuthRequired:
		return conn, nil, fail(proto.CodeUnauthorized, nil, "token required")
	case len(tokens) == 0:
		return conn, nil, nil
	case c.d.Verifier == nil:
		return conn, nil, fail(proto.CodeUnauthorized, nil, "token not accepted: no key is configured (AUTH_SECRET or AUTH_PUBLIC_KEY)")
	}
	p, err := c.d.Verifier.Verify(tokens[0])
	if err != nil {
		// The verifier's text is a short reason; the token never reaches
		// a reply or a log line.
		return conn, nil, fail(proto.CodeUnauthorized, nil, "%s", clip(err.Error()))
	}
	if n, most := len(p.Groups), c.d.Options.maxGroups(); n > most {
		// Refused, not cut short: a connection missing groups its token
		// names would fail later, far from the cause.
		return conn, nil, fail(proto.CodeUnauthorized, nil, "token names %d groups: at most %d (MAX_GROUPS_PER_CONNECTION)", n, most)
	}
	conn.UserID, conn.Roles = p.UserID, p.Roles
	return conn, p.Groups, nil
}

// offersProbeTag reports whether the offer carries want, one of scfws
// probe's tagged entries; never without PROBE_SECRET.
func (c *call) offersProbeTag(offered, want string) bool {
	if c.d.Options.ProbeSecret == "" {
		return false
	}
	for _, p := range entries(offered) {
		if subtle.ConstantTimeCompare([]byte(p), []byte(want)) == 1 {
			return true
		}
	}
	return false
}

// Bounds on a subprotocol offer: names are short, tokens at most 4 KiB,
// and a hostile offer must not cost time or come back in the reply.
const (
	maxOfferBytes    = 16 << 10
	maxOfferEntries  = 16
	maxProtocolBytes = 128
)

// entries splits an offer into its first maxOfferEntries trimmed entries,
// looking at the first maxOfferBytes only.
func entries(offered string) []string {
	out, _ := split(offered)
	return out
}

// split is entries, and how many bytes of the offer they cover: the rest
// is not looked at.
func split(offered string) (out []string, seen int) {
	head := offered[:min(len(offered), maxOfferBytes)]
	for i := 0; ; {
		if len(out) == maxOfferEntries {
			return out, i
		}
		j := strings.IndexByte(head[i:], ',')
		if j < 0 {
			return append(out, strings.TrimSpace(head[i:])), len(head)
		}
		out = append(out, strings.TrimSpace(head[i:i+j]))
		i += j + 1
	}
}

// scan reports whether scfws.v1 is offered, and the offered tokens. An
// entry that clearly meant a token but would be skipped, "bearer." in
// another case or past the offer's caps, refuses the handshake: taken for
// anonymous, the client would never learn its token went unread.
func scan(offered string) (v1 bool, tokens []string, err error) {
	inspected, seen := split(offered)
	for _, p := range inspected {
		switch {
		case p == proto.Subprotocol:
			v1 = true
		case strings.HasPrefix(p, proto.TokenPrefix):
			tokens = append(tokens, p[len(proto.TokenPrefix):])
		case hasPrefixFold(p, proto.TokenPrefix):
			return false, nil, fail(proto.CodeUnauthorized, nil, "bearer entry in another case: the prefix is %q", proto.TokenPrefix)
		}
	}
	if containsFold(offered[seen:], proto.TokenPrefix) {
		return false, nil, fail(proto.CodeUnauthorized, nil, "bearer entry past the offer's first %d entries or %d KiB: offer it first",
			maxOfferEntries, maxOfferBytes>>10)
	}
	return v1, tokens, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// containsFold reports whether s holds sub in any case; sub is ASCII
// letters and punctuation, starting with a letter.
func containsFold(s, sub string) bool {
	first := sub[0] | 0x20
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i]|0x20 == first && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// negotiate picks the first offered subprotocol that the allow-list has, or
// the first offered when the list is empty. A bearer entry is a credential,
// never a protocol: it is never selected.
func negotiate(offered string, allowed []string) string {
	for _, p := range entries(offered) {
		if len(p) > maxProtocolBytes || !isToken(p) || hasPrefixFold(p, proto.TokenPrefix) || p == proto.Subprotocol ||
			strings.HasPrefix(p, proto.ProbeEmptyReply) || strings.HasPrefix(p, proto.ProbeConnection) {
			continue
		}
		if len(allowed) == 0 {
			return p
		}
		for _, a := range allowed {
			if a == p {
				return p
			}
		}
	}
	return ""
}

// isToken reports whether s is an HTTP token (RFC 9110), as a subprotocol
// name must be; anything else could corrupt the gateway's response headers.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func (c *call) transmit(ws *WebSocket) (Reply, error) {
	reply := Reply{Summary: &proto.Summary{}}
	id, dataType, data := ws.SecConnectionID, ws.DataType, ws.Data
	if dataType == "" {
		dataType = proto.DataText
	}
	size, err := frameSize(dataType, data)
	if err != nil {
		return reply, err
	}
	conn, known, err := c.d.Registry.Touch(c.ctx, id)
	if err != nil {
		return reply, errRegistry(err)
	}
	if !known {
		// The gateway forgets a connection only when it drops it; the
		// registry forgot this one while it was open (swept while its
		// client stayed silent past IDLE_TIMEOUT, or pruned). Its identity
		// and groups are lost with the row, so it must connect again.
		*reply.Summary = c.disconnect([]string{id})
		reply.ErrMsg = "unknown connection: asked the gateway to close it"
		return reply, warning(errors.New("a frame from a connection the registry does not know: closed so that it registers again (is IDLE_TIMEOUT shorter than the API's backend timeout, or does the client send only WebSocket pings?)"))
	}
	if dataType == proto.DataText && c.d.Options.HeartbeatMessage != "" && data == c.d.Options.HeartbeatMessage {
		reply.ErrMsg = "heartbeat"
		return reply, nil
	}
	limit := c.d.Options.maxMessageBytes()
	if size > limit {
		if conn.V1 {
			c.tooLarge(conn, data, size, limit)
		}
		return reply, fail(proto.CodeTooLarge, nil, "message of %d bytes: at most %d (MAX_MESSAGE_BYTES)", size, limit)
	}
	if dataType == proto.DataText && !conn.V1 {
		if problem := escapeProblem(data, limit); problem != "" {
			return reply, fail(proto.CodeTooLarge, nil, "%s", problem)
		}
	}
	c.frameBytes = size
	if conn.V1 {
		err = c.frame(conn, dataType, data, &reply)
	} else {
		err = c.broadcast(id, dataType, data, reply.Summary)
	}
	c.sweep(reply.Summary)
	c.finishSends(&reply)
	return reply, err
}

// broadcast sends a plain connection's frame to the other plain ones.
func (c *call) broadcast(sender, dataType, data string, s *proto.Summary) error {
	why := c.fanoutOff()
	if why == "" {
		return c.fanBroadcast(sender, dataType, data, s)
	}
	defer func() {
		if s.Skipped > 0 {
			c.handoff = &proto.Handoff{Off: why}
		}
	}()
	live, err := c.d.Registry.Live(c.ctx)
	if err != nil {
		return errRegistry(err)
	}
	recipients := live
	if !c.d.Options.BroadcastToSender {
		recipients = make([]string, 0, len(live))
		for _, id := range live {
			if id != sender {
				recipients = append(recipients, id)
			}
		}
	}
	if c.d.Options.OnlineCountSuffix && dataType == proto.DataText {
		data = fmt.Sprintf("%s(===Online people:%d===)", data, len(live))
	}
	*s = c.push(recipients, dataType, data)
	return nil
}

// fanBroadcast is broadcast read a page at a time, and handed off when
// the recipients will not all be pushed in time.
func (c *call) fanBroadcast(sender, dataType, data string, s *proto.Summary) error {
	all := proto.Target{Kind: proto.TargetPlain}
	if c.d.Options.OnlineCountSuffix && dataType == proto.DataText {
		n, err := c.d.Fanout.CountRecipients(c.ctx, all, proto.KeyRange{})
		if err != nil {
			return errRegistry(err)
		}
		data = fmt.Sprintf("%s(===Online people:%d===)", data, n)
	}
	p := &part{target: all, frame: proto.Frame{DataType: dataType, Data: data}}
	if !c.d.Options.BroadcastToSender {
		p.except = sender
	}
	sum, _, err := c.fan([]*part{p})
	*s = sum
	return err
}

// frameSize is the frame's size as the client sent it.
func frameSize(dataType, data string) (int, error) {
	switch dataType {
	case proto.DataText:
		return len(data), nil
	case proto.DataBinary:
		n, err := base64.StdEncoding.Decode(make([]byte, base64.StdEncoding.DecodedLen(len(data))), []byte(data))
		if err != nil {
			return 0, fail(proto.CodeBadData, nil, "binary data is not base64: %v", err)
		}
		return n, nil
	default:
		return 0, fail(proto.CodeBadData, nil, "unknown dataType %q: want text or binary", clip(dataType))
	}
}

func (c *call) cleanup(ws *WebSocket) (Reply, error) {
	left, err := c.d.Registry.Remove(c.ctx, ws.SecConnectionID)
	if err != nil {
		return Reply{}, errRegistry(err)
	}
	c.announceLeft(left)
	return Reply{}, nil
}

// without returns ids less one.
func without(ids []string, id string) []string {
	if id == "" {
		return ids
	}
	out := make([]string, 0, len(ids))
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
