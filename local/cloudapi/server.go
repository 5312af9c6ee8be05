package cloudapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Credential is an API key the server accepts. Token, when set, makes it a
// temporary key: requests must carry the same X-TC-Token.
type Credential struct {
	SecretID  string
	SecretKey string
	Token     string
	// Allow, when set, decides each call made with the key once it is
	// authenticated (a role's key: what its policies allow); nil allows
	// every call.
	Allow func(req *Request) error
}

// String never shows the key or the token, so a credential in a log line or
// an error message gives nothing away.
func (c Credential) String() string {
	if c.Token != "" {
		return c.SecretID + " (key and token redacted)"
	}
	return c.SecretID + " (key redacted)"
}

// GoString is String, for %#v.
func (c Credential) GoString() string { return c.String() }

// Request is one authenticated API call, as a handler sees it.
type Request struct {
	Service   string // from the credential scope, e.g. "scf"
	Action    string // X-TC-Action
	Version   string // X-TC-Version
	Region    string // X-TC-Region, may be empty
	Language  string // X-TC-Language, may be empty
	SecretID  string // the caller's key
	Temporary bool   // the caller used a session token
	RequestID string // the RequestId the answer will carry
	// Params is the action's parameters as a JSON object: the body of a
	// POST, or the query of a GET with every value a string.
	Params json.RawMessage
}

// Handler serves one action. It returns the Response's fields (a struct or
// map that marshals to a JSON object; nil for none) or an error: an *Error
// is answered as is, anything else as InternalError.
type Handler func(ctx context.Context, req *Request) (any, error)

// Error is an API error: the Code and Message of the envelope's Error.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf makes an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common error codes of API 3.0 (the "公共错误码" list of every product's
// API doc, e.g. https://www.tencentcloud.com/document/api/583/17244).
const (
	CodeInvalidAuthorization  = "AuthFailure.InvalidAuthorization"
	CodeSecretIDNotFound      = "AuthFailure.SecretIdNotFound"
	CodeSignatureExpire       = "AuthFailure.SignatureExpire"
	CodeSignatureFailure      = "AuthFailure.SignatureFailure"
	CodeTokenFailure          = "AuthFailure.TokenFailure"
	CodeUnauthorizedOperation = "AuthFailure.UnauthorizedOperation"
	CodeInternalError         = "InternalError"
	CodeInvalidAction         = "InvalidAction"
	CodeInvalidParameter      = "InvalidParameter"
	CodeInvalidParameterValue = "InvalidParameterValue"
	CodeMissingParameter      = "MissingParameter"
	CodeNoSuchProduct         = "NoSuchProduct"
	CodeNoSuchVersion         = "NoSuchVersion"
	CodeRequestLimitExceeded  = "RequestLimitExceeded"
	CodeRequestSizeLimit      = "RequestSizeLimitExceeded"
	CodeUnsupportedOperation  = "UnsupportedOperation"
)

// Defaults.
const (
	// MaxSkew is how far X-TC-Timestamp may be from the server's clock:
	// "Timestamp and server time cannot differ by more than five minutes".
	MaxSkew = 5 * time.Minute
	// DefaultMaxBodyBytes bounds a request body (the API's limit for POST
	// is 10 MB; GET is 32 KB).
	DefaultMaxBodyBytes = 10 << 20
)

// Server answers API 3.0 requests. Set the fields before serving; the
// registration and fault methods are safe at any time.
type Server struct {
	// Log gets one line per request (never a key, token or signature);
	// nil logs nothing.
	Log *zap.Logger
	// Now is the clock the timestamp is checked against (default time.Now).
	Now func() time.Time
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64

	mu        sync.RWMutex
	creds     map[string]Credential
	handlers  map[string]Handler // "service/Action"
	versions  map[string]string  // service -> the version it answers
	faults    map[string]Fault   // "service/Action"
	faultLeft map[string]int     // calls a counted fault still fails
}

// NewServer accepts the given keys.
func NewServer(creds ...Credential) *Server {
	s := &Server{
		creds:     map[string]Credential{},
		handlers:  map[string]Handler{},
		versions:  map[string]string{},
		faults:    map[string]Fault{},
		faultLeft: map[string]int{},
	}
	for _, c := range creds {
		s.AddCredential(c)
	}
	return s
}

