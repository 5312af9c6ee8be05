package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/proto"
)

// fanout is the contract of fan-out: recipients in pages by key order,
// the jobs with their shards, the push budget.
func fanout(t *testing.T, newSubject func(t *testing.T) Subject) {
	if newSubject(t).Fanout == nil {
		return
	}
	t.Run("pages in key order", func(t *testing.T) { fanoutPages(t, newSubject(t)) })
	t.Run("targets", func(t *testing.T) { fanoutTargets(t, newSubject(t)) })
	t.Run("cuts", func(t *testing.T) { fanoutCuts(t, newSubject(t)) })
	t.Run("jobs", func(t *testing.T) { fanoutJobs(t, newSubject(t)) })
	t.Run("commits race", func(t *testing.T) { fanoutCommits(t, newSubject(t)) })
	t.Run("stored frames", func(t *testing.T) { fanoutFrames(t, newSubject(t)) })
	t.Run("expiry and stall", func(t *testing.T) { fanoutExpiry(t, newSubject(t)) })
	t.Run("budget", func(t *testing.T) { fanoutBudget(t, newSubject(t)) })
}

var (
	allPlain = proto.Target{Kind: proto.TargetPlain}
	allV1    = proto.Target{Kind: proto.TargetV1}
)

// readAll reads t's recipients in r by pages of size, as a shard does.
func readAll(t *testing.T, s Subject, tg proto.Target, r proto.KeyRange, size int) []string {
	t.Helper()
	var out []string
	for {
		page, err := s.Fanout.RecipientPage(ctx, tg, r, size)
		of(t).no(err)
		if len(page) > size {
			t.Fatalf("RecipientPage(%d) = %d IDs", size, len(page))
		}
		out = append(out, page...)
		if len(page) < size {
			return out
		}
		r.After = page[len(page)-1]
	}
}

func fanoutPages(t *testing.T, s Subject) {
	for _, id := range HostileIDs {
		register(t, s.Reg, proto.Conn{ID: id})
	}
	register(t, s.Reg, proto.Conn{ID: "dead"})
	s.Age(t, "dead", s.Idle+time.Minute)
	register(t, s.Reg, v1conn("v1-only", ""))
	want := sorted(HostileIDs) // byte order: the registry's key order
	for _, size := range []int{1, 2, 4, 100} {
		if got := readAll(t, s, allPlain, proto.KeyRange{}, size); !slices.Equal(got, want) {
			t.Errorf("pages of %d = %q; want %q, live and plain only, in byte order", size, got, want)
		}
	}
	if n, err := s.Fanout.CountRecipients(ctx, allPlain, proto.KeyRange{}); err != nil || n != len(want) {
		t.Errorf("CountRecipients(all) = %d, %v; want %d", n, err, len(want))
	}
	r := proto.KeyRange{After: want[1], UpTo: want[5]}
	if got := readAll(t, s, allPlain, r, 2); !slices.Equal(got, want[2:6]) {
		t.Errorf("pages of %+v = %q; want %q", r, got, want[2:6])
	}
	if n, err := s.Fanout.CountRecipients(ctx, allPlain, r); err != nil || n != 4 {
		t.Errorf("CountRecipients(%+v) = %d, %v; want 4", r, n, err)
	}
	if got := readAll(t, s, allPlain, proto.KeyRange{After: want[len(want)-1]}, 3); len(got) != 0 {
		t.Errorf("pages after the last = %q; want none", got)
	}
}

