package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// fanPusher delivers everything, taking perPush for each push of a
// broadcast (as a gateway the instance can reach at 1/perPush a second),
// and keeps each ID's frames.
type fanPusher struct {
	nopPusher
	perPush time.Duration
	cutOnce int // the first broadcast this long or longer is cut in flight after half
	mu      sync.Mutex
	got     map[string][]string
}

func (p *fanPusher) Broadcast(ctx context.Context, ids []string, _, data string) []error {
	errs := make([]error, len(ids))
	if p.perPush > 0 {
		t := time.NewTimer(p.perPush * time.Duration(len(ids)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			for i := range errs {
				errs[i] = pushErr{skipped: true}
			}
			return errs
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.got == nil {
		p.got = map[string][]string{}
	}
	for i, id := range ids {
		if p.cutOnce > 0 && len(ids) >= p.cutOnce && i >= len(ids)/2 {
			// The cut: the first quarter of those in flight landed.
			errs[i] = pushErr{cut: true}
			if i >= len(ids)*3/4 {
				continue
			}
		}
		p.got[id] = append(p.got[id], data)
	}
	if p.cutOnce > 0 && len(ids) >= p.cutOnce {
		p.cutOnce = 0
	}
	return errs
}

type pushErr struct{ skipped, cut bool }

func (pushErr) Error() string   { return "push skipped" }
func (e pushErr) Skipped() bool { return e.skipped }
func (e pushErr) Cut() bool     { return e.cut }
func (p *fanPusher) frames() map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string][]string, len(p.got))
	for k, v := range p.got {
		out[k] = v
	}
	return out
}

// fakeSCF stands in for SCF's asynchronous invocations: it queues the
// events a send's shards are, and runs them on the router, up to three
// times each when they fail, as SCF's retry policy does.
type fakeSCF struct {
	mu     sync.Mutex
	queue  [][]byte
	tries  map[string]int
	failed int // invokes that failed and were retried
	sizes  []int
	refuse error // every Invoke fails with it
	// refuseSent is how many of the next invokes with a Sent fail.
	refuseSent int
}

func (s *fakeSCF) Ready(context.Context) string { return "" }

func (s *fakeSCF) Invoke(_ context.Context, ev []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		return s.refuse
	}
	if s.refuseSent > 0 && strings.Contains(string(ev), `"sent":[`) {
		s.refuseSent--
		return errors.New("invoke refused, once")
	}
	s.queue = append(s.queue, ev)
	s.sizes = append(s.sizes, len(ev))
	return nil
}

func (s *fakeSCF) pop() ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil, false
	}
	ev := s.queue[0]
	s.queue = s.queue[1:]
	return ev, true
}

// drain runs the queued events, four at a time as four instances would,
// each with timeout, until none is left.
func (s *fakeSCF) drain(t *testing.T, r *router.Router, timeout time.Duration) {
	t.Helper()
	var running atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				ev, ok := s.pop()
				if !ok {
					if running.Load() == 0 {
						return
					}
					time.Sleep(time.Millisecond) // another run may still queue more
					continue
				}
				running.Add(1)
				s.run(r, ev, timeout)
				running.Add(-1)
			}
		})
	}
	wg.Wait()
}

func (s *fakeSCF) run(r *router.Router, ev []byte, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := r.Invoke(ctx, ev); err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tries == nil {
		s.tries = map[string]int{}
	}
	if s.tries[string(ev)]++; s.tries[string(ev)] <= 2 {
		s.failed++
		s.queue = append(s.queue, ev)
	}
}

// fanEnv is a router over a memory registry of n plain connections and n
// scfws.v1 ones in group "room", with a fake SCF.
type fanEnv struct {
	r    *router.Router
	mem  *store.Memory
	push *fanPusher
	scf  *fakeSCF
	ids  []string
}

