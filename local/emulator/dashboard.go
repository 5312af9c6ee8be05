package emulator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// The dashboard's paths, served when the gateway has Metrics: the page,
// its data, and the metrics for Prometheus. Like the rest of /_scfws/,
// they answer programs and the emulator's own pages only.
const (
	DashboardPath = "/_scfws/dashboard"
	MetricsPath   = "/_scfws/metrics"
)

func (g *Gateway) serveDashboardRoutes() {
	m := g.opts.Metrics
	g.mux.HandleFunc("GET "+DashboardPath, g.admin(func(w http.ResponseWriter, r *http.Request) {
		writePage(w, "web/dashboard.html")
	}))
	g.mux.Handle("GET "+MetricsPath, g.admin(m.Handler().ServeHTTP))
	g.mux.HandleFunc("GET /_scfws/series", g.admin(func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		_ = json.NewEncoder(w).Encode(map[string]any{"samples": m.Samples(after)})
	}))
	g.mux.HandleFunc("GET /_scfws/events", g.admin(func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		events, last := m.events.since(after, r.URL.Query().Get("conn"))
		_ = json.NewEncoder(w).Encode(map[string]any{"events": events, "last": last})
	}))
}

// pushWriter notes what a push was answered, for the metrics.
type pushWriter struct {
	http.ResponseWriter
	start  time.Time
	status int
	order  order // the push's, once it was read and is valid
}

func (pw *pushWriter) WriteHeader(status int) {
	if pw.status == 0 {
		pw.status = status
	}
	pw.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (the body's
// read deadline).
func (pw *pushWriter) Unwrap() http.ResponseWriter { return pw.ResponseWriter }

// noteOrder tells the metrics, when they watch w, which connection a push
// was for.
func noteOrder(w http.ResponseWriter, o order) {
	if pw, ok := w.(*pushWriter); ok {
		pw.order = o
	}
}

// countPush counts a push by its answer.
func (g *Gateway) countPush(pw *pushWriter) {
	var outcome string
	switch pw.status {
	case http.StatusOK:
		outcome = pushDelivered
		if pw.order.closing {
			outcome = pushClosed
		}
	case http.StatusTooManyRequests:
		outcome = pushRateLimited
	case g.opts.UnknownPushStatus:
		outcome = pushGone
	default:
		outcome = pushFailed // 0: the pusher left before an answer
	}
	g.opts.Metrics.pushed(pw.order.connID, outcome, pw.status, len(pw.order.frame.data), pw.start, time.Now())
}