func fanoutTargets(t *testing.T, s Subject) {
	for i := range 6 {
		user := []string{"alice", "bob"}[i%2]
		register(t, s.Reg, v1conn(fmt.Sprintf("c%d", i), user), "room")
	}
	register(t, s.Reg, v1conn("other", "alice"), "hall")
	register(t, s.Reg, proto.Conn{ID: "plain"})
	s.Age(t, "c4", s.Idle+time.Minute)
	tests := []struct {
		give proto.Target
		want []string
	}{
		{give: allV1, want: []string{"c0", "c1", "c2", "c3", "c5", "other"}},
		{give: proto.Target{Kind: proto.TargetGroup, Group: "room"}, want: []string{"c0", "c1", "c2", "c3", "c5"}},
		{give: proto.Target{Kind: proto.TargetGroup, Group: "none"}, want: nil},
		{give: proto.Target{Kind: proto.TargetUser, UserID: "alice"}, want: []string{"c0", "c2", "other"}},
		{give: proto.Target{Kind: proto.TargetUser, UserID: "bob"}, want: []string{"c1", "c3", "c5"}},
	}
	for _, tt := range tests {
		if got := readAll(t, s, tt.give, proto.KeyRange{}, 2); !slices.Equal(got, tt.want) {
			t.Errorf("pages of %+v = %q; want %q", tt.give, got, tt.want)
		}
		if n, err := s.Fanout.CountRecipients(ctx, tt.give, proto.KeyRange{}); err != nil || n != len(tt.want) {
			t.Errorf("CountRecipients(%+v) = %d, %v; want %d", tt.give, n, err, len(tt.want))
		}
	}
}

func fanoutCuts(t *testing.T, s Subject) {
	var ids []string
	for i := range 25 {
		ids = append(ids, fmt.Sprintf("k%02d", i))
		register(t, s.Reg, proto.Conn{ID: ids[i]})
	}
	s.Age(t, "k03", s.Idle+time.Minute) // dead rows count: cutting reads no liveness
	tests := []struct {
		give   proto.KeyRange
		n      int
		want   string
		wantOK bool
	}{
		{give: proto.KeyRange{}, n: 1, want: "k00", wantOK: true},
		{give: proto.KeyRange{}, n: 10, want: "k09", wantOK: true},
		{give: proto.KeyRange{After: "k09"}, n: 10, want: "k19", wantOK: true},
		{give: proto.KeyRange{After: "k09", UpTo: "k15"}, n: 6, want: "k15", wantOK: true},
		{give: proto.KeyRange{After: "k09", UpTo: "k15"}, n: 7},
		{give: proto.KeyRange{After: "k20"}, n: 4, want: "k24", wantOK: true},
		{give: proto.KeyRange{After: "k20"}, n: 5},
	}
	for _, tt := range tests {
		got, ok, err := s.Fanout.KeyAfter(ctx, allPlain, tt.give, tt.n)
		if err != nil || got != tt.want || ok != tt.wantOK {
			t.Errorf("KeyAfter(%+v, %d) = %q, %v, %v; want %q, %v", tt.give, tt.n, got, ok, err, tt.want, tt.wantOK)
		}
	}
}

// newJob stores a job of id with shard 0 over r.
func newJob(t *testing.T, s Subject, id string, r proto.KeyRange) {
	t.Helper()
	of(t).no(s.Fanout.CreateJob(ctx, proto.NewJob{ID: id, Recipients: 100, StallAfter: time.Hour, TTL: time.Hour}, r))
}

func shardOf(t *testing.T, s Subject, job string, n int) (proto.ShardState, []proto.ShardState) {
	t.Helper()
	self, children, found, err := s.Fanout.Shards(ctx, job, n, true)
	of(t).no(err)
	if !found {
		t.Fatalf("Shards(%s, %d): not found", job, n)
	}
	return self, children
}

