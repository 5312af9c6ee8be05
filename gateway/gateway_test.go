package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scfws/scfws/internal/pushtest"

	_ "github.com/scfws/scfws/internal/golden" // for go test ./... -update
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

func TestClassification(t *testing.T) {
	tests := []struct {
		give         string
		wantGone     bool
		wantOK       bool
		wantStatus   int
		wantAttempts int // requests the endpoint saw
	}{
		{give: "ok-1", wantOK: true, wantAttempts: 1},
		{give: "gone-1", wantGone: true, wantStatus: 404, wantAttempts: 1},
		{give: "errno-1", wantGone: true, wantStatus: 200, wantAttempts: 1},
		{give: "fail-1", wantStatus: 500, wantAttempts: 3},
		{give: "busy-1", wantStatus: 429, wantAttempts: 3},
		{give: "flaky-1", wantOK: true, wantAttempts: 2},
		// Sent but unanswered: it may have been delivered, so no retry (no duplicate).
		{give: "slow-1", wantStatus: 0, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			srv, c := start(t, Options{Retries: 2, Backoff: time.Millisecond, Timeout: 100 * time.Millisecond})
			err := c.Push(ctxFor(t, 5*time.Second), tt.give, "text", "x")
			if got := srv.Requests(); got != int64(tt.wantAttempts) {
				t.Errorf("Push(%q) made %d requests; want %d", tt.give, got, tt.wantAttempts)
			}
			if tt.wantOK {
				if err != nil {
					t.Errorf("Push(%q) = %v; want nil", tt.give, err)
				}
				return
			}
			var pe *PushError
			if !errors.As(err, &pe) {
				t.Fatalf("Push(%q) = %v; want a *PushError", tt.give, err)
			}
			if pe.Gone() != tt.wantGone || pe.Status != tt.wantStatus || pe.Skipped() {
				t.Errorf("Push(%q) = %v (gone %v, status %d); want gone %v, status %d", tt.give, pe, pe.Gone(), pe.Status, tt.wantGone, tt.wantStatus)
			}
		})
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
	_, c := start(t, Options{Retries: 1, Backoff: time.Millisecond})
	ids := []string{"a", "gone-b", "errno-c", "fail-d", "flaky-e"}
	errs := c.Broadcast(ctxFor(t, 5*time.Second), ids, "text", "x")
	var got []string
	for i, err := range errs {
		var pe *PushError
		switch {
		case err == nil:
			got = append(got, ids[i]+":delivered")
		case errors.As(err, &pe) && pe.Gone():
			got = append(got, ids[i]+":gone")
		default:
			got = append(got, ids[i]+":failed")
		}
	}
	want := []string{"a:delivered", "gone-b:gone", "errno-c:gone", "fail-d:failed", "flaky-e:delivered"}
	if !slices.Equal(got, want) {
		t.Errorf("outcomes = %q; want %q", got, want)
	}
}

// The deadline is the invocation's: a broadcast that cannot finish stops
// starting pushes Reserve before it, and returns before it.
func TestBroadcastRespectsDeadline(t *testing.T) {
	srv, c := start(t, Options{Concurrency: 2, Reserve: 100 * time.Millisecond})
	srv.SetLatency(40 * time.Millisecond)
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprint("c", i)
	}
	ctx := ctxFor(t, 400*time.Millisecond)
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

func TestRetryStopsAtDeadline(t *testing.T) {
	srv, c := start(t, Options{Retries: 10, Backoff: 200 * time.Millisecond})
	ctx := ctxFor(t, 300*time.Millisecond)
	err := c.Push(ctx, "fail-x", "text", "x")
	var pe *PushError
	if !errors.As(err, &pe) || pe.Status != 500 {
		t.Fatalf("Push = %v; want HTTP 500", err)
	}
	if n := srv.Requests(); n > 3 {
		t.Errorf("made %d attempts in 300ms with 200ms backoff; want at most 3", n)
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
