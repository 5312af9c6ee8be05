// Package router is the function's inbound contract: it reads an event
// (a WebSocket step from API Gateway, a backend command, or a request on
// the signed HTTP route), does what it asks, and answers. It declares what
// it needs from the registry, the push client and the token verifier as
// small interfaces, and is the one place where errors become replies and
// log lines.
package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tencentyun/scf-go-lib/functioncontext"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/proto"
)

// Registry keeps the live connections, their identities and groups.
// "Live" means heard from within the idle timeout: the gateway has
// certainly dropped the others.
type Registry interface {
	// Register stores a connection (an upsert) and, for scfws.v1, joins
	// groups; firsts are the groups its user had no other connection in.
	Register(ctx context.Context, c proto.Conn, groups []string) (firsts []string, err error)
	// Touch refreshes id's lease and returns the connection; known is
	// false when the registry has no row for it.
	Touch(ctx context.Context, id string) (c proto.Conn, known bool, err error)
	// Lookup returns id's connection without refreshing it, and whether
	// it is live. A dead row's connection is returned too; c.ID is empty
	// when there is no row.
	Lookup(ctx context.Context, id string) (c proto.Conn, live bool, err error)
	// Remove forgets ids and their memberships; unknown ids are fine.
	// left are the groups whose user lost its last connection.
	Remove(ctx context.Context, ids ...string) (left []proto.Membership, err error)
	// Live lists the live plain connections, LiveV1 the scfws.v1 ones.
	Live(ctx context.Context) ([]string, error)
	LiveV1(ctx context.Context) ([]string, error)
	// Counts counts the live connections of each kind and the groups
	// that have a live member, without listing them.
	Counts(ctx context.Context) (plain, v1, groups int, err error)
	// Sweep deletes connections past the idle timeout.
	Sweep(ctx context.Context) (n int64, left []proto.Membership, err error)
	// Join and Leave change a scfws.v1 connection's groups; first and last
	// say whether its user thereby arrived in or left the group.
	Join(ctx context.Context, id, group string, maxGroups int) (first bool, err error)
	Leave(ctx context.Context, id, group string) (last bool, err error)
	GroupConns(ctx context.Context, group string) ([]string, error)
	GroupUsers(ctx context.Context, group string, limit int) (users []proto.UserCount, anonymous int, truncated bool, err error)
	UserConns(ctx context.Context, user string) ([]string, error)
	IsMember(ctx context.Context, id, group string) (bool, error)
	// ClaimNonce records nonce (a signed request's signature) until
	// expires, for every instance to see; first is false when it was
	// recorded before and has not expired: the request is a replay.
	ClaimNonce(ctx context.Context, nonce []byte, expires time.Time) (first bool, err error)
}

// Pusher delivers frames through the API's reverse-push address.
type Pusher interface {
	// Broadcast sends one frame to every id and returns when all are done:
	// errs[i] is nil when ids[i] got it. An error with Gone() true means the
	// gateway no longer knows the connection; Skipped() true, not attempted
	// because the deadline was near; AddressFault() true, the push address
	// itself looks wrong.
	Broadcast(ctx context.Context, ids []string, dataType, data string) (errs []error)
	// Disconnect asks the gateway to close each id, with the same errors.
	Disconnect(ctx context.Context, ids []string) (errs []error)
}

// Verifier checks a connect token. Its errors' text is a short reason that
// is safe to show: it never quotes the token or a key.
type Verifier interface {
	Verify(token string) (proto.Principal, error)
}

