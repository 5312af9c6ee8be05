package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tencentyun/scf-go-lib/functioncontext"

	"github.com/scfws/scfws/proto"
)

// Fan-out (docs/fanout.md): a send whose recipients will not all be pushed
// before its invoke's deadline pushes what fits and hands the rest to
// asynchronous invocations of this function, its shards, cut from the
// registry's key order. Each reads its recipients a page at a time,
// commits its cursor with each page (an SCF retry resumes after it), and
// hands on what it has no time for, the same way.

// Fanout is what handing a send off needs of the registry: a target's
// recipients a page at a time in key order, and the jobs' state.
type Fanout interface {
	// CountRecipients counts t's live connections with keys in r.
	CountRecipients(ctx context.Context, t proto.Target, r proto.KeyRange) (int, error)
	// RecipientPage returns up to limit of them, in key order.
	RecipientPage(ctx context.Context, t proto.Target, r proto.KeyRange, limit int) ([]string, error)
	// KeyAfter is the n-th key of t's rows in r, live or not; ok is false
	// when r has fewer.
	KeyAfter(ctx context.Context, t proto.Target, r proto.KeyRange, n int) (key string, ok bool, err error)

	// CreateJob stores j with its shard 0, the invoke that begins it.
	CreateJob(ctx context.Context, j proto.NewJob, r proto.KeyRange) error
	// HandOff records shards over rs, children of parent, each handed
	// sent, and ends the parent's range at upTo, at once; first is the
	// first one's number.
	HandOff(ctx context.Context, job string, parent int, upTo string, rs []proto.KeyRange, sent []string) (first int, err error)
	// MarkShards moves shards still handed to state (running, lost).
	MarkShards(ctx context.Context, job string, ns []int, state int) error
	// Shards returns shard n (found is false when its job has expired)
	// and, with unconfirmed, its children never confirmed invoked.
	Shards(ctx context.Context, job string, n int, unconfirmed bool) (self proto.ShardState, children []proto.ShardState, found bool, err error)
	// Commit moves shard n's cursor from from to to, adding c; ok is false
	// when it was not at from (another run got there first) or was done.
	Commit(ctx context.Context, job string, n int, from, to string, c proto.Counts, done bool) (ok bool, err error)
	// JobFrames are the frames stored with job.
	JobFrames(ctx context.Context, job string) ([]proto.Frame, bool, error)
	// Job is job's progress.
	Job(ctx context.Context, job string) (proto.Job, bool, error)
	// SweepJobs deletes some expired jobs.
	SweepJobs(ctx context.Context) (int64, error)
}

// Invoker starts asynchronous invocations of this function: a send's
// shards. Its errors may say Retryable() (too many calls, the network) or
// TooLarge() (the event: never sent again as it is).
type Invoker interface {
	// Ready is "" when the invoke of ctx may start others, else why not
	// (no run role), for the reply.
	Ready(ctx context.Context) string
	// Invoke returns once SCF has queued event.
	Invoke(ctx context.Context, event []byte) error
}

// FanoutOptions tune fan-out.
type FanoutOptions struct {
	// Off says why no send is handed off (FANOUT=off, tables missing);
	// empty when sends may be.
	Off string
	// ShardSize is how many recipients a shard is cut for (default
	// DefaultShardSize).
	ShardSize int
	// PageSize is how many recipients are read, pushed and committed at
	// a time (default 500): the most IDs an invoke holds, and the most
	// pushes an SCF retry of a shard may repeat.
	PageSize int
	// InstanceRate is the pushes per second an instance is assumed to
	// make before it has measured its own (default 5,000).
	InstanceRate int
}

// DefaultShardSize is FANOUT_SHARD_SIZE's default; see docs/fanout.md for
// how it was measured.
const DefaultShardSize = 10_000

