package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/scfws/scfws/proto"
)

// fanRun pushes a send's parts page by page, handing off what it will not
// push before its deadline: the invoke that began the send (shard 0), or
// one of its shards.
type fanRun struct {
	c        *call
	job      string // "" until a hand-off makes one (shard 0 only)
	n        int    // the shard's number; 0 for the invoke that began the send
	lanes    int    // shards that may push at once (PUSH_RATE); 0: no bound
	parts    []*part
	total    int           // the recipients, as first counted
	sum      proto.Summary // this run's pushes
	counts   proto.Counts  // pushed since the last commit
	hand     proto.Handoff
	lost     []error // shard 0: invokes that failed for good
	fail     error   // a shard: what makes its invoke fail, so SCF runs it again
	stopped  bool    // another run of the shard committed first
	finished bool    // a shard: its commit marked it done
	ran      runRate // this run's pushes per second
}

// runRate is one run's pushes and the time they took: under a shared
// PUSH_RATE, what its share turned out to be.
type runRate struct {
	n    int
	took time.Duration
}

func (r *runRate) add(n int, took time.Duration) { r.n, r.took = r.n+n, r.took+took }

// perSec is the run's rate, 0 until it has pushed enough to tell.
func (r runRate) perSec() float64 {
	if r.n < 20 || r.took <= 0 {
		return 0
	}
	return float64(r.n) / r.took.Seconds()
}

// fan pushes a send's parts from the invoke that began it, handing off
// what does not fit before its deadline.
func (c *call) fan(parts []*part) (proto.Summary, *proto.Handoff, error) {
	f := &fanRun{c: c, parts: parts, lanes: c.lanes()}
	if err := f.count(); err != nil {
		return proto.Summary{}, nil, errRegistry(err)
	}
	f.sum.Recipients = f.total
	err := f.run()
	if f.job != "" {
		// Shard 0 is never run again: its counts go in once, at the end.
		ctx, cancel := f.records()
		_, cerr := c.d.Fanout.Commit(ctx, f.job, 0, "", "", f.counts, true)
		cancel()
		if cerr != nil {
			c.errs = append(c.errs, fmt.Errorf("job %s: record the first invoke's pushes: %w", f.job, cerr))
		}
	}
	if len(f.lost) > 0 {
		c.errs = append(c.errs, fmt.Errorf("job %s: %d shards could not be invoked, their recipients got nothing; first: %w",
			f.job, len(f.lost), f.lost[0]))
	}
	h := f.handoff()
	c.handoff = h
	return f.sum, h, err
}

// handoff is the reply's account of the hand-offs, nil when there was none.
func (f *fanRun) handoff() *proto.Handoff {
	if f.job == "" {
		return nil
	}
	h := f.hand
	h.Job = f.job
	return &h
}

// lanes is how many shards of a send may push at once: unbounded without
// PUSH_RATE, else about as many as it takes to spend it.
func (c *call) lanes() int {
	pr := c.d.Options.PushRate
	if pr <= 0 {
		return 0
	}
	return max(1, int(float64(pr)/c.r.rates.estimate(c.d.Options.Fanout.instanceRate())+0.5))
}

// count counts each part's recipients, reading its first page ahead: a
// send of one page needs nothing more.
func (f *fanRun) count() error {
	size := f.c.d.Options.Fanout.pageSize()
	for _, p := range f.parts {
		page, err := f.c.d.Fanout.RecipientPage(f.c.ctx, p.target, p.r, size)
		if err != nil {
			return err
		}
		p.page = page
		p.count = len(page)
		if p.except != "" && slices.Contains(page, p.except) {
			p.count--
		}
		if len(page) == size {
			rest, err := f.c.d.Fanout.CountRecipients(f.c.ctx, p.target, proto.KeyRange{After: page[len(page)-1], UpTo: p.r.UpTo})
			if err != nil {
				return err
			}
			p.count += rest
		}
		f.total += p.count
	}
	return nil
}

// run hands off what will not fit, then pushes the rest page by page,
// checking again after each page. A shard's last commit marks it done.
func (f *fanRun) run() error {
	for _, p := range f.parts {
		for !p.done && !f.stopped {
			if f.c.ctx.Err() != nil {
				return f.outOfTime()
			}
			if err := f.recheck(); err != nil {
				return err
			}
			if p.done {
				break
			}
			if err := f.step(p); err != nil {
				return err
			}
		}
	}
	if f.n > 0 && !f.stopped && !f.finished {
		return f.commit(f.parts[0], f.parts[0].r.After, true)
	}
	return nil
}

