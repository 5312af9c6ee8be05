//go:build !scfws_function

package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scfws/scfws/client"
)

// newProgress shows a job's progress on w: a bar redrawn in place on a
// terminal, else plain lines.
func newProgress(w io.Writer, job string) progressShower {
	if isTerminal(w) {
		return &barProgress{w: w}
	}
	return &lineProgress{w: w, job: job, now: time.Now}
}

// percent is how much of the job's recipients have had their push, 0 to
// 100; a job with none is 100 once done.
func percent(j *client.Job) int {
	if j.Recipients <= 0 {
		if j.State == client.JobDone {
			return 100
		}
		return 0
	}
	return min(100, 100*pushed(j)/j.Recipients)
}

// pushed is how many recipients had their push, whatever came of it.
func pushed(j *client.Job) int { return j.Delivered + j.Pruned + j.Failed }

// barWidth is the bar's width in cells.
const barWidth = 30

// barProgress redraws one line on a terminal.
type barProgress struct {
	w     io.Writer
	drawn bool
}

func (b *barProgress) show(j *client.Job, elapsed time.Duration) {
	fmt.Fprint(b.w, renderBar(j, elapsed, barWidth))
	b.drawn = true
}

func (b *barProgress) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// renderBar is the bar's line: back to the line's start, the bar, the
// counts, and the rest of the line cleared.
func renderBar(j *client.Job, elapsed time.Duration, width int) string {
	p := percent(j)
	fill := width * p / 100
	return fmt.Sprintf("\r[%s%s] %3d%%  %d/%d  shards %d/%d  %s\x1b[K",
		strings.Repeat("#", fill), strings.Repeat("-", width-fill), p, pushed(j), j.Recipients,
		j.Shards.Done, j.Shards.Total, elapsed.Round(100*time.Millisecond))
}

// lineEvery is how long lineProgress lets pass before it prints a change
// that crossed no tenth of the job.
const lineEvery = 5 * time.Second

// lineProgress prints a line when the job changed: its state, a tenth of
// it more done, or anything after lineEvery; never for a poll that
// changed nothing.
type lineProgress struct {
	w      io.Writer
	job    string
	now    func() time.Time
	last   *client.Job
	lastAt time.Time
}

func (l *lineProgress) show(j *client.Job, elapsed time.Duration) {
	if !l.due(j) {
		return
	}
	fmt.Fprintln(l.w, renderLine(j, elapsed))
	c := *j
	l.last, l.lastAt = &c, l.now()
}

// due reports whether j is worth a line after the last one printed.
func (l *lineProgress) due(j *client.Job) bool {
	switch p := l.last; {
	case p == nil || p.State != j.State:
		return true
	case pushed(p) == pushed(j) && p.Shards == j.Shards:
		return false
	case percent(p)/10 != percent(j)/10:
		return true
	}
	return l.now().Sub(l.lastAt) >= lineEvery
}

func (l *lineProgress) done() {}

// renderLine is one plain progress line.
func renderLine(j *client.Job, elapsed time.Duration) string {
	return fmt.Sprintf("job %s %s: %d%% (%d of %d: %d delivered, %d pruned, %d failed), shards %d/%d, %s",
		j.Job, j.State, percent(j), pushed(j), j.Recipients, j.Delivered, j.Pruned, j.Failed,
		j.Shards.Done, j.Shards.Total, elapsed.Round(100*time.Millisecond))
}
