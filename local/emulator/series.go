package emulator

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Sample is one second of the dashboard's charts, worked out from the
// metrics as a Prometheus query would: rates are the change of a counter
// over the second, quantiles come from the histogram's buckets.
type Sample struct {
	Time  int64 `json:"t"` // Unix milliseconds
	Plain int   `json:"plain"`
	V1    int   `json:"v1"`
	// Invokes a second, every instance's (the runtime's count), and those
	// that went wrong: not ok by the function's log line, or failed by
	// the runtime.
	Invokes  float64 `json:"invokes"`
	Problems float64 `json:"problems"`
	// Pushes a second delivered at the push address, and those answered
	// otherwise (gone, rate_limited, failed).
	Pushes       float64 `json:"pushes"`
	PushFailures float64 `json:"pushFailures"`
	// What the function's log lines say of its pushes, a second: the
	// connections it forgot as gone, the pushes that failed, and those it
	// skipped for want of time.
	Pruned  float64 `json:"pruned"`
	Failed  float64 `json:"failed"`
	Skipped float64 `json:"skipped"`
	// P50 and P99 of the invokes logged in the second, in milliseconds;
	// null when there were none.
	P50       *float64         `json:"p50"`
	P99       *float64         `json:"p99"`
	Instances []InstanceSample `json:"instances"`
}

// InstanceSample is one function instance in a Sample.
type InstanceSample struct {
	Invokes  float64 `json:"invokes"` // a second
	InFlight int     `json:"inFlight"`
	Restarts int     `json:"restarts"`
}

// totals are the counters a Sample differences.
type totals struct {
	at                               time.Time
	invokes, problems                float64
	delivered, pushFailures          float64
	pruned, failed, skipped          float64
	bounds, cumulative               []float64 // the invoke time histogram, summed over actions
	count                            float64
	instInvokes, inFlight, restarted map[string]float64
}

// history keeps the last samples, and the totals the next one starts from.
type history struct {
	mu      sync.Mutex
	samples []Sample
	size    int
	last    totals
}

func newHistory(size int) *history {
	return &history{size: size, last: totals{at: time.Now()}}
}

// Run samples every second until ctx ends.
func (m *Metrics) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.Sample(now)
		}
	}
}

// Sample adds the sample for the time since the last one and returns it.
func (m *Metrics) Sample(now time.Time) Sample {
	fams, _ := m.reg.Gather() // our own collectors: no error to expect
	cur := readTotals(fams, now)
	gauges := byName(fams)
	m.history.mu.Lock()
	defer m.history.mu.Unlock()
	prev := m.history.last
	secs := now.Sub(prev.at).Seconds()
	rate := func(a, b float64) float64 {
		if secs <= 0 {
			return 0
		}
		return math.Max(a-b, 0) / secs
	}
	s := Sample{Time: now.UnixMilli(),
		Plain: int(labelled(gauges["scfws_connections"], "protocol", "plain")), V1: int(labelled(gauges["scfws_connections"], "protocol", "v1")),
		Invokes: rate(cur.invokes, prev.invokes), Problems: rate(cur.problems, prev.problems),
		Pushes: rate(cur.delivered, prev.delivered), PushFailures: rate(cur.pushFailures, prev.pushFailures),
		Pruned: rate(cur.pruned, prev.pruned), Failed: rate(cur.failed, prev.failed), Skipped: rate(cur.skipped, prev.skipped)}
	s.P50, s.P99 = quantile(0.5, cur, prev), quantile(0.99, cur, prev)
	for _, id := range instanceIDs(cur.instInvokes) {
		s.Instances = append(s.Instances, InstanceSample{Invokes: rate(cur.instInvokes[id], prev.instInvokes[id]),
			InFlight: int(cur.inFlight[id]), Restarts: int(cur.restarted[id])})
	}
	m.history.last = cur
	m.history.samples = append(m.history.samples, s)
	if len(m.history.samples) > m.history.size {
		m.history.samples = slices.Delete(m.history.samples, 0, len(m.history.samples)-m.history.size)
	}
	return s
}

// Samples are the samples kept taken after t (Unix milliseconds).
func (m *Metrics) Samples(after int64) []Sample {
	m.history.mu.Lock()
	defer m.history.mu.Unlock()
	i, _ := slices.BinarySearchFunc(m.history.samples, after+1, func(s Sample, t int64) int { return cmp.Compare(s.Time, t) })
	return slices.Clone(m.history.samples[i:])
}

func byName(fams []*dto.MetricFamily) map[string]*dto.MetricFamily {
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// readTotals reads the counters a Sample needs.
func readTotals(fams []*dto.MetricFamily, now time.Time) totals {
	f := byName(fams)
	t := totals{at: now, instInvokes: perLabel(f["scfws_function_invokes_total"], "instance"),
		inFlight: perLabel(f["scfws_function_invokes_in_flight"], "instance"), restarted: perLabel(f["scfws_function_restarts_total"], "instance")}
	for _, v := range t.instInvokes {
		t.invokes += v
	}
	byOutcome := perLabel(f["scfws_invokes_total"], "outcome")
	for outcome, v := range byOutcome {
		if outcome != "ok" {
			t.problems += v
		}
	}
	for _, v := range perLabel(f["scfws_function_invoke_failures_total"], "kind") {
		t.problems += v
	}
	pushes := perLabel(f["scfws_pushes_total"], "outcome")
	t.delivered = pushes[pushDelivered]
	t.pushFailures = pushes[pushGone] + pushes[pushRateLimited] + pushes[pushFailed]
	fn := perLabel(f["scfws_function_pushes_total"], "outcome")
	t.pruned, t.failed, t.skipped = fn["pruned"], fn["failed"], fn["skipped"]
	t.bounds, t.cumulative, t.count = histogramSum(f["scfws_invoke_duration_seconds"])
	return t
}

// value is a metric's value, whatever its type.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// perLabel sums a family's values by one label's value.
func perLabel(f *dto.MetricFamily, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] += value(m)
			}
		}
	}
	return out
}

func labelled(f *dto.MetricFamily, label, v string) float64 { return perLabel(f, label)[v] }

// histogramSum adds up a histogram family's series: every series has the
// same buckets.
func histogramSum(f *dto.MetricFamily) (bounds, cumulative []float64, count float64) {
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if bounds == nil {
			for _, b := range h.GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
			cumulative = make([]float64, len(bounds))
		}
		for i, b := range h.GetBucket() {
			cumulative[i] += float64(b.GetCumulativeCount())
		}
		count += float64(h.GetSampleCount())
	}
	return bounds, cumulative, count
}

// quantile is the q-quantile, in milliseconds, of the observations between
// prev and cur, interpolated within its bucket as Prometheus's
// histogram_quantile does; nil without observations.
func quantile(q float64, cur, prev totals) *float64 {
	n := cur.count - prev.count
	if n <= 0 || len(cur.bounds) == 0 {
		return nil
	}
	rank := q * n
	below, lower := 0.0, 0.0
	for i, upper := range cur.bounds {
		c := cur.cumulative[i]
		if i < len(prev.cumulative) {
			c -= prev.cumulative[i]
		}
		if c >= rank {
			v := (lower + (upper-lower)*(rank-below)/math.Max(c-below, 1)) * 1000
			return &v
		}
		below, lower = c, upper
	}
	v := lower * 1000 // past the last bound: as histogram_quantile, the last bound
	return &v
}

// instanceIDs are the instance labels in numeric order.
func instanceIDs(m map[string]float64) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return ids
}
