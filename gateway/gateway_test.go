package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/scfws/scfws/internal/testkit/pushtest"

	_ "github.com/scfws/scfws/internal/testkit" // for go test ./... -update
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t testing.TB, o Options) (*pushtest.Server, *Client) {
	t.Helper()
	srv := pushtest.Start()
	c, err := New(srv.URL+"/api-test", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.CloseIdle()
		srv.Close()
	})
	return srv, c
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPushWireFormat(t *testing.T) {
	srv, c := start(t, Options{})
	ctx := ctxFor(t, 5*time.Second)
	hostile := "'; DROP TABLE x; -- \"q\" </script> \\ 连接🙂"
	if err := c.Push(ctx, hostile, "text", hostile); err != nil {
		t.Fatalf("Push = %v; want nil", err)
	}
	if err := c.Push(ctx, "b==", "binary", "AAEC/w=="); err != nil {
		t.Fatalf("Push(binary) = %v; want nil", err)
	}
	if err := c.Close(ctx, "c=="); err != nil {
		t.Fatalf("Close = %v; want nil", err)
	}
	want := []pushtest.Push{
		{Action: "data send", SecConnectionID: hostile, DataType: "text", Data: hostile},
		{Action: "data send", SecConnectionID: "b==", DataType: "binary", Data: "AAEC/w=="},
		{Action: "closing", SecConnectionID: "c=="},
	}
	slices.SortFunc(want, func(a, b pushtest.Push) int { return strings.Compare(a.SecConnectionID, b.SecConnectionID) })
	if got := srv.Pushes(); !slices.Equal(got, want) {
		t.Errorf("pushes = %+v; want %+v", got, want)
	}
}

func TestMessageBody(t *testing.T) {
	m := message{id: quote("a=="), tail: dataTail("text", "hi <b>")}
	var b strings.Builder
	if _, err := fmt.Fprint(&b, readAll(t, m)); err != nil {
		t.Fatal(err)
	}
	want := `{"websocket":{"action":"data send","secConnectionID":"a==","dataType":"text","data":"hi <b>"}}`
	if b.String() != want || m.len() != int64(len(want)) {
		t.Errorf("body = %s (len %d); want %s (len %d)", b.String(), m.len(), want, len(want))
	}
}