// Options are the behaviours a deployment chooses.
type Options struct {
	// Subprotocols is the allow-list for plain connections; empty accepts
	// the first offered. scfws.v1 is always accepted.
	Subprotocols []string
	// BroadcastToSender echoes a plain frame to its sender too.
	BroadcastToSender bool
	// OnlineCountSuffix appends the templates' "(===Online people:N===)" to
	// plain text frames, N counting the sender.
	OnlineCountSuffix bool
	// HeartbeatMessage: a text frame equal to it only keeps its connection
	// alive. Empty turns heartbeats off.
	HeartbeatMessage string
	// MaxMessageBytes: larger frames (decoded size for binary) are refused
	// (default 256 KiB).
	MaxMessageBytes int
	// SweepEvery is how often one process sweeps dead rows, at most
	// (default 1m). The schedule is process state, safe to lose.
	SweepEvery time.Duration

	// AuthRequired refuses handshakes without a valid scfws.v1 token.
	AuthRequired bool
	// DefaultRoles apply to every scfws.v1 connection; tokens add to them.
	DefaultRoles []string
	// PresenceEvents pushes joined/left system events to group members.
	PresenceEvents bool
	// PresenceLimit: a group with more connections gets no presence
	// events (default 100).
	PresenceLimit int
	// MaxGroups bounds the groups of one connection (default 32).
	MaxGroups int
	// History is what each stream keeps, when Deps.History is set.
	History proto.Retention
	// ListLimit bounds the users a group listing returns (default 1000).
	ListLimit int
	// PublishSecret keys the signed HTTP route; empty turns it off.
	PublishSecret string
	// ProbeSecret enables scfws probe's requests; empty turns them off.
	ProbeSecret string
	// Off are the settings refused by turning their feature off ("KEY:
	// why: feature is off"): status reports them, and the signed route's
	// refusal says why it is off.
	Off []string
	// IdleTimeout and PushRate are the settings, for scfws probe to read;
	// PushRate, the service's pushes per second, also bounds what a send
	// expects to push before its deadline.
	IdleTimeout time.Duration
	PushRate    int
	// Fanout tunes handing sends off.
	Fanout FanoutOptions
}

// DefaultMaxMessageBytes is MaxMessageBytes when unset.
const DefaultMaxMessageBytes = 256 << 10

func (o Options) maxMessageBytes() int {
	if o.MaxMessageBytes <= 0 {
		return DefaultMaxMessageBytes
	}
	return o.MaxMessageBytes
}

func (o Options) maxGroups() int {
	if o.MaxGroups <= 0 {
		return 32
	}
	return o.MaxGroups
}

func (o Options) listLimit() int {
	if o.ListLimit <= 0 {
		return 1000
	}
	return o.ListLimit
}

// Deps is what the router routes to.
type Deps struct {
	Registry Registry
	Pusher   Pusher
	// Verifier checks scfws.v1 tokens; nil when no key is configured.
	Verifier Verifier
	// History keeps streams; nil turns history off (HISTORY_SIZE=0).
	History History
	// Fanout keeps handed-off sends and reads recipients in pages, and
	// Invoker starts their shards; either nil turns fan-out off.
	Fanout  Fanout
	Invoker Invoker
	Options Options
}

// Loader builds the Deps. The SCF runtime hands the function its
// environment with each invoke, so settings can only be read then.
type Loader func(ctx context.Context) (*Deps, error)

// Fixed is a Loader for Deps that are ready now.
func Fixed(d *Deps) Loader {
	return func(context.Context) (*Deps, error) { return d, nil }
}

// Router handles invokes. It implements the SCF Go runtime's raw-bytes
// Handler (Invoke), so the runtime, the CLI and tests drive the same code.
type Router struct {
	log  *zap.Logger
	load Loader
	now  func() time.Time

	mu      sync.Mutex
	loaded  *Deps    // nil until load succeeds
	loading *attempt // the load in progress, if any

	lastSweep atomic.Int64 // unix nanoseconds
	rates     rates        // pushes per second, measured
}

// attempt is one run of the Loader that concurrent invokes share; each
// waits only as long as its own deadline allows.
type attempt struct {
	ctx  context.Context // the invoke's that began it
	done chan struct{}
	deps *Deps
	err  error
}

// NotConfigured marks a Loader error that names settings to fix: its text
// is safe to show in a reply. Any other Loader error (a database that
// cannot be reached) answers a fixed message, its cause in the log only.
func NotConfigured(err error) error { return &configError{err} }

type configError struct{ error }

func (e *configError) Unwrap() error { return e.error }

// New returns a Router that loads its Deps on the first invoke and, while
// that fails, answers every invoke with an error and tries again.
func New(log *zap.Logger, load Loader) *Router {
	return &Router{log: log, load: load, now: time.Now}
}

// Invoke handles one event. It returns an error only for a shard of a
// handed-off send that could not finish, so that SCF's asynchronous retry
// runs it again: the SCF runtime discards the payload of a failed invoke,
// and the gateway closes a client's socket when a transmit invoke fails.
func (r *Router) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, _, retry := r.handle(ctx, payload)
	return out, retry
}

