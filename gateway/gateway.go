// Package gateway is the client of an API Gateway WebSocket API's
// reverse-push address: it delivers frames to connections and disconnects
// them. It returns errors that say what became of each push and never logs.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/scfws/scfws/proto"
)

// Options tune a Client. Zero values take the defaults.
type Options struct {
	// Concurrency bounds the pushes in flight at once (default 128). The
	// transport keeps as many idle keep-alive connections, so a broadcast
	// reuses them instead of reconnecting per push.
	Concurrency int
	// Rate bounds pushes per second (0 = unlimited): of the whole Client,
	// or with a Budget, of every Client that draws from it. Retries count.
	Rate int
	// Budget, when set, is where Rate's pushes come from: a budget every
	// instance of the function shares (PUSH_RATE is the service's, as the
	// gateway's quota is). While it fails, the Client holds Rate alone.
	Budget Budget
	// Timeout bounds one attempt (default 2s).
	Timeout time.Duration
	// Retries after HTTP 429, or a network error or timeout that struck
	// before the request was fully sent (default 0). A push whose request
	// went out but got no answer may have been delivered, so it is not
	// retried: a retry could show the client the frame twice.
	Retries int
	// Backoff is the first retry's mean wait, doubled for each further one
	// (default 50ms). Waits are jittered so retries of a broadcast spread;
	// a 429's Retry-After is honoured when it is longer.
	Backoff time.Duration
	// Reserve is the most a broadcast keeps from the context's deadline: it
	// stops starting pushes and cancels those in flight a tenth of the time
	// left before the deadline, between 10ms and Reserve (default 250ms),
	// leaving the caller time to record the outcome and reply.
	Reserve time.Duration
}

// Client posts to one reverse-push address. It is safe for concurrent use and
// meant to live as long as the process.
type Client struct {
	url    *url.URL
	tr     *http.Transport
	opts   Options
	limit  waiter      // nil: unlimited
	header http.Header // shared by every request; never modified

	// delivered is set by the first push the address accepted: until then,
	// a refusal may be the address's fault rather than the connection's.
	delivered atomic.Bool
	// demand is the pushes of fan-outs in progress not yet begun: what a
	// shared budget is asked for at most.
	demand atomic.Int64
}

// New returns a Client for the reverse-push address rawURL.
func New(rawURL string, o Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("reverse-push address: not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("reverse-push address: want http:// or https:// and a host")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 128
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 50 * time.Millisecond
	}
	if o.Reserve <= 0 {
		o.Reserve = 250 * time.Millisecond
	}
	tr := &http.Transport{
		// The push address is inside Tencent's network: no proxy.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        o.Concurrency,
		MaxIdleConnsPerHost: o.Concurrency,
		MaxConnsPerHost:     o.Concurrency,
		IdleConnTimeout:     60 * time.Second,
		TLSHandshakeTimeout: o.Timeout,
		DisableCompression:  true,
	}
	c := &Client{url: u, tr: tr, opts: o, header: http.Header{"Content-Type": jsonContentType}}
	if u.User != nil {
		// Credentials in the address (a proxy in front of the gateway) are
		// sent as Basic auth, as http.Client would, and kept out of the URL
		// that errors might quote.
		pass, _ := u.User.Password()
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(u.User.Username(), pass)
		c.header["Authorization"] = r.Header["Authorization"]
		u.User = nil
	}
	if o.Rate > 0 {
		// A burst of a hundredth of a second's worth: enough to keep the
		// workers busy, too little to overshoot the rate noticeably.
		own := rate.NewLimiter(rate.Limit(o.Rate), max(1, o.Rate/100))
		c.limit = own
		if o.Budget != nil {
			c.limit = newShared(o.Budget, o.Rate, own, &c.demand)
		}
	}
	return c, nil
}

// CloseIdle closes the kept-alive connections.
func (c *Client) CloseIdle() { c.tr.CloseIdleConnections() }

// outcome is what became of one push.
type outcome uint8

