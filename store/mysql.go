package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLConfig says where the registry lives. Host may be a Unix socket path.
type MySQLConfig struct {
	Host     string
	Port     int
	User     string
	Password string
	DBName   string
	Table    string

	// AutoMigrate creates the table when it is missing. An existing table is
	// never altered, so a user without CREATE works once the table exists.
	AutoMigrate bool
	// IdleTimeout is the API's backend timeout: rows older than it are dead.
	IdleTimeout time.Duration

	// DialTimeout and IOTimeout bound a dead or hung server even when the
	// caller's context has no deadline. Zero means 3s and 10s.
	DialTimeout time.Duration
	IOTimeout   time.Duration
	// MaxOpenConns caps the pool; zero means 8. SCF runs one invoke at a time
	// per instance, and many instances share one TencentDB connection limit.
	MaxOpenConns int
	// DriverLog receives the driver's own messages (a connection cut under
	// the pool, say); nil leaves them to the driver's logger, on stderr.
	DriverLog func(msg string)

	// serverPrepare turns off client-side interpolation, for the benchmark
	// that chose it.
	serverPrepare bool
}

// MySQL is the registry in MySQL. Plain connections live in the table of
// Tencent's tutorial (ConnectionID, and Date: the last client frame, by the
// database clock); scfws.v1 connections in <table>_v1 (ID, UserID, Roles,
// Info, LastSeen), their memberships in <table>_groups (GroupName,
// ConnectionID, UserID). Every query on the v1 tables is an index lookup:
// group to connections by the primary key, connection to groups and user to
// connections by secondary keys. One MySQL, with its pool, serves every
// invoke of a warm instance.
//
// No membership outlives its connection: a join inserts only while its
// connection's row exists, under a locking read, and a removal deletes the
// row first and the memberships after. So listing a group needs no join
// with the connections, only the few members that are past the idle
// timeout but not yet swept taken out.
type MySQL struct {
	db     *sql.DB
	schema Schema
	idle   int64 // microseconds

	register    string // keyed: the whole upsert; unkeyed: UPDATE, then...
	insert      string // ...INSERT when no row matched
	touch       string
	remove      string // prefix; the IN list is appended
	live        string
	countLive   string
	lookup      string
	sweep       string
	nonceClaim  string
	nonceSweep  string
	main, v1, g string // quoted table names
	h           historyQueries
	alive       string // the condition for a live plain row; its one argument is the idle timeout
	f           fanoutQueries
}

// tableName leaves room within MySQL's 64 for the other tables' suffixes
// of up to 7 characters: _v1, _groups, _nonce, _stream, _recent, _jobs,
// _shards, _budget.
var tableName = regexp.MustCompile(`^[A-Za-z0-9_]{1,57}$`)

// sweepBatch bounds one sweep, so that a backlog never holds a long lock.
const sweepBatch = 1000

// removeBatch bounds the IN list of one DELETE.
const removeBatch = 500

