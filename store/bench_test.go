package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/proto"
)

const idle = 10 * time.Minute

// openBench opens a registry with table t in a fresh database, closed when
// the benchmark ends.
func openBench(b *testing.B, serverPrepare bool) (*mysqltest.DB, *MySQL) {
	b.Helper()
	db := mysqltest.New(b)
	m, err := OpenMySQL(context.Background(), MySQLConfig{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password,
		DBName: db.Name, Table: "t", AutoMigrate: true, IdleTimeout: idle, serverPrepare: serverPrepare})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return db, m
}

// BenchmarkTouch compares client-side interpolation (one round trip per
// statement) with server-side prepared statements (prepare, execute, close)
// for the statement every invoke makes.
func BenchmarkTouch(b *testing.B) {
	for _, prepare := range []bool{false, true} {
		name := "interpolate"
		if prepare {
			name = "server-prepare"
		}
		b.Run(name, func(b *testing.B) {
			_, m := openBench(b, prepare)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if _, err := m.Register(ctx, proto.Conn{ID: fmt.Sprintf("id-%d", i%1000)}, nil); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkLive lists 10,000 live connections, as a transmit to that many does.
func BenchmarkLive(b *testing.B) {
	db, m := openBench(b, false)
	db.Exec(b, "INSERT INTO t (ConnectionID, Date) SELECT CONCAT('conn-', seq), UTC_TIMESTAMP() FROM seq_0_to_9999")
	ctx := context.Background()
	for b.Loop() {
		ids, err := m.Live(ctx)
		if err != nil || len(ids) != 10000 {
			b.Fatalf("Live = %d ids, %v", len(ids), err)
		}
	}
}

// BenchmarkGroup10k lists a group of 10,000 live members (100 users of 100
// connections each) from MariaDB: the recipients of a group send, and the
// users with their counts that listGroup answers.
func BenchmarkGroup10k(b *testing.B) {
	db, m := openBench(b, false)
	db.Exec(b, "INSERT INTO t_v1 (ID, UserID, LastSeen) SELECT CONCAT('conn-', seq), CONCAT('user-', seq % 100), UTC_TIMESTAMP(3) FROM seq_0_to_9999")
	db.Exec(b, "INSERT INTO t_groups (GroupName, ConnectionID, UserID) SELECT 'lobby', CONCAT('conn-', seq), CONCAT('user-', seq % 100) FROM seq_0_to_9999")
	db.Exec(b, "INSERT INTO t_groups (GroupName, ConnectionID, UserID) SELECT 'other', CONCAT('conn-', seq), CONCAT('user-', seq % 100) FROM seq_0_to_4999")
	db.Exec(b, "ANALYZE TABLE t_v1, t_groups")
	ctx := context.Background()
	b.Run("GroupConns", func(b *testing.B) {
		for b.Loop() {
			ids, err := m.GroupConns(ctx, "lobby")
			if err != nil || len(ids) != 10000 {
				b.Fatalf("GroupConns = %d ids, %v", len(ids), err)
			}
		}
	})
	b.Run("GroupUsers", func(b *testing.B) {
		for b.Loop() {
			users, _, _, err := m.GroupUsers(ctx, "lobby", 1000)
			if err != nil || len(users) != 100 {
				b.Fatalf("GroupUsers = %d users, %v", len(users), err)
			}
		}
	})
}

// BenchmarkAppend is a message kept in its stream (one transaction: the
// counter's update, a read of it, the ring's insert) of a 200-byte frame,
// in a ring of 100; and a resume's read of 100 of them.
func BenchmarkAppend(b *testing.B) {
	_, m := openBench(b, false)
	ctx := context.Background()
	keep := proto.Retention{Size: 100, TTL: time.Hour}
	frame := []byte(fmt.Sprintf(`{"type":"message","from":"group","group":"lobby","fromUserId":"alice","dataType":"text","data":%q,"id":"01JE3R4XKQ7ZV0GQ2W5M8N9PAB"}`,
		string(make([]byte, 80))))
	var pos proto.Position
	b.Run("Append", func(b *testing.B) {
		for b.Loop() {
			var err error
			if pos, err = m.Append(ctx, proto.Stream{Group: "lobby"}, frame, keep); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Messages100", func(b *testing.B) {
		for b.Loop() {
			kept, err := m.Messages(ctx, proto.Stream{Group: "lobby"}, pos.Epoch, proto.Range{After: pos.Offset - 100, Before: pos.Offset + 1, Limit: 100})
			if err != nil || len(kept) != 100 {
				b.Fatalf("Messages = %d, %v", len(kept), err)
			}
		}
	})
}