func fanoutJobs(t *testing.T, s Subject) {
	newJob(t, s, "J1", proto.KeyRange{})
	first, err := s.Fanout.HandOff(ctx, "J1", 0, "m", []proto.KeyRange{{After: "m", UpTo: "t"}, {After: "t"}}, nil)
	if err != nil || first != 1 {
		t.Fatalf("HandOff = %d, %v; want 1", first, err)
	}
	if _, children := shardOf(t, s, "J1", 0); len(children) != 2 || children[0].Range != (proto.KeyRange{After: "m", UpTo: "t"}) ||
		children[1].N != 2 || children[1].Parent != 0 || children[1].State != proto.ShardHanded || children[1].Sent != nil {
		t.Errorf("unconfirmed children of 0 = %+v; want shards 1 and 2, handed", children)
	}
	of(t).no(s.Fanout.MarkShards(ctx, "J1", []int{1}, proto.ShardRunning))
	of(t).no(s.Fanout.MarkShards(ctx, "J1", []int{2}, proto.ShardLost))
	if self, children := shardOf(t, s, "J1", 0); len(children) != 0 || self.Range.UpTo != "m" {
		t.Errorf("shard 0 = %+v with unconfirmed %+v; want its range ending at m, none unconfirmed", self, children)
	}
	// Shard 1 hands on (p, t] and keeps (m, p]; the child keeps the Sent
	// it was handed, for a retried shard 1 to invoke it again with.
	sent := []string{"q\u00e9~", "r"}
	if n, err := s.Fanout.HandOff(ctx, "J1", 1, "p", []proto.KeyRange{{After: "p", UpTo: "t"}}, sent); err != nil || n != 3 {
		t.Fatalf("HandOff from shard 1 = %d, %v; want 3", n, err)
	}
	self, children := shardOf(t, s, "J1", 1)
	if self.Range != (proto.KeyRange{After: "m", UpTo: "p"}) || len(children) != 1 || children[0].N != 3 || !slices.Equal(children[0].Sent, sent) {
		t.Errorf("shard 1 = %+v, unconfirmed %+v; want (m, p] and shard 3, sent %q", self, children, sent)
	}
	commits := []struct {
		n        int
		from, to string
		c        proto.Counts
		done     bool
	}{
		{n: 1, from: "m", to: "n", c: proto.Counts{Delivered: 5, Pruned: 1}},
		{n: 1, from: "n", to: "p", c: proto.Counts{Delivered: 4, Failed: 2}, done: true},
		{n: 3, from: "p", to: "t", c: proto.Counts{Delivered: 7}, done: true},
		{n: 0, from: "", to: "", c: proto.Counts{Delivered: 10}, done: true},
	}
	for _, c := range commits {
		if ok, err := s.Fanout.Commit(ctx, "J1", c.n, c.from, c.to, c.c, c.done); !ok || err != nil {
			t.Fatalf("Commit(%+v) = %v, %v; want ok", c, ok, err)
		}
	}
	j, found, err := s.Fanout.Job(ctx, "J1")
	want := proto.Job{Job: "J1", State: proto.JobDone, Recipients: 100, Delivered: 26, Pruned: 1, Failed: 2,
		Shards: proto.JobShards{Done: 3, Total: 4, Lost: 1}}
	if err != nil || !found || j.Finished == nil || j.Started.IsZero() || j.Finished.Before(j.Started) {
		t.Fatalf("Job(J1) = %+v, %v, %v; want it found and finished after it started", j, found, err)
	}
	j.Started, j.Finished = time.Time{}, nil
	if j != want {
		t.Errorf("Job(J1) = %+v; want %+v", j, want)
	}
	if _, found, err := s.Fanout.Job(ctx, "nope"); found || err != nil {
		t.Errorf("Job(nope) = %v, %v; want not found", found, err)
	}
	if _, _, found, err := s.Fanout.Shards(ctx, "J1", 9, false); found || err != nil {
		t.Errorf("Shards(J1, 9) = %v, %v; want not found", found, err)
	}
	if _, err := s.Fanout.HandOff(ctx, "J1", 1, "o", []proto.KeyRange{{After: "o"}}, nil); err == nil {
		t.Error("HandOff from a shard that is done = nil; want an error")
	}
}

// Two runs of one shard (an SCF retry while the first still runs): each
// commit moves the cursor only from where the other left it, so one of
// them stops after its first page.
func fanoutCommits(t *testing.T, s Subject) {
	newJob(t, s, "J2", proto.KeyRange{})
	of(t).no(firstErr(s.Fanout.HandOff(ctx, "J2", 0, "", []proto.KeyRange{{After: "a"}}, nil)))
	if ok, err := s.Fanout.Commit(ctx, "J2", 1, "a", "c", proto.Counts{Delivered: 2}, false); !ok || err != nil {
		t.Fatalf("first run's commit = %v, %v", ok, err)
	}
	if ok, err := s.Fanout.Commit(ctx, "J2", 1, "a", "c", proto.Counts{Delivered: 2}, false); ok || err != nil {
		t.Errorf("second run's commit of the same page = %v, %v; want refused", ok, err)
	}
	self, _ := shardOf(t, s, "J2", 1)
	if self.Range.After != "c" || self.Delivered != 2 || self.State != proto.ShardRunning {
		t.Errorf("shard 1 = %+v; want its cursor at c, 2 delivered, running (a commit confirms it)", self)
	}
	if ok, err := s.Fanout.Commit(ctx, "J2", 1, "c", "c", proto.Counts{}, true); !ok || err != nil {
		t.Errorf("done = %v, %v", ok, err)
	}
	if ok, err := s.Fanout.Commit(ctx, "J2", 1, "c", "d", proto.Counts{Delivered: 1}, false); ok || err != nil {
		t.Errorf("a commit after done = %v, %v; want refused", ok, err)
	}
}

