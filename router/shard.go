package router

import (
	"github.com/scfws/scfws/proto"
)

// shard runs one shard of a handed-off send: it invokes again the
// children its last run may not have, resumes after its last committed
// page, and pushes its range, handing on what it cannot push in time.
// When it cannot finish, its error fails the invoke, so that SCF runs it
// again (the one invoke the function fails on purpose).
func (c *call) shard(cmd *proto.Command) (Reply, error) {
	sh := cmd.Shard
	if err := checkShard(cmd); err != nil {
		return Reply{}, err
	}
	if c.d.Fanout == nil {
		return Reply{}, fail(proto.CodeBadArgument, nil, "shard of job %s: this registry keeps no jobs", clip(cmd.Job))
	}
	self, children, found, err := c.d.Fanout.Shards(c.ctx, cmd.Job, sh.N, true)
	if err != nil {
		return Reply{}, failShard("registry: %w", err)
	}
	if !found {
		// Its job expired: SCF kept the event too long, or it was sent twice.
		return Reply{Summary: &proto.Summary{}, ErrMsg: "no such job: it has expired"}, nil
	}
	f := &fanRun{c: c, job: cmd.Job, n: sh.N, lanes: sh.Lanes}
	p := &part{target: sh.Target, except: sh.Except, sent: sh.Sent, stored: sh.Stored, r: self.Range}
	if err := c.shardFrame(cmd, p); err != nil {
		return Reply{}, err
	}
	f.parts = []*part{p}
	if len(children) > 0 {
		f.restart(p, children)
	}
	reply := Reply{Summary: &f.sum}
	if self.State >= proto.ShardDone {
		reply.ErrMsg = "done already"
		return f.shardReply(reply, nil)
	}
	if err := f.count(); err != nil {
		return Reply{}, failShard("registry: %w", err)
	}
	f.sum.Recipients = f.total
	return f.shardReply(reply, f.run())
}

// shardReply is a shard's reply and the error that fails its invoke.
func (f *fanRun) shardReply(reply Reply, err error) (Reply, error) {
	reply.Handoff = f.shardHandoff()
	f.c.handoff = reply.Handoff
	if err == nil {
		err = f.fail
	}
	return reply, err
}

// handoff of a shard names its job only when it handed some on.
func (f *fanRun) shardHandoff() *proto.Handoff {
	if f.hand.Shards == 0 {
		return nil
	}
	return f.handoff()
}

// restart invokes again the children the shard's last run recorded but
// may not have invoked: it died between the two. One that did start runs
// twice; its second run stops at its first commit. Each gets the Sent it
// was handed (a cut's), kept with its row.
func (f *fanRun) restart(p *part, children []proto.ShardState) {
	shards := make([]proto.Shard, len(children))
	for i, ch := range children {
		shards[i] = proto.Shard{N: ch.N, Target: p.target, KeyRange: ch.Range, Except: p.except, Sent: ch.Sent,
			Lanes: share(f.lanes, len(children), i)}
		if p.stored > 0 {
			shards[i].Stored = p.stored
		} else {
			shards[i].Frame = &p.frame
		}
	}
	f.start(shards, 0)
}

// shardFrame gives p its frame: the event's, or the one stored with the
// job.
func (c *call) shardFrame(cmd *proto.Command, p *part) error {
	if cmd.Shard.Frame != nil {
		p.frame = *cmd.Shard.Frame
		return nil
	}
	frames, found, err := c.d.Fanout.JobFrames(c.ctx, cmd.Job)
	switch {
	case err != nil:
		return failShard("registry: %w", err)
	case !found || p.stored > len(frames):
		return fail(proto.CodeBadArgument, nil, "shard %d of job %s: its job has no frame %d", cmd.Shard.N, clip(cmd.Job), p.stored)
	}
	p.frame = frames[p.stored-1]
	return nil
}

// checkShard refuses a shard event the function could not have made.
func checkShard(cmd *proto.Command) error {
	sh := cmd.Shard
	switch {
	case sh == nil:
		return fail(proto.CodeBadArgument, nil, "missing shard")
	case cmd.Job == "" || len(cmd.Job) > 32:
		return fail(proto.CodeBadArgument, nil, "shard: job must be 1-32 bytes")
	case sh.N < 1:
		return fail(proto.CodeBadArgument, nil, "shard: n must be 1 or more")
	case (sh.Frame == nil) == (sh.Stored == 0) || sh.Stored < 0:
		return fail(proto.CodeBadArgument, nil, "shard: give a frame, or the number of one stored with the job")
	case len(sh.After) > maxIDBytes || len(sh.UpTo) > maxIDBytes || len(sh.Except) > maxIDBytes:
		return fail(proto.CodeBadArgument, nil, "shard: keys of at most %d bytes", maxIDBytes)
	case len(sh.Sent) > maxSent:
		return fail(proto.CodeBadArgument, nil, "shard: at most %d sent", maxSent)
	}
	switch sh.Kind {
	case proto.TargetPlain, proto.TargetV1:
	case proto.TargetGroup:
		return argName("group", sh.Group)
	case proto.TargetUser:
		return argName("userId", sh.UserID)
	default:
		return fail(proto.CodeBadArgument, nil, "shard: unknown kind %q", clip(sh.Kind))
	}
	return nil
}

// job answers a handed-off send's progress.
func (c *call) job(cmd *proto.Command) (Reply, error) {
	if cmd.Job == "" || len(cmd.Job) > 32 {
		return Reply{}, fail(proto.CodeBadArgument, nil, "job must be 1-32 bytes")
	}
	if c.d.Fanout == nil {
		return Reply{}, fail(proto.CodeBadArgument, nil, "no such job: this registry keeps none")
	}
	j, found, err := c.d.Fanout.Job(c.ctx, cmd.Job)
	switch {
	case err != nil:
		return Reply{}, errRegistry(err)
	case !found:
		return Reply{}, fail(proto.CodeBadArgument, nil, "no such job: it never was, or it expired (jobs are kept a day)")
	}
	return Reply{Job: &j}, nil
}
