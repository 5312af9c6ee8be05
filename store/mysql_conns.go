package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scfws/scfws/proto"
)

// Register stores c (an upsert) and, for scfws.v1, joins groups. firsts are
// the groups in which c's user had no other live connection.
func (s *MySQL) Register(ctx context.Context, c proto.Conn, groups []string) (firsts []string, err error) {
	if err := checkConn(c); err != nil {
		return nil, fmt.Errorf("store connection: %w", err)
	}
	return again(ctx, func() ([]string, error) { return s.register1(ctx, c, groups) })
}

func (s *MySQL) register1(ctx context.Context, c proto.Conn, groups []string) (firsts []string, err error) {
	if !c.V1 {
		res, err := s.db.ExecContext(ctx, s.register, c.ID)
		if err != nil {
			return nil, fmt.Errorf("store connection: %w", err)
		}
		if s.schema.Keyed {
			return nil, nil
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			return nil, nil
		}
		if _, err := s.db.ExecContext(ctx, s.insert, c.ID); err != nil {
			return nil, fmt.Errorf("store connection: %w", err)
		}
		return nil, nil
	}
	if !s.schema.V1 {
		return nil, errNoTables
	}
	if _, err := s.db.ExecContext(ctx, "INSERT INTO "+s.v1+" (ID, UserID, Roles, Info, LastSeen) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3)) "+
		"ON DUPLICATE KEY UPDATE UserID = VALUES(UserID), Roles = VALUES(Roles), Info = VALUES(Info), LastSeen = VALUES(LastSeen)",
		c.ID, c.UserID, joinRoles(c.Roles), c.Info); err != nil {
		return nil, fmt.Errorf("store connection: %w", err)
	}
	if len(groups) == 0 {
		return nil, nil
	}
	present := map[string]bool{}
	if c.UserID != "" {
		args := append([]any{c.UserID, c.ID, s.idle}, anys(groups)...)
		rows, err := s.strings(ctx, "SELECT DISTINCT g.GroupName FROM "+s.g+" g JOIN "+s.v1+" c ON c.ID = g.ConnectionID "+
			"WHERE g.UserID = ? AND g.ConnectionID <> ? AND "+v1Alive+" AND g.GroupName IN "+list(len(groups)), args...)
		if err != nil {
			return nil, fmt.Errorf("join groups: %w", err)
		}
		for _, g := range rows {
			present[g] = true
		}
	}
	names := "SELECT ? AS g" + strings.Repeat(" UNION ALL SELECT ?", len(groups)-1)
	if _, err := s.db.ExecContext(ctx, "INSERT INTO "+s.g+" (GroupName, ConnectionID, UserID) SELECT x.g, c.ID, c.UserID FROM ("+names+") x JOIN "+
		s.v1+" c ON c.ID = ? LOCK IN SHARE MODE ON DUPLICATE KEY UPDATE UserID = VALUES(UserID)", append(anys(groups), c.ID)...); err != nil {
		return nil, fmt.Errorf("join groups: %w", err)
	}
	if c.UserID != "" {
		for _, g := range groups {
			if !present[g] {
				firsts = append(firsts, g)
			}
		}
	}
	return firsts, nil
}

// Touch refreshes id's last-seen time and returns the connection; ok is
// false when the registry does not know id (it never registered, or was
// removed or swept). A plain connection costs one statement, as before
// scfws.v1 existed.
func (s *MySQL) Touch(ctx context.Context, id string) (proto.Conn, bool, error) {
	return s.either(ctx, id, s.touchPlain, s.touchV1)
}

// Lookup returns id's connection without refreshing it, and whether it is
// live; a dead row's connection comes back too (no row: c.ID is empty).
func (s *MySQL) Lookup(ctx context.Context, id string) (proto.Conn, bool, error) {
	return s.either(ctx, id, s.lookupPlain, s.lookupV1)
}

// either asks the plain table, then the scfws.v1 one when the first has
// no row. A plain table without
// a key on ConnectionID (the tutorial's) is read whole for every question,
// so there the v1 table, keyed, goes first.
func (s *MySQL) either(ctx context.Context, id string, plain, v1 func(context.Context, string) (proto.Conn, bool, error)) (proto.Conn, bool, error) {
	if !s.schema.V1 {
		return plain(ctx, id)
	}
	first, second := plain, v1
	if !s.schema.Keyed {
		first, second = v1, plain
	}
	if c, ok, err := first(ctx, id); ok || err != nil || c.ID != "" {
		return c, ok, err
	}
	return second(ctx, id)
}