func readAll(t *testing.T, m message) string {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 7)
	r := m.reader()
	for {
		n, err := r.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

// warm makes the client's first delivery, so that later refusals are taken
// as the gateway's word about a connection (see settle).
func warm(t testing.TB, c *Client) {
	t.Helper()
	if err := c.Push(ctxFor(t, 5*time.Second), "warm-up", "text", "x"); err != nil {
		t.Fatalf("warm-up push: %v", err)
	}
}

// kind names an outcome for table tests.
func kind(err error) string {
	var pe *PushError
	switch {
	case err == nil:
		return "delivered"
	case !errors.As(err, &pe):
		return "not a *PushError: " + err.Error()
	case pe.Gone():
		return "gone"
	case pe.Skipped():
		return "skipped"
	case pe.AddressFault():
		return "address"
	default:
		return "failed"
	}
}

// TestClassification is the push rule: 200 + errNo 0 delivers; 200 with
// another errNo, and any non-200 Tencent does not single out, means the
// gateway dropped the client (gone, never retried); 429 is retried; 413,
// 414 and 431 are about the frame; redirects, auth, method and media-type
// answers are about the address.
func TestClassification(t *testing.T) {
	tests := []struct {
		give         string
		want         string
		wantStatus   int
		wantAttempts int // requests the endpoint saw, after the warm-up
	}{
		{give: "ok-1", want: "delivered", wantAttempts: 1},
		{give: "gone-1", want: "gone", wantStatus: 404, wantAttempts: 1},
		{give: "errno-1", want: "gone", wantStatus: 200, wantAttempts: 1},
		{give: "fail-1", want: "gone", wantStatus: 500, wantAttempts: 1},
		{give: "flaky-1", want: "gone", wantStatus: 500, wantAttempts: 1},
		{give: "status-400-x", want: "gone", wantStatus: 400, wantAttempts: 1},
		{give: "status-410-x", want: "gone", wantStatus: 410, wantAttempts: 1},
		{give: "status-502-x", want: "gone", wantStatus: 502, wantAttempts: 1},
		{give: "status-503-x", want: "gone", wantStatus: 503, wantAttempts: 1},
		{give: "busy-1", want: "failed", wantStatus: 429, wantAttempts: 3},
		{give: "status-413-x", want: "failed", wantStatus: 413, wantAttempts: 1},
		{give: "status-414-x", want: "failed", wantStatus: 414, wantAttempts: 1},
		{give: "status-431-x", want: "failed", wantStatus: 431, wantAttempts: 1},
		{give: "status-301-x", want: "address", wantStatus: 301, wantAttempts: 1},
		{give: "status-401-x", want: "address", wantStatus: 401, wantAttempts: 1},
		{give: "status-403-x", want: "address", wantStatus: 403, wantAttempts: 1},
		{give: "status-405-x", want: "address", wantStatus: 405, wantAttempts: 1},
		{give: "status-415-x", want: "address", wantStatus: 415, wantAttempts: 1},
		// Sent but unanswered: it may have been delivered, so no retry (no duplicate).
		{give: "slow-1", want: "failed", wantStatus: 0, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			// A short attempt timeout only where it is the point: on a
			// loaded machine a loopback round trip can take 100ms.
			timeout := 2 * time.Second
			if strings.HasPrefix(tt.give, "slow-") {
				timeout = 300 * time.Millisecond
			}
			srv, c := start(t, Options{Retries: 2, Backoff: time.Millisecond, Timeout: timeout})
			srv.SetRetryAfter(0)
			warm(t, c)
			srv.Reset()
			srv.SetRetryAfter(0)
			err := c.Push(ctxFor(t, 5*time.Second), tt.give, "text", "x")
			if got := srv.Requests(); got != int64(tt.wantAttempts) {
				t.Errorf("Push(%q) made %d requests; want %d", tt.give, got, tt.wantAttempts)
			}
			if got := kind(err); got != tt.want {
				t.Errorf("Push(%q) = %v (%s); want %s", tt.give, err, got, tt.want)
			}
			var pe *PushError
			if errors.As(err, &pe) && pe.Status != tt.wantStatus {
				t.Errorf("Push(%q) status %d; want %d", tt.give, pe.Status, tt.wantStatus)
			}
		})
	}
}

// A refusal from an address that has never delivered proves nothing about
// the connection: the first lone 404 of a process keeps the connection.
func TestLoneRefusalBeforeAnyDelivery(t *testing.T) {
	_, c := start(t, Options{})
	err := c.Push(ctxFor(t, 5*time.Second), "gone-1", "text", "x")
	if got := kind(err); got != "address" || !strings.Contains(err.Error(), "has not delivered yet") {
		t.Errorf("first push ever, refused 404 = %v (%s); want an address fault", err, got)
	}
	warm(t, c)
	if got := kind(c.Push(ctxFor(t, 5*time.Second), "gone-1", "text", "x")); got != "gone" {
		t.Errorf("after a delivery, 404 = %s; want gone", got)
	}
}

// TestWrongAddressPrunesNothing: a push address that refuses every push
// (a wrong path is a 404 for everything; a missing auth a 401) must never
// make a broadcast report its recipients gone, even after the address had
// worked: an answer every push gets is the address's fault.
func TestWrongAddressPrunesNothing(t *testing.T) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("conn-%04d", i)
	}
	for _, status := range []int{400, 401, 403, 404, 405, 413, 431, 500, 502, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv, c := start(t, Options{})
			warm(t, c)
			srv.Reset()
			srv.RejectAll(status)
			errs := c.Broadcast(ctxFor(t, 10*time.Second), ids, "text", "x")
			counts := map[string]int{}
			for _, err := range errs {
				counts[kind(err)]++
			}
			if counts["gone"] != 0 || counts["delivered"] != 0 || counts["address"]+counts["failed"] != len(ids) {
				t.Errorf("outcomes %v; want none gone, all failed or address faults", counts)
			}
			if status != 413 && status != 431 && !strings.Contains(errs[0].Error(), "check SENDBACK_HOST") {
				t.Errorf("errs[0] = %v; want it to say the push address looks wrong", errs[0])
			}
			if got := srv.Requests(); got != int64(len(ids)) {
				t.Errorf("%d requests for %d pushes; want no retries", got, len(ids))
			}
		})
	}
}

