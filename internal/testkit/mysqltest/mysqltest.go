// Package mysqltest gives tests a fresh database on a MariaDB server: the one
// named by SCFWS_TEST_MYSQL (a go-sql-driver DSN such as
// scfws:scfws-test@tcp(127.0.0.1:33306)/, which .ci/mariadb.sh prints), or
// else a throwaway server this test process starts itself when mariadbd is
// installed, and which dies with it. Without either the test is skipped
// (with a note at the terminal), except under CI=true, where a missing
// server is a failure.
package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/scfws/scfws/internal/testkit"
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
		var err error
		dsn, err = throwaway()
		switch {
		case err == nil:
		case os.Getenv("CI") == "true":
			t.Fatalf("no MariaDB: SCFWS_TEST_MYSQL is not set and %v", err)
		default:
			testkit.SkipMissing(t, "MariaDB", "apt-get install mariadb-server (the tests start it themselves)")
		}
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

var (
	serverOnce sync.Once
	serverDSN  string
	serverErr  error
)

// throwaway starts, once per test process, a MariaDB server on a temporary
// data directory and a free loopback port, as .ci/mariadb.sh does; the
// kernel kills it when this process ends.
func throwaway() (string, error) {
	serverOnce.Do(func() { serverDSN, serverErr = start() })
	return serverDSN, serverErr
}

func start() (string, error) {
	daemon, err := find("mariadbd")
	if err != nil {
		return "", err
	}
	install, err := find("mariadb-install-db")
	if err != nil {
		return "", err
	}
	client, err := find("mariadb")
	if err != nil {
		return "", err
	}
	// Data directories of earlier runs: their servers died with them.
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "scfws-testdb-*"))
	for _, d := range old {
		if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
			_ = os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp("", "scfws-testdb-")
	if err != nil {
		return "", err
	}
	// The server runs as this user, who administers it over its socket
	// (unix_socket authentication is made for root and for --user).
	user := "root"
	if u, err := osuser.Current(); err == nil {
		user = u.Username
	}
	if out, err := exec.Command(install, "--no-defaults", "--datadir="+filepath.Join(dir, "data"),
		"--auth-root-authentication-method=socket", "--skip-test-db", "--user="+user).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "sock")
	cmd := exec.Command(daemon, "--no-defaults", "--datadir="+filepath.Join(dir, "data"), "--socket="+sock,
		"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--skip-name-resolve", "--user="+user,
		"--innodb-buffer-pool-size=64M", "--max-connections=500", "--log-error="+filepath.Join(dir, "error.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start mariadbd: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	setup := "CREATE USER 'scfws'@'127.0.0.1' IDENTIFIED BY 'scfws-test'; GRANT ALL PRIVILEGES ON *.* TO 'scfws'@'127.0.0.1' WITH GRANT OPTION;"
	var out []byte
	for range 150 {
		if out, err = exec.Command(client, "--no-defaults", "--socket="+sock, "-u"+user, "-e", setup).CombinedOutput(); err == nil {
			return fmt.Sprintf("scfws:scfws-test@tcp(127.0.0.1:%d)/", port), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill() // set-up failed: leave no server behind
	log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	return "", fmt.Errorf("mariadbd did not start: %v %s\n%s", err, out, log)
}

// find looks for a MariaDB program on PATH and in /usr/sbin, where Debian
// puts the server.
func find(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if p := filepath.Join("/usr/sbin", name); fileExists(p) {
		return p, nil
	}
	return "", fmt.Errorf("%s is not installed", name)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
