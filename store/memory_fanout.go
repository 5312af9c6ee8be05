package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/scfws/scfws/proto"
)

// memJob is a fan-out job in memory.
type memJob struct {
	j       proto.NewJob
	started time.Time
	expires time.Time
	shards  []*memShard // by number
}

type memShard struct {
	st      proto.ShardState
	updated time.Time
}

// keys returns t's keys in r, sorted: the live ones, or every row.
func (m *Memory) keys(t proto.Target, r proto.KeyRange, live bool) ([]string, error) {
	var ids []string
	add := func(id string, seen time.Time) {
		if (!live || m.alive(seen)) && id > r.After && (r.UpTo == "" || id <= r.UpTo) {
			ids = append(ids, id)
		}
	}
	switch t.Kind {
	case proto.TargetPlain:
		for id, seen := range m.plain {
			add(id, seen)
		}
	case proto.TargetV1:
		for id, mc := range m.v1 {
			add(id, mc.seen)
		}
	case proto.TargetGroup, proto.TargetUser:
		set := m.groups[t.Group]
		if t.Kind == proto.TargetUser {
			set = m.users[t.UserID]
		}
		for id := range set {
			if mc := m.v1[id]; mc != nil {
				add(id, mc.seen)
			}
		}
	default:
		return nil, fmt.Errorf("target kind %q", t.Kind)
	}
	sort.Strings(ids)
	return ids, nil
}

// CountRecipients counts t's live connections with keys in r.
func (m *Memory) CountRecipients(_ context.Context, t proto.Target, r proto.KeyRange) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, err := m.keys(t, r, true)
	return len(ids), err
}

// RecipientPage returns up to limit of t's live connections with keys in
// r, in key order.
func (m *Memory) RecipientPage(_ context.Context, t proto.Target, r proto.KeyRange, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, err := m.keys(t, r, true)
	return slices.Clone(ids[:min(len(ids), limit)]), err
}

// KeyAfter returns the n-th key of t's rows in r, live or not; ok is
// false when r has fewer.
func (m *Memory) KeyAfter(_ context.Context, t proto.Target, r proto.KeyRange, n int) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, err := m.keys(t, r, false)
	if err != nil || n < 1 || n > len(ids) {
		return "", false, err
	}
	return ids[n-1], true, nil
}

// CreateJob stores j and its shard 0 over r.
func (m *Memory) CreateJob(_ context.Context, j proto.NewJob, r proto.KeyRange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.jobs[j.ID]; dup {
		return fmt.Errorf("store job: %s exists", j.ID)
	}
	now := m.now()
	j.Frames = slices.Clone(j.Frames)
	m.jobs[j.ID] = &memJob{j: j, started: now, expires: now.Add(j.TTL),
		shards: []*memShard{{st: proto.ShardState{State: proto.ShardRunning, Range: r}, updated: now}}}
	return nil
}

// shard returns shard n of job, nil when there is none.
func (m *Memory) shard(job string, n int) *memShard {
	mj := m.jobs[job]
	if mj == nil || n < 0 || n >= len(mj.shards) {
		return nil
	}
	return mj.shards[n]
}

// HandOff records new shards of job over rs, children of parent, each
// handed sent, and ends
// parent's range at upTo.
func (m *Memory) HandOff(_ context.Context, job string, parent int, upTo string, rs []proto.KeyRange, sent []string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.shard(job, parent)
	if p == nil || p.st.State >= proto.ShardDone {
		return 0, fmt.Errorf("hand off: shard %d of job %s is not running", parent, job)
	}
	now := m.now()
	p.st.Range.UpTo, p.updated = upTo, now
	mj := m.jobs[job]
	first := len(mj.shards)
	for i, r := range rs {
		st := proto.ShardState{N: first + i, Parent: parent, State: proto.ShardHanded, Range: r, Sent: slices.Clone(sent)}
		mj.shards = append(mj.shards, &memShard{st: st, updated: now})
	}
	return first, nil
}

