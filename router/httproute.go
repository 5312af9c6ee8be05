package router

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scfws/scfws/proto"
)

// ReplayWindow is how long a signature of the signed HTTP route (see
// proto.RouteMAC) is good for, either side of its timestamp.
const ReplayWindow = 300 * time.Second

// maxBody bounds a request body: a message of MAX_MESSAGE_BYTES, escaped
// (text may double) or base64, with room for the command around it.
func maxBody(o Options) int { return MaxRouteBody(o.maxMessageBytes()) }

// MaxRouteBody is the largest body the signed route takes with
// MAX_MESSAGE_BYTES of maxMessageBytes (0 for the default), so that a
// gateway in front (scfws local's) can refuse a larger one itself.
func MaxRouteBody(maxMessageBytes int) int {
	return 2*Options{MaxMessageBytes: maxMessageBytes}.maxMessageBytes() + 64<<10
}

// nonceMargin keeps a signature recorded this long past its window: the
// clocks of the instances and of the database may differ by as much.
const nonceMargin = time.Minute

// httpRequest is a request on the signed route, and its HTTP status.
type httpRequest struct {
	status   int
	allow    bool
	mac      []byte    // the verified signature
	signedAt time.Time // its timestamp
}

// verify checks the request's method, signature and freshness, and returns
// the command in its body.
func (h *httpRequest) verify(ev *Event, o Options, now time.Time) (*proto.Command, error) {
	secret := o.PublishSecret
	header := func(name string) string {
		for k, v := range ev.Headers {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
	h.status = http.StatusForbidden
	if secret == "" {
		why := "PUBLISH_SECRET is not set"
		for _, p := range o.Off {
			if strings.HasPrefix(p, "PUBLISH_SECRET:") {
				why = p[:strings.LastIndex(p, ": ")] // less "...: feature is off"
			}
		}
		return nil, fail(proto.CodeUnauthorized, nil, "the signed route is off: %s", why)
	}
	if ev.HTTPMethod != http.MethodPost {
		h.status, h.allow = http.StatusMethodNotAllowed, true
		return nil, fail(proto.CodeBadArgument, nil, "POST a JSON command")
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			h.status = http.StatusBadRequest
			return nil, fail(proto.CodeMalformedEvent, nil, "body is not base64")
		}
		body = b
	}
	if limit := maxBody(o); len(body) > limit {
		h.status = http.StatusRequestEntityTooLarge
		return nil, fail(proto.CodeTooLarge, nil, "body of %d bytes: at most %d", len(body), limit)
	}
	h.status = http.StatusUnauthorized
	ts, sig := header(proto.HeaderTimestamp), header(proto.HeaderSignature)
	if ts == "" || sig == "" {
		return nil, fail(proto.CodeUnauthorized, nil, "missing %s or %s", proto.HeaderTimestamp, proto.HeaderSignature)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fail(proto.CodeUnauthorized, nil, "%s is not unix seconds", proto.HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > ReplayWindow || d < -ReplayWindow {
		return nil, fail(proto.CodeUnauthorized, nil, "%s is more than %s away from now", proto.HeaderTimestamp, ReplayWindow)
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, proto.SignaturePrefix))
	if err != nil || !strings.HasPrefix(sig, proto.SignaturePrefix) || !hmac.Equal(got, proto.RouteMAC([]byte(secret), ts, body)) {
		return nil, fail(proto.CodeUnauthorized, nil, "bad signature")
	}
	h.mac, h.signedAt = got, time.Unix(secs, 0)
	h.status = http.StatusBadRequest
	cmd, err := commandIn(body)
	if err != nil {
		return nil, err
	}
	if cmd.Op == proto.OpShard {
		// The function's own: a forged one would push any frame over a
		// real shard's range and move its cursor.
		h.status = http.StatusForbidden
		return nil, fail(proto.CodeUnauthorized, nil, "op %s is the function's own: only its hand-offs start one, through SCF's Invoke API", proto.OpShard)
	}
	h.status = 0 // from the reply
	return cmd, nil
}

// commandIn is the command a verified body holds, its names spelled as
// documented.
func commandIn(body []byte) (*proto.Command, error) {
	var cmd struct {
		Scfws *proto.Command `json:"scfws"`
	}
	if err := json.Unmarshal(body, &cmd); err != nil || cmd.Scfws == nil {
		return nil, fail(proto.CodeMalformedEvent, nil, `body is not {"scfws":{...}}`)
	}
	if err := checkCommandNames(body); err != nil {
		return nil, err
	}
	return cmd.Scfws, nil
}

// claim records the verified signature in the registry, which every
// instance shares, until its window has passed: a request runs once, and
// its replay within the window is refused with 409. A registry that cannot
// record it refuses the request: the route fails closed.
func (h *httpRequest) claim(ctx context.Context, reg Registry) error {
	first, err := reg.ClaimNonce(ctx, h.mac, h.signedAt.Add(ReplayWindow+nonceMargin))
	var u interface{ Unavailable() bool }
	switch {
	case errors.As(err, &u) && u.Unavailable():
		return fail(proto.CodeNotReady, err, "not ready: the signed route needs its nonce table (turn DB_AUTO_MIGRATE on, or create it as the README says)")
	case err != nil:
		return errRegistry(err)
	case !first:
		h.status = http.StatusConflict
		return fail(proto.CodeUnauthorized, nil, "replayed request: this signature was accepted before; sign it again, with a fresh timestamp, to run it again")
	}
	return nil
}

// response is the API Gateway integration response carrying reply.
func (h *httpRequest) response(reply Reply, body []byte) []byte {
	status := h.status
	if status == 0 {
		switch {
		case reply.ErrNo == proto.CodeOK:
			status = http.StatusOK
		case reply.ErrNo >= proto.CodeInternal:
			status = http.StatusInternalServerError
		default:
			status = http.StatusBadRequest
		}
	}
	headers := map[string]string{"Content-Type": "application/json"}
	if h.allow {
		headers["Allow"] = http.MethodPost
	}
	out, _ := json.Marshal(struct {
		IsBase64Encoded bool              `json:"isBase64Encoded"`
		StatusCode      int               `json:"statusCode"`
		Headers         map[string]string `json:"headers"`
		Body            string            `json:"body"`
	}{false, status, headers, string(body)})
	return out
}
