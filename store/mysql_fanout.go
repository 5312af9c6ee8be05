package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scfws/scfws/proto"
)

// Fan-out (docs/fanout.md) reads a send's recipients a page at a time in
// the registry's key order: plain connections by the connection table's
// primary key, every scfws.v1 connection by <table>_v1's, a group's
// members by <table>_groups' (GroupName, ConnectionID), a user's
// connections by ID among the user's. A handed-off send is a job in
// <table>_jobs with its shards in <table>_shards: each shard's range, the
// cursor it has committed (LastKey: the last key of the last page it
// pushed) and its counts. <table>_budget is the push budget every
// instance draws from (PUSH_RATE).

var (
	errNoJobTables = &Error{msg: "the fan-out tables do not exist (DB_AUTO_MIGRATE is off, or DB_USER may not create them)", missing: true}
	errUnkeyed     = errors.New("the connection table has no unique key on ConnectionID: its connections cannot be read in pages")
)

// fanoutQueries are the statements on the jobs, shards and budget tables.
type fanoutQueries struct {
	jobs, shards, budget string // quoted names
	take                 string
}

func newFanoutQueries(table string) fanoutQueries {
	q := fanoutQueries{jobs: "`" + table + "_jobs`", shards: "`" + table + "_shards`", budget: "`" + table + "_budget`"}
	// Used becomes the window's count with this take: a later window
	// starts the slot again, an earlier one (a clock behind) is charged
	// to the slot's window. LAST_INSERT_ID(expr) hands the count back in
	// the same round trip. Used is assigned before Win, reading the old.
	q.take = "INSERT INTO " + q.budget + " (Slot, Win, Used) VALUES (?, ?, LAST_INSERT_ID(?)) ON DUPLICATE KEY UPDATE " +
		"Used = LAST_INSERT_ID(IF(VALUES(Win) > Win, VALUES(Used), Used + VALUES(Used))), Win = GREATEST(Win, VALUES(Win))"
	return q
}

// budgetSlots is how many windows the budget table keeps, one row each.
const budgetSlots = 64

// keysOf is how t's rows are read in key order: the table (and join for
// liveness), the key column, the conditions with their arguments. With
// live false, rows are counted live or not, without a join: for cutting
// ranges, where a dead row only makes a range a little smaller.
func (s *MySQL) keysOf(t proto.Target, live bool) (from, key string, conds []string, args []any, err error) {
	switch t.Kind {
	case proto.TargetPlain:
		if !s.schema.Keyed {
			return "", "", nil, nil, errUnkeyed
		}
		if live {
			return s.main, "ConnectionID", []string{s.alive}, []any{s.idle}, nil
		}
		return s.main, "ConnectionID", nil, nil, nil
	case proto.TargetV1, proto.TargetUser:
		from, key = s.v1+" c", "c.ID"
		if t.Kind == proto.TargetUser {
			conds, args = []string{"c.UserID = ?"}, []any{t.UserID}
		}
	case proto.TargetGroup:
		from, key, conds, args = s.g+" g", "g.ConnectionID", []string{"g.GroupName = ?"}, []any{t.Group}
		if live {
			from += " JOIN " + s.v1 + " c ON c.ID = g.ConnectionID"
		}
	default:
		return "", "", nil, nil, fmt.Errorf("target kind %q", t.Kind)
	}
	if live {
		conds, args = append(conds, v1Alive), append(args, s.idle)
	}
	return from, key, conds, args, nil
}

// noV1 reports whether t is scfws.v1 connections in a registry without
// their tables: it has none.
func (s *MySQL) noV1(t proto.Target) bool { return t.Kind != proto.TargetPlain && !s.schema.V1 }

// rangeQuery is "SELECT what FROM ... WHERE ..." over t's rows in r.
func (s *MySQL) rangeQuery(t proto.Target, r proto.KeyRange, live bool, what string) (q, key string, args []any, err error) {
	from, key, conds, args, err := s.keysOf(t, live)
	if err != nil {
		return "", "", nil, err
	}
	conds, args = append(conds, key+" > ?"), append(args, r.After)
	if r.UpTo != "" {
		conds, args = append(conds, key+" <= ?"), append(args, r.UpTo)
	}
	return "SELECT " + strings.ReplaceAll(what, "KEY", key) + " FROM " + from + " WHERE " + strings.Join(conds, " AND "), key, args, nil
}