// outOfTime ends a run at its deadline with recipients left that could
// not be handed off: shard 0 reports them skipped; a shard fails, and
// SCF's retry goes on from its last commit.
func (f *fanRun) outOfTime() error {
	if f.n > 0 {
		return failShard("out of time with about %d recipients left", f.left())
	}
	f.sum.Skipped += f.left()
	for _, p := range f.parts {
		p.done = true
	}
	return nil
}

// left is how many recipients this run still has.
func (f *fanRun) left() int {
	n := 0
	for _, p := range f.parts {
		if !p.done {
			n += p.count
		}
	}
	return n
}

// fit is how many pushes this run can still make before its deadline,
// keeping time for a hand-off and the last pushes' answers: at the rate
// this process has measured, at most PUSH_RATE.
func (f *fanRun) fit() int {
	left := f.c.timeLeft()
	t := left - handOffCost - handOffGap - min(250*time.Millisecond, left/10)
	rate := f.c.r.rates.estimate(f.c.d.Options.Fanout.instanceRate())
	if pr := f.c.d.Options.PushRate; pr > 0 {
		// Shared with the shards this run started, at least.
		rate = min(rate, float64(pr)/float64(1+f.hand.Shards))
	}
	if own := f.ran.perSec(); own > 0 {
		rate = min(rate, own)
	}
	return int(rate * t.Seconds())
}

// recheck hands off what is left beyond what still fits.
func (f *fanRun) recheck() error {
	fit := f.fit()
	if f.left() <= fit {
		return nil
	}
	keep := max(fit, 0)
	for _, p := range f.parts {
		if p.done {
			continue
		}
		if keep >= p.count {
			keep -= p.count
			continue
		}
		if err := f.handOffPart(p, keep, false); err != nil {
			return err
		}
		keep = 0
	}
	return nil
}

// handOffPart keeps p's next keep recipients and hands off the rest, as
// counted, or with force whatever rows are left. A shard keeps one at
// least when its range starts at the first key: its range must never end
// at "", which means the last key.
func (f *fanRun) handOffPart(p *part, keep int, force bool) error {
	if f.n > 0 && p.r.After == "" {
		keep = max(keep, 1)
	}
	if keep >= p.count && !force {
		return nil
	}
	rest := p.r
	handed := p.count - keep
	switch {
	case keep == 0:
		p.done, p.page = true, nil
	case keep < len(p.page):
		rest.After, p.page = p.page[keep-1], p.page[:keep]
	default:
		cut, ok, err := f.cutAfterPage(p, keep)
		if err != nil {
			return f.registryErr(err)
		}
		if !ok {
			return nil // fewer rows than keep: it all fits
		}
		rest.After = cut
	}
	p.r.UpTo, p.count = rest.After, keep
	return f.handOff(p, rest, max(handed, 1))
}

// cutAfterPage is the key after p's next keep recipients, keep at least
// the page read ahead: counted from the page's last key, since a cut
// counts dead rows too and could fall inside the page, whose pushes the
// next shard would then make again.
func (f *fanRun) cutAfterPage(p *part, keep int) (string, bool, error) {
	from := p.r
	if len(p.page) > 0 {
		from.After, keep = p.page[len(p.page)-1], keep-len(p.page)
		if keep == 0 {
			return from.After, true, nil
		}
	}
	return f.c.d.Fanout.KeyAfter(f.c.ctx, p.target, from, keep)
}

