package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/internal/testkit/faultproxy"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
)

var soakFor = flag.Duration("soak", 0, "how long TestFaultSoak's clients run (0: a CI-sized 20s); faults repeat every 20s")

// The fault soak: authenticated scfws.v1 clients in groups send acked
// messages through scfws local (MariaDB behind a fault proxy, 4 function
// instances) while the database stalls, function instances are killed,
// pushes to some clients fail (?fail-push=429, 200 and 500), and clients
// leave, join, close and reconnect. Every message-recipient pair is
// counted.
//
// A pair (message, connection) must arrive, exactly once, when the
// message's send was acked with success and the connection was in the
// group for the whole send: its join acked (or its token's groups
// registered at connect) before the send was written, no leave or close
// asked for until the ack was read, open throughout (for a connection the
// gateway dropped: until the latest start of a send or request whose
// message or ack it read), and pushes to it not failed on purpose. A
// missing one is excused only when the ack admits it (delivered counts
// fewer than the connections that got the message, those that should
// have, and those whose pushes are lost on purpose with 200): a push may
// be skipped near the deadline while the send succeeds. Any other pair is
// intended when the connection may have been in the group during the
// send; it may arrive or not, but never twice. A message reaching a
// connection never in its group fails the test.
//
// CI-sized by default (20s of clients, about 25s in all); -soak 2m runs
// longer, the faults repeating every 20s.
func TestFaultSoak(t *testing.T) {
	run := *soakFor
	if run <= 0 {
		run = 20 * time.Second
	}
	const secret = "soak-auth-secret-0123456789abcdef0123"
	db := mysqltest.New(t)
	proxy, err := faultproxy.Start(net.JoinHostPort(db.Host, strconv.Itoa(db.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	env := localDBEnv(db)
	env["DB_PORT"] = strconv.Itoa(proxy.Port())
	env["AUTH_SECRET"] = secret
	l := startLocal(t, env, "-instances", "4")
	s := &soak{t: t, l: l, secret: secret, groups: 4, start: time.Now()}

	const senders, failing = 20, 3
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range senders {
		wg.Go(func() { s.client(fmt.Sprintf("user-%02d", i), "", stop) })
	}
	// Pushes to these always fail: 429 (kept, retried, never delivered),
	// 200 (accepted and lost), 500 (the gateway drops the client).
	for i, status := range []string{"429", "200", "500"}[:failing] {
		wg.Go(func() { s.client(fmt.Sprintf("failing-%d", i), status, stop) })
	}
	s.faults(proxy, run)
	close(stop)
	wg.Wait()
	proxy.Set(faultproxy.Up)
	l.quiet(t)
	s.closeAll()
	s.check()
}

// soak is one run's clients and what they saw.
type soak struct {
	t      testing.TB
	l      *localRun
	secret string
	groups int
	start  time.Time

	mu    sync.Mutex
	conns []*soakConn
	sends []*soakSend
	n     struct{ kills, stalls, reconnects, refused, leaves, joins, closes, unacked int }
}

// soakSend is one sendToGroup.
type soakSend struct {
	id        string
	group     string
	sent      time.Time // before the request was written
	acked     time.Time // when the ack was read; zero without one
	success   bool
	delivered int // the pushes the gateway accepted, as the ack says
	failure   string
}

// span is a time in a group. From and to are sure (zero from: never
// sure; zero to: still in it); the loose bounds are when the connection
// may have been in it (zero looseTo: until the end).
type span struct {
	from, to           time.Time
	looseFrom, looseTo time.Time
}

// soakConn is one connection of a soak client.
type soakConn struct {
	key      string
	failPush string // the status pushes to it answer, "" for none
	c        *websocket.Conn
	done     chan struct{}

	mu      sync.Mutex
	got     map[string]int // message id -> times received
	pending map[uint64]pendingAck
	nextAck uint64
	// ackedSent is the latest write of a request whose ack it read: it
	// was open then (an ack is pushed after the request is written).
	ackedSent time.Time
	spans     map[string][]*span
	closedAt  time.Time // when this test closed it
	dropped   bool      // it ended without that
	endedAt   time.Time // when its reader saw it end: nothing arrives later
}

// pendingAck is a request waiting for its ack.
type pendingAck struct {
	ch   chan v1Frame
	sent time.Time
}

func (s *soak) group(i int) string { return fmt.Sprintf("room-%d", i%s.groups) }

// client runs one user until stop: connect, then send, leave, join,
// close and reconnect at random.
func (s *soak) client(user, failPush string, stop <-chan struct{}) {
	u, _ := strconv.Atoi(user[strings.LastIndexByte(user, '-')+1:])
	tokenGroups := []string{s.group(u), s.group(u + 1)}
	token, err := auth.Sign([]byte(s.secret), "", auth.Claims{Subject: user, Groups: tokenGroups,
		Roles: []string{"joinLeaveGroup", "sendToGroup"}, TTL: time.Hour}, time.Now())
	if err != nil {
		s.t.Error(err)
		return
	}
	rng := rand.New(rand.NewPCG(uint64(u), 19))
	var c *soakConn
	for n, seq := 0, 0; ; n++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(50+rng.IntN(100)) * time.Millisecond): // pacing
		}
		if c == nil || c.ended() {
			if c = s.connect(fmt.Sprintf("%s#%d", user, n), failPush, token, tokenGroups); c == nil {
				continue
			}
		}
		if failPush != "" {
			continue // no acks reach it: it only listens
		}
		switch r := rng.IntN(100); {
		case r < 3:
			s.count(func() { s.n.closes++ })
			c.close()
			c = nil
		case r < 10:
			s.toggle(c, rng)
		default:
			in := c.sureGroups()
			if len(in) == 0 {
				continue
			}
			seq++
			s.send(c, in[rng.IntN(len(in))], fmt.Sprintf("%s-%d", user, seq))
		}
	}
}

