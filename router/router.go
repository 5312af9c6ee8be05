// Package router is the function's inbound contract: it reads an API Gateway
// WebSocket event, dispatches on websocket.action to register, transmit or
// cleanup, and answers. It declares what it needs from the registry and the
// push client as small interfaces, and is the one place where errors become
// replies and log lines.
package router

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tencentyun/scf-go-lib/functioncontext"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Registry keeps the live connections.
type Registry interface {
	// Touch registers id, or refreshes the time it was last heard from.
	Touch(ctx context.Context, id string) error
	// Remove forgets ids; unknown ids are not an error.
	Remove(ctx context.Context, ids ...string) error
	// Live lists the connections heard from within the idle timeout.
	Live(ctx context.Context) ([]string, error)
	// Sweep deletes rows past the idle timeout and says how many.
	Sweep(ctx context.Context) (int64, error)
}

// Pusher delivers frames through the API's reverse-push address.
type Pusher interface {
	// Broadcast sends one frame to every id and returns when all are done:
	// errs[i] is nil when ids[i] got it. An error with Gone() true means the
	// gateway no longer knows the connection; one with Skipped() true was
	// not attempted because the deadline was near.
	Broadcast(ctx context.Context, ids []string, dataType, data string) (errs []error)
}

// Options are the behaviours a deployment chooses.
type Options struct {
	// Subprotocols is the allow-list; empty accepts the first offered.
	Subprotocols []string
	// BroadcastToSender echoes a frame to its sender too.
	BroadcastToSender bool
	// OnlineCountSuffix appends the templates' "(===Online people:N===)" to
	// text frames, N counting the sender.
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
}

// DefaultMaxMessageBytes is MaxMessageBytes when unset.
const DefaultMaxMessageBytes = 256 << 10

func (o Options) maxMessageBytes() int {
	if o.MaxMessageBytes <= 0 {
		return DefaultMaxMessageBytes
	}
	return o.MaxMessageBytes
}

// Deps is what the router routes to.
type Deps struct {
	Registry Registry
	Pusher   Pusher
	Options  Options
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
// that fails, answers every invoke with CodeNotReady and tries again.
func New(log *zap.Logger, load Loader) *Router {
	return &Router{log: log, load: load, now: time.Now}
}

// Invoke handles one event. It never returns an error: the SCF runtime
// discards the payload of a failed invoke, and the gateway closes a client's
// socket when a transmit invoke fails.
func (r *Router) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	reply := r.Handle(ctx, payload)
	b, err := json.Marshal(reply)
	if err != nil { // not reachable with these types; keep the contract anyway
		return []byte(`{"errNo":500,"errMsg":"internal error"}`), nil
	}
	return b, nil
}

// failure is an error that knows its reply code and the message for the
// reply; the wrapped cause goes to the log only.
type failure struct {
	code  int
	msg   string
	cause error
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

// Handle routes one event and returns its reply. It logs one line for the
// invoke, and is the only place that maps errors to replies.
func (r *Router) Handle(ctx context.Context, payload []byte) (reply Reply) {
	start := r.now()
	var ev Event
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = fail(CodeInternal, fmt.Errorf("panic: %v\n%s", p, debug.Stack()), "internal error")
			reply = Reply{}
		}
		reply = finish(reply, err)
		if reply.Summary != nil {
			reply.Summary.ElapsedMs = r.now().Sub(start).Milliseconds()
		}
		r.logInvoke(ctx, &ev, reply, err, r.now().Sub(start))
	}()

	if err = decode(payload, &ev); err != nil {
		return reply
	}
	// The reserve applies before anything that may block, the first
	// invoke's loading of the settings and the database included.
	ctx, cancel := reserve(ctx, maxReserve)
	defer cancel()
	deps, err := r.deps(ctx)
	if err != nil {
		return reply
	}
	switch ev.WebSocket.Action {
	case ActionConnecting:
		reply, err = r.register(ctx, deps, ev.WebSocket)
	case ActionDataSend, ActionDataRecv:
		reply, err = r.transmit(ctx, deps, ev.WebSocket)
	case ActionClosing:
		reply, err = r.cleanup(ctx, deps, ev.WebSocket)
	default:
		err = fail(CodeUnknownAction, nil, "unknown action %q", clip(ev.WebSocket.Action))
	}
	return reply
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