const (
	// unsentFailure: the request was not fully written (retryable).
	unsentFailure outcome = iota + 1
	// unanswered: written but no answer in time; it may have landed.
	unanswered
	// refused: the gateway answered non-200, or 200 with a non-zero errNo.
	// Tencent: a non-200 answer means the gateway sends FIN to that
	// client. Gone, once the address is known to work (see settle).
	refused
	// rateLimited: 429 (retryable, honouring Retry-After).
	rateLimited
	// tooLarge: 413, 414 or 431 are about the request, not the connection.
	tooLarge
	// addressFault: an answer about the push address or the request's
	// form (3xx, 401, 403, 405, 407, 415), or a refusal every push got.
	addressFault
	// skipped: not attempted, the deadline was near.
	skipped
)

// PushError says why a push did not deliver.
type PushError struct {
	// Status is the HTTP status, or 0 when there was no answer.
	Status int
	// ErrNo and Msg are the gateway's errNo and errMsg, when it sent them.
	ErrNo int
	Msg   string
	// Attempts counts the requests made.
	Attempts int
	// Err is the transport error, if any.
	Err error

	kind       outcome
	retryAfter time.Duration
	why        string // for addressFault: what the address did
	cut        bool   // the caller's context ended the attempt, not Timeout
}

func (e *PushError) Error() string {
	switch {
	case e.kind == skipped:
		return "push not started: deadline near"
	case e.kind == unanswered:
		return fmt.Sprintf("push (%d attempts, the last sent but unanswered): %v", e.Attempts, e.Err)
	case e.Status == 0:
		return fmt.Sprintf("push (%d attempts): %v", e.Attempts, e.Err)
	case e.kind == addressFault && e.why != "":
		return e.why
	case e.ErrNo != 0:
		return fmt.Sprintf("push (%d attempts): HTTP %d errNo %d %q", e.Attempts, e.Status, e.ErrNo, e.Msg)
	default:
		return fmt.Sprintf("push (%d attempts): HTTP %d", e.Attempts, e.Status)
	}
}

func (e *PushError) Unwrap() error { return e.Err }

// Gone is true when the gateway refused the push for this connection and
// the address is known to work: the gateway has dropped that client, and
// the caller should forget it.
func (e *PushError) Gone() bool { return e.kind == refused }

// Skipped is true when a broadcast never tried this push because the
// deadline was too near.
func (e *PushError) Skipped() bool { return e.kind == skipped }

// AddressFault is true when the answer was about the push address rather
// than the connection: a redirect, an auth or method error, or a refusal
// that every push of a broadcast got. The connection is kept.
func (e *PushError) AddressFault() bool { return e.kind == addressFault }

// Unsent is true when no attempt's request was fully written: the
// connection cannot have got the frame, so it may be pushed again.
func (e *PushError) Unsent() bool { return e.kind == unsentFailure || e.kind == skipped }

// Cut is true when the caller's context (its deadline, or a broadcast's
// cut before it) ended the push with no answer, rather than the push's own
// Timeout: a request written out may have landed, and one pushed again
// may repeat. A fan-out pushes such a push again; a lone send does not.
func (e *PushError) Cut() bool {
	return e.kind == skipped || (e.cut && (e.kind == unanswered || e.kind == unsentFailure))
}

// HTTPStatus is the answer's status, 0 when there was none.
func (e *PushError) HTTPStatus() int { return e.Status }

func (e *PushError) retryable() bool { return e.kind == unsentFailure || e.kind == rateLimited }

// Push delivers one frame to one connection. dataType is "text" or "binary"
// (data then base64).
func (c *Client) Push(ctx context.Context, id, dataType, data string) error {
	return c.one(ctx, message{id: quote(id), tail: dataTail(dataType, data)})
}

// Close asks the gateway to disconnect id. The caller then forgets id: the
// gateway sends no closing event for a close it was asked to make.
func (c *Client) Close(ctx context.Context, id string) error {
	return c.one(ctx, message{head: closingHead, id: quote(id), tail: closingTail})
}

func (c *Client) one(ctx context.Context, m message) error {
	err := c.send(ctx, m, nil)
	errs := []error{nil}
	if err != nil {
		errs[0] = err
	}
	c.settle(errs)
	return errs[0]
}