// handOff hands the range rest of p, about n recipients, to new shards.
func (f *fanRun) handOff(p *part, rest proto.KeyRange, n int) error {
	if why := f.c.fanoutOff(); why != "" && f.n > 0 {
		return failShard("cannot hand on: %s", why)
	}
	if err := f.ensureJob(); err != nil {
		return err
	}
	rs, err := f.split(p.target, rest, n)
	if err != nil {
		return f.registryErr(err)
	}
	sent := p.sent[:min(len(p.sent), maxSent)] // a shard refuses more
	first, err := f.c.d.Fanout.HandOff(f.ctx(), f.job, f.n, p.r.UpTo, rs, sent)
	if err != nil {
		return f.registryErr(err)
	}
	shards := make([]proto.Shard, len(rs))
	for i, r := range rs {
		shards[i] = proto.Shard{N: first + i, Target: p.target, KeyRange: r, Except: p.except, Sent: sent,
			Lanes: share(f.lanes, len(rs), i)}
		if p.stored > 0 {
			shards[i].Stored = p.stored
		} else {
			shards[i].Frame = &p.frame
		}
	}
	f.start(shards, n)
	return nil
}

// share is child i's part of lanes shared by k children, at least 1; 0
// (no bound) stays 0.
func share(lanes, k, i int) int {
	if lanes <= 0 {
		return 0
	}
	n := lanes / k
	if i < lanes%k {
		n++
	}
	return max(n, 1)
}

// split cuts r, about n recipients of t, into at most maxChildren ranges
// of about ShardSize, fewer within lanes, and fewer when the deadline is
// near: the last takes the rest, and hands on what it cannot push.
func (f *fanRun) split(t proto.Target, r proto.KeyRange, n int) ([]proto.KeyRange, error) {
	size := f.c.d.Options.Fanout.shardSize()
	k := min((n+size-1)/size, maxChildren)
	if f.lanes > 0 {
		k = min(k, f.lanes)
	}
	k = max(k, 1)
	step := (n + k - 1) / k
	var out []proto.KeyRange
	for len(out) < k-1 && f.c.timeLeft() > handOffCost {
		key, ok, err := f.c.d.Fanout.KeyAfter(f.ctx(), t, r, step)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		out = append(out, proto.KeyRange{After: r.After, UpTo: key})
		r.After = key
	}
	return append(out, r), nil
}

// ensureJob makes the job at the first hand-off, storing the frames too
// large for a shard's event.
func (f *fanRun) ensureJob() error {
	if f.job != "" {
		return nil
	}
	j := proto.NewJob{ID: newMessageID(time.Now()), Recipients: f.total, StallAfter: stallAfter(f.c.ctx), TTL: jobTTL}
	for _, p := range f.parts {
		if b, _ := json.Marshal(p.frame); len(b)+eventRoom > proto.MaxShardEventBytes {
			j.Frames = append(j.Frames, p.frame)
			p.stored = len(j.Frames)
		}
	}
	if err := f.c.d.Fanout.CreateJob(f.c.ctx, j, proto.KeyRange{}); err != nil {
		return f.registryErr(err)
	}
	f.job = j.ID
	return nil
}

