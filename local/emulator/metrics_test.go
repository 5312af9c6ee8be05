package emulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/scfws/scfws/function"
	"github.com/scfws/scfws/gateway"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// lines hands each line written to it to a log sink, as the runtime hands
// a child's stdout lines to FunctionOptions.Logs.
type lines func(line []byte)

func (l lines) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		l(bytes.TrimRight(line, "\n"))
	}
	return len(p), nil
}

// startMetered runs a gateway with Metrics in front of the real scfws
// router, whose JSON log lines (the function's own format) feed the
// metrics as local wires them.
func startMetered(t *testing.T, o Options) (*env, *Metrics) {
	t.Helper()
	m := NewMetrics()
	o.Metrics = m
	inv := &routerInvoker{}
	g := startGateway(t, inv, o)
	push, err := gateway.New(g.push, gateway.Options{Concurrency: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(push.CloseIdle)
	reg := store.NewMemory(time.Hour, nil)
	log := function.NewLogger(lines(m.FunctionLine), zap.NewAtomicLevelAt(zap.InfoLevel), true)
	inv.r = router.New(log, router.Fixed(&router.Deps{Registry: reg, Pusher: push, Options: router.Options{MaxMessageBytes: 1 << 20}}))
	return &env{gw: g, reg: reg}, m
}

// scrape reads GET /_scfws/metrics into "name{labels}" -> value.
func scrape(t testing.TB, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET %s = %d %s; want 200 in the text exposition format", MetricsPath, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// N clients and M messages, one of the clients failing its pushes: every
// counter and gauge is exactly what that traffic makes.
func TestMetricsCountKnownTraffic(t *testing.T) {
	const n, msgs, text = 4, 3, "hello"
	e, _ := startMetered(t, Options{})
	var clients []*websocket.Conn
	for range n {
		clients = append(clients, dial(t, e.url, nil))
	}
	_, failID := e.dialID(t, e.url+"?fail-push=500")
	// A bad fail-push is refused by the gateway itself (400).
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, _, err := websocket.Dial(ctx, e.url+"?fail-push=abc", nil); err == nil {
		t.Fatal("dial with fail-push=abc succeeded; want 400")
	}
	// The first message's push to the failing client answers 500 and
	// drops it; the function takes that as gone and prunes it, so the
	// other messages are not for it. A push to it now answers 404: gone.
	for i := range msgs {
		write(t, clients[0], websocket.MessageText, []byte(text))
		for _, c := range clients[1:] {
			if _, data, err := read(t, c); err != nil || string(data) != text {
				t.Fatalf("message %d: read %q, %v", i, data, err)
			}
		}
	}
	e.obs.disconnect(t, failID)
	if status, _ := pushTo(t, e.push, pushBody("data send", failID, "late")); status != http.StatusNotFound {
		t.Fatalf("push to the dropped client = %d; want 404", status)
	}
	recipients := n - 1
	want := map[string]float64{
		`scfws_connections{protocol="plain"}`:                     n,
		`scfws_connections{protocol="v1"}`:                        0,
		`scfws_handshakes_refused_total{status="400"}`:            1,
		`scfws_frames_total{direction="in"}`:                      msgs,
		`scfws_frames_total{direction="out"}`:                     msgs * float64(recipients),
		`scfws_frame_bytes_total{direction="in"}`:                 msgs * float64(len(text)),
		`scfws_frame_bytes_total{direction="out"}`:                msgs * float64(recipients*len(text)),
		`scfws_pushes_total{outcome="delivered"}`:                 msgs * float64(recipients),
		`scfws_pushes_total{outcome="failed"}`:                    1,
		`scfws_pushes_total{outcome="gone"}`:                      1,
		`scfws_pushes_total{outcome="rate_limited"}`:              0,
		`scfws_pushes_total{outcome="closed"}`:                    0,
		`scfws_push_latency_seconds_count`:                        msgs*float64(recipients) + 2,
		`scfws_invokes_total{action="connecting",outcome="ok"}`:   n + 1,
		`scfws_invokes_total{action="data send",outcome="ok"}`:    msgs,
		`scfws_invoke_duration_seconds_count{action="data send"}`: msgs,
		`scfws_function_pushes_total{outcome="delivered"}`:        msgs * float64(recipients),
		`scfws_function_pushes_total{outcome="pruned"}`:           1,
		`scfws_function_pushes_total{outcome="failed"}`:           0,
		`scfws_function_pushes_total{outcome="skipped"}`:          0,
		`scfws_function_pushes_total{outcome="handed_off"}`:       0,
	}
	var wrong []string
	testkit.Eventually(t, wait, "the metrics to count the traffic", func() bool {
		got := scrape(t, e.srv.URL)
		wrong = wrong[:0]
		for k, v := range want {
			if got[k] != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v; want %v", k, got[k], v))
			}
		}
		if len(wrong) > 0 {
			t.Logf("not yet: %q", wrong)
		}
		return len(wrong) == 0
	})
}

// The dashboard's data: a sample made of the metrics' changes, and the
// events, filterable by connection.
func TestDashboardData(t *testing.T) {
	e, m := startMetered(t, Options{})
	start := time.Now()
	m.Sample(start)
	a, aID := e.dialID(t, e.url)
	b := dial(t, e.url, nil)
	write(t, a, websocket.MessageText, []byte("hi"))
	if _, _, err := read(t, b); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, wait, "the push and its invoke counted", func() bool {
		got := scrape(t, e.srv.URL)
		return got[`scfws_pushes_total{outcome="delivered"}`] == 1 && got[`scfws_invokes_total{action="data send",outcome="ok"}`] == 1
	})
	s := m.Sample(start.Add(2 * time.Second))
	if s.Plain != 2 || s.Pushes != 0.5 || s.P50 == nil || s.P99 == nil || *s.P99 < *s.P50 {
		t.Errorf("sample %+v; want 2 plain, 1 push over 2s, p50 <= p99", s)
	}
	var series struct{ Samples []Sample }
	getJSON(t, e.srv.URL+"/_scfws/series?after="+strconv.FormatInt(start.UnixMilli(), 10), &series)
	if len(series.Samples) == 0 || series.Samples[len(series.Samples)-1].Pushes == 0 {
		t.Errorf("series after the first sample = %+v; want the later ones", series.Samples)
	}
	var feed struct {
		Events []Event
		Last   int64
	}
	getJSON(t, e.srv.URL+"/_scfws/events?conn="+url.QueryEscape(aID), &feed)
	kinds := map[string]int{}
	for _, ev := range feed.Events {
		if ev.Conn != aID {
			t.Errorf("event %+v; want only %s's", ev, aID)
		}
		kinds[ev.Kind]++
	}
	if kinds["handshake"] != 1 || kinds["frame"] != 1 || kinds["invoke"] < 2 || feed.Last < int64(len(feed.Events)) {
		t.Errorf("events of a = %v (last %d); want its handshake, its frame and their invokes", kinds, feed.Last)
	}
	getJSON(t, e.srv.URL+"/_scfws/events?after="+strconv.FormatInt(feed.Last, 10)+"&conn="+url.QueryEscape(aID), &feed)
	if len(feed.Events) != 0 {
		t.Errorf("events after the last = %+v; want none", feed.Events)
	}
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// The metrics and the dashboard answer as the rest of /_scfws/: programs,
// and the emulator's own pages; not other sites or a rebound Host.
func TestMetricsAreLocalOnly(t *testing.T) {
	e, _ := startMetered(t, Options{})
	host := strings.TrimPrefix(e.srv.URL, "http://")
	tests := []struct {
		name   string
		path   string
		header map[string]string
		want   int
	}{
		{"metrics, program", MetricsPath, nil, 200},
		{"metrics, dashboard's fetch", MetricsPath, map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"metrics, other site", MetricsPath, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"metrics, no-cors from other site", MetricsPath, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"metrics, same site other port", MetricsPath, map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"metrics, rebound host", MetricsPath, map[string]string{"Host": "evil.example"}, 403},
		{"dashboard, address bar", DashboardPath, map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"dashboard, linked from the chat page", DashboardPath, map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"dashboard, linked from another site", DashboardPath, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"series, own page", "/_scfws/series", map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, 200},
		{"series, other origin", "/_scfws/series", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"events, rebound host", "/_scfws/events", map[string]string{"Host": "evil.example:80"}, 403},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", e.srv.URL+tt.path, nil)
		for k, v := range tt.header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: GET %s = %d; want %d", tt.name, tt.path, resp.StatusCode, tt.want)
		}
	}
	// Without Metrics (local -metrics=false) none of it is served.
	off := startGateway(t, newFakeFn(), Options{})
	for _, path := range []string{MetricsPath, DashboardPath, "/_scfws/series", "/_scfws/events"} {
		resp, err := http.Get(off.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics off: GET %s = %d; want 404", path, resp.StatusCode)
		}
	}
}

func TestQuantileFromBuckets(t *testing.T) {
	bounds := []float64{0.001, 0.002, 0.004, 0.008}
	prev := totals{bounds: bounds, cumulative: []float64{10, 10, 10, 10}, count: 10}
	tests := []struct {
		give []float64 // cumulative counts now
		q    float64
		want float64 // ms; -1: none
	}{
		{[]float64{10, 10, 10, 10}, 0.5, -1},
		{[]float64{10, 20, 20, 20}, 0.5, 1.5}, // all 10 new in (1ms, 2ms]: the middle
		{[]float64{10, 20, 20, 20}, 0.99, 1.99},
		{[]float64{12, 12, 12, 20}, 0.5, 5.5}, // 2 under 1ms, 8 in (4ms, 8ms]: rank 5 is 3/8 in
		{[]float64{10, 10, 10, 10.5}, 0.5, 5}, // half an observation: not reachable, but no division by 0
	}
	for _, tt := range tests {
		count := tt.give[len(tt.give)-1]
		got := quantile(tt.q, totals{bounds: bounds, cumulative: tt.give, count: count}, prev)
		gotMs := -1.0
		if got != nil {
			gotMs = *got
		}
		if fmt.Sprintf("%.3f", gotMs) != fmt.Sprintf("%.3f", tt.want) {
			t.Errorf("quantile(%v, %v) = %v ms; want %v", tt.q, tt.give, gotMs, tt.want)
		}
	}
}

func TestFunctionLine(t *testing.T) {
	tests := []struct {
		give string
		want map[string]float64 // counters that changed
	}{
		{`{"level":"info","time":"2026-12-06T10:00:00.000Z","msg":"invoke","action":"command","op":"sendToAll","errNo":0,"errMsg":"ok","outcome":"ok","recipients":3,"delivered":2,"pruned":1,"failed":0,"skipped":0,"swept":0,"handedOff":0,"durationMs":4.2}`,
			map[string]float64{`scfws_invokes_total{action="command",outcome="ok"}`: 1, `scfws_function_pushes_total{outcome="delivered"}`: 2, `scfws_function_pushes_total{outcome="pruned"}`: 1}},
		{`{"level":"warn","msg":"invoke","action":"connecting","connectionId":"a==","errNo":401,"errMsg":"unauthorized","outcome":"refused","durationMs":0.3}`,
			map[string]float64{`scfws_invokes_total{action="connecting",outcome="refused"}`: 1}},
		{`{"level":"info","msg":"invoke","action":"closing","errNo":0,"durationMs":1}`, // an older function: no outcome
			map[string]float64{`scfws_invokes_total{action="closing",outcome="unknown"}`: 1}},
		{`{"level":"warn","msg":"invoke","action":"dance` + strings.Repeat("x", 50) + `","errNo":102,"outcome":"refused","durationMs":0.1}`,
			map[string]float64{`scfws_invokes_total{action="other",outcome="refused"}`: 1}},
		{`{"level":"info","msg":"settings loaded"}`, nil},
		{`not json "msg":"invoke"`, nil},
	}
	for _, tt := range tests {
		m := NewMetrics()
		srv := New(newFakeFn(), zap.NewNop(), Options{Metrics: m})
		m.FunctionLine([]byte(tt.give))
		got := scrapeHandler(t, srv)
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("after %s: %s = %v; want %v", tt.give, k, got[k], v)
			}
		}
		changed := 0
		for k, v := range got {
			if v != 0 && (strings.HasPrefix(k, "scfws_invokes_total") || strings.HasPrefix(k, "scfws_function_pushes_total")) {
				changed++
			}
		}
		if changed != len(tt.want) {
			t.Errorf("after %s: %d counters changed; want %d (%v)", tt.give, changed, len(tt.want), got)
		}
		srv.Close()
	}
}