// Broadcast delivers one frame to every id, at most Concurrency at a time,
// and returns when all are done: errs[i] is nil when ids[i] got the frame,
// else a *PushError. One dead connection does not stop the others.
func (c *Client) Broadcast(ctx context.Context, ids []string, dataType, data string) []error {
	return c.fan(ctx, ids, nil, dataTail(dataType, data))
}

// Disconnect asks the gateway to close every id, as Broadcast sends: the
// caller then forgets them, since the gateway sends no closing event for a
// close it was asked to make.
func (c *Client) Disconnect(ctx context.Context, ids []string) []error {
	return c.fan(ctx, ids, closingHead, closingTail)
}

// fan sends head+id+tail to every id.
func (c *Client) fan(ctx context.Context, ids []string, head, tail []byte) []error {
	errs := make([]error, len(ids))
	if len(ids) == 0 {
		return errs
	}
	ctx, cut := newCutter(ctx, c.opts.Reserve)
	defer cut.stop()
	var next atomic.Int64
	var wg sync.WaitGroup
	c.demand.Add(int64(len(ids)))
	for range min(c.opts.Concurrency, len(ids)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				c.demand.Add(-1)
				errs[i] = c.fanOne(ctx, cut, message{head: head, id: quote(ids[i]), tail: tail})
			}
		})
	}
	wg.Wait()
	c.settle(errs)
	return errs
}

// fanOne makes one push of a fan-out, unless the cut is nearer than the
// fan-out's pushes have been taking: one started then would be cancelled
// half-sent, its work wasted and its delivery unknown.
func (c *Client) fanOne(ctx context.Context, cut *cutter, m message) error {
	if ctx.Err() != nil {
		return &PushError{kind: skipped, Err: ctx.Err()}
	}
	if !cut.leaves(cut.mean()) {
		return &PushError{kind: skipped, Err: context.DeadlineExceeded}
	}
	return c.send(ctx, m, cut.took)
}

// cutter decides when a fan-out stops: it cancels the pushes in flight
// (the cut) before the caller's deadline by Reserve's share of the time
// left, or by the mean time its pushes have been taking when that is
// longer. A push takes as long as the work queued ahead of it, on this
// instance (a CPU its own fan-out saturates) and at the push address (a
// gateway decoding large bodies); what was in flight at the cut has to be
// unwound there and here before the caller's reply can go out, which
// takes about as long. Until a push is answered, those in flight have
// taken the time since the start: with none answered halfway to the
// deadline, the mean is at least half the time, and the cut is then.
type cutter struct {
	deadline time.Time // the caller's; zero when it has none
	base     time.Duration
	cancel   context.CancelFunc
	halfway  *time.Timer // cuts when no push is answered by then

	mu    sync.Mutex
	n     int64 // pushes answered
	total time.Duration
	cut   time.Time
	timer *time.Timer // cancels at cut, once it has moved
}

func newCutter(ctx context.Context, most time.Duration) (context.Context, *cutter) {
	deadline, ok := ctx.Deadline()
	if !ok {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, &cutter{cancel: cancel}
	}
	left := time.Until(deadline)
	c := &cutter{deadline: deadline, base: Reserve(left, most)}
	c.cut = deadline.Add(-c.base)
	ctx, c.cancel = context.WithDeadline(ctx, c.cut)
	c.halfway = time.AfterFunc(left/2, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.n == 0 {
			c.cancel()
		}
	})
	return ctx, c
}

// took records a push's time, start to answer, and moves the cut earlier
// when the mean has grown past the reserve.
func (c *cutter) took(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.total += d
	at := c.deadline.Add(-max(c.base, c.total/time.Duration(c.n)))
	if c.deadline.IsZero() || !at.Before(c.cut) {
		return
	}
	c.cut = at
	if c.timer == nil {
		c.timer = time.AfterFunc(time.Until(at), c.cancel) // at once when it has passed
	} else {
		c.timer.Reset(time.Until(at))
	}
}

// mean is the time the pushes so far took, 0 before the first answer.
func (c *cutter) mean() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return 0
	}
	return c.total / time.Duration(c.n)
}

// leaves reports whether d is left before the cut.
func (c *cutter) leaves(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline.IsZero() || time.Until(c.cut) >= d
}

func (c *cutter) stop() {
	if c.halfway != nil {
		c.halfway.Stop()
	}
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.cancel()
}