// A 429 is retried after its Retry-After, when that fits the deadline.
func TestRetryAfterHonoured(t *testing.T) {
	srv, c := start(t, Options{Retries: 1, Backoff: time.Millisecond})
	srv.SetRetryAfter(1)
	began := time.Now()
	err := c.Push(ctxFor(t, 5*time.Second), "busy-1", "text", "x")
	if took := time.Since(began); took < time.Second || srv.Requests() != 2 {
		t.Errorf("with Retry-After: 1, two attempts took %s (%d requests); want a wait of at least 1s between them", took, srv.Requests())
	}
	if got := kind(err); got != "failed" {
		t.Errorf("still 429 after the retries = %s; want failed (kept)", got)
	}
	srv.Reset()
	srv.SetRetryAfter(2)
	ctx := ctxFor(t, 500*time.Millisecond)
	_ = c.Push(ctx, "busy-2", "text", "x")
	if srv.Requests() != 1 || ctx.Err() != nil {
		t.Errorf("Retry-After 2s with 500ms left: %d requests, ctx %v; want one attempt and an answer before the deadline", srv.Requests(), ctx.Err())
	}
}

// PUSH_RATE is a token bucket: pushes never exceed it, and pushes that
// cannot get a token before the deadline are skipped, not started late.
func TestRateLimit(t *testing.T) {
	// One worker: no waiters race for the bucket's clock (see below).
	srv, c := start(t, Options{Rate: 500, Concurrency: 1})
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprint("r", i)
	}
	began := time.Now()
	errs := c.Broadcast(ctxFor(t, 10*time.Second), ids, "text", "x")
	took := time.Since(began)
	for _, err := range errs {
		if err != nil {
			t.Fatalf("push = %v; want all delivered", err)
		}
	}
	// 300 pushes at 500/s with a burst of 5 need 590ms of tokens; without
	// the bucket they take a few ms. x/time/rate reads the clock before
	// taking its lock, so many waiters racing for it can set its last update
	// back and be credited a little time twice (CI once measured 589.4ms
	// with 128 workers); one worker makes the bound exact, less rounding.
	if min := 589 * time.Millisecond; took < min {
		t.Errorf("300 pushes at 500/s took %s; want at least %s", took, min)
	}
	srv.Reset()
	errs = c.Broadcast(ctxFor(t, 300*time.Millisecond), ids, "text", "x")
	counts := map[string]int{}
	for _, err := range errs {
		counts[kind(err)]++
	}
	if counts["skipped"] == 0 || counts["delivered"] == 0 || counts["delivered"] > 150 {
		t.Errorf("300 pushes at 500/s in 300ms: %v; want some delivered (at most 150) and the rest skipped", counts)
	}
}