// AddCredential accepts one more key (or replaces the one with its SecretID).
func (s *Server) AddCredential(c Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[c.SecretID] = c
}

// RemoveCredential stops accepting the key with this SecretID.
func (s *Server) RemoveCredential(secretID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.creds, secretID)
}

// Handle serves service's action with h. version, when not empty, is the
// only X-TC-Version the service answers; others get NoSuchVersion.
func (s *Server) Handle(service, version, action string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[service+"/"+action] = h
	if version != "" {
		s.versions[service] = version
	}
}

// IsRequest tells an API 3.0 call (signed with TC3, or naming an action)
// from other traffic, so that the emulator can serve the API on the same
// address as its gateway: SDKs always post to "/".
func IsRequest(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), Algorithm+" ") || r.Header.Get("X-TC-Action") != ""
}

// ServeHTTP answers every request with HTTP 200 and the API's envelope, as
// the real endpoint does, errors included.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	id := newRequestID()
	req, h, err := s.authenticate(w, r, id)
	var fields any
	if err == nil {
		fields, err = h(r.Context(), req)
	}
	body, apiErr := envelope(id, fields, err)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	s.logRequest(r, req, id, apiErr, err, s.now().Sub(start))
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// authenticate checks the request and finds its handler. Faults injected
// for the action apply after authentication, like a CAM refusal would.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, id string) (*Request, Handler, error) {
	req, auth, err := parseRequest(r, id)
	if err != nil {
		return nil, nil, err
	}
	ts := r.Header.Get("X-TC-Timestamp")
	signed, err := s.checkTimestamp(ts)
	if err != nil {
		return req, nil, err
	}
	cred, err := s.credential(auth.SecretID)
	if err != nil {
		return req, nil, err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return req, nil, err
	}
	loopback := isLoopback(r)
	if err := verify(r, auth, cred, ts, signed, body, signedHosts(r, loopback)); err != nil {
		return req, nil, err
	}
	req.Temporary = cred.Token != ""

	if req.Action == "" {
		return req, nil, Errorf(CodeMissingParameter, "The request is missing a required parameter `Action` (X-TC-Action).")
	}
	if req.Version == "" {
		return req, nil, Errorf(CodeMissingParameter, "The request is missing a required parameter `Version` (X-TC-Version).")
	}
	if req.Params, err = params(r, body); err != nil {
		return req, nil, err
	}
	if req.Service, err = s.service(req, loopback); err != nil {
		return req, nil, err
	}
	if cred.Allow != nil {
		if err := cred.Allow(req); err != nil {
			return req, nil, err
		}
	}
	h, err := s.handler(req)
	return req, h, err
}

// service is the product the call is for: its credential scope's, or,
// from a loopback client whose scope names no product here, the one
// product that answers the call's version and action. The official Node
// SDK signs with the endpoint's first DNS label as the scope's service
// ("127" for 127.0.0.1:8080), so only the action can tell.
func (s *Server) service(req *Request, loopback bool) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.versions[req.Service]; ok || !loopback {
		if !validService(req.Service) {
			return "", Errorf(CodeNoSuchProduct, "The credential scope's service %q is not a product.", clip(req.Service))
		}
		return req.Service, nil
	}
	var found []string
	for key := range s.handlers {
		service, action, _ := strings.Cut(key, "/")
		if action == req.Action && s.versions[service] == req.Version {
			found = append(found, service)
		}
	}
	if len(found) != 1 {
		return "", Errorf(CodeNoSuchProduct, "The credential scope's service %q is not a product, and no one product here answers %s of version %s.", clip(req.Service), clip(req.Action), clip(req.Version))
	}
	return found[0], nil
}

// isLoopback says whether the call came over loopback to a loopback
// address: the connection's own address and the Host it names.
func isLoopback(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	return loopbackHost(host) && loopbackHost(r.Host)
}

// loopbackHost: localhost or a loopback IP, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// signedHosts are the values of the signed host header to accept: the
// Host as received, and, from a loopback client, also without its port
// (the official Node SDK sends the port and signs the hostname alone).
func signedHosts(r *http.Request, loopback bool) []string {
	hosts := []string{r.Host}
	if h, _, err := net.SplitHostPort(r.Host); err == nil && loopback {
		hosts = append(hosts, h)
	}
	return hosts
}