func firstErr(_ int, err error) error { return err }

func fanoutFrames(t *testing.T, s Subject) {
	big := proto.Frame{DataType: proto.DataText, Data: strings.Repeat("é\"\\<x>\x00", 200<<10/9)}
	bin := proto.Frame{DataType: proto.DataBinary, Data: "AAEC"}
	of(t).no(s.Fanout.CreateJob(ctx, proto.NewJob{ID: "J3", Frames: []proto.Frame{big, bin}, StallAfter: time.Hour, TTL: time.Hour}, proto.KeyRange{}))
	got, found, err := s.Fanout.JobFrames(ctx, "J3")
	if err != nil || !found || len(got) != 2 || got[0] != big || got[1] != bin {
		t.Errorf("JobFrames(J3) = %d frames, %v, %v; want the two stored, byte for byte", len(got), found, err)
	}
	newJob(t, s, "J4", proto.KeyRange{})
	if got, found, err := s.Fanout.JobFrames(ctx, "J4"); err != nil || !found || len(got) != 0 {
		t.Errorf("JobFrames(J4) = %v, %v, %v; want none", got, found, err)
	}
	if err := s.Fanout.CreateJob(ctx, proto.NewJob{ID: "J4", TTL: time.Hour}, proto.KeyRange{}); err == nil {
		t.Error("CreateJob of an existing job = nil; want an error")
	}
}

func fanoutExpiry(t *testing.T, s Subject) {
	of(t).no(s.Fanout.CreateJob(ctx, proto.NewJob{ID: "old", StallAfter: time.Minute, TTL: time.Hour}, proto.KeyRange{}))
	newJob(t, s, "new", proto.KeyRange{})
	s.AgeJob(t, "old", 2*time.Hour)
	if j, _, err := s.Fanout.Job(ctx, "old"); err != nil || j.State != proto.JobStalled {
		t.Errorf("Job(old) = %+v, %v; want stalled: no progress for longer than its StallAfter", j, err)
	}
	if j, _, err := s.Fanout.Job(ctx, "new"); err != nil || j.State != proto.JobRunning {
		t.Errorf("Job(new) = %+v, %v; want running", j, err)
	}
	if n, err := s.Fanout.SweepJobs(ctx); err != nil || n != 1 {
		t.Errorf("SweepJobs() = %d, %v; want 1", n, err)
	}
	if _, found, _ := s.Fanout.Job(ctx, "old"); found {
		t.Error("the expired job is still there")
	}
	if _, _, found, _ := s.Fanout.Shards(ctx, "old", 0, false); found {
		t.Error("the expired job's shard 0 is still there")
	}
	if _, found, _ := s.Fanout.Job(ctx, "new"); !found {
		t.Error("the sweep took a job that had not expired")
	}
}

func fanoutBudget(t *testing.T, s Subject) {
	steps := []struct {
		window         int64
		want, limit, n int
	}{
		{window: 1000, want: 30, limit: 50, n: 30},
		{window: 1000, want: 30, limit: 50, n: 20},
		{window: 1000, want: 5, limit: 50, n: 0},
		{window: 1001, want: 5, limit: 50, n: 5},
		{window: 1000, want: 5, limit: 50, n: 0},        // a clock behind finds its window spent still
		{window: 1001 + 64, want: 50, limit: 50, n: 50}, // the same slot, a later window
		{window: 1002, want: 60, limit: 50, n: 50},
	}
	for _, st := range steps {
		if n, err := s.Budget.TakePushes(ctx, st.window, st.want, st.limit); err != nil || n != st.n {
			t.Errorf("TakePushes(%d, %d, %d) = %d, %v; want %d", st.window, st.want, st.limit, n, err, st.n)
		}
	}
}
