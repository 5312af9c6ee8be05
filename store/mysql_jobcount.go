package store

import (
	"context"
	"fmt"

	"github.com/scfws/scfws/proto"
)

// JobsRunning counts the fan-out jobs in progress: the ones the job op
// would call running (a shard neither done nor lost, and a shard updated
// within the job's StallAfter). Both lookups go by the shards' primary
// key (Job, Shard); none without the fan-out tables.
func (s *MySQL) JobsRunning(ctx context.Context) (int, error) {
	if !s.schema.Jobs {
		return 0, nil
	}
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.f.jobs+" j WHERE "+
		"EXISTS (SELECT 1 FROM "+s.f.shards+" s WHERE s.Job = j.Job AND s.State IN (?, ?)) AND "+
		"EXISTS (SELECT 1 FROM "+s.f.shards+" s WHERE s.Job = j.Job AND s.Updated >= UTC_TIMESTAMP(3) - INTERVAL j.StallAfter SECOND)",
		proto.ShardHanded, proto.ShardRunning).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count running jobs: %w", err)
	}
	return n, nil
}