// parseRequest reads the call's Authorization and X-TC- headers.
func parseRequest(r *http.Request, id string) (*Request, authorization, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, authorization{}, Errorf(CodeUnsupportedOperation, "The HTTP method %s is not supported; use POST or GET.", clip(r.Method))
	}
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return nil, authorization{}, Errorf(CodeInvalidAuthorization, "The Authorization header is missing (this endpoint accepts %s signatures only).", Algorithm)
	}
	auth, err := parseAuthorization(hdr)
	if err != nil {
		return nil, authorization{}, Errorf(CodeInvalidAuthorization, "Authorization header is invalid: %v.", err)
	}
	return &Request{
		Service:   auth.Service,
		Action:    r.Header.Get("X-TC-Action"),
		Version:   r.Header.Get("X-TC-Version"),
		Region:    r.Header.Get("X-TC-Region"),
		Language:  r.Header.Get("X-TC-Language"),
		SecretID:  auth.SecretID,
		RequestID: id,
	}, auth, nil
}

// checkTimestamp reads X-TC-Timestamp, which must be within MaxSkew of
// the server's clock.
func (s *Server) checkTimestamp(ts string) (time.Time, error) {
	if ts == "" {
		return time.Time{}, Errorf(CodeMissingParameter, "The request is missing a required parameter `Timestamp` (X-TC-Timestamp).")
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix < 0 {
		return time.Time{}, Errorf(CodeInvalidParameterValue, "X-TC-Timestamp %q is not a unix time in seconds.", clip(ts))
	}
	signed := time.Unix(unix, 0)
	if skew := s.now().Sub(signed); skew > MaxSkew || skew < -MaxSkew {
		return time.Time{}, Errorf(CodeSignatureExpire, "Signature expired: X-TC-Timestamp differs from the server time by %s, more than %s. Check your system clock.", skew.Round(time.Second).Abs(), MaxSkew)
	}
	return signed, nil
}

// credential is the accepted key with this SecretId.
func (s *Server) credential(secretID string) (Credential, error) {
	s.mu.RLock()
	cred, ok := s.creds[secretID]
	s.mu.RUnlock()
	if !ok {
		return cred, Errorf(CodeSecretIDNotFound, "The SecretId is not found, please ensure that your SecretId is correct.")
	}
	return cred, nil
}

// verify checks the signature as the SDK computes it, then that it was
// made on the timestamp's day, then the temporary key's token.
// The scope's service is used as sent: it is an input of the HMAC. hosts
// are the host header values to try, in order.
func verify(r *http.Request, auth authorization, cred Credential, ts string, signed time.Time, body []byte, hosts []string) error {
	query := ""
	if r.Method == http.MethodGet {
		query = r.URL.RawQuery
	}
	headers := make(map[string]string, len(auth.SignedHeaders))
	for _, name := range auth.SignedHeaders {
		headers[name] = r.Header.Get(name)
	}
	payloadHash := sha256Hex(body)
	if r.Header.Get("X-TC-Content-SHA256") == unsignedPayload {
		payloadHash = sha256Hex([]byte(unsignedPayload))
	}
	matched := false
	for _, host := range hosts {
		headers["host"] = host
		canonical := canonicalRequest(r.Method, query, auth.SignedHeaders, headers, payloadHash)
		want := signature(cred.SecretKey, auth.Date, auth.Service, stringToSign(ts, auth.scope(), canonical))
		matched = matched || subtle.ConstantTimeCompare([]byte(want), []byte(auth.Signature)) == 1
	}
	if !matched {
		return Errorf(CodeSignatureFailure, "The provided credentials could not be validated. Please check your signature is correct.")
	}
	if day := signed.UTC().Format(time.DateOnly); day != auth.Date {
		return Errorf(CodeSignatureFailure, "The provided credentials could not be validated: the credential date %s is not the UTC date of X-TC-Timestamp (%s).", auth.Date, day)
	}
	token := r.Header.Get("X-TC-Token")
	if subtle.ConstantTimeCompare([]byte(token), []byte(cred.Token)) != 1 {
		return Errorf(CodeTokenFailure, "The token is invalid or does not belong to this SecretId.")
	}
	return nil
}

// handler is the action's handler, unless a fault is injected for it or
// the server does not serve it (in that version).
func (s *Server) handler(req *Request) (Handler, error) {
	fault, faulty := s.takeFault(req.Service + "/" + req.Action)
	s.mu.RLock()
	h, known := s.handlers[req.Service+"/"+req.Action]
	version, versioned := s.versions[req.Service]
	s.mu.RUnlock()
	switch {
	case faulty:
		return nil, &Error{Code: fault.Code, Message: fault.message()}
	case !versioned && !known:
		return nil, Errorf(CodeNoSuchProduct, "The product %q does not exist on this endpoint.", req.Service)
	case versioned && req.Version != version:
		return nil, Errorf(CodeNoSuchVersion, "The API version %q of %s does not exist; use %s.", clip(req.Version), req.Service, version)
	case !known:
		return nil, Errorf(CodeInvalidAction, "The action %s of %s does not exist.", clip(req.Action), req.Service)
	}
	return h, nil
}

// readBody reads at most MaxBodyBytes; a larger body is refused, not cut.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	most := s.MaxBodyBytes
	if most <= 0 {
		most = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, most))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, Errorf(CodeRequestSizeLimit, "The request body is over %d bytes.", most)
	}
	if err != nil {
		return nil, Errorf(CodeInvalidParameter, "Reading the request body: %v.", err)
	}
	return body, nil
}

