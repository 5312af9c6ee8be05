package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scfws/scfws/gateway"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/store"
)

// BenchmarkFanout1M is issue 15's broadcast of record: 1,000,000 rows in
// MariaDB (half plain, half scfws.v1), one backend sendToAll through scfws
// local -instances 4 with a 10s function timeout, its pushes going to a
// counting endpoint on loopback. It reports the time from the send until
// the job is done, pushes per second per shard (the shards' delivered
// over their running time, from their log lines), the peak RSS of each
// function instance (VmHWM), and the repeats; every ID must get its push,
// at most once more (the bound in docs/fanout.md). FANOUT_BENCH_N sets
// another count, FANOUT_BENCH_RATE a PUSH_RATE. Run it alone, without
// -race:
//
//	go test ./e2e/ -run '^$' -bench Fanout1M -benchtime 1x -timeout 30m
func BenchmarkFanout1M(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("FANOUT_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	db := mysqltest.New(b)
	seeded := time.Now()
	ids := seedConnections(b, db, n/2, n-n/2)
	b.Logf("seeded %d rows in %s", n, time.Since(seeded).Round(time.Millisecond))
	push := pushtest.Start()
	defer push.Close()
	for b.Loop() {
		push.CountOnly()
		env := map[string]string{"LOG_LEVEL": "info"}
		if rate := os.Getenv("FANOUT_BENCH_RATE"); rate != "" {
			env["PUSH_RATE"] = rate
		}
		c := newFanCluster(b, fanSetup{db: db, push: push.URL, timeout: 10 * time.Second, env: env})
		start := time.Now()
		reply := sendHandedOff(b, c, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 10*time.Second, n)
		end := waitJob(b, c, reply.Handoff.Job, 30*time.Minute)
		took := time.Since(start)
		repeats := checkPushes(b, push, fanCheck{ids: ids, frames: 2, repeats: cutRepeats(n)})
		checkJob(b, end.Job, n, repeats)
		out := c.l.stderr.String()
		if path := os.Getenv("FANOUT_BENCH_LOG"); path != "" {
			_ = os.WriteFile(path, []byte(out), 0o600)
		}
		shards, perShard := shardRates(out)
		b.ReportMetric(took.Seconds(), "s-end-to-end")
		b.ReportMetric(float64(n)/took.Seconds(), "pushes/s")
		b.ReportMetric(perShard, "pushes/s/shard")
		b.ReportMetric(float64(shards), "shard-runs")
		b.ReportMetric(float64(end.Job.Shards.Total), "shards")
		b.ReportMetric(float64(repeats), "repeats")
		var most int64
		for i, pid := range c.pids() {
			rss := peakRSS(b, pid)
			most = max(most, rss)
			b.Logf("instance %d (pid %d): peak RSS %.1f MiB", i, pid, float64(rss)/(1<<20))
		}
		b.ReportMetric(float64(most)/(1<<20), "peak-RSS-MiB/instance")
		if most > 48<<20 {
			b.Errorf("an instance peaked at %.1f MiB; the bound is 48 MiB", float64(most)/(1<<20))
		}
	}
}

var shardLine = regexp.MustCompile(`op=shard .*delivered=(\d+) .*durationMs=([\d.]+)`)

// shardRates reads the shards' invoke lines from local's output: how many
// ran, and their pushes over their time.
func shardRates(out string) (runs int, perSec float64) {
	var pushes, ms float64
	for _, m := range shardLine.FindAllStringSubmatch(out, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		t, _ := strconv.ParseFloat(m[2], 64)
		pushes, ms = pushes+d, ms+t
		runs++
	}
	if ms == 0 {
		return runs, 0
	}
	return runs, pushes / (ms / 1000)
}

// BenchmarkPushBudget measures the error of the one push budget: S
// clients, each with Rate PUSH_RATE drawing from the same MariaDB budget
// table (as S shards on S instances do), push as fast as they can for
// about 3s; the rate they made together is compared with PUSH_RATE.
// rate-error-% is (measured - set) / set over the steady part (the first
// window is left out: every client starts in it at once).
func BenchmarkPushBudget(b *testing.B) {
	db := mysqltest.New(b)
	reg, err := store.OpenMySQL(context.Background(), store.MySQLConfig{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password,
		DBName: db.Name, Table: "ConnectionID_List", AutoMigrate: true, IdleTimeout: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	push := pushtest.Start()
	defer push.Close()
	push.Discard()
	for _, rate := range []int{500, 5000} {
		for _, shards := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("PUSH_RATE=%d/shards=%d", rate, shards), func(b *testing.B) {
				for b.Loop() {
					got := budgetRun(b, reg, push, rate, shards, 3*time.Second)
					b.ReportMetric(got, "pushes/s")
					b.ReportMetric(100*(got-float64(rate))/float64(rate), "rate-error-%")
				}
			})
		}
	}
}

// budgetRun runs shards clients sharing rate and returns the rate they
// pushed at together over d, after 200ms of warming up, as the endpoint
// counted them arriving (a broadcast's return would count its pushes all
// at its end: 16 clients sharing 500/s take 1.6s for one of 50).
func budgetRun(b *testing.B, budget gateway.Budget, push *pushtest.Server, rate, shards int, d time.Duration) float64 {
	b.Helper()
	var stop atomic.Bool
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("budget-%03d", i)
	}
	var wg sync.WaitGroup
	for range shards {
		c, err := gateway.New(push.URL, gateway.Options{Rate: rate, Budget: budget, Concurrency: 32})
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseIdle()
		wg.Go(func() {
			for !stop.Load() {
				c.Broadcast(context.Background(), ids, "text", "x")
			}
		})
	}
	<-time.After(200 * time.Millisecond)
	warm, from := push.Requests(), time.Now()
	<-time.After(d)
	got, took := push.Requests()-warm, time.Since(from)
	stop.Store(true)
	wg.Wait()
	return float64(got) / took.Seconds()
}