// Reserve is how much of the time left before a deadline to keep back: a
// tenth of it, at least 10ms and at most most. Fixed reserves left nothing
// for the work under short deadlines (at 500ms, 450ms of reserves left 50ms
// for pushes), and proportional ones alone left too little for the reply
// on a starved CPU.
func Reserve(left, most time.Duration) time.Duration {
	return min(max(min(most, left/10), 10*time.Millisecond), max(left, 0))
}

// settle decides, once every push of a call has an answer, whether the
// refusals were about the connections or about the address. The rule: a
// refusal prunes a connection only when the address has shown that it
// works. When no push of the call was delivered and two or more were
// refused, every push got the same kind of answer, which is the address's
// fault (a wrong path in SENDBACK_HOST answers 404 to everything): prune
// none. When the address has never delivered in this process, a lone
// refusal proves nothing either. A connection kept by mistake costs a
// failed push per message until the idle sweep; one pruned by mistake
// cannot hear anyone: the rule errs towards keeping.
func (c *Client) settle(errs []error) {
	delivered, refusals := 0, 0
	var first *PushError
	for _, err := range errs {
		if err == nil {
			delivered++
			continue
		}
		if pe := err.(*PushError); pe.kind == refused {
			refusals++
			if first == nil {
				first = pe
			}
		}
	}
	if delivered > 0 {
		c.delivered.Store(true)
	}
	var why string
	switch {
	case refusals == 0:
		return
	case delivered == 0 && refusals >= 2:
		why = fmt.Sprintf("every push was refused (HTTP %d%s), so nothing was pruned: if it repeats, check SENDBACK_HOST", first.Status, errNoText(first))
	case !c.delivered.Load():
		why = fmt.Sprintf("refused (HTTP %d%s) by a push address that has not delivered yet: check SENDBACK_HOST", first.Status, errNoText(first))
	default:
		return
	}
	for _, err := range errs {
		if pe, ok := err.(*PushError); ok && pe.kind == refused {
			pe.kind, pe.why = addressFault, why
		}
	}
}

func errNoText(e *PushError) string {
	if e.ErrNo == 0 {
		return ""
	}
	return fmt.Sprintf(" errNo %d", e.ErrNo)
}

// Raw posts body to the push address once, as it is, and returns the
// answer: for scfws probe, which measures what the gateway answers to
// pushes the client would never send (a malformed one, one for an ID that
// never existed). No retry, no rate limit, no classification.
func (c *Client) Raw(ctx context.Context, body []byte) (status int, answer []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, answer, err
}

