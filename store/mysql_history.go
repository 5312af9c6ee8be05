package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/scfws/scfws/proto"
)

// sweepStreams bounds the expired streams one sweep deletes: each holds at
// most HISTORY_SIZE messages.
const sweepStreams = 16

// errNoHistoryTables is a history call where the tables do not exist.
var errNoHistoryTables = &Error{msg: "the history tables do not exist (DB_AUTO_MIGRATE is off, or DB_USER may not create them)", missing: true}

// historyQueries are the statements on <table>_stream and <table>_recent.
type historyQueries struct {
	bump, read, clear, keep, position, older, newer, expired, dropKept, dropStream string
}

func newHistoryQueries(table string) historyQueries {
	st, rc := "`"+table+"_stream`", "`"+table+"_recent`"
	expired := "LastAt < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND"
	kept := "SELECT Seq, Frame FROM " + rc + " WHERE StreamKey = ? AND Epoch = ? AND Seq > ? AND Seq < ? ORDER BY Seq "
	return historyQueries{
		// The counter: a new stream, or one that expired, starts a new
		// epoch at 1. Each assignment reads only the row's old values
		// (LastAt is assigned last), so MariaDB's SIMULTANEOUS_ASSIGNMENT
		// mode changes nothing.
		bump: "INSERT INTO " + st + " (StreamKey, Epoch, LastSeq, LastAt) VALUES (?, ?, 1, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE " +
			"Epoch = IF(" + expired + ", VALUES(Epoch), Epoch), LastSeq = IF(" + expired + ", 1, LastSeq + 1), LastAt = VALUES(LastAt)",
		read:  "SELECT Epoch, LastSeq FROM " + st + " WHERE StreamKey = ?",
		clear: "DELETE FROM " + rc + " WHERE StreamKey = ? AND Epoch <> ?",
		keep: "INSERT INTO " + rc + " (StreamKey, Slot, Epoch, Seq, SentAt, Frame) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3), ?) " +
			"ON DUPLICATE KEY UPDATE Epoch = VALUES(Epoch), Seq = VALUES(Seq), SentAt = VALUES(SentAt), Frame = VALUES(Frame)",
		position:   "SELECT Epoch, LastSeq FROM " + st + " WHERE StreamKey = ? AND NOT (" + expired + ")",
		older:      kept + "LIMIT ?",
		newer:      kept + "DESC LIMIT ?",
		expired:    "SELECT StreamKey, Epoch FROM " + st + " WHERE " + expired + " LIMIT " + strconv.Itoa(sweepStreams),
		dropKept:   "DELETE FROM " + rc + " WHERE StreamKey = ? AND Epoch = ?",
		dropStream: "DELETE FROM " + st + " WHERE StreamKey = ? AND Epoch = ? AND " + expired,
	}
}

// Append gives frame the next offset of s's stream and keeps it, in one
// transaction: the counter's row lock orders concurrent senders on every
// instance, so offsets have no gaps and no repeats. A new or expired
// stream starts a new epoch; the old epoch's messages go with it.
func (s *MySQL) Append(ctx context.Context, st proto.Stream, frame []byte, keep proto.Retention) (proto.Position, error) {
	key, err := streamKey(st)
	if err != nil {
		return proto.Position{}, err
	}
	if err := checkKeep(keep); err != nil {
		return proto.Position{}, err
	}
	if !s.schema.History {
		return proto.Position{}, errNoHistoryTables
	}
	// A deadlock's victim was rolled back whole, its offset with it.
	return again(ctx, func() (proto.Position, error) { return s.append1(ctx, key, frame, keep) })
}

