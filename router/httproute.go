package router

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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
func maxBody(o Options) int { return 2*o.maxMessageBytes() + 64<<10 }

// httpRequest is a request on the signed route, and its HTTP status.
type httpRequest struct {
	status int
	allow  bool
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
	h.status = http.StatusBadRequest
	var cmd struct {
		Scfws *proto.Command `json:"scfws"`
	}
	if err := json.Unmarshal(body, &cmd); err != nil || cmd.Scfws == nil {
		return nil, fail(proto.CodeMalformedEvent, nil, `body is not {"scfws":{...}}`)
	}
	h.status = 0 // from the reply
	return cmd.Scfws, nil
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