// CountRecipients counts t's live connections with keys in r.
func (s *MySQL) CountRecipients(ctx context.Context, t proto.Target, r proto.KeyRange) (int, error) {
	if s.noV1(t) {
		return 0, nil
	}
	q, _, args, err := s.rangeQuery(t, r, true, "COUNT(*)")
	if err != nil {
		return 0, fmt.Errorf("count recipients: %w", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recipients: %w", err)
	}
	return n, nil
}

// RecipientPage returns up to limit of t's live connections with keys in
// r, in key order.
func (s *MySQL) RecipientPage(ctx context.Context, t proto.Target, r proto.KeyRange, limit int) ([]string, error) {
	if s.noV1(t) {
		return nil, nil
	}
	q, key, args, err := s.rangeQuery(t, r, true, "KEY")
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	ids, err := s.strings(ctx, q+" ORDER BY "+key+" LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	return ids, nil
}

// KeyAfter returns the n-th key of t's rows in r (n >= 1), counting rows
// live or not; ok is false when r has fewer.
func (s *MySQL) KeyAfter(ctx context.Context, t proto.Target, r proto.KeyRange, n int) (string, bool, error) {
	if s.noV1(t) {
		return "", false, nil
	}
	q, key, args, err := s.rangeQuery(t, r, false, "KEY")
	if err != nil {
		return "", false, fmt.Errorf("cut recipients: %w", err)
	}
	var k string
	err = s.db.QueryRowContext(ctx, q+" ORDER BY "+key+" LIMIT 1 OFFSET ?", append(args, max(n-1, 0))...).Scan(&k)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("cut recipients: %w", err)
	}
	return k, true, nil
}

// CreateJob stores j and its shard 0, the invoke that begins it, over r.
func (s *MySQL) CreateJob(ctx context.Context, j proto.NewJob, r proto.KeyRange) error {
	if !s.schema.Jobs {
		return errNoJobTables
	}
	var frames []byte
	if len(j.Frames) > 0 {
		var err error
		if frames, err = json.Marshal(j.Frames); err != nil {
			return fmt.Errorf("store job: %w", err)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store job: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.f.jobs+" (Job, Recipients, Shards, Started, Expires, StallAfter, Frames) "+
		"VALUES (?, ?, 1, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, ?, ?)",
		j.ID, j.Recipients, j.TTL.Microseconds(), int64(j.StallAfter.Seconds()), frames); err != nil {
		return fmt.Errorf("store job: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.f.shards+" (Job, Shard, Parent, State, LastKey, UpTo, Updated) "+
		"VALUES (?, 0, 0, ?, ?, ?, UTC_TIMESTAMP(3))", j.ID, proto.ShardRunning, r.After, r.UpTo); err != nil {
		return fmt.Errorf("store job: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store job: %w", err)
	}
	return nil
}

// HandOff records new shards of job over rs, children of parent, and ends
// parent's range at upTo, at once: a retried parent pushes only its own
// part, and finds the children it may not have invoked. first is the
// first new shard's number; they follow in rs's order.
func (s *MySQL) HandOff(ctx context.Context, job string, parent int, upTo string, rs []proto.KeyRange, sent []string) (int, error) {
	if !s.schema.Jobs {
		return 0, errNoJobTables
	}
	var sentJSON []byte // NULL when none
	if len(sent) > 0 {
		var err error
		if sentJSON, err = json.Marshal(sent); err != nil {
			return 0, fmt.Errorf("hand off: %w", err)
		}
	}
	return again(ctx, func() (int, error) { return s.handOff1(ctx, job, parent, upTo, rs, sentJSON) })
}

func (s *MySQL) handOff1(ctx context.Context, job string, parent int, upTo string, rs []proto.KeyRange, sent []byte) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("hand off: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var next int
	if err := tx.QueryRowContext(ctx, "SELECT Shards FROM "+s.f.jobs+" WHERE Job = ? FOR UPDATE", job).Scan(&next); err != nil {
		return 0, fmt.Errorf("hand off: job %s: %w", job, err)
	}
	res, err := tx.ExecContext(ctx, "UPDATE "+s.f.shards+" SET UpTo = ?, Updated = UTC_TIMESTAMP(3) WHERE Job = ? AND Shard = ? AND State < ?",
		upTo, job, parent, proto.ShardDone)
	if err != nil {
		return 0, fmt.Errorf("hand off: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return 0, fmt.Errorf("hand off: shard %d of job %s is not running", parent, job)
	}
	q := "INSERT INTO " + s.f.shards + " (Job, Shard, Parent, State, LastKey, UpTo, Sent, Updated) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3)), ", len(rs)), ", ")
	args := make([]any, 0, 7*len(rs))
	for i, r := range rs {
		args = append(args, job, next+i, parent, proto.ShardHanded, r.After, r.UpTo, sent)
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return 0, fmt.Errorf("hand off: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+s.f.jobs+" SET Shards = ? WHERE Job = ?", next+len(rs), job); err != nil {
		return 0, fmt.Errorf("hand off: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("hand off: %w", err)
	}
	return next, nil
}

// MarkShards sets the state of shards ns of job that have not gone past
// it: running once their invoke is confirmed, lost when it failed.
func (s *MySQL) MarkShards(ctx context.Context, job string, ns []int, state int) error {
	if len(ns) == 0 {
		return nil
	}
	if !s.schema.Jobs {
		return errNoJobTables
	}
	args := append([]any{state, job}, intAnys(ns)...)
	if _, err := s.db.ExecContext(ctx, "UPDATE "+s.f.shards+" SET State = ?, Updated = UTC_TIMESTAMP(3) WHERE Job = ? AND Shard IN "+
		list(len(ns))+" AND State = "+strconv.Itoa(proto.ShardHanded), args...); err != nil {
		return fmt.Errorf("mark shards: %w", err)
	}
	return nil
}

func intAnys(ns []int) []any {
	out := make([]any, len(ns))
	for i, n := range ns {
		out[i] = n
	}
	return out
}

// Shards returns shard n of job (found false when the job has no such
// shard: it expired) and, when unconfirmed is true, its children whose
// invoke was never confirmed.
func (s *MySQL) Shards(ctx context.Context, job string, n int, unconfirmed bool) (proto.ShardState, []proto.ShardState, bool, error) {
	if !s.schema.Jobs {
		return proto.ShardState{}, nil, false, errNoJobTables
	}
	q := "SELECT Shard, Parent, State, LastKey, UpTo, Sent, Delivered, Pruned, Failed FROM " + s.f.shards + " WHERE Job = ? AND (Shard = ?"
	args := []any{job, n}
	if unconfirmed {
		q += " OR (Parent = ? AND State = " + strconv.Itoa(proto.ShardHanded) + " AND Shard <> 0)"
		args = append(args, n)
	}
	rows, err := s.db.QueryContext(ctx, q+") ORDER BY Shard", args...)
	if err != nil {
		return proto.ShardState{}, nil, false, fmt.Errorf("read shard: %w", err)
	}
	defer rows.Close()
	var self proto.ShardState
	var children []proto.ShardState
	found := false
	for rows.Next() {
		var st proto.ShardState
		var sent []byte
		if err := rows.Scan(&st.N, &st.Parent, &st.State, &st.Range.After, &st.Range.UpTo, &sent, &st.Delivered, &st.Pruned, &st.Failed); err != nil {
			return proto.ShardState{}, nil, false, fmt.Errorf("read shard: %w", err)
		}
		if len(sent) > 0 {
			if err := json.Unmarshal(sent, &st.Sent); err != nil {
				return proto.ShardState{}, nil, false, fmt.Errorf("read shard %d's sent: %w", st.N, err)
			}
		}
		if st.N == n {
			self, found = st, true
		} else {
			children = append(children, st)
		}
	}
	if err := rows.Err(); err != nil {
		return proto.ShardState{}, nil, false, fmt.Errorf("read shard: %w", err)
	}
	return self, children, found, nil
}

// Commit moves shard n's cursor from from to to and adds c to its counts,
// marking it done when done is true; ok is false when its cursor was not
// at from (another run of the shard got there first) or it was done.
func (s *MySQL) Commit(ctx context.Context, job string, n int, from, to string, c proto.Counts, done bool) (bool, error) {
	if !s.schema.Jobs {
		return false, errNoJobTables
	}
	state := proto.ShardRunning
	if done {
		state = proto.ShardDone
	}
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.f.shards+" SET LastKey = ?, Delivered = Delivered + ?, Pruned = Pruned + ?, Failed = Failed + ?, "+
		"State = ?, Updated = UTC_TIMESTAMP(3) WHERE Job = ? AND Shard = ? AND LastKey = ? AND State < ?",
		to, c.Delivered, c.Pruned, c.Failed, state, job, n, from, proto.ShardDone)
	if err != nil {
		return false, fmt.Errorf("commit shard: %w", err)
	}
	m, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("commit shard: %w", err)
	}
	return m == 1, nil
}

// JobFrames returns the frames stored with job; found is false when the
// job does not exist (it expired).
func (s *MySQL) JobFrames(ctx context.Context, job string) ([]proto.Frame, bool, error) {
	if !s.schema.Jobs {
		return nil, false, errNoJobTables
	}
	var b []byte
	err := s.db.QueryRowContext(ctx, "SELECT Frames FROM "+s.f.jobs+" WHERE Job = ?", job).Scan(&b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read job: %w", err)
	}
	var frames []proto.Frame
	if len(b) > 0 {
		if err := json.Unmarshal(b, &frames); err != nil {
			return nil, false, fmt.Errorf("read job: %w", err)
		}
	}
	return frames, true, nil
}

// Job returns job's progress, summed over its shards.
func (s *MySQL) Job(ctx context.Context, job string) (proto.Job, bool, error) {
	if !s.schema.Jobs {
		return proto.Job{}, false, errNoJobTables
	}
	j := proto.Job{Job: job}
	var stall int64
	var started, now dbTime
	err := s.db.QueryRowContext(ctx, "SELECT Recipients, "+timeOf("Started")+", StallAfter, "+timeOf("UTC_TIMESTAMP(3)")+" FROM "+s.f.jobs+" WHERE Job = ?", job).
		Scan(&j.Recipients, &started, &stall, &now)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return proto.Job{}, false, nil
	case err != nil:
		return proto.Job{}, false, fmt.Errorf("read job: %w", err)
	}
	var done, lost int
	var last dbTime
	err = s.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(State = ?), 0), COALESCE(SUM(State = ?), 0), COALESCE(SUM(Delivered), 0), "+
		"COALESCE(SUM(Pruned), 0), COALESCE(SUM(Failed), 0), "+timeOf("COALESCE(MAX(Updated), UTC_TIMESTAMP(3))")+" FROM "+s.f.shards+" WHERE Job = ?",
		proto.ShardDone, proto.ShardLost, job).Scan(&j.Shards.Total, &done, &lost, &j.Delivered, &j.Pruned, &j.Failed, &last)
	if err != nil {
		return proto.Job{}, false, fmt.Errorf("read job: %w", err)
	}
	j.Shards.Done, j.Shards.Lost = done, lost
	j.Started = time.Time(started)
	j.State, j.Finished = jobState(j.Shards, time.Time(last), time.Time(now), time.Duration(stall)*time.Second)
	return j, true, nil
}