func (s *MySQL) append1(ctx context.Context, key string, frame []byte, keep proto.Retention) (pos proto.Position, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return pos, fmt.Errorf("append to stream: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	fresh, ttl := newEpoch(), keep.TTL.Microseconds()
	if _, err = tx.ExecContext(ctx, s.h.bump, key, fresh, ttl, ttl); err != nil {
		return pos, fmt.Errorf("append to stream: %w", err)
	}
	if err = tx.QueryRowContext(ctx, s.h.read, key).Scan(&pos.Epoch, &pos.Offset); err != nil {
		return pos, fmt.Errorf("append to stream: %w", err)
	}
	if pos.Epoch == fresh && pos.Offset == 1 {
		// A new epoch: what an expired one left in the ring goes now.
		if _, err = tx.ExecContext(ctx, s.h.clear, key, fresh); err != nil {
			return pos, fmt.Errorf("append to stream: %w", err)
		}
	}
	slot := pos.Offset % uint64(keep.Size)
	if _, err = tx.ExecContext(ctx, s.h.keep, key, slot, pos.Epoch, pos.Offset, frame); err != nil {
		return pos, fmt.Errorf("append to stream: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return pos, fmt.Errorf("append to stream: %w", err)
	}
	return pos, nil
}

// Position is s's latest: offset 0 and epoch "" for a stream that has no
// messages, or has expired.
func (s *MySQL) Position(ctx context.Context, st proto.Stream, keep proto.Retention) (proto.Position, error) {
	key, err := streamKey(st)
	if err != nil {
		return proto.Position{}, err
	}
	if !s.schema.History {
		return proto.Position{}, errNoHistoryTables
	}
	var pos proto.Position
	err = s.db.QueryRowContext(ctx, s.h.position, key, keep.TTL.Microseconds()).Scan(&pos.Epoch, &pos.Offset)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return proto.Position{}, nil
	case err != nil:
		return proto.Position{}, fmt.Errorf("read stream: %w", err)
	}
	return pos, nil
}

// Messages returns s's kept messages of epoch in r, oldest first.
func (s *MySQL) Messages(ctx context.Context, st proto.Stream, epoch string, r proto.Range) ([]proto.Kept, error) {
	key, err := streamKey(st)
	if err != nil {
		return nil, err
	}
	if !s.schema.History {
		return nil, errNoHistoryTables
	}
	if r.Limit <= 0 || epoch == "" {
		return nil, nil
	}
	q := s.h.older
	if r.Newest {
		q = s.h.newer
	}
	rows, err := s.db.QueryContext(ctx, q, key, epoch, r.After, upper(r), r.Limit)
	if err != nil {
		return nil, fmt.Errorf("read kept messages: %w", err)
	}
	defer rows.Close()
	var out []proto.Kept
	for rows.Next() {
		var k proto.Kept
		if err := rows.Scan(&k.Offset, &k.Frame); err != nil {
			return nil, fmt.Errorf("read kept messages: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read kept messages: %w", err)
	}
	if r.Newest {
		reverse(out)
	}
	return out, nil
}

func reverse(ks []proto.Kept) {
	for i, j := 0, len(ks)-1; i < j; i, j = i+1, j-1 {
		ks[i], ks[j] = ks[j], ks[i]
	}
}

// SweepHistory deletes streams that had no message within keep.TTL, at
// most sweepStreams, with their messages: those first, so that a sweep cut
// short leaves an expired stream to the next rather than messages nobody
// deletes. A stream a message revived meanwhile has a new epoch, which
// neither statement touches.
func (s *MySQL) SweepHistory(ctx context.Context, keep proto.Retention) (int64, error) {
	if !s.schema.History {
		return 0, errNoHistoryTables
	}
	ttl := keep.TTL.Microseconds()
	rows, err := s.db.QueryContext(ctx, s.h.expired, ttl)
	if err != nil {
		return 0, fmt.Errorf("sweep history: %w", err)
	}
	var expired [][2]string
	for rows.Next() {
		var key, epoch string
		if err := rows.Scan(&key, &epoch); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sweep history: %w", err)
		}
		expired = append(expired, [2]string{key, epoch})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sweep history: %w", err)
	}
	var n int64
	for _, e := range expired {
		if _, err := s.db.ExecContext(ctx, s.h.dropKept, e[0], e[1]); err != nil {
			return n, fmt.Errorf("sweep history: %w", err)
		}
		res, err := s.db.ExecContext(ctx, s.h.dropStream, e[0], e[1], ttl)
		if err != nil {
			return n, fmt.Errorf("sweep history: %w", err)
		}
		if k, err := res.RowsAffected(); err == nil {
			n += k
		}
	}
	return n, nil
}
