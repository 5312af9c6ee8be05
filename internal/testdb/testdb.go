// Package testdb gives tests a fresh database on the MariaDB server named by
// SCFWS_TEST_MYSQL (a go-sql-driver DSN such as
// scfws:scfws-test@tcp(127.0.0.1:33306)/, which .ci/mariadb.sh prints).
// Without it the test is skipped, except under CI=true, where a missing
// server is a failure.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DB is one test's database.
type DB struct {
	Host     string
	Port     int
	User     string
	Password string
	Name     string
	// Root is a handle on the database with the server user's rights, for
	// seeding and inspecting tables behind the code under test.
	Root *sql.DB

	admin *mysql.Config
}

// New creates an empty database that is dropped when the test ends.
func New(t testing.TB) *DB {
	t.Helper()
	dsn := os.Getenv("SCFWS_TEST_MYSQL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SCFWS_TEST_MYSQL is not set: .ci/run must start MariaDB (.ci/mariadb.sh)")
		}
		t.Skip("SCFWS_TEST_MYSQL not set; start MariaDB with: eval \"$(bash .ci/mariadb.sh)\"")
	}
	admin, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("SCFWS_TEST_MYSQL: %v", err)
	}
	host, portStr, err := net.SplitHostPort(admin.Addr)
	if err != nil {
		t.Fatalf("SCFWS_TEST_MYSQL address %q: %v", admin.Addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	d := &DB{Host: host, Port: port, User: admin.User, Password: admin.Passwd, Name: "scfws_test_" + randomHex(6), admin: admin}

	server := open(t, admin, "")
	defer server.Close()
	mustExec(t, server, "CREATE DATABASE `"+d.Name+"` CHARACTER SET utf8mb4")
	d.Root = open(t, admin, d.Name)
	t.Cleanup(func() {
		d.Root.Close()
		s := open(t, admin, "")
		defer s.Close()
		mustExec(t, s, "DROP DATABASE IF EXISTS `"+d.Name+"`")
	})
	return d
}

// Exec runs a statement as the server user, failing the test on error.
func (d *DB) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	mustExec(t, d.Root, query, args...)
}

// LimitedUser creates a user that may only read and write rows in this
// database (no CREATE), and returns its name and password.
func (d *DB) LimitedUser(t testing.TB) (user, password string) {
	t.Helper()
	user, password = "lim_"+randomHex(4), randomHex(12)
	d.Exec(t, "CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?", user, password)
	d.Exec(t, "GRANT SELECT, INSERT, UPDATE, DELETE ON `"+d.Name+"`.* TO ?@'127.0.0.1'", user)
	t.Cleanup(func() {
		s := open(t, d.admin, "")
		defer s.Close()
		mustExec(t, s, "DROP USER IF EXISTS ?@'127.0.0.1'", user)
	})
	return user, password
}

// IDs returns the sorted ConnectionID values of table, duplicates included.
func (d *DB) IDs(t testing.TB, table string) []string {
	t.Helper()
	return d.Strings(t, "SELECT ConnectionID FROM `"+table+"` ORDER BY ConnectionID")
}

// Strings runs a query whose rows are one string each.
func (d *DB) Strings(t testing.TB, query string, args ...any) []string {
	t.Helper()
	rows, err := d.Root.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func open(t testing.TB, admin *mysql.Config, name string) *sql.DB {
	t.Helper()
	c := admin.Clone()
	c.DBName = name
	c.InterpolateParams = true
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB at %s: %v", admin.Addr, err)
	}
	return db
}

func mustExec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