// Handle routes one event and returns its reply; for a request on the HTTP
// route, the reply inside the HTTP response Invoke returns.
func (r *Router) Handle(ctx context.Context, payload []byte) Reply {
	_, reply, _ := r.handle(ctx, payload)
	return reply
}

// failure is an error that knows its reply code and the message for the
// reply; the wrapped cause goes to the log only. A retry failure fails
// the invoke (a shard's).
type failure struct {
	code  int
	msg   string
	cause error
	retry bool
}

func (f *failure) Error() string {
	if f.cause == nil {
		return f.msg
	}
	return f.msg + ": " + f.cause.Error()
}

func (f *failure) Unwrap() error { return f.cause }

func fail(code int, cause error, format string, args ...any) error {
	return &failure{code: code, msg: fmt.Sprintf(format, args...), cause: cause}
}

// kind is what an event is.
type kind int

const (
	kindWebSocket kind = iota + 1
	kindCommand
	kindHTTP
)

// handle routes one event. It logs one line for the invoke, and is the only
// place that maps errors to replies. retry is the error that fails the
// invoke: a backend command's (a shard's) that asks SCF to run it again.
func (r *Router) handle(ctx context.Context, payload []byte) (out []byte, reply Reply, retry error) {
	start := r.now()
	inflight.Add(1)
	defer inflight.Add(-1)
	var ev Event
	var k kind
	var err error
	var http *httpRequest
	var c *call
	trusted := false // a backend: gets the causes of failures
	defer func() {
		if p := recover(); p != nil {
			err = fail(proto.CodeInternal, fmt.Errorf("panic: %v\n%s", p, debug.Stack()), "internal error")
			reply = Reply{}
		}
		retry = c.settle(k, &reply, err)
		reply = finish(reply, err, trusted)
		if reply.Summary != nil {
			reply.Summary.ElapsedMs = r.now().Sub(start).Milliseconds()
		}
		op := ""
		if c != nil {
			op = c.op
		}
		r.logInvoke(ctx, &ev, k, op, reply, err, r.now().Sub(start))
		out = encode(reply, http)
	}()

	if k, err = decode(payload, &ev); err != nil {
		return nil, reply, nil
	}
	// The reserve applies before anything that may block, the first
	// invoke's loading of the settings and the database included.
	whole := ctx // what records a shard's progress may use
	ctx, cancel := reserve(ctx, maxReserve)
	defer cancel()
	switch k {
	case kindHTTP:
		http = &httpRequest{}
	case kindCommand:
		trusted = true // CAM let the caller invoke the function
	}
	deps, err := r.deps(ctx)
	if err != nil {
		return nil, reply, nil
	}
	switch k {
	case kindHTTP:
		// The signature is checked, and claimed once, before anything is
		// stored or sent.
		if ev.Scfws, err = http.verify(&ev, deps.Options, r.now()); err != nil {
			return nil, reply, nil
		}
		if err = http.claim(ctx, deps.Registry); err != nil {
			return nil, reply, nil
		}
		trusted = true
	}
	c = &call{r: r, d: deps, ctx: ctx, whole: whole, start: start, payload: payload}
	switch k {
	case kindWebSocket:
		switch ev.WebSocket.Action {
		case ActionConnecting:
			reply, err = c.register(ev.WebSocket)
		case ActionDataSend, ActionDataRecv:
			reply, err = c.transmit(ev.WebSocket)
		case ActionClosing:
			reply, err = c.cleanup(ev.WebSocket)
		default:
			err = fail(proto.CodeUnknownAction, nil, "unknown action %q", clip(ev.WebSocket.Action))
		}
	case kindCommand, kindHTTP:
		reply, err = c.command(ev.Scfws)
	}
	if err == nil {
		err = c.problems()
	}
	return nil, reply, nil
}

// settle puts what the call handed off into the reply, and returns the
// error that fails the invoke: a backend command's (a shard's) that asks
// SCF to run it again. c is nil when the event never reached a call.
func (c *call) settle(k kind, reply *Reply, err error) error {
	if c != nil && reply.Handoff == nil {
		reply.Handoff = c.handoff
	}
	var f *failure
	if k == kindCommand && errors.As(err, &f) && f.retry {
		return err
	}
	return nil
}