func newFanEnv(t *testing.T, n int, o router.Options, fan router.Fanout) *fanEnv {
	t.Helper()
	e := &fanEnv{mem: store.NewMemory(time.Hour, nil), push: &fanPusher{}, scf: &fakeSCF{}}
	if fan == nil {
		fan = e.mem
	}
	for i := range n {
		for _, c := range []proto.Conn{{ID: fmt.Sprintf("p-%05d", i)}, {ID: fmt.Sprintf("v-%05d", i), V1: true, UserID: "u"}} {
			if _, err := e.mem.Register(context.Background(), c, []string{"room"}[:boolInt(c.V1)]); err != nil {
				t.Fatal(err)
			}
			e.ids = append(e.ids, c.ID)
		}
	}
	e.r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: e.mem, Pusher: e.push, Fanout: fan, Invoker: e.scf, Options: o}))
	return e
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (e *fanEnv) send(t *testing.T, cmd string, timeout time.Duration) router.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	reply := e.r.Handle(ctx, []byte(cmd))
	if reply.ErrNo != 0 || time.Since(start) > timeout {
		t.Fatalf("send = %d %q %s, after %s of %s", reply.ErrNo, reply.ErrMsg, reply.Detail, time.Since(start), timeout)
	}
	return reply
}

// once checks that each of ids got exactly one frame, want's, and nobody
// else got any; it returns how many got one twice.
func (e *fanEnv) once(t *testing.T, ids []string, want func(id string) string) {
	t.Helper()
	got := e.push.frames()
	for _, id := range ids {
		switch fs := got[id]; {
		case len(fs) != 1:
			t.Errorf("%s got %d pushes; want 1", id, len(fs))
		case want != nil && fs[0] != want(id):
			t.Errorf("%s got %.60q; want %.60q", id, fs[0], want(id))
		}
		delete(got, id)
	}
	if len(got) > 0 {
		t.Errorf("%d others got pushes", len(got))
	}
}

// prefixed are the IDs with prefix.
func (e *fanEnv) prefixed(prefix string) []string {
	var out []string
	for _, id := range e.ids {
		if strings.HasPrefix(id, prefix) {
			out = append(out, id)
		}
	}
	return out
}

func (e *fanEnv) job(t *testing.T, id string) proto.Job {
	t.Helper()
	reply := e.r.Handle(context.Background(), []byte(`{"scfws":{"op":"job","job":"`+id+`"}}`))
	if reply.ErrNo != 0 || reply.Job == nil {
		t.Fatalf("job %s = %d %q", id, reply.ErrNo, reply.ErrMsg)
	}
	return *reply.Job
}

// A sendToAll with more recipients than fit before the deadline (by
// PUSH_RATE) pushes what fits, hands the rest off, answers in time, and
// its shards push everyone else exactly once; the job ends done.
func TestFanoutSendToAll(t *testing.T) {
	e := newFanEnv(t, 3000, router.Options{PushRate: 1000, Fanout: router.FanoutOptions{ShardSize: 700, PageSize: 200}}, nil)
	reply := e.send(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 2*time.Second)
	h := reply.Handoff
	if h == nil || h.Job == "" || h.Shards == 0 || h.Recipients == 0 || reply.Recipients != 6000 ||
		reply.Delivered == 0 || reply.Delivered+h.Recipients < 5900 {
		t.Fatalf("reply = %+v, handoff %+v; want a job, its shards and recipients, and what was pushed", reply.Summary, h)
	}
	e.scf.drain(t, e.r, 2*time.Second)
	e.once(t, e.ids, func(id string) string {
		if strings.HasPrefix(id, "p-") {
			return "hi"
		}
		return `{"type":"message","from":"server","dataType":"text","data":"hi","id":"` + reply.ID + `"}`
	})
	j := e.job(t, h.Job)
	t.Logf("reply %+v, handoff %+v; job %+v", reply.Summary, h, j)
	if j.State != proto.JobDone || j.Delivered != 6000 || j.Recipients != 6000 || j.Shards.Done != j.Shards.Total || j.Finished == nil {
		t.Errorf("job = %+v; want done, 6000 delivered", j)
	}
	for _, n := range e.scf.sizes {
		if n > proto.MaxShardEventBytes {
			t.Errorf("a shard's event of %d bytes", n)
		}
	}
}