// connect opens a connection that its token puts in groups.
func (s *soak) connect(key, failPush, token string, groups []string) *soakConn {
	url := s.l.ws
	if failPush != "" {
		url += "?fail-push=" + failPush
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	began := time.Now()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"scfws.v1", "bearer." + token}})
	if err != nil {
		// A stalled database or a killed instance refuses handshakes.
		s.count(func() { s.n.refused++ })
		return nil
	}
	now := time.Now()
	c := &soakConn{key: key, failPush: failPush, c: ws, done: make(chan struct{}), got: map[string]int{},
		pending: map[uint64]pendingAck{}, ackedSent: now, spans: map[string][]*span{}}
	for _, g := range groups {
		c.spans[g] = append(c.spans[g], &span{from: now, looseFrom: began})
	}
	go c.read()
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.n.reconnects++
	s.mu.Unlock()
	return c
}

// read records every frame until the connection ends.
func (c *soakConn) read() {
	defer close(c.done)
	for {
		_, data, err := c.c.Read(context.Background())
		c.mu.Lock()
		if err != nil {
			c.dropped, c.endedAt = c.closedAt.IsZero(), time.Now()
			c.mu.Unlock()
			return
		}
		var f v1Frame
		var id string
		if json.Unmarshal(data, &f) == nil {
			switch f.Type {
			case "ack":
				if p, ok := c.pending[f.AckID]; ok {
					p.ch <- f
					c.ackedSent = later(c.ackedSent, p.sent)
					delete(c.pending, f.AckID)
				}
			case "message":
				_ = json.Unmarshal(f.Data, &id)
				c.got[id]++
			}
		}
		c.mu.Unlock()
	}
}

func (c *soakConn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// request writes req with an ackId and waits for its ack; ok is false
// without one (the connection ended, or the invoke failed).
func (c *soakConn) request(req map[string]any) (a v1Frame, at time.Time, ok bool) {
	ch := make(chan v1Frame, 1)
	c.mu.Lock()
	c.nextAck++
	id := c.nextAck
	c.pending[id] = pendingAck{ch: ch, sent: time.Now()}
	c.mu.Unlock()
	req["ackId"] = id
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.c.Write(ctx, websocket.MessageText, b) != nil {
		return a, at, false
	}
	select {
	case a = <-ch:
		return a, time.Now(), true
	case <-c.done:
	case <-ctx.Done():
	}
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
	return a, at, false
}

// sureGroups are the groups c is surely in now.
func (c *soakConn) sureGroups() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var in []string
	for g, spans := range c.spans {
		if last := spans[len(spans)-1]; !last.from.IsZero() && last.to.IsZero() {
			in = append(in, g)
		}
	}
	return in
}

// openSpan is c's span in g that has not ended, if any.
func (c *soakConn) openSpan(g string) *span {
	if spans := c.spans[g]; len(spans) > 0 && spans[len(spans)-1].to.IsZero() && spans[len(spans)-1].looseTo.IsZero() {
		return spans[len(spans)-1]
	}
	return nil
}

