package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/auth"
)

// BenchmarkLocal measures scfws local end to end with N connected clients
// and one sender. Each op is one message, sent once the previous one has
// reached every other client: latency is from the send until the last
// recipient has the frame. Then a burst of 50 messages measures frames
// delivered per second. Peak RSS is read for both processes.
func BenchmarkLocal(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			l := startLocal(b, map[string]string{"LOG_LEVEL": "warn", "ONLINE_COUNT_SUFFIX": "false"})
			r := newRoom(b, l.ws, n)
			var latencies []time.Duration
			i := 0
			for b.Loop() {
				latencies = append(latencies, r.broadcast(b, fmt.Sprintf("latency-%06d", i)))
				i++
			}
			b.StopTimer()
			slices.Sort(latencies)
			b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
			b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")

			const burst = 50
			var chans []chan struct{}
			for j := range burst {
				chans = append(chans, r.expect(fmt.Sprintf("burst-%03d", j)))
			}
			start := time.Now()
			for j := range burst {
				r.send(b, fmt.Sprintf("burst-%03d", j))
			}
			for j, ch := range chans {
				r.wait(b, ch, fmt.Sprintf("burst-%03d", j))
			}
			b.ReportMetric(float64(burst*(n-1))/time.Since(start).Seconds(), "frames/s")
			b.ReportMetric(float64(peakRSS(b, l.cmd.Process.Pid))/(1<<20), "emulator-RSS-MiB")
			b.ReportMetric(float64(peakRSS(b, l.fnPid))/(1<<20), "function-RSS-MiB")
		})
	}
}

// BenchmarkLocalMetrics is the cost of local's metrics: two locals, one
// with -metrics=false, each with 1,000 clients, take turns broadcasting
// one message to 999 (each going first every other time, so that the
// machine's load falls on both alike). on/off is the median of the
// rounds' ratios, which a burst of load elsewhere moves least; the means
// are reported too, and cpu-on/off: the CPU time each emulator process
// spent over the rounds, which other work on the machine moves less than
// wall time. The function logs every invoke (LOG_LEVEL info), so that the
// metrics read each line, as they do by default.
func BenchmarkLocalMetrics(b *testing.B) {
	const n = 1000
	env := map[string]string{"ONLINE_COUNT_SUFFIX": "false"}
	on, off := startLocal(b, env), startLocal(b, env, "-metrics=false")
	rooms := []*room{newRoom(b, on.ws, n), newRoom(b, off.ws, n)}
	var took [2]time.Duration
	var ratios []float64
	cpuBefore := []time.Duration{cpuTime(b, on.cmd.Process.Pid), cpuTime(b, off.cmd.Process.Pid)}
	i := 0
	for b.Loop() {
		var round [2]time.Duration
		for j := range rooms {
			k := (i + j) % 2
			round[k] = rooms[k].broadcast(b, fmt.Sprintf("m-%06d", i))
			took[k] += round[k]
		}
		ratios = append(ratios, float64(round[0])/float64(round[1]))
		i++
	}
	b.StopTimer()
	cpuOn := cpuTime(b, on.cmd.Process.Pid) - cpuBefore[0]
	cpuOff := cpuTime(b, off.cmd.Process.Pid) - cpuBefore[1]
	slices.Sort(ratios)
	b.ReportMetric(float64(cpuOn)/float64(cpuOff), "cpu-on/off")
	b.ReportMetric(ms(took[0])/float64(i), "on-ms/broadcast")
	b.ReportMetric(ms(took[1])/float64(i), "off-ms/broadcast")
	b.ReportMetric(float64(took[0])/float64(took[1]), "mean-on/off")
	b.ReportMetric(ratios[len(ratios)/2], "on/off")
}

// room is n clients of one local: n-1 that count each message they read,
// and one that sends.
type room struct {
	mu     sync.Mutex
	n      int
	got    map[string]int
	done   map[string]chan struct{}
	sender *websocket.Conn
}