// timeOf selects a DATETIME(3) of the database's UTC clock as text, which
// dbTime reads: the connection does not parse times itself.
func timeOf(expr string) string { return "DATE_FORMAT(" + expr + ", '%Y-%m-%d %H:%i:%s.%f')" }

// dbTime is a time selected by timeOf, in UTC.
type dbTime time.Time

func (t *dbTime) Scan(v any) error {
	var s string
	switch v := v.(type) {
	case []byte:
		s = string(v)
	case string:
		s = v
	default:
		return fmt.Errorf("time of type %T", v)
	}
	p, err := time.Parse("2006-01-02 15:04:05.000000", s)
	*t = dbTime(p)
	return err
}

// jobState is a job's state from its shards and its last progress: done
// when every shard is done or lost, stalled when none has made progress
// within stall.
func jobState(sh proto.JobShards, last, now time.Time, stall time.Duration) (string, *time.Time) {
	switch {
	case sh.Total > 0 && sh.Done+sh.Lost == sh.Total:
		return proto.JobDone, &last
	case now.Sub(last) > stall:
		return proto.JobStalled, nil
	}
	return proto.JobRunning, nil
}

// sweepJobs bounds the expired jobs one sweep deletes.
const sweepJobs = 100

// SweepJobs deletes up to sweepJobs expired jobs with their shards.
func (s *MySQL) SweepJobs(ctx context.Context) (int64, error) {
	if !s.schema.Jobs {
		return 0, nil
	}
	ids, err := s.strings(ctx, "SELECT Job FROM "+s.f.jobs+" WHERE Expires < UTC_TIMESTAMP(3) LIMIT "+strconv.Itoa(sweepJobs))
	if err != nil || len(ids) == 0 {
		return 0, wrapSweep(err)
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM "+s.f.shards+" WHERE Job IN "+list(len(ids)), anys(ids)...); err != nil {
		return 0, wrapSweep(err)
	}
	res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.f.jobs+" WHERE Job IN "+list(len(ids)), anys(ids)...)
	if err != nil {
		return 0, wrapSweep(err)
	}
	n, err := res.RowsAffected()
	return n, wrapSweep(err)
}