// Bounds of fan-out's steps.
const (
	// maxChildren bounds the shards one hand-off starts: SCF's Invoke API
	// takes 100 calls a second per account. A child with more than it can
	// push hands on in turn, so a send's shards grow as a tree.
	maxChildren = 16
	// invokeConcurrency bounds the Invoke calls in flight at once.
	invokeConcurrency = 8
	// handOffCost is the time kept for a hand-off: cutting ranges,
	// recording them and invoking the shards.
	handOffCost = 250 * time.Millisecond
	// handOffGap is kept after a page's pushes (they are cut then) for
	// handing on what a cut left; the pages are sized to end handOffCost
	// before that, a slack for pushes slower than measured: a push cut in
	// flight may have landed, and is pushed again.
	handOffGap = 100 * time.Millisecond
	// jobTTL is how long a job's state is kept; SCF keeps an
	// asynchronous event at most 6 hours.
	jobTTL = 24 * time.Hour
	// maxSent bounds a shard event's Sent: the pushes in flight at once.
	maxSent = 512
	// eventRoom is kept in a shard's event for all but its frame.
	eventRoom = 2 << 10
)

func (o FanoutOptions) shardSize() int    { return positive(o.ShardSize, DefaultShardSize) }
func (o FanoutOptions) pageSize() int     { return positive(o.PageSize, 500) }
func (o FanoutOptions) instanceRate() int { return positive(o.InstanceRate, 5000) }

func positive(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// rates is this process's measured push rate: a moving average of its
// pages' pushes per second.
type rates struct {
	mu     sync.Mutex
	perSec float64
}

// record adds a page's pushes and the time they took; small pages say
// more about latency than rate and are left out.
func (r *rates) record(pushes int, took time.Duration) {
	if pushes < 50 || took <= 0 {
		return
	}
	v := float64(pushes) / took.Seconds()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perSec == 0 {
		r.perSec = v
	} else {
		r.perSec = 0.7*r.perSec + 0.3*v
	}
}

// estimate is the measured rate, def until there is one.
func (r *rates) estimate(def int) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perSec == 0 {
		return float64(def)
	}
	return r.perSec
}

// fanoutOff is why this send cannot be handed off, "" when it can.
func (c *call) fanoutOff() string {
	switch {
	case c.d.Options.Fanout.Off != "":
		return c.d.Options.Fanout.Off
	case c.d.Fanout == nil || c.d.Invoker == nil:
		return "the registry cannot keep fan-out jobs"
	}
	return c.d.Invoker.Ready(c.ctx)
}

// offReply notes in reply why nothing was handed off, when the send could
// not push everyone: pushes were skipped.
func offReply(reply *Reply, why string) {
	if reply.Summary != nil && reply.Skipped > 0 && why != "" {
		reply.Handoff = &proto.Handoff{Off: why}
	}
}

// part is the recipients of one target a send pushes one frame to.
type part struct {
	target proto.Target
	frame  proto.Frame
	except string
	sent   []string       // pushed already, beyond the cursor: no push again
	stored int            // the frame's number with the job; 0 when events carry it
	r      proto.KeyRange // what is left: (cursor, upTo]
	count  int            // its live recipients left, as counted
	page   []string       // a page read ahead, not pushed yet
	done   bool
}

// timeLeft is the time until the invoke's deadline (already less the
// reply's reserve); a day without one.
func (c *call) timeLeft() time.Duration {
	deadline, ok := c.ctx.Deadline()
	if !ok {
		return 24 * time.Hour
	}
	return time.Until(deadline)
}

// stallAfter is how long a job may go without progress before it is
// stalled: SCF tries a shard three times (two retries), a minute apart,
// each up to the function's time limit.
func stallAfter(ctx context.Context) time.Duration {
	limit := 15 * time.Minute
	if fc, ok := functioncontext.FromContext(ctx); ok && fc.TimeLimitInMs > 0 {
		limit = time.Duration(fc.TimeLimitInMs) * time.Millisecond
	} else if deadline, ok := ctx.Deadline(); ok {
		limit = time.Until(deadline)
	}
	return 3*limit + 3*time.Minute
}

// retryable reports whether err says a call may succeed if made again.
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}

// errSuperseded: another run of the shard committed first; this one stops.
var errSuperseded = errors.New("another run of this shard committed first")

// failShard is a shard that could not finish: its invoke fails, so that
// SCF runs it again, resuming after its last committed page.
func failShard(format string, args ...any) error {
	return &failure{code: proto.CodeRegistry, msg: "shard unfinished, for SCF to run again", cause: fmt.Errorf(format, args...), retry: true}
}
