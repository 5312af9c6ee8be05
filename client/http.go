package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scfws/scfws/proto"
)

// Headers of the signed HTTP route.
const (
	HeaderTimestamp = proto.HeaderTimestamp
	HeaderSignature = proto.HeaderSignature
)

// MaxReplyBytes bounds a reply read from the HTTP route: SCF's limit on a
// synchronous function's answer.
const MaxReplyBytes = 6 << 20

// Sign is the X-Scfws-Signature of body sent at timestamp (unix seconds):
// "sha256=" and the hex HMAC-SHA256, keyed by the secret, of the timestamp,
// a newline and the body.
func Sign(secret []byte, timestamp int64, body []byte) string {
	return proto.RouteSignature(secret, strconv.FormatInt(timestamp, 10), body)
}

// HTTPConfig says where the function's signed route is.
type HTTPConfig struct {
	URL    string // the API Gateway route bound to the function
	Secret []byte // the function's PUBLISH_SECRET
	// Client makes the requests (default: http.DefaultClient).
	Client *http.Client
	// Now is the clock for X-Scfws-Timestamp (default time.Now).
	Now func() time.Time
}

// String never shows the secret.
func (c HTTPConfig) String() string {
	if u, err := url.Parse(c.URL); err == nil {
		return "scfws route " + u.Redacted() + " (secret redacted)"
	}
	return "scfws route (unparsable URL; secret redacted)"
}

// GoString is String, for %#v.
func (c HTTPConfig) GoString() string { return c.String() }

// HTTP sends commands to the function's signed HTTP route.
type HTTP struct {
	cfg HTTPConfig
}

var _ Transport = (*HTTP)(nil)

// NewHTTP checks cfg and returns the transport.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("scfws http: the URL is not an http(s) URL")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("scfws http: the secret is empty")
	}
	cfg.Secret = bytes.Clone(cfg.Secret)
	return &HTTP{cfg: cfg}, nil
}

// withNonce gives a command object a top-level "nonce" member, random,
// which the function ignores: the route runs each signature once, and two
// calls with the same command in the same second would otherwise sign
// alike, the second refused as a replay. Anything but an object with
// members is sent as it is.
func withNonce(command []byte) []byte {
	body := bytes.TrimLeft(command, " \t\r\n")
	if len(body) == 0 || body[0] != '{' {
		return command
	}
	if rest := bytes.TrimLeft(body[1:], " \t\r\n"); len(rest) == 0 || rest[0] == '}' {
		return command
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return append([]byte(`{"nonce":"`+hex.EncodeToString(b)+`",`), body[1:]...)
}

// HTTPError is the route answering something other than a reply: 401 (a
// missing or bad signature, or a timestamp outside the replay window), 403
// (the route is off: no PUBLISH_SECRET), 405, 409 (a replay: the signature
// was accepted before), 413 (the body is too large), or the gateway's own
// error.
type HTTPError struct {
	StatusCode int
	ErrNo      int    // the body's errNo, when it had one
	Msg        string // the body's errMsg, or the start of the body
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Msg)
}

// Invoke posts the signed command and returns the reply: the body of a
// 200, or of a 400 or 500 that carries an errNo (the function refusing an
// argument, or failing, e.g. its registry down), so that a reply's errNo is
// an *Error over this transport as over SCF's.
func (h *HTTP) Invoke(ctx context.Context, command []byte) ([]byte, error) {
	now := time.Now
	if h.cfg.Now != nil {
		now = h.cfg.Now
	}
	ts := now().Unix()
	command = withNonce(command)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(command))
	if err != nil {
		return nil, h.fail(fmt.Errorf("make the request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(h.cfg.Secret, ts, command))
	c := h.cfg.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, h.fail(err) // *url.Error: carries ctx's error when ctx ended
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplyBytes+1))
	if err != nil {
		return nil, h.fail(fmt.Errorf("read the reply: %w", err))
	}
	if len(body) > MaxReplyBytes {
		return nil, h.fail(fmt.Errorf("the reply is over %d bytes", MaxReplyBytes))
	}
	var r struct {
		ErrNo  *int   `json:"errNo"`
		ErrMsg string `json:"errMsg"`
	}
	isReply := json.Unmarshal(body, &r) == nil && r.ErrNo != nil
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusInternalServerError) && isReply:
		return body, nil
	case isReply:
		return nil, h.fail(&HTTPError{StatusCode: resp.StatusCode, ErrNo: *r.ErrNo, Msg: r.ErrMsg})
	}
	msg := proto.Clip(strings.ToValidUTF8(string(body), "?"), 200)
	return nil, h.fail(&HTTPError{StatusCode: resp.StatusCode, Msg: msg})
}

func (h *HTTP) fail(err error) error { return &TransportError{Via: "http", Err: err} }
