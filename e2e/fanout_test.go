package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
)

// pageSize is the router's default FanoutOptions.PageSize: the most pushes
// a killed shard's retry may repeat.
const pageSize = 500

// cutRepeats bounds the other repeats (docs/fanout.md#the-repeat-bound):
// pushes a deadline cut in flight, unanswered, are pushed again by the
// shard the rest goes to, and those that had landed repeat, at most
// PUSH_CONCURRENCY per cut. A quiet machine cuts none in flight; one
// starved by other work cuts a few, so a test allows 1%.
func cutRepeats(n int) int { return n / 100 }

// checkJob checks that a job ended done with every recipient delivered,
// and no more than repeats counted twice (a commit that landed but was
// not confirmed is made again).
func checkJob(t testing.TB, j *proto.Job, n, repeats int) {
	t.Helper()
	if j.State != proto.JobDone || j.Delivered < n || j.Delivered > n+repeats || j.Recipients != n || j.Shards.Lost > 0 {
		t.Errorf("job = %+v; want done, every one of %d recipients delivered", *j, n)
	}
}

// fanCheck is what a handed-off send's pushes must show.
type fanCheck struct {
	ids     []string
	frames  int // distinct frames: one per kind of recipient
	repeats int // pushes allowed twice
}

// checkPushes checks that every one of ids got its push, at most
// c.repeats twice, nobody else any, and returns the repeats.
func checkPushes(t testing.TB, push *pushtest.Server, c fanCheck) int {
	t.Helper()
	byID, frames := push.Counts()
	missing, repeats, twice := 0, 0, 0
	for _, id := range c.ids {
		switch n := byID[id]; {
		case n == 0:
			missing++
		case n > 2:
			twice++
		default:
			repeats += n - 1
		}
		delete(byID, id)
	}
	if missing > 0 || twice > 0 || len(byID) > 0 || repeats > c.repeats {
		t.Errorf("%d of %d IDs got nothing, %d more than twice, %d repeats (at most %d), %d others got pushes",
			missing, len(c.ids), twice, repeats, c.repeats, len(byID))
	}
	if frames != c.frames {
		t.Errorf("%d distinct frames; want %d: a repeat carries the same bytes, its message the same id", frames, c.frames)
	}
	return repeats
}

// sendHandedOff sends cmd and checks the reply: before the deadline, with
// a job and what was pushed so far.
func sendHandedOff(t testing.TB, c *fanLocal, cmd string, timeout time.Duration, recipients int) router.Reply {
	t.Helper()
	reply, took := c.invoke(t, cmd)
	h := reply.Handoff
	switch {
	case reply.ErrNo != 0:
		t.Fatalf("send = %d %q %s", reply.ErrNo, reply.ErrMsg, reply.Detail)
	case took > timeout:
		t.Errorf("the reply took %s; the function's timeout is %s", took, timeout)
	case reply.Summary == nil || reply.Recipients != recipients:
		t.Errorf("reply = %+v; want %d recipients", reply.Summary, recipients)
	case h == nil || h.Job == "" || h.Shards == 0 || h.Recipients == 0 || h.Off != "":
		t.Fatalf("handoff = %+v; want a job with shards", h)
	}
	t.Logf("reply after %s: %+v, handoff %+v", took.Round(time.Millisecond), *reply.Summary, *h)
	return reply
}

// 100,000 registered connections (half plain, half scfws.v1), one
// backend sendToAll, a function timeout of 3s: the reply comes in time,
// the job reaches done, and every ID got its push exactly once.
func TestFanoutSendToAll100k(t *testing.T) {
	db := mysqltest.New(t)
	ids := seedConnections(t, db, 50_000, 50_000)
	push := pushtest.Start()
	defer push.Close()
	push.CountOnly()
	c := newFanCluster(t, fanSetup{db: db, push: push.URL, timeout: 3 * time.Second})
	reply := sendHandedOff(t, c, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 3*time.Second, len(ids))
	end := waitJob(t, c, reply.Handoff.Job, 90*time.Second)
	repeats := checkPushes(t, push, fanCheck{ids: ids, frames: 2, repeats: cutRepeats(len(ids))})
	checkJob(t, end.Job, len(ids), repeats)
	t.Logf("repeats: %d", repeats)
}

// The same with one instance killed in the middle of a shard: SCF's retry
// finishes it from its last committed page. Nobody is missed; the repeats
// are the pushes of the page in flight, with the same message id.
func TestFanoutInstanceKilledMidShard(t *testing.T) {
	db := mysqltest.New(t)
	ids := seedConnections(t, db, 50_000, 50_000)
	push := pushtest.Start()
	defer push.Close()
	push.CountOnly()
	c := newFanCluster(t, fanSetup{db: db, push: push.URL, timeout: 3 * time.Second})
	reply := sendHandedOff(t, c, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 3*time.Second, len(ids))
	// The shards are pushing: kill one of them midway.
	testkit.Eventually(t, time.Minute, "30,000 pushes", func() bool { return push.Total() >= 30_000 })
	c.kill(t)
	end := waitJob(t, c, reply.Handoff.Job, 120*time.Second)
	repeats := checkPushes(t, push, fanCheck{ids: ids, frames: 2, repeats: pageSize + cutRepeats(len(ids))})
	checkJob(t, end.Job, len(ids), repeats)
	t.Logf("repeats after a kill: %d (bound: one page, %d)", repeats, pageSize)
}

