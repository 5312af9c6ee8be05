package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scfws/scfws/proto"
)

// Join adds id to group. first is true when id's user had no other live
// connection in it. Joining a group twice is not an error.
func (s *MySQL) Join(ctx context.Context, id, group string, maxGroups int) (first bool, err error) {
	if !s.schema.V1 {
		return false, errNotV1
	}
	return again(ctx, func() (bool, error) { return s.join1(ctx, id, group, maxGroups) })
}

func (s *MySQL) join1(ctx context.Context, id, group string, maxGroups int) (first bool, err error) {
	// One transaction holding the connection's row: joins of one
	// connection (frames may run at once) count its groups in turn, so the
	// limit holds; and a close, which deletes the row first (see removeV1),
	// waits, then deletes this membership too.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("join group: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var user string
	err = tx.QueryRowContext(ctx, "SELECT UserID FROM "+s.v1+" WHERE ID = ? FOR UPDATE", id).Scan(&user)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, errNotV1
	case err != nil:
		return false, fmt.Errorf("join group: %w", err)
	}
	var count, member int
	if err = tx.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(GroupName = ?), 0) FROM "+s.g+" WHERE ConnectionID = ?",
		group, id).Scan(&count, &member); err != nil {
		return false, fmt.Errorf("join group: %w", err)
	}
	switch {
	case member > 0:
		return false, tx.Commit()
	case maxGroups > 0 && count >= maxGroups:
		err = errTooMany
		return false, err
	}
	present := false
	if user != "" {
		if present, err = s.userIn(ctx, tx, group, user, id); err != nil {
			return false, fmt.Errorf("join group: %w", err)
		}
	}
	// An upsert, though the row cannot exist: it locks the key exclusively
	// at once, where a plain INSERT over a just-deleted row takes a shared
	// lock first and deadlocks upgrading it.
	if _, err = tx.ExecContext(ctx, "INSERT INTO "+s.g+" (GroupName, ConnectionID, UserID) VALUES (?, ?, ?) "+
		"ON DUPLICATE KEY UPDATE UserID = VALUES(UserID)", group, id, user); err != nil {
		return false, fmt.Errorf("join group: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return false, fmt.Errorf("join group: %w", err)
	}
	return user != "" && !present, nil
}

// userIn reports whether user has a live connection other than except in
// group, reading through q (the pool or a transaction).
func (s *MySQL) userIn(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, group, user, except string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM "+s.g+" g JOIN "+s.v1+" c ON c.ID = g.ConnectionID "+
		"WHERE g.GroupName = ? AND g.UserID = ? AND g.ConnectionID <> ? AND "+v1Alive+" LIMIT 1", group, user, except, s.idle).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Leave takes id out of group. last is true when that was its user's last
// live connection in it. Leaving a group one is not in is not an error.
func (s *MySQL) Leave(ctx context.Context, id, group string) (bool, error) {
	if !s.schema.V1 {
		return false, nil
	}
	return again(ctx, func() (bool, error) { return s.leave1(ctx, id, group) })
}

func (s *MySQL) leave1(ctx context.Context, id, group string) (bool, error) {
	var user string
	err := s.db.QueryRowContext(ctx, "SELECT UserID FROM "+s.v1+" WHERE ID = ?", id).Scan(&user)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("leave group: %w", err)
	}
	res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.g+" WHERE GroupName = ? AND ConnectionID = ?", group, id)
	if err != nil {
		return false, fmt.Errorf("leave group: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 || user == "" {
		return false, nil
	}
	present, err := s.userIn(ctx, s.db, group, user, id)
	if err != nil {
		return false, fmt.Errorf("leave group: %w", err)
	}
	return !present, nil
}

