// Package gateway is the client of an API Gateway WebSocket API's
// reverse-push address: it delivers frames to connections and disconnects
// them. It returns errors that say what became of each push and never logs.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Client. Zero values take the defaults.
type Options struct {
	// Concurrency bounds the pushes in flight at once (default 128). The
	// transport keeps as many idle keep-alive connections, so a broadcast
	// reuses them instead of reconnecting per push.
	Concurrency int
	// Timeout bounds one attempt (default 2s).
	Timeout time.Duration
	// Retries after HTTP 429 or 5xx, or a network error or timeout that
	// struck before the request was fully sent (default 0). A push whose
	// request went out but got no answer may have been delivered, so it is
	// not retried: a retry could show the client the frame twice.
	Retries int
	// Backoff is the first retry's mean wait, doubled for each further one
	// (default 50ms). Waits are jittered so retries of a broadcast spread.
	Backoff time.Duration
	// Reserve is how long before the context's deadline a broadcast stops
	// starting pushes and cancels those in flight, leaving the caller time to
	// record the outcome and reply (default 250ms).
	Reserve time.Duration
}

// Client posts to one reverse-push address. It is safe for concurrent use and
// meant to live as long as the process.
type Client struct {
	url  *url.URL
	tr   *http.Transport
	opts Options
}

// New returns a Client for the reverse-push address rawURL.
func New(rawURL string, o Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("reverse-push address: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("reverse-push address %q: want http:// or https:// and a host", rawURL)
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
	return &Client{url: u, tr: tr, opts: o}, nil
}

// CloseIdle closes the kept-alive connections.
func (c *Client) CloseIdle() { c.tr.CloseIdleConnections() }

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

	gone    bool
	skipped bool
	sent    bool // the request was written: the gateway may have delivered it
}

func (e *PushError) Error() string {
	switch {
	case e.skipped:
		return "push not started: deadline near"
	case e.Status == 0 && e.sent:
		return fmt.Sprintf("push (%d attempts, the last sent but unanswered): %v", e.Attempts, e.Err)
	case e.Status == 0:
		return fmt.Sprintf("push (%d attempts): %v", e.Attempts, e.Err)
	case e.ErrNo != 0:
		return fmt.Sprintf("push: HTTP %d errNo %d %q", e.Status, e.ErrNo, e.Msg)
	default:
		return fmt.Sprintf("push (%d attempts): HTTP %d", e.Attempts, e.Status)
	}
}

func (e *PushError) Unwrap() error { return e.Err }

// Gone is true when the gateway answered that the connection does not exist
// (a 4xx other than 429, or 200 with a non-zero errNo): the caller should
// forget it.
func (e *PushError) Gone() bool { return e.gone }

// Skipped is true when a broadcast never tried this push because the
// deadline was too near.
func (e *PushError) Skipped() bool { return e.skipped }

func (e *PushError) retryable() bool {
	if e.Status == 0 {
		return !e.sent
	}
	return !e.gone && (e.Status == http.StatusTooManyRequests || e.Status >= 500)
}

// Push delivers one frame to one connection. dataType is "text" or "binary"
// (data then base64).
func (c *Client) Push(ctx context.Context, id, dataType, data string) error {
	return c.send(ctx, message{id: quote(id), tail: dataTail(dataType, data)})
}

// Close asks the gateway to disconnect id. The caller then forgets id: the
// gateway sends no closing event for a close it was asked to make.
func (c *Client) Close(ctx context.Context, id string) error {
	return c.send(ctx, message{head: closingHead, id: quote(id), tail: closingTail})
}

// Broadcast delivers one frame to every id, at most Concurrency at a time,
// and returns when all are done: errs[i] is nil when ids[i] got the frame,
// else a *PushError. One dead connection does not stop the others.
func (c *Client) Broadcast(ctx context.Context, ids []string, dataType, data string) []error {
	errs := make([]error, len(ids))
	if len(ids) == 0 {
		return errs
	}
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-c.opts.Reserve))
		defer cancel()
	}
	tail := dataTail(dataType, data)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c.opts.Concurrency, len(ids)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				if ctx.Err() != nil {
					errs[i] = &PushError{skipped: true, Err: ctx.Err()}
					continue
				}
				if err := c.send(ctx, message{id: quote(ids[i]), tail: tail}); err != nil {
					errs[i] = err
				}
			}
		})
	}
	wg.Wait()
	return errs
}

// send makes the attempts of one push: retries while the error is transient
// and the context leaves time for the wait.
func (c *Client) send(ctx context.Context, m message) error {
	var err *PushError
	for attempt := 1; ; attempt++ {
		err = c.attempt(ctx, m)
		if err == nil {
			return nil
		}
		err.Attempts = attempt
		if !err.retryable() || attempt > c.opts.Retries {
			return err
		}
		wait := c.opts.Backoff << (attempt - 1)
		wait = wait/2 + rand.N(wait) // mean wait, jittered
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
		Header:        http.Header{"Content-Type": jsonContentType},
		Body:          io.NopCloser(m.reader()),
		ContentLength: m.len(),
		Host:          c.url.Host,
		// Lets the transport replay the body when a kept-alive connection
		// turns out to be closed under it.
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(m.reader()), nil },
	}).WithContext(ctx)
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return &PushError{Err: err, sent: sent.Load()}
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
		return &PushError{Status: resp.StatusCode, Err: err}
	}
	var reply struct {
		ErrNo  int    `json:"errNo"`
		ErrMsg string `json:"errMsg"`
	}
	// A reply that is not JSON carries no errNo: the status alone decides.
	_ = json.Unmarshal(buf[:n], &reply)
	switch {
	case resp.StatusCode == http.StatusOK && reply.ErrNo == 0:
		return nil
	case resp.StatusCode == http.StatusOK:
		return &PushError{Status: resp.StatusCode, ErrNo: reply.ErrNo, Msg: reply.ErrMsg, gone: true}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &PushError{Status: resp.StatusCode, ErrNo: reply.ErrNo, Msg: reply.ErrMsg}
	default:
		return &PushError{Status: resp.StatusCode, ErrNo: reply.ErrNo, Msg: reply.ErrMsg, gone: true}
	}
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