// Pushes a cut ends in flight, unanswered, are pushed again by the shard
// the rest goes to: every ID gets its push, those that had landed twice
// (the repeat bound), with the same frame.
func TestFanoutCutInFlight(t *testing.T) {
	e := newFanEnv(t, 400, router.Options{Fanout: router.FanoutOptions{PageSize: 400}}, nil)
	e.push.cutOnce = 400
	reply := e.send(t, `{"scfws":{"op":"sendToGroup","group":"room","data":"hi"}}`, 2*time.Second)
	if h := reply.Handoff; h == nil || h.Shards == 0 || reply.Delivered != 200 || reply.Failed != 0 {
		t.Fatalf("reply = %+v, handoff %+v; want 200 delivered, the cut ones handed on", reply.Summary, h)
	}
	e.scf.drain(t, e.r, 2*time.Second)
	got := e.push.frames()
	twice := 0
	for _, id := range e.prefixed("v-") {
		switch fs := got[id]; {
		case len(fs) == 2 && fs[0] == fs[1]:
			twice++
		case len(fs) != 1:
			t.Errorf("%s got %d pushes", id, len(fs))
		}
	}
	if twice != 100 {
		t.Errorf("%d got theirs twice; want the 100 that landed when cut", twice)
	}
	if j := e.job(t, reply.Handoff.Job); j.State != proto.JobDone || j.Delivered != 400 {
		t.Errorf("job = %+v; want done, 400 delivered", j)
	}
}

// Without a deadline's pressure nothing is handed off, and a send of a
// page or less answers as before.
func TestFanoutNotNeeded(t *testing.T) {
	e := newFanEnv(t, 300, router.Options{}, nil)
	reply := e.send(t, `{"scfws":{"op":"sendToGroup","group":"room","data":"hi"}}`, 5*time.Second)
	if reply.Handoff != nil || reply.Recipients != 300 || reply.Delivered != 300 {
		t.Errorf("reply = %+v, handoff %+v; want 300 delivered, no handoff", reply.Summary, reply.Handoff)
	}
	e.once(t, e.prefixed("v-"), nil)
}

// A slow gateway (here 5,000 pushes a second) and a short deadline: the
// send hands nearly everything off at once, in a tree of shards under
// maxChildren each, and every member gets it once; noEcho's sender none.
func TestFanoutTreeOfShards(t *testing.T) {
	e := newFanEnv(t, 4000, router.Options{Fanout: router.FanoutOptions{ShardSize: 300, PageSize: 100}}, nil)
	e.push.perPush = 200 * time.Microsecond
	reply := e.send(t, `{"scfws":{"op":"sendToGroup","group":"room","data":"hi"}}`, 600*time.Millisecond)
	if reply.Handoff == nil || reply.Handoff.Shards < 2 {
		t.Fatalf("handoff = %+v; want shards", reply.Handoff)
	}
	e.scf.drain(t, e.r, time.Second)
	v1 := e.prefixed("v-")
	e.once(t, v1, nil)
	j := e.job(t, reply.Handoff.Job)
	t.Logf("reply %+v, handoff %+v; job %+v", reply.Summary, reply.Handoff, j)
	if j.State != proto.JobDone || j.Delivered != len(v1) {
		t.Errorf("job = %+v; want done, %d delivered", j, len(v1))
	}
}

// failingCommits is the memory registry whose shard commits fail at the
// times chosen: a database gone while a shard pushes.
type failingCommits struct {
	*store.Memory
	calls atomic.Int64
	fail  func(call int64) bool
}

func (f *failingCommits) Commit(ctx context.Context, job string, n int, from, to string, c proto.Counts, done bool) (bool, error) {
	if f.fail(f.calls.Add(1)) {
		return false, errors.New("database went away")
	}
	return f.Memory.Commit(ctx, job, n, from, to, c, done)
}

// A shard that cannot commit a page fails its invoke; SCF's retry resumes
// after the last committed page: only that page's pushes repeat, with the
// same bytes.
func TestFanoutRetryResumes(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	fail := &failingCommits{Memory: mem, fail: func(call int64) bool { return call == 3 || call == 11 }}
	e := newFanEnv(t, 0, router.Options{PushRate: 1000, Fanout: router.FanoutOptions{ShardSize: 1000, PageSize: 100}}, fail)
	e.mem = mem
	for i := range 3000 {
		e.ids = append(e.ids, fmt.Sprintf("p-%05d", i))
		if _, err := mem.Register(context.Background(), proto.Conn{ID: e.ids[i]}, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: e.push, Fanout: fail, Invoker: e.scf,
		Options: router.Options{PushRate: 1000, Fanout: router.FanoutOptions{ShardSize: 1000, PageSize: 100}}}))
	reply := e.send(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 2*time.Second)
	e.scf.drain(t, e.r, 2*time.Second)
	if e.scf.failed != 2 {
		t.Errorf("%d failed invokes retried; want 2", e.scf.failed)
	}
	repeats := 0
	for id, fs := range e.push.frames() {
		for _, f := range fs {
			if f != "hi" {
				t.Errorf("%s got %q", id, f)
			}
		}
		repeats += len(fs) - 1
		if len(fs) == 0 {
			t.Errorf("%s got nothing", id)
		}
	}
	if got := len(e.push.frames()); got != 3000 {
		t.Errorf("%d got pushes; want 3000", got)
	}
	if repeats > 2*100 {
		t.Errorf("%d repeated pushes; want at most a page (100) per failed commit", repeats)
	}
	if j := e.job(t, reply.Handoff.Job); j.State != proto.JobDone || j.Delivered != 3000 {
		t.Errorf("job = %+v; want done, each counted once", j)
	}
	t.Logf("repeats: %d", repeats)
}

