package storetest

import (
	"testing"
	"time"

	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
)

// jobsRunning: the status op's count of jobs in progress is the jobs the
// job op calls running; done and stalled ones are not.
func jobsRunning(t *testing.T, s Subject) {
	jc, ok := s.Fanout.(router.JobCounter)
	if !ok {
		return
	}
	want := func(n int) {
		t.Helper()
		if got, err := jc.JobsRunning(ctx); err != nil || got != n {
			t.Errorf("JobsRunning() = %d, %v; want %d", got, err, n)
		}
	}
	want(0)
	newJob(t, s, "done", proto.KeyRange{})
	newJob(t, s, "runs", proto.KeyRange{})
	of(t).no(s.Fanout.CreateJob(ctx, proto.NewJob{ID: "stalls", Recipients: 5, StallAfter: time.Minute, TTL: time.Hour}, proto.KeyRange{}))
	want(3)
	if ok, err := s.Fanout.Commit(ctx, "done", 0, "", "", proto.Counts{Delivered: 100}, true); !ok || err != nil {
		t.Fatalf("Commit = %v, %v; want ok", ok, err)
	}
	s.AgeJob(t, "stalls", 2*time.Minute)
	want(1)
	for _, id := range []string{"done", "runs", "stalls"} {
		j, _, err := s.Fanout.Job(ctx, id)
		if err != nil || (j.State == proto.JobRunning) != (id == "runs") {
			t.Errorf("Job(%s) = %s, %v; the count disagrees", id, j.State, err)
		}
	}
}
