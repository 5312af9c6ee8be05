//go:build !scfws_function

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/client"
	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

func TestRenderBar(t *testing.T) {
	fin := time.Date(2026, 12, 6, 6, 0, 3, 0, time.UTC)
	tests := []struct {
		name string
		give client.Job
		want string
	}{
		{"nothing yet", client.Job{State: client.JobRunning, Recipients: 1000, Shards: client.JobShards{Total: 4}},
			"\r[----------]   0%  0/1000  shards 0/4  1.5s\x1b[K"},
		{"a third, every outcome counts", client.Job{State: client.JobRunning, Recipients: 900, Delivered: 290, Pruned: 5, Failed: 5, Shards: client.JobShards{Done: 1, Total: 4}},
			"\r[###-------]  33%  300/900  shards 1/4  1.5s\x1b[K"},
		{"done", client.Job{State: client.JobDone, Recipients: 900, Delivered: 900, Shards: client.JobShards{Done: 4, Total: 4}, Finished: &fin},
			"\r[##########] 100%  900/900  shards 4/4  1.5s\x1b[K"},
		{"more pushes than recipients (some joined) stay at 100", client.Job{State: client.JobRunning, Recipients: 10, Delivered: 12, Shards: client.JobShards{Total: 1}},
			"\r[##########] 100%  12/10  shards 0/1  1.5s\x1b[K"},
		{"no recipients, done", client.Job{State: client.JobDone, Shards: client.JobShards{Done: 1, Total: 1}},
			"\r[##########] 100%  0/0  shards 1/1  1.5s\x1b[K"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderBar(&tt.give, 1520*time.Millisecond, 10); got != tt.want {
				t.Errorf("renderBar = %q; want %q", got, tt.want)
			}
		})
	}
}

// lineProgress prints a line for a change of state or of a tenth, or for
// any change after lineEvery; never for a poll that changed nothing.
func TestLineProgress(t *testing.T) {
	job := func(state string, pushed, done int) client.Job {
		return client.Job{Job: "J", State: state, Recipients: 100, Delivered: pushed, Shards: client.JobShards{Done: done, Total: 4}}
	}
	polls := []struct {
		at   time.Duration
		give client.Job
		want string // "" for no line
	}{
		{0, job(client.JobRunning, 0, 0), "job J running: 0% (0 of 100: 0 delivered, 0 pruned, 0 failed), shards 0/4, 0s"},
		{time.Second, job(client.JobRunning, 0, 0), ""},
		{2 * time.Second, job(client.JobRunning, 5, 0), ""},
		{3 * time.Second, job(client.JobRunning, 12, 0), "job J running: 12% (12 of 100: 12 delivered, 0 pruned, 0 failed), shards 0/4, 3s"},
		{4 * time.Second, job(client.JobRunning, 15, 1), ""},
		{7 * time.Second, job(client.JobRunning, 15, 1), ""},
		{8 * time.Second, job(client.JobRunning, 15, 1), "job J running: 15% (15 of 100: 15 delivered, 0 pruned, 0 failed), shards 1/4, 8s"},
		{9 * time.Second, job(client.JobRunning, 16, 1), ""},
		{10 * time.Second, job(client.JobRunning, 21, 2), "job J running: 21% (21 of 100: 21 delivered, 0 pruned, 0 failed), shards 2/4, 10s"},
		{11 * time.Second, job(client.JobStalled, 21, 2), "job J stalled: 21% (21 of 100: 21 delivered, 0 pruned, 0 failed), shards 2/4, 11s"},
	}
	var out strings.Builder
	now := time.Unix(0, 0)
	l := &lineProgress{w: &out, job: "J", now: func() time.Time { return now }}
	for _, p := range polls {
		now = time.Unix(0, 0).Add(p.at)
		out.Reset()
		l.show(&p.give, p.at)
		if want := p.want + "\n"; p.want == "" && out.Len() != 0 || p.want != "" && out.String() != want {
			t.Errorf("at %s, %+v: printed %q; want %q", p.at, p.give, out.String(), p.want)
		}
	}
}