// scrapeHandler scrapes a gateway's metrics.
func scrapeHandler(t testing.TB, g *Gateway) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(g)
	defer srv.Close()
	return scrape(t, srv.URL)
}

// Each instance's invokes and restarts, and the invokes the runtime
// failed, by kind.
func TestInstanceMetrics(t *testing.T) {
	m := NewMetrics()
	f, err := NewFunction(buildBadfn(t), FunctionOptions{Timeout: time.Second, Instances: 2, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// One at a time: each goes to the first free instance, and the one
	// that crashes is replaced on its next invoke.
	for _, data := range []string{"hello", "exit", "panic", "hello", "hello"} {
		_, _ = invokeData(t, f, data)
	}
	got := scrapeHandler(t, New(newFakeFn(), zap.NewNop(), Options{Metrics: m}))
	want := map[string]float64{
		`scfws_function_invoke_failures_total{kind="crash"}`: 1,
		`scfws_function_invoke_failures_total{kind="error"}`: 1,
		`scfws_function_invokes_in_flight{instance="0"}`:     0,
		`scfws_function_invokes_in_flight{instance="1"}`:     0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v", k, got[k], v)
		}
	}
	invokes := got[`scfws_function_invokes_total{instance="0"}`] + got[`scfws_function_invokes_total{instance="1"}`]
	restarts := got[`scfws_function_restarts_total{instance="0"}`] + got[`scfws_function_restarts_total{instance="1"}`]
	if invokes != 5 || restarts != 2 {
		t.Errorf("invokes %v, restarts %v over the instances; want 5 and 2 (after the crash, after the panic)", invokes, restarts)
	}
}

func TestFeedKeepsTheLast(t *testing.T) {
	f := newFeed(5)
	for i := range 8 {
		f.add(Event{Kind: "frame", Conn: fmt.Sprintf("c%d", i%2)})
	}
	tests := []struct {
		after    int64
		conn     string
		wantSeqs []int64
	}{
		{0, "", []int64{4, 5, 6, 7, 8}}, // 1-3 are gone from a ring of 5
		{6, "", []int64{7, 8}},
		{8, "", []int64{}},
		{0, "c1", []int64{4, 6, 8}},
		{5, "c0", []int64{7}},
	}
	for _, tt := range tests {
		got, last := f.since(tt.after, tt.conn)
		seqs := []int64{}
		for _, e := range got {
			seqs = append(seqs, e.Seq)
		}
		if fmt.Sprint(seqs) != fmt.Sprint(tt.wantSeqs) || last != 8 {
			t.Errorf("since(%d, %q) = %v, %d; want %v, 8", tt.after, tt.conn, seqs, last, tt.wantSeqs)
		}
	}
}