func TestEndpointDown(t *testing.T) {
	srv := pushtest.Start()
	url := srv.URL
	srv.Close()
	c, err := New(url, Options{Retries: 1, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdle()
	errs := c.Broadcast(ctxFor(t, 5*time.Second), []string{"a", "b", "c"}, "text", "x")
	for i, err := range errs {
		var pe *PushError
		if !errors.As(err, &pe) || pe.Gone() || pe.Skipped() || pe.Attempts != 2 || !strings.Contains(pe.Error(), "connection refused") {
			t.Errorf("errs[%d] = %v; want a failed (not gone) push after 2 attempts", i, err)
		}
	}
}

func TestBroadcastBoundedAndKeptAlive(t *testing.T) {
	const limit = 16
	srv, c := start(t, Options{Concurrency: limit})
	srv.SetLatency(time.Millisecond)
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = fmt.Sprintf("conn-%04d", i)
	}
	errs := c.Broadcast(ctxFor(t, 30*time.Second), ids, "text", "hello")
	for i, err := range errs {
		if err != nil {
			t.Fatalf("errs[%d] = %v; want nil", i, err)
		}
	}
	if got := len(srv.Pushes()); got != len(ids) {
		t.Errorf("endpoint got %d pushes; want %d", got, len(ids))
	}
	if got := srv.MaxInflight(); got > limit {
		t.Errorf("max pushes in flight = %d; want at most %d", got, limit)
	}
	if got := srv.Conns(); got > limit {
		t.Errorf("opened %d TCP connections for %d pushes; want at most %d (keep-alive)", got, len(ids), limit)
	}
	// A second broadcast reuses the pool.
	before := srv.Conns()
	c.Broadcast(ctxFor(t, 30*time.Second), ids[:500], "text", "again")
	if got := srv.Conns() - before; got != 0 {
		t.Errorf("second broadcast opened %d new connections; want 0", got)
	}
}

func TestBroadcastOutcomes(t *testing.T) {
	srv, c := start(t, Options{Retries: 1, Backoff: time.Millisecond})
	srv.SetRetryAfter(0)
	// A fresh client: the delivery to a in the same broadcast is what
	// shows that the address works.
	ids := []string{"a", "gone-b", "errno-c", "fail-d", "busy-e", "status-413-f"}
	errs := c.Broadcast(ctxFor(t, 5*time.Second), ids, "text", "x")
	var got []string
	for i, err := range errs {
		got = append(got, ids[i]+":"+kind(err))
	}
	want := []string{"a:delivered", "gone-b:gone", "errno-c:gone", "fail-d:gone", "busy-e:failed", "status-413-f:failed"}
	if !slices.Equal(got, want) {
		t.Errorf("outcomes = %q; want %q", got, want)
	}
}

// The deadline is the invocation's: a broadcast that cannot finish stops
// starting pushes Reserve before it, and returns before it.
func TestBroadcastRespectsDeadline(t *testing.T) {
	// Scaled so that Broadcast has 200ms between its reserve and the
	// deadline to cancel, count and return, even on a loaded machine.
	srv, c := start(t, Options{Concurrency: 2, Reserve: time.Second})
	srv.SetLatency(100 * time.Millisecond)
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprint("c", i)
	}
	ctx := ctxFor(t, 2*time.Second)
	deadline, _ := ctx.Deadline()
	errs := c.Broadcast(ctx, ids, "text", "x")
	if time.Now().After(deadline) {
		t.Errorf("Broadcast returned %s after the deadline; want before it", time.Since(deadline))
	}
	var delivered, skipped int
	for _, err := range errs {
		var pe *PushError
		switch {
		case err == nil:
			delivered++
		case errors.As(err, &pe) && pe.Skipped():
			skipped++
		}
	}
	if delivered == 0 || skipped == 0 || delivered+skipped < len(ids)-2 {
		t.Errorf("delivered %d, skipped %d of %d; want some of each, and at most 2 cut off in flight", delivered, skipped, len(ids))
	}
}

// When pushes take longer than the reserve (a push address that answers
// slowly, or a CPU the fan-out saturates), the reserve grows to their time:
// no push is started that would be cut off in flight, and the broadcast
// returns with at least that time left for the caller to reply in.
func TestBroadcastReserveScalesWithPushTime(t *testing.T) {
	const took = 300 * time.Millisecond
	srv, c := start(t, Options{Concurrency: 2})
	srv.SetLatency(took)
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = fmt.Sprint("c", i)
	}
	ctx := ctxFor(t, 2*time.Second)
	deadline, _ := ctx.Deadline()
	errs := c.Broadcast(ctx, ids, "text", "x")
	if left := time.Until(deadline); left < took {
		t.Errorf("Broadcast returned %s before the deadline; want at least the %s its pushes took", left, took)
	}
	var delivered, cut int
	for _, err := range errs {
		var pe *PushError
		switch {
		case err == nil:
			delivered++
		case errors.As(err, &pe) && pe.kind == unanswered:
			cut++
		}
	}
	if delivered == 0 || cut != 0 {
		t.Errorf("delivered %d, cut off in flight %d; want some delivered and none cut off", delivered, cut)
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	// The first backoff (0.5s-1.5s, jittered) never fits in 300ms, so the
	// one attempt is all there is, and the answer comes well before.
	srv, c := start(t, Options{Retries: 10, Backoff: time.Second})
	srv.SetRetryAfter(0)
	ctx := ctxFor(t, 300*time.Millisecond)
	err := c.Push(ctx, "busy-x", "text", "x")
	var pe *PushError
	if !errors.As(err, &pe) || pe.Status != 429 {
		t.Fatalf("Push = %v; want HTTP 429", err)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("made %d attempts in 300ms with a 1s backoff; want 1", n)
	}
	if ctx.Err() != nil {
		t.Errorf("Push returned after the deadline; want it to give up when the backoff does not fit")
	}
}