func TestPublishWaitFlags(t *testing.T) {
	tests := []struct {
		give []string
		want string
	}{
		{[]string{"-all", "-json", "hi"}, "-json and -wait-timeout go with -wait"},
		{[]string{"-all", "-wait-timeout", "1m", "hi"}, "-json and -wait-timeout go with -wait"},
		{[]string{"-all", "-wait", "-wait-timeout", "0s", "hi"}, "-wait-timeout must be positive"},
		{[]string{"-user", "bob", "-list", "-wait"}, "-wait follows a send, not -list"},
	}
	for _, tt := range tests {
		_, err := parsePublishFlags(append([]string{"-url", "http://127.0.0.1:1/"}, tt.give...))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: %v; want %q", tt.give, err, tt.want)
		}
	}
}

// fanFunction is the function (a router over a memory registry of n
// plain connections) as SCF runs it: 1 s to answer each invoke, and the
// shards it hands a send to run in goroutines, as SCF's asynchronous
// invocations, retried twice when they fail. Each push takes perPush.
type fanFunction struct {
	r  *router.Router
	wg sync.WaitGroup
}

func newFanFunction(t *testing.T, n int, perPush time.Duration) *fanFunction {
	t.Helper()
	f := &fanFunction{}
	mem := store.NewMemory(time.Hour, nil)
	for i := range n {
		if _, err := mem.Register(context.Background(), proto.Conn{ID: fmt.Sprintf("c-%05d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	o := router.Options{PushRate: 1000, Fanout: router.FanoutOptions{ShardSize: 300, PageSize: 100}}
	f.r = router.New(zap.NewNop(), router.Fixed(&router.Deps{Registry: mem, Pusher: slowPusher(perPush), Fanout: mem, Invoker: fanShards{f}, Options: o}))
	t.Cleanup(f.wg.Wait)
	return f
}

func (f *fanFunction) Invoke(ctx context.Context, _, name string, event []byte) ([]byte, error) {
	if name != "chat" {
		return nil, cloudapi.ErrFunctionNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return f.r.Invoke(ctx, event)
}

// fanShards is the function's router.Invoker: SCF's asynchronous invoke.
type fanShards struct{ f *fanFunction }

func (fanShards) Ready(context.Context) string { return "" }

func (s fanShards) Invoke(_ context.Context, event []byte) error {
	s.f.wg.Go(func() {
		for range 3 {
			if _, err := s.f.Invoke(context.Background(), "", "chat", event); err == nil {
				return
			}
		}
	})
	return nil
}

// slowPusher delivers every push, each taking its time.
type slowPusher time.Duration

func (p slowPusher) Broadcast(ctx context.Context, ids []string, _, _ string) []error {
	t := time.NewTimer(time.Duration(p) * time.Duration(len(ids)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return make([]error, len(ids))
}

func (slowPusher) Disconnect(_ context.Context, ids []string) []error { return make([]error, len(ids)) }

// fanAPI runs the Cloud API with fn as the function "chat", the key in
// the environment, and polls every few milliseconds; it returns publish's
// flags to reach it.
func fanAPI(t *testing.T, fn *fanFunction) []string {
	t.Helper()
	srv := cloudapi.NewServer(cloudapi.Credential{SecretID: pubID, SecretKey: pubKey})
	s := cloudapi.NewSCF(fn)
	s.Register(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	t.Setenv(envSecretID, pubID)
	t.Setenv(envSecretKey, pubKey)
	t.Setenv(envSessionToken, "")
	was := pollEvery
	pollEvery.First, pollEvery.Most = 10*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() { pollEvery = was })
	return []string{"-endpoint", hs.URL, "-function", "chat"}
}

var (
	progressLine = regexp.MustCompile(`^job (\S+) (running|done): \d+% \(\d+ of 1500: \d+ delivered, 0 pruned, 0 failed\), shards \d+/\d+, [0-9.]+m?s$`)
	summaryLine  = regexp.MustCompile(`^job (\S+) done: 1500 recipients, 1500 delivered, 0 pruned, 0 failed; shards (\d+)/(\d+); ` +
		`started 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z, finished 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z, took [0-9.]+m?s$`)
)

// publish -wait after a send the function hands off: the reply, progress
// lines on stderr (not a terminal), one per change, and the final counts.
func TestPublishWaitPlain(t *testing.T) {
	way := fanAPI(t, newFanFunction(t, 1500, 3*time.Millisecond))
	stdout, stderr, err := runPublish(append(way, "-all", "-wait", "-wait-timeout", "30s", "hi"), "")
	if err != nil {
		t.Fatalf("publish -wait = %v\nstdout %s\nstderr %s", err, stdout, stderr)
	}
	reply, summary, _ := strings.Cut(strings.TrimSuffix(stdout, "\n"), "\n}\n")
	var r struct{ Handoff *client.Handoff }
	if err := json.Unmarshal([]byte(reply+"}"), &r); err != nil || r.Handoff == nil {
		t.Fatalf("stdout %q: want the reply with its handoff, then the counts (%v)", stdout, err)
	}
	m := summaryLine.FindStringSubmatch(summary)
	if m == nil || m[1] != r.Handoff.Job || m[2] != m[3] {
		t.Errorf("the last line is %q; want the job's final counts", summary)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	for i, l := range lines {
		if !progressLine.MatchString(l) || !strings.HasPrefix(l, "job "+r.Handoff.Job+" ") {
			t.Errorf("stderr line %q is not a progress line of job %s", l, r.Handoff.Job)
		}
		if i > 0 && withoutTime(l) == withoutTime(lines[i-1]) {
			t.Errorf("two lines for one state: %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, " done: 100% (1500 of 1500") {
		t.Errorf("the last progress line is %q; want done", last)
	}
	t.Logf("stderr:\n%s", stderr)
}

// withoutTime is a progress line without its elapsed time.
func withoutTime(line string) string { return line[:max(0, strings.LastIndex(line, ", "))] }

// With -json, stdout is the job's final state, one JSON object; a send
// that was not handed off prints its reply and ends.
func TestPublishWaitJSON(t *testing.T) {
	way := fanAPI(t, newFanFunction(t, 1500, 0))
	stdout, stderr, err := runPublish(append(way, "-all", "-wait", "-wait-timeout", "30s", "-json", "hi"), "")
	if err != nil {
		t.Fatalf("publish -wait -json = %v\nstderr %s", err, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	var j client.Job
	if err := dec.Decode(&j); err != nil || dec.More() {
		t.Fatalf("stdout %q: want one JSON object (%v)", stdout, err)
	}
	if j.Job == "" || j.State != client.JobDone || j.Recipients != 1500 || j.Delivered != 1500 || j.Shards.Done != j.Shards.Total || j.Finished == nil {
		t.Errorf("job = %+v; want done, 1500 delivered", j)
	}

	stdout, _, err = runPublish(append(way, "-connection", "c-00001", "-wait", "-json", "hi"), "")
	if err != nil || !strings.HasPrefix(stdout, "{\n  \"errNo\": 0,") || strings.Contains(stdout, "handoff") {
		t.Errorf("a send not handed off: %v, stdout %q; want its reply", err, stdout)
	}
}

// scriptedJobs answers the job op from a script, one answer a poll, the
// last one again and again: a JSON reply, or "" for no reply at all.
type scriptedJobs struct {
	script []string
	polls  int
}

func (s *scriptedJobs) Invoke(ctx context.Context, _ []byte) ([]byte, error) {
	a := s.script[min(s.polls, len(s.script)-1)]
	s.polls++
	if a == "" {
		return nil, &client.TransportError{Via: "http", Err: fmt.Errorf("connection refused")}
	}
	return []byte(a), ctx.Err()
}

func TestFollow(t *testing.T) {
	const (
		running = `{"errNo":0,"errMsg":"ok","job":{"job":"J","state":"running","recipients":10,"delivered":3,"shards":{"done":0,"total":2}}}`
		done    = `{"errNo":0,"errMsg":"ok","job":{"job":"J","state":"done","recipients":10,"delivered":10,"shards":{"done":2,"total":2}}}`
		stalled = `{"errNo":0,"errMsg":"ok","job":{"job":"J","state":"stalled","recipients":10,"delivered":3,"shards":{"done":1,"total":2}}}`
		lost    = `{"errNo":0,"errMsg":"ok","job":{"job":"J","state":"done","recipients":10,"delivered":5,"shards":{"done":1,"total":2,"lost":1}}}`
	)
	was := pollEvery
	pollEvery.First, pollEvery.Most = time.Millisecond, 2*time.Millisecond
	t.Cleanup(func() { pollEvery = was })
	tests := []struct {
		name      string
		script    []string
		cancel    bool
		wantPolls int    // 0: any
		wantState string // of the job followed to its end
		wantErr   string // of the follow, or of the verdict
	}{
		{name: "to the end", script: []string{running, running, done}, wantPolls: 3, wantState: client.JobDone},
		{name: "a few polls without a reply", script: []string{running, "", "", done}, wantPolls: 4, wantState: client.JobDone},
		{name: "no reply, again and again", script: []string{running, ""}, wantPolls: 1 + maxPollFailures, wantErr: "follow job J: scfws http: connection refused"},
		{name: "refused", script: []string{`{"errNo":109,"errMsg":"no such job"}`}, wantPolls: 1, wantErr: "follow job J: scfws: errNo 109: no such job"},
		{name: "stalled", script: []string{stalled}, wantPolls: 1, wantState: client.JobStalled, wantErr: "job J stalled"},
		{name: "lost shards", script: []string{lost}, wantPolls: 1, wantState: client.JobDone, wantErr: "job J lost 1 of 2 shards"},
		{name: "never ends", script: []string{running}, wantErr: "job J still runs after -wait-timeout 50ms"},
		{name: "Ctrl-C", script: []string{running}, cancel: true, wantErr: "stopped following job J"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			s := &scriptedJobs{script: tt.script}
			var out strings.Builder
			w := &follower{c: client.New(s), job: "J", progress: &lineProgress{w: &out, job: "J", now: time.Now}, started: time.Now()}
			j, err := w.follow(ctx, 50*time.Millisecond, time.Second)
			if err == nil {
				err = jobVerdict(j)
			}
			if tt.wantPolls != 0 && s.polls != tt.wantPolls {
				t.Errorf("%d polls; want %d", s.polls, tt.wantPolls)
			}
			if tt.wantState != "" && (j == nil || j.State != tt.wantState) {
				t.Errorf("followed to %+v; want %s", j, tt.wantState)
			}
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("follow = %v; want %q", err, tt.wantErr)
			}
		})
	}
}

func TestJobSummary(t *testing.T) {
	start := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	fin := start.Add(3250 * time.Millisecond)
	tests := []struct {
		give client.Job
		want string
	}{
		{client.Job{Job: "J", State: client.JobDone, Recipients: 10, Delivered: 7, Pruned: 2, Failed: 1, Shards: client.JobShards{Done: 3, Total: 3}, Started: start, Finished: &fin},
			"job J done: 10 recipients, 7 delivered, 2 pruned, 1 failed; shards 3/3; started 2026-12-06T06:00:00.000Z, finished 2026-12-06T06:00:03.250Z, took 3.25s"},
		{client.Job{Job: "J", State: client.JobStalled, Recipients: 10, Delivered: 4, Shards: client.JobShards{Done: 1, Total: 3, Lost: 1}, Started: start},
			"job J stalled: 10 recipients, 4 delivered, 0 pruned, 0 failed; shards 1/3 (1 lost); started 2026-12-06T06:00:00.000Z"},
	}
	for _, tt := range tests {
		if got := jobSummary(&tt.give); got != tt.want {
			t.Errorf("jobSummary =\n%s\nwant\n%s", got, tt.want)
		}
	}
}

// Progress is a bar only on a terminal: never on a buffer or a pipe.
func TestProgressOnlyBarsOnATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, give := range []io.Writer{&strings.Builder{}, w} {
		if _, bar := newProgress(give, "J").(*barProgress); bar {
			t.Errorf("newProgress(%T) is a bar", give)
		}
	}
}
