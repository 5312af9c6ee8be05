package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Metrics counts what the emulator sees, in Prometheus's terms, for GET
// /_scfws/metrics, and keeps the last events and a few minutes of
// per-second samples for the dashboard. The gateway counts what it sees
// (connections, frames, what its push address answered); the runtime its
// instances; the function's own account of each invoke (its outcome, the
// pushes it failed or skipped) comes from its per-invoke log line, as a log
// service would chart it under SCF.
//
// A nil *Metrics counts nothing: that is scfws local -metrics=false.
type Metrics struct {
	reg     *prometheus.Registry
	events  *feed
	history *history

	plain, v1    prometheus.Gauge
	refused      *prometheus.CounterVec
	framesIn     prometheus.Counter
	framesOut    prometheus.Counter
	bytesIn      prometheus.Counter
	bytesOut     prometheus.Counter
	pushes       map[string]prometheus.Counter // by outcome, resolved once: a push only reads the map
	pushLatency  prometheus.Histogram
	invokes      *prometheus.CounterVec
	invokeTime   *prometheus.HistogramVec
	fnPushes     *prometheus.CounterVec
	instInvokes  *prometheus.CounterVec
	instInFlight *prometheus.GaugeVec
	instRestarts *prometheus.CounterVec
	failures     *prometheus.CounterVec
}

// Push outcomes at the push address, by what it answered.
const (
	pushDelivered   = "delivered"    // a data send, 200
	pushClosed      = "closed"       // a closing push, 200
	pushGone        = "gone"         // -unknown-push-status: no such connection (or too slow)
	pushRateLimited = "rate_limited" // 429
	pushFailed      = "failed"       // any other answer
)

var pushOutcomes = []string{pushDelivered, pushClosed, pushGone, pushRateLimited, pushFailed}

// timeBuckets bound the duration histograms: 0.1 ms to about 13 s, each
// half as wide again as the last, fine enough for a p99 from a second's
// invokes.
var timeBuckets = prometheus.ExponentialBuckets(0.0001, 1.5, 30)

// NewMetrics returns empty metrics with their own registry (no process or
// Go runtime collectors: the numbers are the emulator's traffic only).
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), events: newFeed(10000), history: newHistory(300)}
	conns := m.gaugeVec("scfws_connections", "Open WebSocket connections, by protocol (plain or v1: scfws.v1).", "protocol")
	m.plain, m.v1 = conns.WithLabelValues("plain"), conns.WithLabelValues("v1")
	m.refused = m.counterVec("scfws_handshakes_refused_total", "Handshakes the gateway refused, by HTTP status (403: the function refused; 502: its invoke failed; 400: a bad request).", "status")
	frames := m.counterVec("scfws_frames_total", "WebSocket data frames, in (from clients) and out (to clients).", "direction")
	m.framesIn, m.framesOut = frames.WithLabelValues("in"), frames.WithLabelValues("out")
	bytesTotal := m.counterVec("scfws_frame_bytes_total", "Payload bytes of those frames.", "direction")
	m.bytesIn, m.bytesOut = bytesTotal.WithLabelValues("in"), bytesTotal.WithLabelValues("out")
	pushes := m.counterVec("scfws_pushes_total", "Reverse pushes by what the push address answered: delivered, closed, gone, rate_limited, failed.", "outcome")
	m.pushes = map[string]prometheus.Counter{}
	for _, o := range pushOutcomes {
		m.pushes[o] = pushes.WithLabelValues(o) // every outcome shows, 0 until it happens
	}
	m.pushLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scfws_push_latency_seconds",
		Help: "Time the push address took to answer a push (-push-latency included).", Buckets: timeBuckets})
	m.invokes = m.counterVec("scfws_invokes_total", "Invokes by action and outcome (ok, warning, refused, error), from the function's log line.", "action", "outcome")
	m.invokeTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scfws_invoke_duration_seconds",
		Help: "Invoke duration as the function measured it (its log line's durationMs), by action.", Buckets: timeBuckets}, []string{"action"})
	m.fnPushes = m.counterVec("scfws_function_pushes_total", "Pushes as the function counted them (its log line): delivered, pruned, failed, skipped, handed_off.", "outcome")
	m.instInvokes = m.counterVec("scfws_function_invokes_total", "Invokes each function instance took.", "instance")
	m.instInFlight = m.gaugeVec("scfws_function_invokes_in_flight", "Invokes each function instance is running now.", "instance")
	m.instRestarts = m.counterVec("scfws_function_restarts_total", "Times each function instance's process was replaced (a crash, a panic, a hung invoke).", "instance")
	m.failures = m.counterVec("scfws_function_invoke_failures_total", "Invokes the runtime failed: crash, timeout, error, too_large.", "kind")
	m.reg.MustRegister(m.pushLatency, m.invokeTime)
	return m
}

func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(v)
	return v
}

func (m *Metrics) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(v)
	return v
}

// Handler serves the metrics in Prometheus's text exposition format (the
// one every scraper reads: promhttp's negotiation of the others would make
// scfws's zip bigger for no one).
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fams, err := m.reg.Gather()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		for _, f := range fams {
			if _, err := expfmt.MetricFamilyToText(w, f); err != nil {
				return // the scraper left
			}
		}
	})
}

// opened counts a connection the gateway upgraded.
func (m *Metrics) opened(id string, v1 bool, subprotocol string) {
	if m == nil {
		return
	}
	m.connGauge(v1).Inc()
	m.events.add(Event{Kind: "handshake", Conn: id, What: "accepted", Detail: subprotocol})
}