// MarkShards sets the state of shards ns of job still handed.
func (m *Memory) MarkShards(_ context.Context, job string, ns []int, state int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range ns {
		if sh := m.shard(job, n); sh != nil && sh.st.State == proto.ShardHanded {
			sh.st.State, sh.updated = state, m.now()
		}
	}
	return nil
}

// Shards returns shard n of job and, when unconfirmed is true, its
// children whose invoke was never confirmed.
func (m *Memory) Shards(_ context.Context, job string, n int, unconfirmed bool) (proto.ShardState, []proto.ShardState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	self := m.shard(job, n)
	if self == nil {
		return proto.ShardState{}, nil, false, nil
	}
	var children []proto.ShardState
	if unconfirmed {
		for _, sh := range m.jobs[job].shards[1:] {
			if sh.st.Parent == n && sh.st.State == proto.ShardHanded && sh.st.N != n {
				children = append(children, sh.st)
			}
		}
	}
	return self.st, children, true, nil
}

// Commit moves shard n's cursor from from to to and adds c to its counts;
// ok is false when its cursor was not at from, or it was done.
func (m *Memory) Commit(_ context.Context, job string, n int, from, to string, c proto.Counts, done bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sh := m.shard(job, n)
	if sh == nil || sh.st.Range.After != from || sh.st.State >= proto.ShardDone {
		return false, nil
	}
	sh.st.Range.After = to
	sh.st.Delivered += c.Delivered
	sh.st.Pruned += c.Pruned
	sh.st.Failed += c.Failed
	sh.st.State, sh.updated = proto.ShardRunning, m.now()
	if done {
		sh.st.State = proto.ShardDone
	}
	return true, nil
}

// JobFrames returns the frames stored with job.
func (m *Memory) JobFrames(_ context.Context, job string) ([]proto.Frame, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mj := m.jobs[job]
	if mj == nil {
		return nil, false, nil
	}
	return slices.Clone(mj.j.Frames), true, nil
}

// Job returns job's progress, summed over its shards.
func (m *Memory) Job(_ context.Context, job string) (proto.Job, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mj := m.jobs[job]
	if mj == nil {
		return proto.Job{}, false, nil
	}
	j := proto.Job{Job: job, Recipients: mj.j.Recipients, Started: mj.started.UTC()}
	var last time.Time
	for _, sh := range mj.shards {
		j.Shards.Total++
		switch sh.st.State {
		case proto.ShardDone:
			j.Shards.Done++
		case proto.ShardLost:
			j.Shards.Lost++
		}
		j.Delivered += sh.st.Delivered
		j.Pruned += sh.st.Pruned
		j.Failed += sh.st.Failed
		if sh.updated.After(last) {
			last = sh.updated
		}
	}
	j.State, j.Finished = jobState(j.Shards, last.UTC(), m.now().UTC(), mj.j.StallAfter.Truncate(time.Second))
	return j, true, nil
}

// SweepJobs deletes the expired jobs with their shards.
func (m *Memory) SweepJobs(_ context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	now := m.now()
	for id, mj := range m.jobs {
		if now.After(mj.expires) {
			delete(m.jobs, id)
			n++
		}
	}
	return n, nil
}

// TakePushes takes up to want pushes from window's budget of limit.
func (m *Memory) TakePushes(_ context.Context, window int64, want, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for w := range m.budget {
		if w <= window-budgetSlots {
			delete(m.budget, w) // as the table's ring forgets them
		}
	}
	m.budget[window] += want
	return granted(want, m.budget[window], limit), nil
}

// AgeJob moves job's start, expiry and progress by into the past, for
// tests of expiry and stalls.
func (m *Memory) AgeJob(job string, by time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mj := m.jobs[job]; mj != nil {
		mj.started, mj.expires = mj.started.Add(-by), mj.expires.Add(-by)
		for _, sh := range mj.shards {
			sh.updated = sh.updated.Add(-by)
		}
	}
}
