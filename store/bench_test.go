package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/scfws/scfws/internal/testdb"
)

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
			db := testdb.New(b)
			m, err := OpenMySQL(context.Background(), MySQLConfig{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password,
				DBName: db.Name, Table: "t", AutoMigrate: true, IdleTimeout: idle, serverPrepare: prepare})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if err := m.Touch(ctx, fmt.Sprintf("id-%d", i%1000)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkLive lists 10,000 live connections, as a transmit to that many does.
func BenchmarkLive(b *testing.B) {
	db := testdb.New(b)
	m, err := OpenMySQL(context.Background(), MySQLConfig{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password,
		DBName: db.Name, Table: "t", AutoMigrate: true, IdleTimeout: idle})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	db.Exec(b, "INSERT INTO t (ConnectionID, Date) SELECT CONCAT('conn-', seq), UTC_TIMESTAMP() FROM seq_0_to_9999")
	ctx := context.Background()
	for b.Loop() {
		ids, err := m.Live(ctx)
		if err != nil || len(ids) != 10000 {
			b.Fatalf("Live = %d ids, %v", len(ids), err)
		}
	}
}