// encode is the invoke's payload: the reply, or for the HTTP route the API
// Gateway response holding it.
func encode(reply Reply, http *httpRequest) []byte {
	b, err := json.Marshal(reply)
	if err != nil { // not reachable with these types; keep the contract anyway
		b = []byte(`{"errNo":500,"errMsg":"internal error"}`)
	}
	if http == nil {
		return b
	}
	return http.response(reply, b)
}

// maxReserve is the most kept from an invocation's deadline for replying:
// registry and push calls get the deadline less a fifth of the time left,
// between 25ms and maxReserve, so a hung database still lets the reply out
// in time, and a short deadline still leaves time for the work.
const maxReserve = 200 * time.Millisecond

// reserve shortens ctx's deadline, if it has one, by a fifth of the time
// left, at least 25ms and at most most. A fixed 200ms starved short
// deadlines (at 150ms, every invoke answered "registry unavailable"); a
// tenth with a 10ms floor answered late on a starved CPU (see
// TestShortDeadlines under -race and stress-ng).
func reserve(ctx context.Context, most time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	left := time.Until(deadline)
	d := min(max(min(most, left/5), 25*time.Millisecond), max(left, 0))
	return context.WithDeadline(ctx, deadline.Add(-d))
}

// finish fills the reply's code and message from err. A backend, a trusted
// caller, also gets the cause.
func finish(reply Reply, err error, trusted bool) Reply {
	var w warn
	if err == nil || errors.As(err, &w) {
		if reply.ErrMsg == "" {
			reply.ErrMsg = "ok"
		}
		return reply
	}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{code: proto.CodeInternal, msg: "internal error"}
	}
	reply.ErrNo, reply.ErrMsg, reply.WebSocket = f.code, f.msg, nil
	if trusted && f.cause != nil && f.code != proto.CodeInternal {
		reply.Detail = clipN(f.cause.Error(), 500)
	}
	return reply
}

func decode(payload []byte, ev *Event) (kind, error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return 0, fail(proto.CodeMalformedEvent, nil, "malformed event: empty")
	}
	if err := json.Unmarshal(payload, ev); err != nil {
		return 0, fail(proto.CodeMalformedEvent, nil, "malformed event: %v", err)
	}
	switch {
	case ev.WebSocket != nil:
	case ev.Scfws != nil:
		return kindCommand, checkCommandNames(payload)
	case isTimer(ev.TriggerType):
		var text string
		var m struct {
			Scfws *proto.Command `json:"scfws"`
		}
		if json.Unmarshal(ev.Message, &text) != nil || json.Unmarshal([]byte(text), &m) != nil || m.Scfws == nil {
			return 0, fail(proto.CodeMalformedEvent, nil, `timer event: its Message must be a backend command, {"scfws":{"op":...}}`)
		}
		ev.Scfws = m.Scfws
		return kindCommand, checkCommandNames([]byte(text))
	case ev.HTTPMethod != "" && ev.Headers != nil:
		return kindHTTP, nil
	default:
		return 0, fail(proto.CodeNoWebSocket, nil, "not found websocket")
	}
	if id := ev.WebSocket.SecConnectionID; strings.ContainsRune(id, utf8.RuneError) && !rawIDValid(payload, id) {
		// The decoder turned invalid bytes or a lone surrogate escape
		// into U+FFFD, so different IDs could become one: refuse.
		return 0, fail(proto.CodeBadConnectionID, nil, "secConnectionID is not UTF-8")
	}
	return kindWebSocket, checkID(ev.WebSocket.SecConnectionID)
}

// isTimer reports whether an event's Type names a timer trigger.
func isTimer(raw json.RawMessage) bool {
	var t string
	return json.Unmarshal(raw, &t) == nil && strings.EqualFold(t, "timer")
}

// rawIDValid reports whether every U+FFFD in id, the event's decoded
// secConnectionID, was sent as one: literally, or as a \ufffd escape (in
// any case). The decoder also makes U+FFFD of each invalid byte and each
// lone surrogate escape ("\ud800", "\udfff"), which would let IDs that
// differ on the wire share a row. Called only for an id holding U+FFFD.
func rawIDValid(payload []byte, id string) bool {
	// The same decode as Event's (same keys, matched alike, the last of a
	// repeated key winning), so the raw value is the one id came from.
	var raw struct {
		WebSocket struct {
			ID json.RawMessage `json:"secConnectionID"`
		} `json:"websocket"`
	}
	if json.Unmarshal(payload, &raw) != nil || !utf8.Valid(raw.WebSocket.ID) {
		return false
	}
	return sentReplacements(raw.WebSocket.ID) == strings.Count(id, "\uFFFD")
}