// A message too large for a shard's event (SCF's 128 KB) is stored once
// with its job; the shards' events carry its number.
func TestFanoutStoredFrame(t *testing.T) {
	e := newFanEnv(t, 1500, router.Options{PushRate: 1000, MaxMessageBytes: 1 << 20, Fanout: router.FanoutOptions{ShardSize: 500}}, nil)
	big := strings.Repeat("x", 200<<10)
	reply := e.send(t, `{"scfws":{"op":"sendToGroup","group":"room","data":"`+big+`"}}`, 2*time.Second)
	if reply.Handoff == nil {
		t.Fatal("nothing handed off")
	}
	e.scf.drain(t, e.r, 2*time.Second)
	want := `{"type":"message","from":"server","group":"room","dataType":"text","data":"` + big + `","id":"` + reply.ID + `"}`
	e.once(t, e.prefixed("v-"), func(string) string { return want })
	for _, n := range e.scf.sizes {
		if n > 2<<10 {
			t.Errorf("a shard's event of %d bytes; want the frame stored, not carried", n)
		}
	}
}

// Without a way to hand off (FANOUT=off, no run role), a send behaves as
// before and, when it could not push everyone, says why in its reply.
func TestFanoutOff(t *testing.T) {
	tests := []struct {
		name string
		give router.Options
		inv  router.Invoker
		want string
	}{
		{name: "FANOUT=off", give: router.Options{Fanout: router.FanoutOptions{Off: "FANOUT=off"}}, inv: &fakeSCF{}, want: "FANOUT=off"},
		{name: "no role", inv: notReady("no run role: TENCENTCLOUD_SECRETID is not set"), want: "no run role: TENCENTCLOUD_SECRETID is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := store.NewMemory(time.Hour, nil)
			for i := range 2000 {
				_, _ = mem.Register(context.Background(), proto.Conn{ID: fmt.Sprintf("p-%05d", i)}, nil)
			}
			push := &fanPusher{perPush: 500 * time.Microsecond}
			r := router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: push, Fanout: mem, Invoker: tt.inv, Options: tt.give}))
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			reply := r.Handle(ctx, []byte(`{"scfws":{"op":"sendToAll","data":"hi"}}`))
			if reply.ErrNo != 0 || reply.Skipped == 0 || reply.Handoff == nil || reply.Handoff.Off != tt.want || reply.Handoff.Job != "" {
				t.Errorf("reply = %d %+v, handoff %+v; want skipped pushes and off: %q", reply.ErrNo, reply.Summary, reply.Handoff, tt.want)
			}
		})
	}
}

type notReady string

func (n notReady) Ready(context.Context) string { return string(n) }
func (notReady) Invoke(context.Context, []byte) error {
	return errors.New("not ready")
}