func newRoom(b testing.TB, ws string, n int) *room {
	b.Helper()
	r := &room{n: n, got: map[string]int{}, done: map[string]chan struct{}{}}
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	var connMu sync.Mutex
	sem := make(chan struct{}, 32)
	for range n - 1 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, ws, nil)
			if err != nil {
				b.Error(err)
				return
			}
			connMu.Lock()
			conns = append(conns, c)
			connMu.Unlock()
			go r.read(c)
		})
	}
	wg.Wait()
	sender, _, err := websocket.Dial(context.Background(), ws, nil)
	if err != nil {
		b.Fatal(err)
	}
	r.sender = sender
	b.Cleanup(func() {
		sender.CloseNow()
		for _, c := range conns {
			c.CloseNow()
		}
	})
	return r
}

// read counts what c reads until it closes.
func (r *room) read(c *websocket.Conn) {
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		r.mu.Lock()
		r.got[string(data)]++
		if r.got[string(data)] == r.n-1 && r.done[string(data)] != nil {
			close(r.done[string(data)])
		}
		r.mu.Unlock()
	}
}

// expect returns a channel closed once every reader has msg.
func (r *room) expect(msg string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	r.done[msg] = ch
	if r.got[msg] == r.n-1 {
		close(ch)
	}
	return ch
}

func (r *room) send(b testing.TB, msg string) {
	b.Helper()
	if err := r.sender.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		b.Fatal(err)
	}
}

func (r *room) wait(b testing.TB, ch chan struct{}, msg string) {
	b.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		r.mu.Lock()
		defer r.mu.Unlock()
		b.Fatalf("%s reached %d of %d clients", msg, r.got[msg], r.n-1)
	}
}

// broadcast sends msg and returns how long until every reader had it.
func (r *room) broadcast(b testing.TB, msg string) time.Duration {
	b.Helper()
	ch := r.expect(msg)
	start := time.Now()
	r.send(b, msg)
	r.wait(b, ch, msg)
	return time.Since(start)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkPresenceConnect connects 3,000 scfws.v1 clients, as 3,000
// users whose tokens put each in one of 10 groups, through scfws local
// (in-memory registry, one instance taking 8 invokes at once), 32
// handshakes at a time, and reports how long connecting all of them took
// and how many presence frames the clients got, with PRESENCE_EVENTS off
// and on. Each joined event is a push to every member, so that filling
// the groups costs the square of their size unless PRESENCE_MAX_MEMBERS
// bounds it.
func BenchmarkPresenceConnect(b *testing.B) {
	const clients, groups = 3000, 10
	const secret = "bench-presence-secret-0123456789abcdef"
	for _, presence := range []string{"false", "true"} {
		b.Run("presence="+presence, func(b *testing.B) {
			tokens := make([]string, clients)
			for i := range tokens {
				var err error
				tokens[i], err = auth.Sign([]byte(secret), "", auth.Claims{Subject: fmt.Sprintf("user-%04d", i),
					Groups: []string{fmt.Sprintf("group-%d", i%groups)}, TTL: time.Hour}, time.Now())
				if err != nil {
					b.Fatal(err)
				}
			}
			var elapsed time.Duration
			var frames atomic.Int64
			for b.Loop() {
				b.StopTimer()
				l := startLocal(b, map[string]string{"LOG_LEVEL": "error", "AUTH_SECRET": secret, "PRESENCE_EVENTS": presence})
				b.StartTimer()
				began := time.Now()
				conns := make([]*websocket.Conn, clients)
				var wg sync.WaitGroup
				sem := make(chan struct{}, 32)
				for i := range conns {
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
						defer cancel()
						c, _, err := websocket.Dial(ctx, l.ws, &websocket.DialOptions{Subprotocols: []string{"scfws.v1", "bearer." + tokens[i]}})
						if err != nil {
							b.Error(err)
							return
						}
						conns[i] = c
						go func() {
							for {
								if _, _, err := c.Read(context.Background()); err != nil {
									return
								}
								frames.Add(1)
							}
						}()
					})
				}
				wg.Wait()
				elapsed += time.Since(began)
				b.StopTimer()
				l.quiet(b)
				for _, c := range conns {
					if c != nil {
						c.CloseNow()
					}
				}
				l.stop(b)
				b.StartTimer()
			}
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "connect-s")
			b.ReportMetric(float64(frames.Load())/float64(b.N), "presence-frames")
		})
	}
}

// cpuTime is the CPU time (user and system) process pid has used, from
// /proc/PID/stat, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func cpuTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted here start after its closing parenthesis.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