// OpenMySQL connects, creates the table if allowed and needed, and inspects
// it. The caller owns the result and closes it.
func OpenMySQL(ctx context.Context, c MySQLConfig) (*MySQL, error) {
	if !tableName.MatchString(c.Table) {
		return nil, fmt.Errorf("table name %q: must match [A-Za-z0-9_]{1,57}", c.Table)
	}
	if c.IdleTimeout < time.Second {
		return nil, fmt.Errorf("idle timeout %s: must be at least 1s", c.IdleTimeout)
	}
	conn, err := connector(c)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	open := c.MaxOpenConns
	if open <= 0 {
		open = 8
	}
	db.SetMaxOpenConns(open)
	db.SetMaxIdleConns(open)
	// A frozen SCF instance can thaw after the server or a NAT has dropped
	// its connections; retire them before that is likely.
	db.SetConnMaxIdleTime(time.Minute)
	db.SetConnMaxLifetime(5 * time.Minute)

	s := &MySQL{db: db, idle: c.IdleTimeout.Microseconds()}
	schema, err := s.prepareTable(ctx, c.Table, c.AutoMigrate)
	var me *mysql.MySQLError
	// A user without rights on a database hears "access denied" whether or
	// not it exists: try to create it then too, for a message that helps.
	if errors.As(err, &me) && (me.Number == errUnknownDatabase || me.Number == errDBAccessDenied) && c.AutoMigrate {
		// A database that does not exist yet is made, when the user may:
		// the first thing a new deployment (or a local MariaDB) lacks.
		if err = createDatabase(ctx, c); err == nil {
			schema, err = s.prepareTable(ctx, c.Table, c.AutoMigrate)
			schema.DatabaseCreated = err == nil
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	s.schema = schema
	s.buildQueries(c.Table)
	return s, nil
}

func connector(c MySQLConfig) (driver.Connector, error) {
	mc := mysql.NewConfig()
	mc.User = c.User
	mc.Passwd = c.Password
	mc.DBName = c.DBName
	if strings.HasPrefix(c.Host, "/") {
		mc.Net, mc.Addr = "unix", c.Host
	} else {
		mc.Net, mc.Addr = "tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	}
	mc.Timeout = orDefault(c.DialTimeout, 3*time.Second)
	mc.ReadTimeout = orDefault(c.IOTimeout, 10*time.Second)
	mc.WriteTimeout = mc.ReadTimeout
	if c.DriverLog != nil {
		mc.Logger = driverLogger(c.DriverLog)
	}
	// One round trip per statement instead of prepare, execute and close:
	// see BenchmarkTouch for the numbers.
	mc.InterpolateParams = !c.serverPrepare
	// UPDATE reports matched rows, not changed ones, so the unkeyed Touch
	// does not insert a duplicate when Date did not change within a second.
	mc.ClientFoundRows = true
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("database settings: %w", err)
	}
	return conn, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (s *MySQL) buildQueries(table string) {
	// Times come from the database clock in UTC, so instances in any time
	// zone agree. A string Date holds 'YYYY-MM-DD HH:MM:SS', which sorts as
	// it reads, so it is compared as a string: no cast that strict mode
	// would turn into an error on a garbage row. Garbage that sorts after
	// every date ("yesterday") is caught by an upper bound a day ahead.
	// Milliseconds: MariaDB rounds a fraction written to a whole-second
	// column, which with a short idle timeout makes rows look a second
	// younger than they are. Hand-made tables keep whole seconds, which
	// the usual 600s timeout does not notice.
	t := "`" + table + "`"
	s.main, s.v1, s.g = t, "`"+table+"_v1`", "`"+table+"_groups`"
	now, alive, dead := "UTC_TIMESTAMP(3)", "Date >= UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND", "Date < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND"
	if s.schema.DateType != "datetime" && s.schema.DateType != "timestamp" {
		const format = ", '%Y-%m-%d %H:%i:%s')"
		now = "DATE_FORMAT(UTC_TIMESTAMP()" + format
		cutoff := "DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL ? MICROSECOND" + format
		upper := "DATE_FORMAT(UTC_TIMESTAMP() + INTERVAL 1 DAY" + format
		alive = "Date BETWEEN " + cutoff + " AND " + upper
		dead = "(Date < " + cutoff + " OR Date > " + upper + ")"
	}
	// UPDATE reports matched rows (ClientFoundRows), so a Touch within the
	// same millisecond still finds its row.
	s.touch = "UPDATE " + t + " SET Date = " + now + " WHERE ConnectionID = ?"
	if s.schema.Keyed {
		s.register = "INSERT INTO " + t + " (ConnectionID, Date) VALUES (?, " + now + ") ON DUPLICATE KEY UPDATE Date = VALUES(Date)"
		s.live = "SELECT ConnectionID FROM " + t + " WHERE " + alive
	} else {
		s.register = s.touch
		s.insert = "INSERT INTO " + t + " (ConnectionID, Date) VALUES (?, " + now + ")"
		s.live = "SELECT DISTINCT ConnectionID FROM " + t + " WHERE " + alive
	}
	s.countLive = "SELECT COUNT(DISTINCT ConnectionID) FROM " + t + " WHERE " + alive
	// NULL without a row; 1 when any of its rows is live, else 0.
	s.lookup = "SELECT MAX(" + alive + ") FROM " + t + " WHERE ConnectionID = ?"
	s.remove = "DELETE FROM " + t + " WHERE ConnectionID IN "
	s.sweep = "DELETE FROM " + t + " WHERE Date IS NULL OR " + dead + " LIMIT " + strconv.Itoa(sweepBatch)
	// INSERT IGNORE: 1 row affected when new, 0 for a nonce already there.
	nonces := "`" + table + "_nonce`"
	s.nonceClaim = "INSERT IGNORE INTO " + nonces + " (Nonce, Expires) VALUES (?, ?)"
	s.nonceSweep = "DELETE FROM " + nonces + " WHERE Expires < UTC_TIMESTAMP(3) LIMIT " + strconv.Itoa(nonceSweep)
	s.h = newHistoryQueries(table)
	s.alive = alive
	s.f = newFanoutQueries(table)
}

// v1Alive is the condition for a live scfws.v1 row aliased c; its one
// argument is the idle timeout in microseconds.
const v1Alive = "c.LastSeen >= UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND"

// Schema says what OpenMySQL found, for a hint in the log.
func (s *MySQL) Schema() Schema { return s.schema }

// Close releases the pool.
func (s *MySQL) Close() error { return s.db.Close() }

// strings runs a query whose rows are one string each.
func (s *MySQL) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// list is an IN list of n placeholders: (?, ?, ?).
func list(n int) string { return "(?" + strings.Repeat(", ?", n-1) + ")" }

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// again runs f, an idempotent change, once more (up to maxTries in all)
// when InnoDB chose it as a deadlock's victim (1213): it was rolled back
// whole, and connections closing, joining and leaving at once on parallel
// instances take the same rows in different orders.
func again[T any](ctx context.Context, f func() (T, error)) (T, error) {
	const maxTries = 4
	for try := 1; ; try++ {
		v, err := f()
		var me *mysql.MySQLError
		if try == maxTries || !errors.As(err, &me) || me.Number != errDeadlock {
			return v, err
		}
		// A short pause of random length, so the two do not collide again.
		t := time.NewTimer(time.Duration(try) * time.Duration(1+rand.IntN(5)) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
}

// errDeadlock is MySQL's ER_LOCK_DEADLOCK.
const errDeadlock = 1213

// driverLogger adapts a DriverLog to the driver's Logger, one message a line.
type driverLogger func(msg string)

func (f driverLogger) Print(v ...any) { f(strings.TrimSpace(fmt.Sprint(v...))) }