func (s *MySQL) touchPlain(ctx context.Context, id string) (proto.Conn, bool, error) {
	res, err := s.db.ExecContext(ctx, s.touch, id)
	if err != nil {
		return proto.Conn{}, false, fmt.Errorf("refresh connection: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return proto.Conn{}, false, nil
	}
	return proto.Conn{ID: id}, true, nil
}

func (s *MySQL) touchV1(ctx context.Context, id string) (proto.Conn, bool, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.v1+" SET LastSeen = UTC_TIMESTAMP(3) WHERE ID = ?", id)
	if err != nil {
		return proto.Conn{}, false, fmt.Errorf("refresh connection: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return proto.Conn{}, false, nil
	}
	c, ok, err := s.readV1(ctx, "SELECT UserID, Roles, Info FROM "+s.v1+" WHERE ID = ?", id) // gone: removed in between
	if err != nil {
		return proto.Conn{}, false, fmt.Errorf("read connection: %w", err)
	}
	return c, ok, nil
}

func (s *MySQL) lookupPlain(ctx context.Context, id string) (proto.Conn, bool, error) {
	var alive sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.lookup, s.idle, id).Scan(&alive); err != nil {
		return proto.Conn{}, false, fmt.Errorf("look up connection: %w", err)
	}
	if !alive.Valid {
		return proto.Conn{}, false, nil
	}
	return proto.Conn{ID: id}, alive.Int64 == 1, nil
}

func (s *MySQL) lookupV1(ctx context.Context, id string) (proto.Conn, bool, error) {
	c := proto.Conn{ID: id, V1: true}
	var roles string
	var alive bool
	err := s.db.QueryRowContext(ctx, "SELECT c.UserID, c.Roles, c.Info, "+v1Alive+" FROM "+s.v1+" c WHERE c.ID = ?", s.idle, id).
		Scan(&c.UserID, &roles, &c.Info, &alive)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return proto.Conn{}, false, nil
	case err != nil:
		return proto.Conn{}, false, fmt.Errorf("look up connection: %w", err)
	}
	c.Roles = splitRoles(roles)
	return c, alive, nil
}

// readV1 reads one scfws.v1 connection by q, which selects its UserID,
// Roles and Info with args (the first is the ID).
func (s *MySQL) readV1(ctx context.Context, q string, args ...any) (proto.Conn, bool, error) {
	c := proto.Conn{ID: args[0].(string), V1: true}
	var roles string
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&c.UserID, &roles, &c.Info)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return proto.Conn{}, false, nil
	case err != nil:
		return proto.Conn{}, false, err
	}
	c.Roles = splitRoles(roles)
	return c, true, nil
}

// Remove forgets ids, their memberships included; unknown ids are not an
// error. left are the groups whose user lost its last live connection.
func (s *MySQL) Remove(ctx context.Context, ids ...string) ([]proto.Membership, error) {
	var left []proto.Membership
	for len(ids) > 0 {
		n := min(len(ids), removeBatch)
		batch := ids[:n]
		l, err := again(ctx, func() ([]proto.Membership, error) { return s.removeBatch(ctx, batch) })
		if err != nil {
			return left, err
		}
		left = append(left, l...)
		ids = ids[n:]
	}
	return sortedUnique(left), nil
}

func (s *MySQL) removeBatch(ctx context.Context, ids []string) ([]proto.Membership, error) {
	var left []proto.Membership
	if s.schema.V1 {
		v1, err := s.strings(ctx, "SELECT ID FROM "+s.v1+" WHERE ID IN "+list(len(ids)), anys(ids)...)
		if err != nil {
			return nil, fmt.Errorf("remove %d connections: %w", len(ids), err)
		}
		if len(v1) > 0 {
			if left, err = s.removeV1(ctx, v1); err != nil {
				return nil, fmt.Errorf("remove %d connections: %w", len(ids), err)
			}
		}
	}
	if _, err := s.db.ExecContext(ctx, s.remove+list(len(ids)), anys(ids)...); err != nil {
		return left, fmt.Errorf("remove %d connections: %w", len(ids), err)
	}
	return left, nil
}

// removeV1 deletes scfws.v1 connections and their memberships, and works
// out which of their users thereby left which groups. The connection rows
// go first: a join that holds its connection's row (a locking read) has
// committed its membership before the row's delete proceeds, so the
// memberships' delete after it takes that one too; a join after it finds
// no row and inserts nothing.
func (s *MySQL) removeV1(ctx context.Context, ids []string) ([]proto.Membership, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT GroupName, UserID FROM "+s.g+
		" WHERE UserID <> '' AND ConnectionID IN "+list(len(ids)), anys(ids)...)
	if err != nil {
		return nil, err
	}
	cands, err := scanMemberships(rows)
	if err != nil {
		return nil, err
	}
	// One transaction: no membership outlives its connection, even when
	// the database fails between the two deletes.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.v1+" WHERE ID IN "+list(len(ids)), anys(ids)...); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.g+" WHERE ConnectionID IN "+list(len(ids)), anys(ids)...); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return s.departed(ctx, cands)
}