// params is the action's parameters as a JSON object.
func params(r *http.Request, body []byte) (json.RawMessage, error) {
	if r.Method == http.MethodGet {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, Errorf(CodeInvalidParameter, "The query string is malformed: %v.", err)
		}
		obj := make(map[string]string, len(q))
		for k, v := range q {
			obj[k] = v[0]
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("encode query parameters: %w", err)
		}
		return b, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, Errorf(CodeInvalidParameter, "Content-Type %q is not supported; POST application/json.", clip(r.Header.Get("Content-Type")))
	}
	if len(body) == 0 {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, Errorf(CodeInvalidParameter, "The request body is not a JSON object.")
	}
	return body, nil
}

// envelope is the answer: {"Response":{...fields...,"RequestId":id}} or
// {"Response":{"Error":{"Code","Message"},"RequestId":id}}. It returns the
// API error it answered, if any.
func envelope(id string, fields any, err error) ([]byte, *Error) {
	if err == nil {
		body, encErr := successBody(id, fields)
		if encErr == nil {
			return body, nil
		}
		err = encErr
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		apiErr = Errorf(CodeInternalError, "An internal error occurred; retry the request.")
	}
	var e struct {
		Response struct {
			Error     *Error `json:"Error"`
			RequestID string `json:"RequestId"`
		}
	}
	e.Response.Error, e.Response.RequestID = apiErr, id
	body, mErr := json.Marshal(e)
	if mErr != nil { // an Error is two strings: cannot fail
		panic(mErr)
	}
	return body, apiErr
}

// successBody puts RequestId into the handler's object.
func successBody(id string, fields any) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	if fields != nil {
		b, err := json.Marshal(fields)
		if err != nil {
			return nil, fmt.Errorf("encode response: %w", err)
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("the response is not a JSON object: %w", err)
		}
	}
	rid, _ := json.Marshal(id)
	obj["RequestId"] = rid
	return json.Marshal(map[string]any{"Response": obj})
}

func (s *Server) logRequest(r *http.Request, req *Request, id string, apiErr *Error, cause error, took time.Duration) {
	if s.Log == nil {
		return
	}
	f := []zap.Field{zap.String("requestId", id), zap.String("method", r.Method), zap.Duration("took", took)}
	if req != nil {
		f = append(f, zap.String("service", req.Service), zap.String("action", clip(req.Action)),
			zap.String("region", clip(req.Region)), zap.String("secretId", clip(req.SecretID)))
	}
	if apiErr == nil {
		s.Log.Info("cloud api", f...)
		return
	}
	f = append(f, zap.String("code", apiErr.Code), zap.String("message", apiErr.Message))
	if apiErr.Code == CodeInternalError {
		s.Log.Error("cloud api", append(f, zap.Error(cause))...)
		return
	}
	s.Log.Warn("cloud api", f...)
}