// BenchmarkBroadcast is one broadcast per op with the default settings to an
// endpoint that answers after the given latency.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, latency := range []time.Duration{0, 2 * time.Millisecond} {
			b.Run(fmt.Sprintf("recipients=%d/latency=%s", n, latency), func(b *testing.B) {
				srv, c := start(b, Options{})
				srv.Discard()
				srv.SetLatency(latency)
				ids := make([]string, n)
				for i := range ids {
					ids[i] = fmt.Sprintf("xawexasdfewezdfsdf%010d", i)
				}
				ctx := context.Background()
				b.ResetTimer()
				for b.Loop() {
					for _, err := range c.Broadcast(ctx, ids, "text", "hello, everyone") {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "pushes/s")
				b.ReportMetric(float64(srv.Conns()), "conns")
			})
		}
	}
}

// BenchmarkPushRate is 10,000 pushes at PUSH_RATE=5000: 2.0s by design.
func BenchmarkPushRate(b *testing.B) {
	srv, c := start(b, Options{Rate: 5000})
	srv.Discard()
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = fmt.Sprintf("xawexasdfewezdfsdf%010d", i)
	}
	for b.Loop() {
		for _, err := range c.Broadcast(context.Background(), ids, "text", "hello") {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	// The mean over every iteration, not the last one's.
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/10k-pushes")
}

func TestReserve(t *testing.T) {
	tests := []struct{ give, want time.Duration }{
		{3 * time.Second, 250 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
		{500 * time.Millisecond, 50 * time.Millisecond},
		{50 * time.Millisecond, 10 * time.Millisecond},
		{5 * time.Millisecond, 5 * time.Millisecond},
		{-time.Second, 0},
	}
	for _, tt := range tests {
		if got := Reserve(tt.give, 250*time.Millisecond); got != tt.want {
			t.Errorf("Reserve(%s, 250ms) = %s; want %s", tt.give, got, tt.want)
		}
	}
}

// FuzzMessageBody: any ID and frame encode to a push body that decodes
// back to them (for valid UTF-8; JSON cannot carry anything else), with the
// length the request declares.
func FuzzMessageBody(f *testing.F) {
	f.Add("xawexasdfewezdfsdfeasdfffa==", "text", "hello")
	f.Add("'; DROP TABLE x; -- \"q\" </script> \\ 连接🙂", "binary", "AAEC/w==")
	f.Add("\u2028\x00\x1f", "text", strings.Repeat("\\u0000", 10))
	f.Fuzz(func(t *testing.T, id, dataType, data string) {
		m := message{id: quote(id), tail: dataTail(dataType, data)}
		body := readAll(t, m)
		if int64(len(body)) != m.len() {
			t.Fatalf("body of %d bytes, declared %d", len(body), m.len())
		}
		var got struct {
			WebSocket struct {
				Action          string `json:"action"`
				SecConnectionID string `json:"secConnectionID"`
				DataType        string `json:"dataType"`
				Data            string `json:"data"`
			} `json:"websocket"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("body %q is not JSON: %v", body, err)
		}
		ws := got.WebSocket
		if ws.Action != "data send" {
			t.Errorf("action %q", ws.Action)
		}
		if utf8.ValidString(id) && utf8.ValidString(dataType) && utf8.ValidString(data) && (ws.SecConnectionID != id || ws.DataType != dataType || ws.Data != data) {
			t.Errorf("round trip changed the push: %+v", ws)
		}
	})
}

// Credentials in the push address go as Basic auth, never in an error.
func TestAddressCredentials(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c, err := New(strings.Replace(srv.URL, "http://", "http://admin:hunter2@", 1)+"/api", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdle()
	if err := c.Push(ctxFor(t, 5*time.Second), "a", "text", "x"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "Basic YWRtaW46aHVudGVyMg==" {
		t.Errorf("Authorization = %q; want Basic admin:hunter2", got)
	}
	srv.Close()
	err = c.Push(ctxFor(t, 5*time.Second), "a", "text", "x")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("push to a closed endpoint = %v; want an error without the password", err)
	}
}