// sentReplacements counts the U+FFFD a JSON string literal holds as sent:
// the literal ones and the \ufffd escapes (hex digits in either case),
// not a \\ufffd, which is an escaped backslash and text.
func sentReplacements(s []byte) int {
	n := bytes.Count(s, []byte("\uFFFD"))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			continue
		}
		if s[i+1] == 'u' && i+6 <= len(s) && strings.EqualFold(string(s[i+2:i+6]), "fffd") {
			n++
		}
		i++ // skip the escaped character: a backslash escapes nothing more
	}
	return n
}

// maxIDBytes bounds a secConnectionID. Tencent's are about 32 characters;
// the bound keeps a hostile one out of the registry's 255-byte key.
const maxIDBytes = 255

func checkID(id string) error {
	switch {
	case id == "":
		return fail(proto.CodeBadConnectionID, nil, "missing secConnectionID")
	case len(id) > maxIDBytes:
		return fail(proto.CodeBadConnectionID, nil, "secConnectionID of %d bytes: at most %d", len(id), maxIDBytes)
	case !utf8.ValidString(id):
		return fail(proto.CodeBadConnectionID, nil, "secConnectionID is not UTF-8")
	case strings.ContainsFunc(id, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return fail(proto.CodeBadConnectionID, nil, "secConnectionID contains control characters")
	}
	return nil
}

// deps loads the Deps once; a failure is retried on the next invoke, so
// fixing the console settings fixes a warm instance too. No lock is held
// while loading: invokes that arrive meanwhile share the attempt, each
// waiting only until its own deadline, and start a fresh one when the
// invoke that began it has given up.
func (r *Router) deps(ctx context.Context) (*Deps, error) {
	for {
		r.mu.Lock()
		if d := r.loaded; d != nil {
			r.mu.Unlock()
			return d, nil
		}
		a := r.loading
		if a == nil || a.ctx.Err() != nil {
			a = &attempt{ctx: ctx, done: make(chan struct{})}
			r.loading = a
			// In its own goroutine, so that even a Loader that ignored its
			// context could not hold this invoke past its deadline.
			go r.run(a)
		}
		r.mu.Unlock()
		select {
		case <-a.done:
		case <-ctx.Done():
			return nil, errRegistry(ctx.Err())
		}
		var ce *configError
		switch {
		case a.err == nil:
			return a.deps, nil
		case a.ctx.Err() != nil && ctx.Err() == nil:
			continue // cut short by the deadline of the invoke that began it
		case errors.As(a.err, &ce):
			// The reason goes in the reply too: it names the variable to fix.
			return nil, fail(proto.CodeNotReady, nil, "not ready: %s", strings.ReplaceAll(ce.Error(), "\n", "; "))
		default:
			// Hosts and driver messages stay out of the reply: the gateway
			// may pass it to the client whose handshake it refuses.
			return nil, errRegistry(a.err)
		}
	}
}

func (r *Router) run(a *attempt) {
	d, err := r.load(a.ctx)
	var extra *Deps
	r.mu.Lock()
	switch {
	case err == nil && r.loaded != nil:
		// An attempt its invoke gave up on finished after a later one:
		// the first loaded stays, this one's database pool is closed.
		d, extra = r.loaded, d
	case err == nil:
		r.loaded = d
	}
	a.deps, a.err = d, err
	if r.loading == a {
		r.loading = nil
	}
	r.mu.Unlock()
	close(a.done)
	if extra != nil {
		closeRegistry(extra.Registry)
	}
}

// closeRegistry releases what a Loader opened for a registry, when the
// registry holds anything (MySQL's pool).
func closeRegistry(reg Registry) {
	if c, ok := reg.(io.Closer); ok {
		_ = c.Close()
	}
}

// sweepDue claims this process's next sweep when one is due.
func (r *Router) sweepDue(every time.Duration) bool {
	if every <= 0 {
		every = time.Minute
	}
	now := r.now().UnixNano()
	last := r.lastSweep.Load()
	return now-last >= int64(every) && r.lastSweep.CompareAndSwap(last, now)
}

// warn marks problems that do not change the reply but belong in the log.
type warn struct{ error }

func (w warn) Unwrap() error { return w.error }

func warning(err error) error {
	if err == nil {
		return nil
	}
	return warn{err}
}

// logInvoke writes the invoke's one log line. Frame contents, tokens and
// signatures are never logged, only sizes.
func (r *Router) logInvoke(ctx context.Context, ev *Event, k kind, op string, reply Reply, err error, took time.Duration) {
	outcome, level := outcomeOf(reply, err)
	ce := r.log.Check(level, "invoke")
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 16)
	if lc, ok := functioncontext.FromContext(ctx); ok && lc.RequestID != "" {
		fields = append(fields, zap.String("requestId", lc.RequestID))
	}
	switch {
	case k == kindWebSocket && ev.WebSocket != nil:
		ws := ev.WebSocket
		fields = append(fields, zap.String("action", clip(ws.Action)), zap.String("connectionId", clip(ws.SecConnectionID)))
		if ws.Data != "" || ws.DataType != "" {
			fields = append(fields, zap.Int("dataBytes", len(ws.Data)))
		}
		if op != "" {
			fields = append(fields, zap.String("op", op))
		}
	case ev.Scfws != nil:
		action := "command"
		if k == kindHTTP {
			action = "http"
		}
		fields = append(fields, zap.String("action", action), zap.String("op", clip(ev.Scfws.Op)))
		if len(ev.Scfws.Data) > 0 {
			fields = append(fields, zap.Int("dataBytes", len(ev.Scfws.Data)))
		}
	case k == kindHTTP:
		fields = append(fields, zap.String("action", "http"), zap.String("method", clip(ev.HTTPMethod)))
	}
	if rc := ev.RequestContext; rc != nil && rc.RequestID != "" {
		fields = append(fields, zap.String("apigwRequestId", clip(rc.RequestID)))
	}
	fields = append(fields, zap.Int("errNo", reply.ErrNo), zap.String("errMsg", reply.ErrMsg), zap.String("outcome", outcome))
	if s := reply.Summary; s != nil {
		fields = append(fields, zap.Int("recipients", s.Recipients), zap.Int("delivered", s.Delivered),
			zap.Int("pruned", s.Pruned), zap.Int("failed", s.Failed), zap.Int("skipped", s.Skipped), zap.Int64("swept", s.Swept),
			zap.Int("handedOff", handedOff(reply.Handoff)))
	}
	if h := reply.Handoff; h != nil && h.Job != "" {
		fields = append(fields, zap.String("job", h.Job), zap.Int("shards", h.Shards))
	}
	fields = append(fields, zap.Float64("durationMs", float64(took.Microseconds())/1000))
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	ce.Write(fields...)
}

