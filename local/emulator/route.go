package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
)

// httpEvent is what API Gateway sends a function bound to an HTTP API
// (the SCF "API Gateway trigger" event).
type httpEvent struct {
	RequestContext        requestContext    `json:"requestContext"`
	HTTPMethod            string            `json:"httpMethod"`
	Path                  string            `json:"path"`
	Headers               map[string]string `json:"headers"`
	HeaderParameters      map[string]string `json:"headerParameters"`
	PathParameters        map[string]string `json:"pathParameters"`
	QueryString           map[string]string `json:"queryString"`
	QueryStringParameters map[string]string `json:"queryStringParameters"`
	StageVariables        map[string]string `json:"stageVariables"`
	Body                  string            `json:"body"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

// httpResponse is a function's integration response.
type httpResponse struct {
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
}

// serveRoute plays an API Gateway HTTP API bound to the function with
// response integration on: each request is one invoke, and the function's
// integration response is the answer. scfws uses it for the signed route
// that backends outside Tencent Cloud publish through; the request's
// signature, not the caller's origin, is what protects it.
func (g *Gateway) serveRoute(w http.ResponseWriter, r *http.Request) {
	limit := g.opts.MaxEventBytes
	if m := g.opts.RouteMaxBodyBytes; m > 0 && (limit <= 0 || m < limit) {
		limit = m
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if m := g.opts.RouteMaxBodyBytes; m > 0 && len(body) > m {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_ = json.NewEncoder(w).Encode(map[string]any{"errNo": proto.CodeTooLarge, "errMsg": fmt.Sprintf("body over %d bytes", m)})
		return
	}
	if g.opts.MaxEventBytes > 0 && len(body) > g.opts.MaxEventBytes {
		http.Error(w, "request over SCF's event limit", http.StatusRequestEntityTooLarge)
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ev := httpEvent{
		RequestContext: requestContext{ServiceID: "service-local", ServiceName: "local", Path: g.opts.RoutePath, HTTPMethod: r.Method,
			RequestID: newRequestID(), Identity: map[string]string{}, SourceIP: host, Stage: "release"},
		HTTPMethod: r.Method, Path: r.URL.Path, Headers: map[string]string{}, HeaderParameters: map[string]string{},
		PathParameters: map[string]string{}, QueryString: map[string]string{}, QueryStringParameters: map[string]string{},
		StageVariables: map[string]string{"stage": "release"},
	}
	for k, v := range r.Header {
		ev.Headers[k] = strings.Join(v, ", ")
	}
	for k, v := range r.URL.Query() {
		ev.QueryString[k] = strings.Join(v, ",")
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out, err := g.fn.Invoke(r.Context(), payload)
	var resp httpResponse
	if err == nil {
		err = json.Unmarshal(out, &resp)
	}
	if err != nil || resp.StatusCode < 100 || resp.StatusCode > 599 {
		g.log.Warn("http route: the function failed or answered no integration response", zap.Error(err))
		http.Error(w, "the function failed or its answer is not an integration response", http.StatusBadGateway)
		return
	}
	answer := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if answer, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			http.Error(w, "the function's body is not base64", http.StatusBadGateway)
			return
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// serveToken mints a scfws.v1 token for a name, for the chat page: local
// only, like the rest of /_scfws/.
func (g *Gateway) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var roles []string
	if q.Has("roles") {
		roles = []string{}
		for role := range strings.SplitSeq(q.Get("roles"), ",") {
			if role = strings.TrimSpace(role); role != "" && role != "none" {
				roles = append(roles, role)
			}
		}
	}
	token, err := g.opts.Token(q.Get("sub"), roles)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"errNo": http.StatusBadRequest, "errMsg": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"token": token})
}