// finish fills the reply's code and message from err.
func finish(reply Reply, err error) Reply {
	var w warn
	if err == nil || errors.As(err, &w) {
		if reply.ErrMsg == "" {
			reply.ErrMsg = "ok"
		}
		return reply
	}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{code: CodeInternal, msg: "internal error"}
	}
	reply.ErrNo, reply.ErrMsg, reply.WebSocket = f.code, f.msg, nil
	return reply
}

func decode(payload []byte, ev *Event) error {
	if len(bytes.TrimSpace(payload)) == 0 {
		return fail(CodeMalformedEvent, nil, "malformed event: empty")
	}
	if err := json.Unmarshal(payload, ev); err != nil {
		return fail(CodeMalformedEvent, nil, "malformed event: %v", err)
	}
	if ev.WebSocket == nil {
		return fail(CodeNoWebSocket, nil, "not found websocket")
	}
	if !utf8.Valid(payload) && !rawIDValid(payload) {
		// The decoder turned the ID's invalid bytes into U+FFFD, so two
		// different IDs could become one: refuse on the raw bytes.
		return fail(CodeBadConnectionID, nil, "secConnectionID is not UTF-8")
	}
	if err := checkID(ev.WebSocket.SecConnectionID); err != nil {
		return err
	}
	return nil
}

// rawIDValid reports whether the event's secConnectionID, as sent, is valid
// UTF-8. Only invoked for payloads that hold invalid UTF-8 somewhere.
func rawIDValid(payload []byte) bool {
	var raw struct {
		WebSocket struct {
			ID json.RawMessage `json:"secConnectionID"`
		} `json:"websocket"`
	}
	if json.Unmarshal(payload, &raw) != nil {
		return false
	}
	return utf8.Valid(raw.WebSocket.ID)
}

// maxIDBytes bounds a secConnectionID. Tencent's are about 32 characters;
// the bound keeps a hostile one out of the registry's 255-character key.
const maxIDBytes = 255

func checkID(id string) error {
	switch {
	case id == "":
		return fail(CodeBadConnectionID, nil, "missing secConnectionID")
	case len(id) > maxIDBytes:
		return fail(CodeBadConnectionID, nil, "secConnectionID of %d bytes: at most %d", len(id), maxIDBytes)
	case !utf8.ValidString(id):
		return fail(CodeBadConnectionID, nil, "secConnectionID is not UTF-8")
	case strings.ContainsFunc(id, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return fail(CodeBadConnectionID, nil, "secConnectionID contains control characters")
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
			return nil, fail(CodeRegistry, ctx.Err(), "registry unavailable")
		}
		var ce *configError
		switch {
		case a.err == nil:
			return a.deps, nil
		case a.ctx.Err() != nil && ctx.Err() == nil:
			continue // cut short by the deadline of the invoke that began it
		case errors.As(a.err, &ce):
			// The reason goes in the reply too: it names the variable to fix.
			return nil, fail(CodeNotReady, nil, "not ready: %s", strings.ReplaceAll(ce.Error(), "\n", "; "))
		default:
			// Hosts and driver messages stay out of the reply: the gateway
			// may pass it to the client whose handshake it refuses.
			return nil, fail(CodeRegistry, a.err, "registry unavailable")
		}
	}
}

func (r *Router) run(a *attempt) {
	d, err := r.load(a.ctx)
	r.mu.Lock()
	a.deps, a.err = d, err
	if err == nil {
		r.loaded = d
	}
	if r.loading == a {
		r.loading = nil
	}
	r.mu.Unlock()
	close(a.done)
}