// closed counts the end of a connection opened counted.
func (m *Metrics) closed(id string, v1 bool, why string) {
	if m == nil {
		return
	}
	m.connGauge(v1).Dec()
	m.events.add(Event{Kind: "close", Conn: id, What: "closed", Detail: why})
}

func (m *Metrics) connGauge(v1 bool) prometheus.Gauge {
	if v1 {
		return m.v1
	}
	return m.plain
}

// refusedHandshake counts a handshake refused with status.
func (m *Metrics) refusedHandshake(id string, status int, why string) {
	if m == nil {
		return
	}
	m.refused.WithLabelValues(strconv.Itoa(status)).Inc()
	m.events.add(Event{Kind: "handshake", Conn: id, What: "refused", Status: status, Detail: why})
}

// frameIn counts a client's frame.
func (m *Metrics) frameIn(id string, n int) {
	if m == nil {
		return
	}
	m.framesIn.Inc()
	m.bytesIn.Add(float64(n))
	m.events.add(Event{Kind: "frame", Conn: id, What: "in", Bytes: n})
}

// frameOut counts a frame written to a client; its push is the event.
func (m *Metrics) frameOut(n int) {
	if m == nil {
		return
	}
	m.framesOut.Inc()
	m.bytesOut.Add(float64(n))
}

// pushed counts one push, begun at start and answered now.
func (m *Metrics) pushed(id, outcome string, status, n int, start, now time.Time) {
	if m == nil {
		return
	}
	took := now.Sub(start)
	m.pushes[outcome].Inc()
	m.pushLatency.Observe(took.Seconds())
	m.events.add(Event{Time: now.UnixMilli(), Kind: "push", Conn: id, What: outcome, Status: status, Bytes: n, Ms: ms(took)})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// invokeLine is what the metrics read from the function's per-invoke log
// line (router.logInvoke).
type invokeLine struct {
	Msg        string   `json:"msg"`
	Action     string   `json:"action"`
	Op         string   `json:"op"`
	Conn       string   `json:"connectionId"`
	Outcome    string   `json:"outcome"`
	ErrMsg     string   `json:"errMsg"`
	DurationMs float64  `json:"durationMs"`
	Delivered  *float64 `json:"delivered"` // the counts are there for sends only
	Pruned     float64  `json:"pruned"`
	Failed     float64  `json:"failed"`
	Skipped    float64  `json:"skipped"`
	HandedOff  float64  `json:"handedOff"`
}

// FunctionLine counts one line the function printed, when it is its
// per-invoke line: a FunctionOptions.Logs sink, beside the console.
// Invokes its LOG_LEVEL leaves unlogged (ok ones at warn) go uncounted.
func (m *Metrics) FunctionLine(line []byte) {
	if m == nil || !bytes.Contains(line, []byte(`"msg":"invoke"`)) {
		return
	}
	var l invokeLine
	if json.Unmarshal(line, &l) != nil || l.Msg != "invoke" || l.Action == "" {
		return
	}
	action, outcome := known(l.Action, invokeActions), known(l.Outcome, invokeOutcomes)
	m.invokes.WithLabelValues(action, outcome).Inc()
	m.invokeTime.WithLabelValues(action).Observe(l.DurationMs / 1000)
	if l.Delivered != nil {
		m.fnPushes.WithLabelValues("delivered").Add(*l.Delivered)
		m.fnPushes.WithLabelValues("pruned").Add(l.Pruned)
		m.fnPushes.WithLabelValues("failed").Add(l.Failed)
		m.fnPushes.WithLabelValues("skipped").Add(l.Skipped)
		m.fnPushes.WithLabelValues("handed_off").Add(l.HandedOff)
	}
	what := l.Action
	if l.Op != "" {
		what += " " + l.Op
	}
	e := Event{Kind: "invoke", Conn: l.Conn, What: what, Ms: l.DurationMs, Detail: l.Outcome}
	if l.Outcome != "ok" {
		e.Detail += ": " + l.ErrMsg
	}
	m.events.add(e)
}

// The label values an invoke line may give; anything else (an event of
// any action can be invoked by hand) is counted as "other", so that no
// caller can grow the metrics without bound. A function older than the
// outcome field gives none: "unknown".
var (
	invokeActions  = []string{"connecting", "data send", "data recv", "closing", "command", "http"}
	invokeOutcomes = []string{"ok", "warning", "refused", "error"}
)

func known(v string, values []string) string {
	switch {
	case v == "":
		return "unknown"
	case slices.Contains(values, v):
		return v
	}
	return "other"
}

// instanceMetrics are one function instance's; nil counts nothing.
type instanceMetrics struct {
	invokes  prometheus.Counter
	inFlight prometheus.Gauge
	restarts prometheus.Counter
}

// instance returns instance i's metrics, present at 0 from the start.
func (m *Metrics) instance(i int) *instanceMetrics {
	if m == nil {
		return nil
	}
	l := strconv.Itoa(i)
	return &instanceMetrics{invokes: m.instInvokes.WithLabelValues(l), inFlight: m.instInFlight.WithLabelValues(l),
		restarts: m.instRestarts.WithLabelValues(l)}
}

func (im *instanceMetrics) began() {
	if im != nil {
		im.invokes.Inc()
		im.inFlight.Inc()
	}
}

func (im *instanceMetrics) ended() {
	if im != nil {
		im.inFlight.Dec()
	}
}

func (im *instanceMetrics) restarted() {
	if im != nil {
		im.restarts.Inc()
	}
}

// invokeFailed counts an invoke the runtime failed, by InvokeError.Kind.
func (m *Metrics) invokeFailed(kind string) {
	if m == nil {
		return
	}
	if kind == "too large" {
		kind = "too_large"
	}
	m.failures.WithLabelValues(kind).Inc()
}