// newRequestID is a random UUID, the shape of the API's RequestId.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// takeFault is the fault injected for key, if any, counting the call
// against a fault for the first N calls only.
func (s *Server) takeFault(key string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faults[key]
	if !ok || f.Count == 0 {
		return f, ok
	}
	if left := s.faultLeft[key]; left > 1 {
		s.faultLeft[key] = left - 1
	} else {
		delete(s.faults, key)
		delete(s.faultLeft, key)
	}
	return f, true
}

// Check fails with the fault injected for service's action, if any, as a
// call of it would: for actions that are checked without a call of their
// own, such as cam:PassRole when a function is given a role.
func (s *Server) Check(service, action string) error {
	if f, ok := s.takeFault(service + "/" + action); ok {
		return &Error{Code: f.Code, Message: f.message()}
	}
	return nil
}

// Fault makes calls of Service's Action fail with Code: every call, or the
// first Count calls after it is injected (a busy resource that frees up).
type Fault struct {
	Service, Action, Code string
	Count                 int    // 0: every call
	Message               string // default: a fixed sentence naming the injection
}

func (f Fault) message() string {
	if f.Message != "" {
		return f.Message
	}
	return "Injected failure (scfws local -fail-action " + f.String() + ")."
}

// String is the -fail-action syntax, service:Action=Code[:Count].
func (f Fault) String() string {
	s := f.Service + ":" + f.Action + "=" + f.Code
	if f.Count > 0 {
		s += ":" + strconv.Itoa(f.Count)
	}
	return s
}

// FailAction makes service's action fail with code from now on, after
// authentication; an empty code makes it work again.
func (s *Server) FailAction(service, action, code string) {
	s.Fail(Fault{Service: service, Action: action, Code: code})
}

// Fail injects f (an empty Code removes the fault for its action).
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := f.Service + "/" + f.Action
	delete(s.faultLeft, key)
	if f.Code == "" {
		delete(s.faults, key)
		return
	}
	s.faults[key] = f
	if f.Count > 0 {
		s.faultLeft[key] = f.Count
	}
}

// Faults lists the injected faults, sorted.
func (s *Server) Faults() []Fault {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// ParseFault reads the -fail-action syntax: service:Action=Code, e.g.
// scf:Invoke=AuthFailure.UnauthorizedOperation, for every call, or
// service:Action=Code:N for the first N calls, e.g.
// apigateway:ReleaseService=FailedOperation.ServiceInOperation:2.
func ParseFault(s string) (Fault, error) {
	target, code, ok := strings.Cut(s, "=")
	service, action, ok2 := strings.Cut(target, ":")
	if !ok || !ok2 {
		return Fault{}, fmt.Errorf("fault %q: want service:Action=ErrorCode[:N], e.g. scf:Invoke=AuthFailure.UnauthorizedOperation", s)
	}
	count := 0
	if c, n, counted := strings.Cut(code, ":"); counted {
		var err error
		if count, err = strconv.Atoi(n); err != nil || count < 1 || count > 1000000 {
			return Fault{}, fmt.Errorf("fault %q: %q is not a count of calls (1 or more, like :2)", s, n)
		}
		code = c
	}
	if !validService(service) {
		return Fault{}, fmt.Errorf("fault %q: service %q is not a service name (lower case, like scf)", s, service)
	}
	if !validName(action) {
		return Fault{}, fmt.Errorf("fault %q: action %q is not an action name (like Invoke)", s, action)
	}
	for _, part := range strings.Split(code, ".") {
		if !validName(part) {
			return Fault{}, fmt.Errorf("fault %q: %q is not an error code (like AuthFailure.UnauthorizedOperation)", s, code)
		}
	}
	return Fault{Service: service, Action: action, Code: code, Count: count}, nil
}

// validName: a letter, then letters and digits, at most 64.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Faults is a flag.Value for a repeatable -fail-action flag.
type Faults []Fault

// String lists the faults comma-separated.
func (fs *Faults) String() string {
	if fs == nil {
		return ""
	}
	parts := make([]string, len(*fs))
	for i, f := range *fs {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}

// Set adds one fault, or several separated by commas.
func (fs *Faults) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		f, err := ParseFault(strings.TrimSpace(part))
		if err != nil {
			return err
		}
		*fs = append(*fs, f)
	}
	return nil
}
