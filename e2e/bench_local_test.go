package e2e

import (
	"context"
	"fmt"
	"slices"
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
			var mu sync.Mutex
			got := map[string]int{}
			done := map[string]chan struct{}{}
			expect := func(msg string) chan struct{} {
				mu.Lock()
				defer mu.Unlock()
				ch := make(chan struct{})
				done[msg] = ch
				if got[msg] == n-1 {
					close(ch)
				}
				return ch
			}
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
					c, _, err := websocket.Dial(ctx, l.ws, nil)
					if err != nil {
						b.Error(err)
						return
					}
					connMu.Lock()
					conns = append(conns, c)
					connMu.Unlock()
					go func() {
						for {
							_, data, err := c.Read(context.Background())
							if err != nil {
								return
							}
							mu.Lock()
							got[string(data)]++
							if got[string(data)] == n-1 && done[string(data)] != nil {
								close(done[string(data)])
							}
							mu.Unlock()
						}
					}()
				})
			}
			wg.Wait()
			defer func() {
				for _, c := range conns {
					c.CloseNow()
				}
			}()
			sender, _, err := websocket.Dial(context.Background(), l.ws, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sender.CloseNow()
			send := func(msg string) {
				if err := sender.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
					b.Fatal(err)
				}
			}
			wait := func(ch chan struct{}, msg string) {
				select {
				case <-ch:
				case <-time.After(30 * time.Second):
					mu.Lock()
					b.Fatalf("%s reached %d of %d clients", msg, got[msg], n-1)
				}
			}

			var latencies []time.Duration
			i := 0
			for b.Loop() {
				msg := fmt.Sprintf("latency-%06d", i)
				i++
				ch := expect(msg)
				start := time.Now()
				send(msg)
				wait(ch, msg)
				latencies = append(latencies, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(latencies)
			b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
			b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")

			const burst = 50
			var chans []chan struct{}
			for j := range burst {
				chans = append(chans, expect(fmt.Sprintf("burst-%03d", j)))
			}
			start := time.Now()
			for j := range burst {
				send(fmt.Sprintf("burst-%03d", j))
			}
			for j, ch := range chans {
				wait(ch, fmt.Sprintf("burst-%03d", j))
			}
			b.ReportMetric(float64(burst*(n-1))/time.Since(start).Seconds(), "frames/s")
			b.ReportMetric(float64(peakRSS(b, l.cmd.Process.Pid))/(1<<20), "emulator-RSS-MiB")
			b.ReportMetric(float64(peakRSS(b, l.fnPid))/(1<<20), "function-RSS-MiB")
		})
	}
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