// GroupConns returns group's live member connections.
func (s *MySQL) GroupConns(ctx context.Context, group string) ([]string, error) {
	if !s.schema.V1 {
		return nil, nil
	}
	ids, err := s.strings(ctx, "SELECT ConnectionID FROM "+s.g+" WHERE GroupName = ?", group)
	if err != nil {
		return nil, fmt.Errorf("list group: %w", err)
	}
	dead, err := s.strings(ctx, "SELECT g.ConnectionID FROM "+s.v1+" c JOIN "+s.g+" g ON g.ConnectionID = c.ID AND g.GroupName = ? "+
		"WHERE NOT ("+v1Alive+")", group, s.idle)
	if err != nil {
		return nil, fmt.Errorf("list group: %w", err)
	}
	if len(dead) == 0 {
		return ids, nil
	}
	gone := map[string]bool{}
	for _, id := range dead {
		gone[id] = true
	}
	live := ids[:0]
	for _, id := range ids {
		if !gone[id] {
			live = append(live, id)
		}
	}
	return live, nil
}

// GroupUsers lists group's users with their live connection counts, by
// user ID, at most limit of them (truncated then says there are more), and
// how many anonymous connections it has. Users whose members are all past
// the idle timeout and not yet swept drop out of a truncated page without
// a replacement.
func (s *MySQL) GroupUsers(ctx context.Context, group string, limit int) ([]proto.UserCount, int, bool, error) {
	if !s.schema.V1 {
		return []proto.UserCount{}, 0, false, nil
	}
	// The dead first: each takes at most one user off the page, so the
	// page reads that many more rows to stay full and tell truncation.
	dead, err := s.userCounts(ctx, "SELECT g.UserID, COUNT(*) FROM "+s.v1+" c JOIN "+s.g+" g ON g.ConnectionID = c.ID AND g.GroupName = ? "+
		"WHERE NOT ("+v1Alive+") GROUP BY g.UserID", group, s.idle)
	if err != nil {
		return nil, 0, false, fmt.Errorf("list group: %w", err)
	}
	q := "SELECT UserID, COUNT(*) FROM " + s.g + " WHERE GroupName = ? GROUP BY UserID ORDER BY UserID"
	args := []any{group}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit+2+len(dead)) // the anonymous row, and one to tell truncation
	}
	counts, err := s.userCounts(ctx, q, args...)
	if err != nil {
		return nil, 0, false, fmt.Errorf("list group: %w", err)
	}
	minus := map[string]int{}
	for _, d := range dead {
		minus[d.UserID] = d.Connections
	}
	users := []proto.UserCount{}
	anonymous, named := 0, 0
	for _, u := range counts {
		n := u.Connections - minus[u.UserID]
		switch {
		case u.UserID == "":
			anonymous = n
		case n > 0:
			named++
			if limit <= 0 || len(users) < limit {
				users = append(users, proto.UserCount{UserID: u.UserID, Connections: n})
			}
		}
	}
	return users, anonymous, limit > 0 && named > limit, nil
}

func (s *MySQL) userCounts(ctx context.Context, q string, args ...any) ([]proto.UserCount, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []proto.UserCount
	for rows.Next() {
		var u proto.UserCount
		if err := rows.Scan(&u.UserID, &u.Connections); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserConns returns user's live connections.
func (s *MySQL) UserConns(ctx context.Context, user string) ([]string, error) {
	if !s.schema.V1 || user == "" { // anonymous is nobody
		return nil, nil
	}
	ids, err := s.strings(ctx, "SELECT c.ID FROM "+s.v1+" c WHERE c.UserID = ? AND "+v1Alive, user, s.idle)
	if err != nil {
		return nil, fmt.Errorf("list user: %w", err)
	}
	return ids, nil
}

// IsMember reports whether id is a live member of group.
func (s *MySQL) IsMember(ctx context.Context, id, group string) (bool, error) {
	if !s.schema.V1 {
		return false, nil
	}
	var one int
	err := s.db.QueryRowContext(ctx, "SELECT 1 FROM "+s.g+" g JOIN "+s.v1+" c ON c.ID = g.ConnectionID "+
		"WHERE g.GroupName = ? AND g.ConnectionID = ? AND "+v1Alive, group, id, s.idle).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check membership: %w", err)
	}
	return true, nil
}