// toggle leaves one of the groups c is in, or joins one it is not in.
func (s *soak) toggle(c *soakConn, rng *rand.Rand) {
	g := s.group(rng.IntN(s.groups))
	c.mu.Lock()
	sp := c.openSpan(g)
	if sp != nil {
		sp.to = time.Now()
	}
	c.mu.Unlock()
	if sp != nil {
		s.count(func() { s.n.leaves++ })
		_, at, ok := c.request(map[string]any{"type": "leaveGroup", "group": g})
		c.mu.Lock()
		if ok {
			sp.looseTo = at
		} else {
			sp.looseTo = time.Now().Add(time.Hour) // it may still be in
		}
		c.mu.Unlock()
		return
	}
	s.count(func() { s.n.joins++ })
	sp = &span{looseFrom: time.Now()}
	c.mu.Lock()
	c.spans[g] = append(c.spans[g], sp)
	c.mu.Unlock()
	a, at, ok := c.request(map[string]any{"type": "joinGroup", "group": g})
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case ok && a.Success:
		sp.from = at
	case ok: // refused: not in it
		sp.to, sp.looseTo = at, at
	default: // unknown: maybe in it, never surely
		sp.to = sp.looseFrom
	}
}

// send sends a message to group and records what its ack said.
func (s *soak) send(c *soakConn, group, id string) {
	m := &soakSend{id: id, group: group, sent: time.Now()}
	s.mu.Lock()
	s.sends = append(s.sends, m)
	s.mu.Unlock()
	a, at, ok := c.request(map[string]any{"type": "sendToGroup", "group": group, "dataType": "text", "data": id})
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !ok:
		s.n.unacked++
	case a.Success:
		m.acked, m.success, m.delivered = at, true, a.Delivered
	default:
		m.acked = at
		if a.Error != nil {
			m.failure = a.Error.Name
		}
	}
}

func (c *soakConn) close() {
	c.mu.Lock()
	now := time.Now()
	c.closedAt = now
	for _, spans := range c.spans {
		if last := spans[len(spans)-1]; last.to.IsZero() {
			last.to = now
		}
	}
	c.mu.Unlock()
	c.c.Close(websocket.StatusNormalClosure, "churn")
	<-c.done
}

func (s *soak) count(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
}

// faults runs the faults every 20s while the clients run: the database
// hangs for 2s, an instance is killed, the database hangs 1.5s, two more
// instances are killed.
func (s *soak) faults(proxy *faultproxy.Proxy, run time.Duration) {
	end := time.Now().Add(run)
	plan := []struct {
		at time.Duration
		do func()
	}{
		{3 * time.Second, func() { s.stall(proxy, 2*time.Second) }},
		{7 * time.Second, s.kill},
		{10 * time.Second, func() { s.stall(proxy, 1500*time.Millisecond) }},
		{14 * time.Second, s.kill},
		{16 * time.Second, s.kill},
	}
	for cycle := time.Now(); time.Now().Before(end); cycle = cycle.Add(20 * time.Second) {
		for _, f := range plan {
			at := cycle.Add(f.at)
			if at.After(end) {
				break
			}
			time.Sleep(time.Until(at)) // the plan's clock, not a wait for an event
			f.do()
		}
		time.Sleep(min(time.Until(end), time.Until(cycle.Add(20*time.Second))))
	}
}

func (s *soak) stall(proxy *faultproxy.Proxy, d time.Duration) {
	s.count(func() { s.n.stalls++ })
	proxy.Set(faultproxy.Hang)
	time.Sleep(d) // the stall's length
	proxy.Set(faultproxy.Up)
}

// kill kills one of local's function instances, as SCF may at any time.
func (s *soak) kill() {
	pids := childPids(s.t, s.l.cmd.Process.Pid)
	if len(pids) == 0 {
		return
	}
	if syscall.Kill(pids[rand.IntN(len(pids))], syscall.SIGKILL) == nil {
		s.count(func() { s.n.kills++ })
	}
}

// childPids are the processes whose parent is pid.
func childPids(t testing.TB, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			pids = append(pids, n)
		}
	}
	return pids
}

func (s *soak) closeAll() {
	end := time.Now()
	s.mu.Lock()
	conns := s.conns
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		if c.closedAt.IsZero() && !c.dropped {
			c.closedAt = end
		}
		c.mu.Unlock()
		c.c.CloseNow()
		<-c.done
	}
}

// aliveThrough is until when c was surely open, so that it received what
// was pushed to it before: when this test closed it; for a connection the
// gateway dropped, the latest start of a request or a send whose ack or
// message it read, since those were pushed after that start.
func (c *soakConn) aliveThrough(sent map[string]time.Time) time.Time {
	if !c.dropped {
		return c.closedAt
	}
	alive := c.ackedSent
	for id := range c.got {
		alive = later(alive, sent[id])
	}
	return alive
}

// pairCount is what check found.
type pairCount struct {
	intended, must, once, excused, optionalGot, missing, twice, stray int
	problems                                                          []string
}

func (p *pairCount) report(format string, args ...any) {
	if len(p.problems) < 20 {
		p.problems = append(p.problems, fmt.Sprintf(format, args...))
	}
}