// PUSH_RATE makes a send hand off what the deadline would otherwise cut
// short, even where the instance alone could push it all; every ID still
// gets one push. (The rate itself is BenchmarkPushBudget's.)
func TestFanoutPushBudget(t *testing.T) {
	db := mysqltest.New(t)
	ids := seedConnections(t, db, 20_000, 0)
	push := pushtest.Start()
	defer push.Close()
	push.CountOnly()
	c := newFanCluster(t, fanSetup{db: db, push: push.URL, timeout: 3 * time.Second, env: map[string]string{"PUSH_RATE": "4000"}})
	reply := sendHandedOff(t, c, `{"scfws":{"op":"sendToAll","data":"hi"}}`, 3*time.Second, len(ids))
	end := waitJob(t, c, reply.Handoff.Job, 60*time.Second)
	repeats := checkPushes(t, push, fanCheck{ids: ids, frames: 1, repeats: cutRepeats(len(ids))})
	checkJob(t, end.Job, len(ids), repeats)
}

// A 200 KB message, over SCF's 128 KB for an asynchronous event, reaches
// everyone through its copy stored with the job.
func TestFanoutStoredMessage(t *testing.T) {
	db := mysqltest.New(t)
	ids := seedConnections(t, db, 0, 400)
	push := pushtest.Start()
	defer push.Close()
	push.CountOnly()
	c := newFanCluster(t, fanSetup{db: db, push: push.URL, timeout: 2 * time.Second, env: map[string]string{"PUSH_RATE": "200"}})
	data := strings.Repeat("x", 200<<10)
	reply := sendHandedOff(t, c, `{"scfws":{"op":"sendToAll","data":"`+data+`"}}`, 2*time.Second, len(ids))
	end := waitJob(t, c, reply.Handoff.Job, 60*time.Second)
	// Pushes of 200 KB a deadline cut in flight are pushed again by the
	// shard the rest goes to; those that had landed repeat, at most the
	// pushes in flight (PUSH_CONCURRENCY, 128) per cut.
	repeats := checkPushes(t, push, fanCheck{ids: ids, frames: 1, repeats: 128})
	checkJob(t, end.Job, len(ids), repeats)
	if repeats > 0 {
		for _, row := range db.Strings(t, "SELECT CONCAT_WS(' ', Shard, Parent, State, LastKey, UpTo, Delivered, Failed) FROM ConnectionID_List_shards ORDER BY Shard") {
			t.Log(row)
		}
		byID, _ := push.Counts()
		var twice []string
		for id, n := range byID {
			if n > 1 {
				twice = append(twice, id)
			}
		}
		slices.Sort(twice)
		t.Log(twice)
	}
}

// Without a run role, or with FANOUT=off, a send behaves as before: it
// pushes what its deadline allows and skips the rest; its reply says why
// nothing was handed off.
func TestFanoutOffOrNoRole(t *testing.T) {
	db := mysqltest.New(t)
	ids := seedConnections(t, db, 20_000, 0)
	tests := []struct {
		name   string
		noRole bool
		env    map[string]string
		want   string
	}{
		{name: "no role", noRole: true, env: map[string]string{"PUSH_RATE": "5000"}, want: "no run role: TENCENTCLOUD_SECRETID is not set"},
		{name: "FANOUT=off", env: map[string]string{"PUSH_RATE": "5000", "FANOUT": "off"}, want: "FANOUT=off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			push := pushtest.Start()
			defer push.Close()
			push.CountOnly()
			c := newFanCluster(t, fanSetup{db: db, push: push.URL, timeout: time.Second, env: tt.env, noRole: tt.noRole})
			reply, took := c.invoke(t, `{"scfws":{"op":"sendToAll","data":"hi"}}`)
			h := reply.Handoff
			if reply.ErrNo != 0 || took > time.Second || reply.Summary == nil || reply.Recipients != len(ids) || reply.Skipped == 0 ||
				reply.Delivered+reply.Failed+reply.Skipped != len(ids) || h == nil || h.Job != "" || !strings.HasPrefix(h.Off, tt.want) {
				t.Errorf("reply after %s = %d %+v, handoff %+v; want today's: some pushed, the rest skipped, and off: %q",
					took, reply.ErrNo, reply.Summary, h, tt.want)
			}
			// Today's accounting of a cut broadcast: a push cut in flight
			// counts failed, though its request was written and may have
			// landed.
			if got := push.Total(); got < reply.Delivered || got > reply.Delivered+reply.Failed {
				t.Errorf("%d pushes arrived; the reply says %d delivered, %d failed", got, reply.Delivered, reply.Failed)
			}
		})
	}
}
