package store

import (
	"context"
	"time"

	"github.com/scfws/scfws/proto"
)

// JobsRunning counts the fan-out jobs in progress: the ones the job op
// would call running (not every shard done or lost, and progress within
// the job's StallAfter).
func (m *Memory) JobsRunning(_ context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, n := m.now(), 0
	for _, mj := range m.jobs {
		var sh proto.JobShards
		var last time.Time
		for _, s := range mj.shards {
			sh.Total++
			switch s.st.State {
			case proto.ShardDone:
				sh.Done++
			case proto.ShardLost:
				sh.Lost++
			}
			if s.updated.After(last) {
				last = s.updated
			}
		}
		if state, _ := jobState(sh, last, now, mj.j.StallAfter.Truncate(time.Second)); state == proto.JobRunning {
			n++
		}
	}
	return n, nil
}