// When SCF refuses every shard's invoke (CAM), the send says so in its
// reply; the job counts the shards lost.
func TestFanoutInvokeRefused(t *testing.T) {
	e := newFanEnv(t, 2000, router.Options{PushRate: 1000}, nil)
	e.scf.refuse = errors.New("invoke: UnauthorizedOperation.CAM: not allowed")
	reply := e.send(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`, time.Second)
	h := reply.Handoff
	if h == nil || h.Shards != 0 || !strings.Contains(h.Off, "UnauthorizedOperation.CAM") {
		t.Fatalf("handoff = %+v; want no shards and why", h)
	}
	if j := e.job(t, h.Job); j.Shards.Lost == 0 || j.State != proto.JobDone {
		t.Errorf("job = %+v; want its shards lost, and done (nothing left to wait for)", j)
	}
}

// Only a shard's failure fails the invoke; a shard of an unknown job, or
// a malformed one, is answered.
func TestShardEvents(t *testing.T) {
	e := newFanEnv(t, 10, router.Options{}, nil)
	tests := []struct {
		give      string
		wantErrNo int
	}{
		{give: `{"scfws":{"op":"shard","job":"nope","shard":{"n":1,"kind":"plain","frame":{"dataType":"text","data":"x"}}}}`},
		{give: `{"scfws":{"op":"shard","job":"nope"}}`, wantErrNo: proto.CodeBadArgument},
		{give: `{"scfws":{"op":"shard","job":"nope","shard":{"n":0,"kind":"plain","frame":{"dataType":"text","data":"x"}}}}`, wantErrNo: proto.CodeBadArgument},
		{give: `{"scfws":{"op":"shard","job":"nope","shard":{"n":1,"kind":"room","frame":{"dataType":"text","data":"x"}}}}`, wantErrNo: proto.CodeBadArgument},
		{give: `{"scfws":{"op":"shard","job":"nope","shard":{"n":1,"kind":"plain"}}}`, wantErrNo: proto.CodeBadArgument},
		{give: `{"scfws":{"op":"job","job":"nope"}}`, wantErrNo: proto.CodeBadArgument},
		{give: `{"scfws":{"op":"job"}}`, wantErrNo: proto.CodeBadArgument},
	}
	for _, tt := range tests {
		out, err := e.r.Invoke(context.Background(), []byte(tt.give))
		var reply router.Reply
		if jerr := json.Unmarshal(out, &reply); jerr != nil || err != nil || reply.ErrNo != tt.wantErrNo {
			t.Errorf("Invoke(%s) = %s, %v; want errNo %d and no error", tt.give, out, err, tt.wantErrNo)
		}
	}
}

// The shard op is the function's own, made by its hand-offs and started
// through SCF's Invoke API: a backend on the signed HTTP route may not
// run one. With a real job's number, a forged shard would push any frame
// (raw, to scfws.v1 connections too) over that shard's range and commit
// its cursor, so that the real shard stops short. The job op, a backend's
// way to follow its send, stays open.
func TestShardOpRefusedOnSignedRoute(t *testing.T) {
	e := newFanEnv(t, 3000, router.Options{PushRate: 1000, PublishSecret: publishSecret,
		Fanout: router.FanoutOptions{ShardSize: 700, PageSize: 200}}, nil)
	reply := e.send(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 2*time.Second)
	if reply.Handoff == nil || reply.Handoff.Job == "" {
		t.Fatalf("handoff = %+v; want a job", reply.Handoff)
	}
	job := reply.Handoff.Job
	now := time.Now().Unix()
	forged := `{"scfws":{"op":"shard","job":"` + job + `","shard":{"n":1,"kind":"v1","frame":{"dataType":"text","data":"forged"}}}}`
	tests := []struct {
		name       string
		give       []byte
		wantStatus int
		wantErrNo  int
	}{
		{"shard", signed(t, now, forged), 403, proto.CodeUnauthorized},
		{"job", signed(t, now, `{"scfws":{"op":"job","job":"`+job+`"}}`), 200, 0},
	}
	for _, tt := range tests {
		if status, errNo := answer(t, e.r, tt.give); status != tt.wantStatus || errNo != tt.wantErrNo {
			t.Errorf("%s: HTTP %d errNo %d; want %d, %d", tt.name, status, errNo, tt.wantStatus, tt.wantErrNo)
		}
	}
	for id, fs := range e.push.frames() {
		for _, f := range fs {
			if f == "forged" {
				t.Fatalf("%s got the forged shard's frame", id)
			}
		}
	}
}

// A malformed shard event of a real job is answered, never a panic: a
// stored frame's number below 1 among them.
func TestShardEventsOfARealJob(t *testing.T) {
	e := newFanEnv(t, 3000, router.Options{PushRate: 1000, Fanout: router.FanoutOptions{ShardSize: 700, PageSize: 200}}, nil)
	reply := e.send(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 2*time.Second)
	if reply.Handoff == nil || reply.Handoff.Job == "" {
		t.Fatalf("handoff = %+v; want a job", reply.Handoff)
	}
	shard := func(s string) string {
		return `{"scfws":{"op":"shard","job":"` + reply.Handoff.Job + `","shard":{"n":1,"kind":"plain",` + s + `}}}`
	}
	tests := []struct {
		give      string
		wantErrNo int
	}{
		{give: shard(`"stored":-1`), wantErrNo: proto.CodeBadArgument},
		{give: shard(`"stored":1`), wantErrNo: proto.CodeBadArgument},
	}
	for _, tt := range tests {
		out, err := e.r.Invoke(context.Background(), []byte(tt.give))
		var reply router.Reply
		if jerr := json.Unmarshal(out, &reply); jerr != nil || err != nil || reply.ErrNo != tt.wantErrNo {
			t.Errorf("Invoke(%s) = %s, %v; want errNo %d and no error", tt.give, out, err, tt.wantErrNo)
		}
	}
}

// skipFirstOnce keeps the first push of its first broadcast from its
// connection (a deadline's cut) and delivers the rest: all of those
// become the Sent of the shard the rest goes to.
type skipFirstOnce struct {
	*fanPusher
	done atomic.Bool
}

func (s *skipFirstOnce) Broadcast(ctx context.Context, ids []string, dataType, data string) []error {
	if len(ids) < 2 || !s.done.CompareAndSwap(false, true) {
		return s.fanPusher.Broadcast(ctx, ids, dataType, data)
	}
	return append([]error{pushErr{skipped: true}}, s.fanPusher.Broadcast(ctx, ids[1:], dataType, data)...)
}

// A cut page with more pushes made after its first skipped one than a
// shard's event may carry as Sent (maxSent) still hands its rest on: the
// event carries fewer (those repeat), never one the shard refuses and
// SCF never runs again (its whole range got nothing).
func TestFanoutSentOverTheEventsBound(t *testing.T) {
	e := newFanEnv(t, 1500, router.Options{Fanout: router.FanoutOptions{PageSize: 1000}}, nil)
	push := &skipFirstOnce{fanPusher: e.push}
	e.r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: e.mem, Pusher: push, Fanout: e.mem, Invoker: e.scf,
		Options: router.Options{Fanout: router.FanoutOptions{PageSize: 1000}}}))
	reply := e.send(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 2*time.Second)
	if reply.Handoff == nil || reply.Handoff.Shards == 0 {
		t.Fatalf("handoff = %+v; want the cut page's rest handed on", reply.Handoff)
	}
	e.scf.drain(t, e.r, 2*time.Second)
	got, repeats := e.push.frames(), 0
	for _, id := range e.prefixed("p-") {
		if len(got[id]) == 0 {
			t.Errorf("%s got nothing", id)
		}
		repeats += max(len(got[id])-1, 0)
	}
	if repeats > 999-512 {
		t.Errorf("%d repeats; want at most the Sent left out (%d)", repeats, 999-512)
	}
}

// cutThenRefuse, once armed, cuts its next page of two or more like
// skipFirstOnce and makes SCF refuse the next invoke with a Sent: the one
// that hands the cut's rest on.
type cutThenRefuse struct {
	*fanPusher
	scf   *fakeSCF
	armed atomic.Bool
}

func (c *cutThenRefuse) Broadcast(ctx context.Context, ids []string, dataType, data string) []error {
	if len(ids) < 2 || !c.armed.CompareAndSwap(true, false) {
		return c.fanPusher.Broadcast(ctx, ids, dataType, data)
	}
	c.scf.mu.Lock()
	c.scf.refuseSent++
	c.scf.mu.Unlock()
	return append([]error{pushErr{skipped: true}}, c.fanPusher.Broadcast(ctx, ids[1:], dataType, data)...)
}

// A shard that cut a page, handed its rest on and then failed (the child's
// invoke was refused) is run again by SCF, and invokes that child again
// with the Sent of the cut, kept with the child's row, not its own event's:
// the pushes the cut had made are not made twice.
func TestFanoutRetriedShardKeepsTheCutsSent(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	e := newFanEnv(t, 0, router.Options{}, mem)
	e.mem = mem
	for i := range 3000 {
		e.ids = append(e.ids, fmt.Sprintf("p-%05d", i))
		if _, err := mem.Register(context.Background(), proto.Conn{ID: e.ids[i]}, nil); err != nil {
			t.Fatal(err)
		}
	}
	push := &cutThenRefuse{fanPusher: e.push, scf: e.scf}
	e.r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: push, Fanout: mem, Invoker: e.scf,
		Options: router.Options{PushRate: 1000, Fanout: router.FanoutOptions{ShardSize: 1_000_000, PageSize: 200}}}))
	reply := e.send(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 2*time.Second)
	if reply.Handoff == nil {
		t.Fatal("nothing handed off")
	}
	push.armed.Store(true) // the first shard's first page
	e.scf.drain(t, e.r, 2*time.Second)
	if push.armed.Load() || e.scf.failed == 0 {
		t.Fatalf("armed %v, %d failed invokes; want a cut and a retried shard", push.armed.Load(), e.scf.failed)
	}
	repeats := 0
	for _, id := range e.ids {
		fs := e.push.frames()[id]
		if len(fs) == 0 {
			t.Errorf("%s got nothing", id)
		}
		repeats += max(len(fs)-1, 0)
	}
	t.Logf("failed %d sizes %v job %+v", e.scf.failed, e.scf.sizes, e.job(t, reply.Handoff.Job))
	if repeats != 0 {
		t.Errorf("%d repeats; want none (the cut's pushes were all answered)", repeats)
	}
}

// A registry with dead rows among the live (idle connections not yet
// swept): a hand-off that keeps a little more than the page read ahead
// cuts its range after that page, not inside it (cutting counts dead rows
// too), so that the page's pushes are not made again by the shard the
// rest goes to.
func TestFanoutHandOffPastThePageReadAhead(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	mem := store.NewMemory(time.Minute, func() time.Time { return clock() })
	e := newFanEnv(t, 0, router.Options{}, mem)
	e.mem = mem
	for _, suffix := range []string{"-b", "-a"} { // the -b rows die, then the -a rows register
		for i := range 2000 {
			id := fmt.Sprintf("p-%05d%s", i, suffix)
			if _, err := mem.Register(context.Background(), proto.Conn{ID: id}, nil); err != nil {
				t.Fatal(err)
			}
			if suffix == "-a" {
				e.ids = append(e.ids, id)
			}
		}
		now = now.Add(2 * time.Minute)
	}
	now = now.Add(-2 * time.Minute)
	e.r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: e.push, Fanout: mem, Invoker: e.scf,
		Options: router.Options{Fanout: router.FanoutOptions{ShardSize: 1_000_000, InstanceRate: 500}}}))
	reply := e.send(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 2*time.Second)
	if reply.Handoff == nil || reply.Recipients != 2000 {
		t.Fatalf("reply = %+v, handoff %+v; want 2000 recipients, some handed off", reply.Summary, reply.Handoff)
	}
	t.Logf("reply %+v, handoff %+v", reply.Summary, reply.Handoff)
	e.scf.drain(t, e.r, 2*time.Second)
	e.once(t, e.ids, nil)
}

// hungMarks is the memory registry whose MarkShards hangs until its
// context ends: a database that stopped answering after the hand-off.
type hungMarks struct{ *store.Memory }

func (h hungMarks) MarkShards(ctx context.Context, _ string, _ []int, _ int) error {
	<-ctx.Done()
	return ctx.Err()
}

// The invoke that began a send records its shards started and its counts
// after its pushes; a registry that hangs there still lets its reply out
// before the invoke's deadline (the reserve is for that).
func TestFanoutReplyInTimeWhenRecordsHang(t *testing.T) {
	mem := store.NewMemory(time.Hour, nil)
	e := newFanEnv(t, 0, router.Options{}, mem)
	for i := range 3000 {
		if _, err := mem.Register(context.Background(), proto.Conn{ID: fmt.Sprintf("p-%05d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: e.push, Fanout: hungMarks{mem}, Invoker: e.scf,
		Options: router.Options{PushRate: 1000}}))
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		reply := e.r.Handle(ctx, []byte(`{"scfws":{"op":"sendToAll","data":"hi"}}`))
		took := time.Since(start)
		cancel()
		t.Logf("reply after %s", took)
		if took >= time.Second || reply.Handoff == nil {
			t.Errorf("reply after %s of 1s, handoff %+v; want it before the deadline, with its shards", took, reply.Handoff)
		}
	}
}