// departed returns the candidates whose user has no live connection left
// in the group.
func (s *MySQL) departed(ctx context.Context, cands []proto.Membership) ([]proto.Membership, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	groups, users := map[string]bool{}, map[string]bool{}
	for _, m := range cands {
		groups[m.Group], users[m.UserID] = true, true
	}
	args := append(append([]any{s.idle}, anys(keys(groups))...), anys(keys(users))...)
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT g.GroupName, g.UserID FROM "+s.g+" g JOIN "+s.v1+" c ON c.ID = g.ConnectionID "+
		"WHERE "+v1Alive+" AND g.GroupName IN "+list(len(groups))+" AND g.UserID IN "+list(len(users)), args...)
	if err != nil {
		return nil, err
	}
	still, err := scanMemberships(rows)
	if err != nil {
		return nil, err
	}
	present := map[proto.Membership]bool{}
	for _, m := range still {
		present[m] = true
	}
	var left []proto.Membership
	for _, m := range cands {
		if !present[m] {
			left = append(left, m)
		}
	}
	return left, nil
}

func scanMemberships(rows *sql.Rows) ([]proto.Membership, error) {
	defer rows.Close()
	var out []proto.Membership
	for rows.Next() {
		var m proto.Membership
		if err := rows.Scan(&m.Group, &m.UserID); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Live returns the plain connections seen within the idle timeout, in no
// particular order.
func (s *MySQL) Live(ctx context.Context) ([]string, error) {
	ids, err := s.strings(ctx, s.live, s.idle)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return ids, nil
}

// LiveV1 returns the scfws.v1 connections seen within the idle timeout.
func (s *MySQL) LiveV1(ctx context.Context) ([]string, error) {
	if !s.schema.V1 {
		return nil, nil
	}
	ids, err := s.strings(ctx, "SELECT c.ID FROM "+s.v1+" c WHERE "+v1Alive, s.idle)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return ids, nil
}

// Counts counts the live connections, plain and scfws.v1, and the groups
// that have a live member.
func (s *MySQL) Counts(ctx context.Context) (plain, v1, groups int, err error) {
	if err = s.db.QueryRowContext(ctx, s.countLive, s.idle).Scan(&plain); err != nil {
		return 0, 0, 0, fmt.Errorf("count connections: %w", err)
	}
	if !s.schema.V1 {
		return plain, 0, 0, nil
	}
	err = s.db.QueryRowContext(ctx, "SELECT COUNT(DISTINCT c.ID), COUNT(DISTINCT g.GroupName) FROM "+s.v1+" c LEFT JOIN "+s.g+
		" g ON g.ConnectionID = c.ID WHERE "+v1Alive, s.idle).Scan(&v1, &groups)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("count connections: %w", err)
	}
	return plain, v1, groups, nil
}

// Sweep deletes up to sweepBatch rows of each kind older than the idle
// timeout, with their memberships, and says how many
// connections went and which users thereby left which groups. A larger
// backlog goes on the next sweeps.
func (s *MySQL) Sweep(ctx context.Context) (int64, []proto.Membership, error) {
	res, err := s.db.ExecContext(ctx, s.sweep, s.idle)
	if err != nil {
		return 0, nil, fmt.Errorf("sweep connections: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, nil, fmt.Errorf("sweep connections: %w", err)
	}
	if !s.schema.V1 {
		return n, nil, nil
	}
	dead, err := s.strings(ctx, "SELECT c.ID FROM "+s.v1+" c WHERE NOT ("+v1Alive+
		") AND (c.Info = '' OR c.LastSeen < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND) LIMIT "+strconv.Itoa(sweepBatch),
		s.idle, s.idle+ProbeGrace(time.Duration(s.idle)*time.Microsecond).Microseconds())
	if err != nil {
		return n, nil, fmt.Errorf("sweep connections: %w", err)
	}
	var left []proto.Membership
	if len(dead) > 0 {
		if left, err = s.Remove(ctx, dead...); err != nil {
			return n, left, fmt.Errorf("sweep connections: %w", err)
		}
	}
	return n + int64(len(dead)), left, nil
}