// handedOff is how many recipients an invoke handed to shards: its log
// line's count, which CLS and scfws local's metrics add up.
func handedOff(h *proto.Handoff) int {
	if h == nil {
		return 0
	}
	return h.Recipients
}

// Outcomes of an invoke, in its log line: a word a log query can count by.
const (
	outcomeOK      = "ok"      // errNo 0, nothing to warn of
	outcomeWarning = "warning" // errNo 0, but something failed (pushes, a sweep)
	outcomeRefused = "refused" // an errNo under 500: the event or the caller's mistake
	outcomeError   = "error"   // an errNo of 500 or more: the function's or its registry's
)

// outcomeOf is an invoke's outcome and the level of its log line.
func outcomeOf(reply Reply, err error) (string, zapcore.Level) {
	var w warn
	switch {
	case reply.ErrNo >= proto.CodeInternal:
		return outcomeError, zapcore.ErrorLevel
	case reply.ErrNo != proto.CodeOK:
		return outcomeRefused, zapcore.WarnLevel
	case errors.As(err, &w):
		return outcomeWarning, zapcore.WarnLevel
	}
	return outcomeOK, zapcore.InfoLevel
}

// clip keeps a hostile field from flooding a log line or a reply.
func clip(s string) string { return clipN(s, 64) }

// clipN is proto.Clip with the size cut from: a reply or log line shows
// that there was more.
func clipN(s string, most int) string {
	if len(s) <= most {
		return s
	}
	return fmt.Sprintf("%s(%d bytes)", proto.Clip(s, most), len(s))
}