func wrapSweep(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sweep jobs: %w", err)
}

// TakePushes takes up to want pushes from window's budget of limit, for
// every instance at once, and returns how many it got: 0 when the window
// is spent. Windows are numbered by their start (a clock's, in units of
// the window's length); the table keeps the last budgetSlots of them.
func (s *MySQL) TakePushes(ctx context.Context, window int64, want, limit int) (int, error) {
	if !s.schema.Budget {
		return 0, errNoJobTables
	}
	res, err := s.db.ExecContext(ctx, s.f.take, window%budgetSlots, window, want)
	if err != nil {
		return 0, fmt.Errorf("take pushes: %w", err)
	}
	used, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("take pushes: %w", err)
	}
	return granted(want, int(used), limit), nil
}

// granted is what a take of want gets when the window's count, with it,
// is used of limit.
func granted(want, used, limit int) int {
	return max(0, min(want, want-(used-limit)))
}

// prepareFanout finds or creates the jobs, shards and budget tables. The
// jobs need both of theirs.
func (s *MySQL) prepareFanout(ctx context.Context, table string, migrate bool) (jobs, budget, created bool, err error) {
	have := map[string]bool{}
	for _, suffix := range []string{"_jobs", "_shards", "_budget"} {
		cols, err := s.columns(ctx, table+suffix)
		if err != nil {
			return false, false, false, err
		}
		have[suffix] = len(cols) > 0
		if suffix == "_shards" && len(cols) > 0 && cols["sent"] == "" {
			// Made before shards kept their Sent.
			if have[suffix], err = s.addSent(ctx, table+suffix, migrate); err != nil {
				return false, false, false, err
			}
		}
	}
	jobs, budget = have["_jobs"] && have["_shards"], have["_budget"]
	if (jobs && budget) || !migrate {
		return jobs, budget, false, nil
	}
	for _, ddl := range fanoutTables(table) {
		if _, err := s.db.ExecContext(ctx, ddl); err != nil {
			return jobs, budget, false, fmt.Errorf("create the fan-out tables: %w", err)
		}
	}
	return true, true, true, nil
}