// start invokes the shards and records which started. A shard whose
// invoke failed stays handed: when a shard is the parent, its invoke fails
// and SCF's retry invokes them again; the invoke that began the send is
// never retried, so they are lost.
func (f *fanRun) start(shards []proto.Shard, n int) {
	errs := f.invokeAll(f.job, shards)
	var ok, failed []int
	var first error
	for i, err := range errs {
		if err == nil {
			ok = append(ok, shards[i].N)
			continue
		}
		failed = append(failed, shards[i].N)
		first = cmpOr(first, err)
	}
	ctx, cancel := f.records()
	defer cancel()
	if err := f.c.d.Fanout.MarkShards(ctx, f.job, ok, proto.ShardRunning); err != nil {
		f.c.errs = append(f.c.errs, fmt.Errorf("job %s: mark shards started: %w", f.job, err))
	}
	f.hand.Shards += len(ok)
	f.hand.Recipients += n * len(ok) / len(shards)
	if first == nil {
		return
	}
	if f.n > 0 {
		f.fail = failShard("invoke %d of %d shards: %w", len(failed), len(shards), first)
		return
	}
	if err := f.c.d.Fanout.MarkShards(ctx, f.job, failed, proto.ShardLost); err != nil {
		f.c.errs = append(f.c.errs, fmt.Errorf("job %s: mark shards lost: %w", f.job, err))
	}
	f.lost = append(f.lost, first)
	if f.hand.Shards == 0 {
		f.hand.Off = "the shards could not be invoked: " + clipN(first.Error(), 300)
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// invokeAll invokes the shards of job, a few at a time.
func (f *fanRun) invokeAll(job string, shards []proto.Shard) []error {
	errs := make([]error, len(shards))
	sem := make(chan struct{}, invokeConcurrency)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ev, err := shardEvent(job, shards[i])
			if err == nil {
				err = f.invoke(ev)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errs
}

// shardEvent is a shard's event: a backend command. Its Sent goes when the
// event would be too large with it, and past maxSent (the shard refuses
// more): those pushes may then repeat.
func shardEvent(job string, sh proto.Shard) ([]byte, error) {
	if len(sh.Sent) > maxSent {
		sh.Sent = sh.Sent[:maxSent]
	}
	b, err := json.Marshal(struct {
		Scfws proto.Command `json:"scfws"`
	}{proto.Command{Op: proto.OpShard, Job: job, Shard: &sh}})
	if err == nil && len(b) > proto.MaxShardEventBytes && len(sh.Sent) > 0 {
		sh.Sent = nil
		return shardEvent(job, sh)
	}
	if err == nil && len(b) > proto.MaxShardEventBytes {
		err = fmt.Errorf("shard %d's event of %d bytes: over %d", sh.N, len(b), proto.MaxShardEventBytes)
	}
	return b, err
}

// invoke makes one Invoke call, again after a short jittered pause while
// it is refused for a passing reason (too many calls) and time allows.
func (f *fanRun) invoke(event []byte) error {
	for try := 0; ; try++ {
		err := f.c.d.Invoker.Invoke(f.ctx(), event)
		if err == nil || !retryable(err) || try == 2 {
			return err
		}
		wait := time.Duration(50<<try)*time.Millisecond + rand.N(50*time.Millisecond)
		if deadline, ok := f.ctx().Deadline(); ok && time.Until(deadline) < wait+100*time.Millisecond {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-f.ctx().Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// ctx is what a hand-off runs in: the reply's deadline for the invoke
// that began the send, the invoke's own for a shard, whose reply nobody
// waits for.
func (f *fanRun) ctx() context.Context {
	if f.n > 0 {
		return f.c.whole
	}
	return f.c.ctx
}

// records is what a run records its shards and counts in, past its
// pushes' deadline: a shard's, whose reply nobody waits for, until the
// invoke's own; the invoke that began the send's until half its reply's
// reserve, so that a hung registry still lets the reply out in time.
func (f *fanRun) records() (context.Context, context.CancelFunc) {
	end, ok := f.c.ctx.Deadline()
	hard, hok := f.c.whole.Deadline()
	if f.n > 0 || !ok || !hok {
		return f.c.whole, func() {}
	}
	return context.WithDeadline(f.c.whole, end.Add(hard.Sub(end)/2))
}

// registryErr is a registry failure: the reply's, or a shard's that SCF
// runs again.
func (f *fanRun) registryErr(err error) error {
	if f.n > 0 {
		return failShard("registry: %w", err)
	}
	return errRegistry(err)
}

// step pushes p's next page and commits it. A page is no larger than what
// fits before the deadline, so that the deadline seldom cuts one short.
func (f *fanRun) step(p *part) error {
	size := min(f.c.d.Options.Fanout.pageSize(), max(f.fit(), 1))
	ids := p.page
	p.page = nil
	if len(ids) > size {
		ids = ids[:size] // the rest is read again
	}
	if ids == nil {
		var err error
		if ids, err = f.c.d.Fanout.RecipientPage(f.c.ctx, p.target, p.r, size); err != nil {
			return f.registryErr(err)
		}
	}
	if len(ids) == 0 {
		p.done = true
		return f.commit(p, p.r.After, true)
	}
	pushed, sent := f.pushPage(p, ids)
	to := p.r.After
	if pushed > 0 {
		to = ids[pushed-1]
	}
	p.count = max(p.count-pushed, 0)
	done := len(ids) < size && pushed == len(ids)
	if err := f.commit(p, to, done); err != nil {
		return err
	}
	p.r.After, p.done = to, done
	if pushed < len(ids) && !f.stopped && !p.done {
		// The deadline cut the page short: what is left goes on now,
		// but for what it pushed after the first it could not, and what
		// this run's parent pushed there.
		p.sent = stillSent(p.sent, sent, to)
		return f.handOffPart(p, 0, true)
	}
	return nil
}

// pushPage pushes p's frame to ids but its except and those sent
// already, and returns how many of ids, in order, got theirs (or had no
// need): a deadline may cut a page short. sent are the pushes made after
// the first one the deadline kept from its connection.
func (f *fanRun) pushPage(p *part, ids []string) (pushed int, sent []string) {
	targets, at := ids, []int(nil)
	if p.except != "" || len(p.sent) > 0 {
		targets = nil
		for i, id := range ids {
			if id != p.except && !slices.Contains(p.sent, id) {
				targets, at = append(targets, id), append(at, i)
			}
		}
	}
	start := time.Now()
	ctx, cancel := f.pushCtx()
	errs := f.c.d.Pusher.Broadcast(ctx, targets, p.frame.DataType, p.frame.Data)
	cancel()
	k := firstSkipped(errs)
	done, doneErrs := targets[:k], errs[:k]
	for i := k + 1; i < len(errs); i++ {
		if !redo(errs[i]) {
			sent = append(sent, targets[i])
		}
	}
	if len(sent) > 0 { // the pushes after k that were made count too
		done, doneErrs = slices.Clone(done), slices.Clone(doneErrs)
		for i := k + 1; i < len(errs); i++ {
			if !redo(errs[i]) {
				done, doneErrs = append(done, targets[i]), append(doneErrs, errs[i])
			}
		}
	}
	f.c.r.rates.record(len(done), time.Since(start))
	f.ran.add(len(done), time.Since(start))
	var s proto.Summary
	f.c.prune(&s, f.c.tally(&s, done, doneErrs))
	f.sum.Delivered += s.Delivered
	f.sum.Pruned += s.Pruned
	f.sum.Failed += s.Failed
	f.counts.Delivered += s.Delivered
	f.counts.Pruned += s.Pruned
	f.counts.Failed += s.Failed
	switch {
	case k == len(targets):
		return len(ids), nil
	case at != nil:
		return at[k], sent
	}
	return k, sent
}

// stillSent is what a range after cursor needs to skip: the pushes made
// there before (old) and now.
func stillSent(old, now []string, cursor string) []string {
	out := now
	for _, id := range old {
		if id > cursor && !slices.Contains(now, id) {
			out = append(out, id)
		}
	}
	return out
}

// pushCtx is what a page's pushes run in: the deadline less handOffGap,
// so that the pushes a cut leaves can still be handed on in time; under a
// deadline too short to keep it, the deadline (a small send).
func (f *fanRun) pushCtx() (context.Context, context.CancelFunc) {
	deadline, ok := f.c.ctx.Deadline()
	if !ok || time.Until(deadline) < 2*handOffCost {
		return f.c.ctx, func() {}
	}
	return context.WithDeadline(f.c.ctx, deadline.Add(-handOffGap))
}

// firstSkipped is the index of the first push the deadline kept from its
// connection, len(errs) when none was. It is pushed again, by this run or
// the next.
func firstSkipped(errs []error) int {
	for i, err := range errs {
		if redo(err) {
			return i
		}
	}
	return len(errs)
}

// redo reports whether a push is made again: the deadline kept it from
// its connection (not attempted, or cut off before its request was written
// out), or cut it in flight, unanswered. Such a one may have landed: its
// second push is one of the repeats docs/fanout.md bounds, with the same
// message id. A push that timed out on its own is not made again.
func redo(err error) bool {
	var sk interface{ Skipped() bool }
	var cut interface{ Cut() bool }
	var un interface{ Unsent() bool }
	switch {
	case err == nil:
		return false
	case errors.As(err, &sk) && sk.Skipped(), errors.As(err, &cut) && cut.Cut():
		return true
	}
	return errors.As(err, &un) && un.Unsent() && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled))
}

// commit records a shard's page: its cursor moves to to. Shard 0 records
// its counts once, at the end.
func (f *fanRun) commit(p *part, to string, done bool) error {
	if f.n == 0 {
		return nil
	}
	ok, err := f.c.d.Fanout.Commit(f.c.whole, f.job, f.n, p.r.After, to, f.counts, done)
	if err != nil {
		return f.registryErr(err)
	}
	if !ok {
		f.stopped = true
		f.c.errs = append(f.c.errs, errSuperseded)
		return nil
	}
	f.counts, f.finished = proto.Counts{}, done
	return nil
}
