//go:build !scfws_function

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/scfws/scfws/client"
)

// publish -wait follows a handed-off send's job (the job op) to its end:
// progress on stderr (a bar on a terminal, else a line now and then), the
// final counts on stdout.

// pollEvery is how often the job is asked: first after First, then twice
// as long each time up to Most. A var so tests can ask faster.
var pollEvery = struct{ First, Most time.Duration }{250 * time.Millisecond, 2 * time.Second}

// maxPollFailures is how many polls in a row may get no reply (a network
// blip) before -wait gives up.
const maxPollFailures = 5

// waitHandoff is the part of a send's reply -wait reads.
type waitHandoff struct {
	Handoff *client.Handoff `json:"handoff"`
}

// jobOf is the job a send's reply handed off, "" when none.
func jobOf(raw []byte) string {
	var r waitHandoff
	if json.Unmarshal(raw, &r) != nil || r.Handoff == nil {
		return ""
	}
	return r.Handoff.Job
}

// follower asks a job's state until it ends, and shows its progress.
type follower struct {
	c        *client.Client
	job      string
	progress progressShower
	started  time.Time // when publish began to follow
}

// progressShower shows one state of a job as it is followed; done once
// at the end.
type progressShower interface {
	show(j *client.Job, elapsed time.Duration)
	done()
}

// follow polls the job until it is done or stalled, ctx ends, or limit
// passes, and returns its last state.
func (w *follower) follow(ctx context.Context, limit, callTimeout time.Duration) (*client.Job, error) {
	defer w.progress.done()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	every, failures := pollEvery.First, 0
	for {
		j, err := w.poll(ctx, callTimeout)
		switch {
		case err == nil:
			failures = 0
			w.progress.show(j, time.Since(w.started))
			if j.State != client.JobRunning {
				return j, nil
			}
		case ctx.Err() != nil:
			return nil, w.stopped(ctx)
		case !isTransient(err) || failures+1 >= maxPollFailures:
			return nil, fmt.Errorf("follow job %s: %w", w.job, err)
		default:
			failures++
		}
		if err := w.sleep(ctx, deadline.C, every, limit); err != nil {
			return j, err
		}
		every = min(every*2, pollEvery.Most)
	}
}

// poll asks the job's state once, within callTimeout.
func (w *follower) poll(ctx context.Context, callTimeout time.Duration) (*client.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return w.c.Job(ctx, w.job)
}

// sleep waits d, or says why -wait stops: Ctrl-C or the wait's limit.
func (w *follower) sleep(ctx context.Context, deadline <-chan time.Time, d, limit time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-deadline:
		return exitError{code: 1, msg: fmt.Sprintf("job %s still runs after -wait-timeout %s; stopped following it (the job goes on)", w.job, limit)}
	case <-ctx.Done():
		return w.stopped(ctx)
	}
}

// stopped says that ctx (Ctrl-C) ended the wait, not the job.
func (w *follower) stopped(ctx context.Context) error {
	return exitError{code: 1, msg: fmt.Sprintf("stopped following job %s: %v (the job goes on)", w.job, context.Cause(ctx))}
}

// isTransient: no reply came (the network, a timeout), as opposed to the
// function's refusal or a reply publish cannot read.
func isTransient(err error) bool {
	var te *client.TransportError
	return errors.As(err, &te) && !errors.Is(err, context.Canceled)
}

// waitJob follows job and prints its end: the counts, or with -json the
// job as JSON. It fails when the job stalled or lost shards.
func waitJob(ctx context.Context, c *client.Client, job string, f publishFlags, stdout, stderr io.Writer) error {
	w := &follower{c: c, job: job, progress: newProgress(stderr, job), started: time.Now()}
	j, err := w.follow(ctx, f.waitTimeout, f.timeout)
	if err != nil {
		return err
	}
	if f.json {
		b, err := json.MarshalIndent(j, "", "  ")
		if err != nil {
			return fmt.Errorf("encode the job: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		if err != nil {
			return err
		}
	} else if _, err := fmt.Fprintln(stdout, jobSummary(j)); err != nil {
		return err
	}
	return jobVerdict(j)
}

// jobVerdict is the exit status of a job followed to its end: 0 when it
// is done, whatever its failed pushes (as a send's); 1 when a shard was
// lost or the job stalled (some recipients got nothing and never will).
func jobVerdict(j *client.Job) error {
	switch {
	case j.State == client.JobStalled:
		return exitError{code: 1, msg: fmt.Sprintf("job %s stalled: a shard made no progress for too long (lost with its instance)", j.Job)}
	case j.Shards.Lost > 0:
		return exitError{code: 1, msg: fmt.Sprintf("job %s lost %d of %d shards: their recipients got nothing", j.Job, j.Shards.Lost, j.Shards.Total)}
	}
	return nil
}

// jobSummary is a job's final counts on one line.
func jobSummary(j *client.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s %s: %d recipients, %d delivered, %d pruned, %d failed; shards %d/%d",
		j.Job, j.State, j.Recipients, j.Delivered, j.Pruned, j.Failed, j.Shards.Done, j.Shards.Total)
	if j.Shards.Lost > 0 {
		fmt.Fprintf(&b, " (%d lost)", j.Shards.Lost)
	}
	fmt.Fprintf(&b, "; started %s", j.Started.UTC().Format(jobTime))
	if j.Finished != nil {
		fmt.Fprintf(&b, ", finished %s, took %s", j.Finished.UTC().Format(jobTime), j.Finished.Sub(j.Started).Round(time.Millisecond))
	}
	return b.String()
}

// jobTime is how a job's times are printed.
const jobTime = "2006-01-02T15:04:05.000Z"

// isTerminal reports whether w is a terminal (a character device), where
// a progress bar can redraw itself.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