func (r *Router) register(ctx context.Context, d *Deps, ws *WebSocket) (Reply, error) {
	hs := &Handshake{Action: ActionConnecting, SecConnectionID: ws.SecConnectionID}
	if ws.SecWebSocketProtocol != nil {
		p := negotiate(*ws.SecWebSocketProtocol, d.Options.Subprotocols)
		hs.SecWebSocketProtocol = &p
	}
	if ws.SecWebSocketExtensions != nil {
		// Always none: the gateway's support for permessage-deflate is not
		// documented, and echoing the offer breaks browsers.
		none := ""
		hs.SecWebSocketExtensions = &none
	}
	// Accept only once stored: nobody is connected without being registered.
	if err := d.Registry.Touch(ctx, ws.SecConnectionID); err != nil {
		return Reply{}, fail(CodeRegistry, err, "registry unavailable")
	}
	return Reply{WebSocket: hs}, nil
}

// Bounds on a subprotocol offer: names are short, and a hostile offer must
// not cost time or come back in the reply.
const (
	maxOfferBytes    = 8 << 10
	maxOfferEntries  = 16
	maxProtocolBytes = 128
)

// negotiate picks the first offered subprotocol that the allow-list has, or
// the first offered when the list is empty. It looks at the first
// maxOfferEntries entries of the first maxOfferBytes only.
func negotiate(offered string, allowed []string) string {
	if len(offered) > maxOfferBytes {
		offered = offered[:maxOfferBytes]
	}
	n := 0
	for p := range strings.SplitSeq(offered, ",") {
		if n++; n > maxOfferEntries {
			break
		}
		p = strings.TrimSpace(p)
		if len(p) > maxProtocolBytes || !isToken(p) {
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

func (r *Router) transmit(ctx context.Context, d *Deps, ws *WebSocket) (Reply, error) {
	reply := Reply{Summary: &Summary{}}
	sender, dataType, data := ws.SecConnectionID, ws.DataType, ws.Data
	if dataType == "" {
		dataType = DataText
	}
	size, err := frameSize(dataType, data)
	if err != nil {
		return reply, err
	}
	// The sender spoke, so it is alive: refresh it, and register it again if
	// its row was lost (a wrong prune, a missed connecting).
	if err := d.Registry.Touch(ctx, sender); err != nil {
		return reply, fail(CodeRegistry, err, "registry unavailable")
	}
	if dataType == DataText && d.Options.HeartbeatMessage != "" && data == d.Options.HeartbeatMessage {
		reply.ErrMsg = "heartbeat"
		return reply, nil
	}
	if limit := d.Options.maxMessageBytes(); size > limit {
		return reply, fail(CodeTooLarge, nil, "message of %d bytes: at most %d (MAX_MESSAGE_BYTES)", size, limit)
	}

	live, err := d.Registry.Live(ctx)
	if err != nil {
		return reply, fail(CodeRegistry, err, "registry unavailable")
	}
	recipients := live
	if !d.Options.BroadcastToSender {
		recipients = make([]string, 0, len(live))
		for _, id := range live {
			if id != sender {
				recipients = append(recipients, id)
			}
		}
	}
	if d.Options.OnlineCountSuffix && dataType == DataText {
		data = fmt.Sprintf("%s(===Online people:%d===)", data, len(live))
	}

	s := reply.Summary
	s.Recipients = len(recipients)
	var gone []string
	var firstErr, addressErr error
	for i, err := range d.Pusher.Broadcast(ctx, recipients, dataType, data) {
		var g interface{ Gone() bool }
		var sk interface{ Skipped() bool }
		var af interface{ AddressFault() bool }
		switch {
		case err == nil:
			s.Delivered++
		case errors.As(err, &g) && g.Gone():
			gone = append(gone, recipients[i])
		case errors.As(err, &sk) && sk.Skipped():
			s.Skipped++
		default:
			s.Failed++
			if firstErr == nil {
				firstErr = err
			}
			if addressErr == nil && errors.As(err, &af) && af.AddressFault() {
				addressErr = err
			}
		}
	}
	var problems []error
	if firstErr != nil {
		problems = append(problems, fmt.Errorf("%d pushes failed, first: %w", s.Failed, firstErr))
	}
	if addressErr != nil {
		// errNo stays 0 (a failed transmit would close the sender), but the
		// reply says what the log says: the address is the suspect.
		reply.ErrMsg = "push address looks wrong: " + addressErr.Error()
	}
	if len(gone) > 0 {
		if err := d.Registry.Remove(ctx, gone...); err != nil {
			problems = append(problems, fmt.Errorf("prune %d gone connections: %w", len(gone), err))
		} else {
			s.Pruned = len(gone)
		}
	}
	if r.sweepDue(d.Options.SweepEvery) {
		n, err := d.Registry.Sweep(ctx)
		if err != nil {
			problems = append(problems, err)
		}
		s.Swept = n
	}
	// The transmit did its job even when some pushes failed: errNo stays 0,
	// and the problems reach the log as a warning.
	return reply, warning(errors.Join(problems...))
}

// frameSize is the frame's size as the client sent it.
func frameSize(dataType, data string) (int, error) {
	switch dataType {
	case DataText:
		return len(data), nil
	case DataBinary:
		n, err := base64.StdEncoding.Decode(make([]byte, base64.StdEncoding.DecodedLen(len(data))), []byte(data))
		if err != nil {
			return 0, fail(CodeBadData, nil, "binary data is not base64: %v", err)
		}
		return n, nil
	default:
		return 0, fail(CodeBadData, nil, "unknown dataType %q: want text or binary", clip(dataType))
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

func (r *Router) cleanup(ctx context.Context, d *Deps, ws *WebSocket) (Reply, error) {
	if err := d.Registry.Remove(ctx, ws.SecConnectionID); err != nil {
		return Reply{}, fail(CodeRegistry, err, "registry unavailable")
	}
	return Reply{}, nil
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

// logInvoke writes the invoke's one log line.
func (r *Router) logInvoke(ctx context.Context, ev *Event, reply Reply, err error, took time.Duration) {
	level := zapcore.InfoLevel
	var w warn
	switch {
	case errors.As(err, &w), reply.ErrNo != CodeOK && reply.ErrNo < CodeInternal:
		level = zapcore.WarnLevel
	case reply.ErrNo >= CodeInternal:
		level = zapcore.ErrorLevel
	}
	ce := r.log.Check(level, "invoke")
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 16)
	if lc, ok := functioncontext.FromContext(ctx); ok && lc.RequestID != "" {
		fields = append(fields, zap.String("requestId", lc.RequestID))
	}
	if ws := ev.WebSocket; ws != nil {
		fields = append(fields, zap.String("action", clip(ws.Action)), zap.String("connectionId", clip(ws.SecConnectionID)))
		if ws.Data != "" || ws.DataType != "" {
			fields = append(fields, zap.Int("dataBytes", len(ws.Data)))
		}
	}
	if rc := ev.RequestContext; rc != nil && rc.RequestID != "" {
		fields = append(fields, zap.String("apigwRequestId", clip(rc.RequestID)))
	}
	fields = append(fields, zap.Int("errNo", reply.ErrNo), zap.String("errMsg", reply.ErrMsg))
	if s := reply.Summary; s != nil {
		fields = append(fields, zap.Int("recipients", s.Recipients), zap.Int("delivered", s.Delivered),
			zap.Int("pruned", s.Pruned), zap.Int("failed", s.Failed), zap.Int("skipped", s.Skipped), zap.Int64("swept", s.Swept))
	}
	fields = append(fields, zap.Float64("durationMs", float64(took.Microseconds())/1000))
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	ce.Write(fields...)
}

// clip keeps a hostile field from flooding a log line or a reply.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}