// send makes the attempts of one push: retries while the error is transient
// and the context leaves time for the wait. took, when not nil, gets the
// time the attempts took, without the waits for the rate limit and before
// retries: the work.
func (c *Client) send(ctx context.Context, m message, took func(time.Duration)) error {
	var work time.Duration
	if took != nil {
		defer func() {
			if work > 0 {
				took(work)
			}
		}()
	}
	var err *PushError
	for attempt := 1; ; attempt++ {
		if c.limit != nil {
			if werr := c.limit.Wait(ctx); werr != nil {
				if err == nil {
					return &PushError{kind: skipped, Err: werr}
				}
				return err
			}
		}
		began := time.Now()
		err = c.attempt(ctx, m)
		work += time.Since(began)
		if err == nil {
			c.delivered.Store(true)
			return nil
		}
		err.Attempts = attempt
		if !err.retryable() || attempt > c.opts.Retries {
			return err
		}
		wait := c.opts.Backoff << (attempt - 1)
		wait = wait/2 + rand.N(wait) // mean wait, jittered
		wait = max(wait, err.retryAfter)
		// Retry only if the attempt after the wait has time to finish.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+minAttempt {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// minAttempt is the least time worth starting a retry with: a push inside
// the gateway's network takes a few milliseconds.
const minAttempt = 20 * time.Millisecond

// replyLimit bounds how much of an answer is read; the gateway's is tiny.
const replyLimit = 64 << 10

var jsonContentType = []string{"application/json"}

func (c *Client) attempt(ctx context.Context, m message) *PushError {
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { sent.Store(i.Err == nil) },
	})
	// Built by hand and sent on the transport directly: a push follows no
	// redirects and keeps no cookies, and the URL is parsed once per Client.
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           c.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        c.header,
		Body:          io.NopCloser(m.reader()),
		ContentLength: m.len(),
		Host:          c.url.Host,
		// Lets the transport replay the body when a kept-alive connection
		// turns out to be closed under it.
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(m.reader()), nil },
	}).WithContext(ctx)
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		cut := caller.Err() != nil
		if sent.Load() {
			return &PushError{Err: err, kind: unanswered, cut: cut}
		}
		return &PushError{Err: err, kind: unsentFailure, cut: cut}
	}
	var buf [512]byte
	n, err := io.ReadFull(resp.Body, buf[:])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	// Drain what is left so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, replyLimit))
	resp.Body.Close()
	if err != nil {
		// The status arrived but the body did not: the gateway acted on
		// the push, and what it said is lost.
		return &PushError{Status: resp.StatusCode, Err: err, kind: unanswered}
	}
	var reply struct {
		ErrNo  int    `json:"errNo"`
		ErrMsg string `json:"errMsg"`
	}
	// A reply that is not JSON carries no errNo: the status alone decides.
	_ = json.Unmarshal(buf[:n], &reply)
	e := &PushError{Status: resp.StatusCode, ErrNo: reply.ErrNo, Msg: proto.Clip(reply.ErrMsg, 100)}
	switch s := resp.StatusCode; {
	case s == http.StatusOK && reply.ErrNo == 0:
		return nil
	case s == http.StatusOK:
		e.kind = refused
	case s == http.StatusTooManyRequests:
		e.kind, e.retryAfter = rateLimited, retryAfter(resp.Header.Get("Retry-After"))
	case s == http.StatusRequestEntityTooLarge, s == http.StatusRequestURITooLong, s == http.StatusRequestHeaderFieldsTooLarge:
		e.kind = tooLarge
	case s < 200 || (s >= 300 && s < 400), s == http.StatusUnauthorized, s == http.StatusForbidden,
		s == http.StatusMethodNotAllowed, s == http.StatusProxyAuthRequired, s == http.StatusUnsupportedMediaType:
		e.kind, e.why = addressFault, fmt.Sprintf("HTTP %d is about the address or the request, not the connection: check SENDBACK_HOST", s)
	default:
		e.kind = refused
	}
	return e
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// message is one push body in three parts, so that a broadcast encodes the
// frame once and only the quoted id differs per recipient:
//
//	{"websocket":{"action":"data send","secConnectionID":"<id>","dataType":"text","data":"hi"}}
type message struct {
	head []byte // nil means dataHead
	id   []byte
	tail []byte
}

var (
	dataHead    = []byte(`{"websocket":{"action":"data send","secConnectionID":`)
	closingHead = []byte(`{"websocket":{"action":"closing","secConnectionID":`)
	closingTail = []byte(`}}`)
)

func dataTail(dataType, data string) []byte {
	var b bytes.Buffer
	b.WriteString(`,"dataType":`)
	b.Write(quote(dataType))
	b.WriteString(`,"data":`)
	b.Write(quote(data))
	b.WriteString(`}}`)
	return b.Bytes()
}

func (m message) headOrData() []byte {
	if m.head == nil {
		return dataHead
	}
	return m.head
}

func (m message) len() int64 { return int64(len(m.headOrData()) + len(m.id) + len(m.tail)) }

// contiguousLimit is the body size up to which a push is copied into one
// buffer: net/http sends headers and an in-memory body in one write, but
// flushes the headers on their own before any other reader, which costs a
// syscall per push. Past it, the copy costs more than the syscall saves.
const contiguousLimit = 16 << 10

func (m message) reader() io.Reader {
	if m.len() <= contiguousLimit {
		b := make([]byte, 0, m.len())
		b = append(append(append(b, m.headOrData()...), m.id...), m.tail...)
		return bytes.NewReader(b)
	}
	return io.MultiReader(bytes.NewReader(m.headOrData()), bytes.NewReader(m.id), bytes.NewReader(m.tail))
}

// quote encodes s as a JSON string, leaving <, > and & as they are.
func quote(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