// check counts the pairs and fails on a must-arrive pair not received
// exactly once, any pair received twice, or a message at a connection
// never in its group. A must-arrive pair that did not arrive is excused
// when the ack admits it: it counted fewer deliveries than the
// connections that got the message, those that should have, and those
// whose pushes answer 200 and are lost (fail-push=200). Pushes may fail
// or be skipped near the deadline while the send still succeeds.
func (s *soak) check() {
	t := s.t
	var p pairCount
	acked, failed := 0, map[string]int{}
	sent := map[string]time.Time{}
	for _, m := range s.sends {
		sent[m.id] = m.sent
		if m.success {
			acked++
		} else if !m.acked.IsZero() {
			failed[m.failure]++
		}
	}
	alive := map[*soakConn]time.Time{}
	for _, c := range s.conns {
		alive[c] = c.aliveThrough(sent)
	}
	for _, m := range s.sends {
		s.checkSend(m, alive, &p)
	}
	drops := 0
	for _, c := range s.conns {
		if c.dropped && c.failPush == "" {
			drops++
		}
	}
	out := s.l.stderr.String()
	t.Logf("soak: local logged %d function timeouts, %d invokes answering 502 (registry unavailable), %d clients dropped by the gateway",
		strings.Count(out, "function timeout"), strings.Count(out, "errNo=502"), strings.Count(out, "dropping the client"))
	t.Logf("soak: %d connections (%d without fail-push dropped); %d sends: %d acked success, failed %v, %d unacked; "+
		"%d DB stalls, %d instances killed, %d handshakes refused, %d joins, %d leaves, %d closes",
		len(s.conns), drops, len(s.sends), acked, failed, s.n.unacked, s.n.stalls, s.n.kills, s.n.refused, s.n.joins, s.n.leaves, s.n.closes)
	t.Logf("soak: %d intended message-recipient pairs; %d must arrive: %d arrived exactly once, %d missing, %d excused by their ack; "+
		"%d received twice or more; %d strays; %d of the others arrived", p.intended, p.must, p.once, p.missing, p.excused, p.twice, p.stray, p.optionalGot)
	if p.missing+p.twice+p.stray > 0 {
		t.Errorf("soak: %d missing, %d duplicated, %d strays; first: %s", p.missing, p.twice, p.stray, strings.Join(p.problems, "; "))
	}
	if p.must == 0 || acked == 0 || s.n.kills == 0 || s.n.stalls == 0 {
		t.Errorf("soak: %d must-arrive pairs, %d acked sends, %d kills, %d stalls; want some of each", p.must, acked, s.n.kills, s.n.stalls)
	}
}

// checkSend counts m's pairs into p.
func (s *soak) checkSend(m *soakSend, alive map[*soakConn]time.Time, p *pairCount) {
	var missing []*soakConn
	received, lost := 0, 0
	for _, c := range s.conns {
		got := c.got[m.id]
		if got > 0 {
			received++
		}
		in, sure := c.membership(m, alive[c])
		switch {
		case !in && got > 0:
			p.stray++
			p.report("%s got %s, never in %s", c.key, m.id, m.group)
			continue
		case !in:
			continue
		}
		p.intended++
		if got > 1 {
			p.twice++
			p.report("%s got %s %d times", c.key, m.id, got)
		}
		if sure && c.failPush == "200" {
			lost++
		}
		if !sure || c.failPush != "" || !m.success {
			if got > 0 {
				p.optionalGot++
			}
			continue
		}
		p.must++
		switch got {
		case 0:
			missing = append(missing, c)
		case 1:
			p.once++
		}
	}
	if len(missing) == 0 {
		return
	}
	if m.delivered < received+len(missing)+lost {
		p.excused += len(missing)
		return
	}
	p.missing += len(missing)
	for _, c := range missing {
		p.report("%s never got %s (%s; sent %s, acked %s after the start, delivered %d)", c.key, m.id, m.group,
			m.sent.Sub(s.start).Round(time.Millisecond), m.acked.Sub(s.start).Round(time.Millisecond), m.delivered)
	}
}

// membership says whether c may have been in m's group during its send
// (in), and whether surely for all of it (sure).
func (c *soakConn) membership(m *soakSend, alive time.Time) (in, sure bool) {
	end := m.acked
	if end.IsZero() {
		end = m.sent.Add(time.Minute) // never acked: any time after
	}
	for _, sp := range c.spans[m.group] {
		looseTo := sp.looseTo
		if looseTo.IsZero() || looseTo.After(c.endedAt) {
			looseTo = c.endedAt
		}
		if sp.looseFrom.After(end) || looseTo.Before(m.sent) {
			continue
		}
		in = true
		to := sp.to
		if to.IsZero() || to.After(alive) {
			to = alive
		}
		if !sp.from.IsZero() && !sp.from.After(m.sent) && !to.Before(m.acked) {
			sure = true
		}
	}
	return in, sure
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