// addSent adds the Sent column to a shards table made before it had one,
// when migrate allows; ok is whether the table has it.
func (s *MySQL) addSent(ctx context.Context, table string, migrate bool) (ok bool, err error) {
	if !migrate {
		return false, nil
	}
	if _, err := s.db.ExecContext(ctx, "ALTER TABLE `"+table+"` ADD COLUMN Sent MEDIUMBLOB NULL AFTER UpTo"); err != nil {
		return false, fmt.Errorf("add Sent to %s: %w", table, err)
	}
	return true, nil
}

// fanoutTables are the CREATE statements of the fan-out tables.
func fanoutTables(table string) []string {
	return []string{
		"CREATE TABLE IF NOT EXISTS `" + table + "_jobs` (" +
			"Job VARBINARY(32) NOT NULL, " +
			"Recipients BIGINT NOT NULL, " +
			"Shards INT UNSIGNED NOT NULL, " +
			"Started DATETIME(3) NOT NULL, " +
			"Expires DATETIME(3) NOT NULL, " +
			"StallAfter INT UNSIGNED NOT NULL, " +
			"Frames MEDIUMBLOB NULL, " +
			"PRIMARY KEY (Job), KEY idx_expires (Expires)" +
			") ENGINE=InnoDB",
		"CREATE TABLE IF NOT EXISTS `" + table + "_shards` (" +
			"Job VARBINARY(32) NOT NULL, " +
			"Shard INT UNSIGNED NOT NULL, " +
			"Parent INT UNSIGNED NOT NULL, " +
			"State TINYINT UNSIGNED NOT NULL, " +
			"LastKey VARBINARY(255) NOT NULL, " +
			"UpTo VARBINARY(255) NOT NULL, " +
			"Sent MEDIUMBLOB NULL, " +
			"Delivered INT UNSIGNED NOT NULL DEFAULT 0, " +
			"Pruned INT UNSIGNED NOT NULL DEFAULT 0, " +
			"Failed INT UNSIGNED NOT NULL DEFAULT 0, " +
			"Updated DATETIME(3) NOT NULL, " +
			"PRIMARY KEY (Job, Shard)" +
			") ENGINE=InnoDB",
		"CREATE TABLE IF NOT EXISTS `" + table + "_budget` (" +
			"Slot INT UNSIGNED NOT NULL, " +
			"Win BIGINT NOT NULL, " +
			"Used BIGINT NOT NULL, " +
			"PRIMARY KEY (Slot)" +
			") ENGINE=InnoDB",
	}
}
