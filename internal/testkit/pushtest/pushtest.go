// Package pushtest is a stand-in for the one remote service tests cannot
// run: Tencent's reverse-push endpoint. It speaks the real wire format over
// real HTTP and answers by the connection ID's prefix:
//
//	gone-*   404 {"errNo":404,...}           the gateway no longer knows it
//	errno-*  200 {"errNo":1,...}             likewise, in the 200 form
//	fail-*   500                             the gateway is in trouble
//	busy-*   429 with Retry-After (SetRetryAfter), rate limited
//	status-NNN-*  answers HTTP NNN with {"errNo":NNN,...}
//	flaky-*  500 on the first try, then 200
//	slow-*   answers only after 30s (or when the client gives up)
//	anything else: 200 {"errNo":0,"errMsg":"ok"}
//
// and to any path that starts with /wrong: 404, as a mistyped address.
package pushtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Push is one request the endpoint received, in the wire format.
type Push struct {
	Action          string `json:"action"`
	SecConnectionID string `json:"secConnectionID"`
	DataType        string `json:"dataType,omitempty"`
	Data            string `json:"data,omitempty"`
}

// Server is a running fake push endpoint.
type Server struct {
	*httptest.Server

	rejectAll  atomic.Int64 // a status every request gets, as a wrong address would
	retryAfter atomic.Int64 // seconds in 429 answers; -1 omits the header
	latency    atomic.Int64 // nanoseconds added to every answer
	inflight   atomic.Int64
	maxIn      atomic.Int64
	conns      atomic.Int64
	requests   atomic.Int64

	mu      sync.Mutex
	pushes  []Push
	flaky   map[string]bool
	discard bool
	counter *counter // set by CountOnly

	counting atomic.Bool // CountOnly's fast path
}

// Start starts a server on a loopback port. Close it when done.
func Start() *Server {
	s := &Server{flaky: map[string]bool{}}
	s.retryAfter.Store(-1)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Server.Start()
	return s
}

// RejectAll makes every request answer status (0 turns it off), as a push
// address with a wrong path or credentials does.
func (s *Server) RejectAll(status int) { s.rejectAll.Store(int64(status)) }

// SetRetryAfter sets the Retry-After seconds of 429 answers (-1: none).
func (s *Server) SetRetryAfter(seconds int) { s.retryAfter.Store(int64(seconds)) }

// SetLatency makes every answer wait d.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Discard stops recording pushes (benchmarks send millions).
func (s *Server) Discard() {
	s.mu.Lock()
	s.discard = true
	s.mu.Unlock()
}

// Pushes returns what was received so far, sorted by ID, then by content.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	out := slices.Clone(s.pushes)
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Push) int {
		return strings.Compare(a.SecConnectionID+"\x00"+a.Action+"\x00"+a.DataType+"\x00"+a.Data,
			b.SecConnectionID+"\x00"+b.Action+"\x00"+b.DataType+"\x00"+b.Data)
	})
	return out
}

// Reset forgets the pushes and counters.
func (s *Server) Reset() {
	s.mu.Lock()
	s.pushes = nil
	s.flaky = map[string]bool{}
	s.mu.Unlock()
	s.maxIn.Store(0)
	s.requests.Store(0)
	s.rejectAll.Store(0)
	s.retryAfter.Store(-1)
}

// MaxInflight is the most requests that were being answered at once.
func (s *Server) MaxInflight() int64 { return s.maxIn.Load() }

// Conns is how many TCP connections clients opened.
func (s *Server) Conns() int64 { return s.conns.Load() }

// Requests is how many requests arrived, well-formed or not.
func (s *Server) Requests() int64 { return s.requests.Load() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		m := s.maxIn.Load()
		if n <= m || s.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	if d := time.Duration(s.latency.Load()); d > 0 {
		sleep(r, d)
	}

	var body struct {
		WebSocket *Push `json:"websocket"`
	}
	if st := int(s.rejectAll.Load()); st != 0 || strings.HasPrefix(r.URL.Path, "/wrong") {
		if st == 0 {
			st = http.StatusNotFound
		}
		_, _ = io.Copy(io.Discard, r.Body)
		answer(w, st, st, "rejected: "+http.StatusText(st))
		return
	}
	switch {
	case r.Method != http.MethodPost:
		answer(w, http.StatusMethodNotAllowed, 405, "POST only")
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		answer(w, http.StatusUnsupportedMediaType, 415, "Content-Type must be application/json")
		return
	}
	if s.counting.Load() {
		s.count(w, r)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.WebSocket == nil || body.WebSocket.SecConnectionID == "" {
		answer(w, http.StatusBadRequest, 400, fmt.Sprintf("malformed push: %v", err))
		return
	}
	p := *body.WebSocket
	if p.Action != "data send" && p.Action != "closing" {
		answer(w, http.StatusBadRequest, 400, "unknown action "+p.Action)
		return
	}
	s.mu.Lock()
	if !s.discard {
		s.pushes = append(s.pushes, p)
	}
	firstFlaky := s.firstFlaky(p.SecConnectionID)
	s.mu.Unlock()
	s.answerFor(w, r, p.SecConnectionID, firstFlaky)
}

// firstFlaky reports whether id is a flaky- ID's first push; s.mu held.
func (s *Server) firstFlaky(id string) bool {
	first := strings.HasPrefix(id, "flaky-") && !s.flaky[id]
	if first {
		s.flaky[id] = true
	}
	return first
}

// answerFor answers a push to id as its prefix says.
func (s *Server) answerFor(w http.ResponseWriter, r *http.Request, id string, firstFlaky bool) {
	switch {
	case strings.HasPrefix(id, "gone-"):
		answer(w, http.StatusNotFound, 404, "connection not found")
	case strings.HasPrefix(id, "errno-"):
		answer(w, http.StatusOK, 1, "connection not found")
	case strings.HasPrefix(id, "fail-"), firstFlaky:
		answer(w, http.StatusInternalServerError, 500, "internal error")
	case strings.HasPrefix(id, "busy-"):
		if ra := s.retryAfter.Load(); ra >= 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(ra, 10))
		}
		answer(w, http.StatusTooManyRequests, 429, "API rate limit exceeded")
	case strings.HasPrefix(id, "status-") && len(id) > len("status-NNN"):
		st, err := strconv.Atoi(id[len("status-") : len("status-")+3])
		if err != nil || st < 100 || st > 599 {
			st = http.StatusTeapot
		}
		answer(w, st, st, "status injected by the ID")
	case strings.HasPrefix(id, "slow-"):
		sleep(r, 30*time.Second)
		answer(w, http.StatusOK, 0, "ok")
	default:
		w.Header()["Content-Type"] = jsonType
		_, _ = w.Write(okBody)
	}
}

var (
	okBody   = []byte(`{"errNo":0,"errMsg":"ok"}` + "\n")
	jsonType = []string{"application/json"}
)

func sleep(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func answer(w http.ResponseWriter, status, errNo int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errNo": errNo, "errMsg": msg})
}
