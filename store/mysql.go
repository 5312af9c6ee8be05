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

// Schema is what OpenMySQL found out about the tables.
type Schema struct {
	// Created is true when OpenMySQL created the connection table.
	Created bool
	// Keyed is true when ConnectionID has a one-column unique index. Without
	// one (a table made by hand as Tencent's tutorial says) writes take two
	// statements and a racing register can leave a duplicate row, which Live
	// folds and Remove deletes.
	Keyed bool
	// DateType is the Date column's SQL type: datetime, timestamp, or a
	// string type holding 'YYYY-MM-DD HH:MM:SS'.
	DateType string
	// V1 is true when the scfws.v1 tables (<table>_v1 and <table>_groups)
	// exist; V1Created when OpenMySQL created them.
	V1, V1Created bool
	// V1Denied is true when AutoMigrate was on but the user may not create
	// the scfws.v1 tables: plain connections work, scfws.v1 is refused,
	// as with AutoMigrate off. The tutorial's table and a user without
	// CREATE work as they did before scfws.v1.
	V1Denied bool
	// DatabaseCreated is true when OpenMySQL created the database itself.
	DatabaseCreated bool
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
	lookup      string
	sweep       string
	main, v1, g string // quoted table names
}

// tableName leaves room for the _groups suffix within MySQL's 64.
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

// MariaDB's and MySQL's error numbers.
const (
	errUnknownDatabase = 1049
	errDBAccessDenied  = 1044
)

// createDatabase makes c's database, connecting without one.
func createDatabase(ctx context.Context, c MySQLConfig) error {
	server := c
	server.DBName = ""
	conn, err := connector(server)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	// DBName is checked by config as [A-Za-z0-9_]{1,64}: safe to quote.
	if !dbName.MatchString(c.DBName) {
		return fmt.Errorf("database name %q: must match [A-Za-z0-9_]{1,64}", c.DBName)
	}
	_, err = db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+c.DBName+"` CHARACTER SET utf8mb4")
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == errDBAccessDenied || me.Number == 1045 || me.Number == 1227) {
		return fmt.Errorf("database %s does not exist (or user %s may not use it), and %s may not create it: "+
			"have an administrator run CREATE DATABASE %s and grant %s SELECT, INSERT, UPDATE, DELETE, CREATE on it: %w",
			c.DBName, c.User, c.User, c.DBName, c.User, err)
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", c.DBName, err)
	}
	return nil
}

var dbName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

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

func (s *MySQL) prepareTable(ctx context.Context, table string, migrate bool) (Schema, error) {
	var schema Schema
	cols, err := s.columns(ctx, table)
	if err != nil {
		return schema, err
	}
	if len(cols) == 0 {
		if !migrate {
			return schema, fmt.Errorf("table %s does not exist and auto-migrate is off", table)
		}
		// VARBINARY: IDs compare byte for byte. A case-insensitive key would
		// merge IDs that differ in case, and utf8mb4_bin still pads, so
		// "abc " and "abc" were one row (closing one deleted the other).
		ddl := "CREATE TABLE IF NOT EXISTS `" + table + "` (" +
			"ConnectionID VARBINARY(255) NOT NULL, " +
			"Date DATETIME(3) NOT NULL, " +
			"PRIMARY KEY (ConnectionID), KEY idx_date (Date)" +
			") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
		if _, err := s.db.ExecContext(ctx, ddl); err != nil {
			return schema, fmt.Errorf("create table %s: %w", table, err)
		}
		schema.Created = true
		if cols, err = s.columns(ctx, table); err != nil {
			return schema, err
		}
	}
	if _, ok := cols["connectionid"]; !ok {
		return schema, fmt.Errorf("table %s has no ConnectionID column", table)
	}
	dateType, ok := cols["date"]
	if !ok {
		return schema, fmt.Errorf("table %s has no Date column", table)
	}
	switch dateType {
	case "datetime", "timestamp", "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		schema.DateType = dateType
	default:
		return schema, fmt.Errorf("table %s: Date column is %s; want DATETIME, TIMESTAMP or a string", table, dateType)
	}
	if schema.Keyed, err = s.keyed(ctx, table); err != nil {
		return schema, err
	}
	schema.V1, schema.V1Created, err = s.prepareV1(ctx, table, migrate)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == errCreateDenied {
		schema.V1Denied, err = true, nil
	}
	return schema, err
}

// errCreateDenied is ER_TABLEACCESS_DENIED_ERROR: "CREATE command denied".
const errCreateDenied = 1142

// prepareV1 finds or creates the scfws.v1 tables. Both must exist; without
// them plain connections still work and scfws.v1 handshakes are refused.
func (s *MySQL) prepareV1(ctx context.Context, table string, migrate bool) (exists, created bool, err error) {
	v1, err := s.columns(ctx, table+"_v1")
	if err != nil {
		return false, false, err
	}
	g, err := s.columns(ctx, table+"_groups")
	if err != nil {
		return false, false, err
	}
	if len(v1) > 0 && len(g) > 0 {
		return true, false, nil
	}
	if !migrate {
		return false, false, nil
	}
	for _, ddl := range []string{
		"CREATE TABLE IF NOT EXISTS `" + table + "_v1` (" +
			"ID VARBINARY(255) NOT NULL, " +
			"UserID VARBINARY(128) NOT NULL DEFAULT '', " +
			"Roles VARBINARY(8448) NOT NULL DEFAULT '', " +
			"Info VARBINARY(1024) NOT NULL DEFAULT '', " +
			"LastSeen DATETIME(3) NOT NULL, " +
			"PRIMARY KEY (ID), KEY idx_user (UserID, LastSeen), KEY idx_seen (LastSeen)" +
			") ENGINE=InnoDB",
		// UserID is the connection's, copied (it never changes): listing a
		// group and its users then reads one index range instead of joining
		// every member, 3.4ms instead of 14ms for 10,000 members.
		"CREATE TABLE IF NOT EXISTS `" + table + "_groups` (" +
			"GroupName VARBINARY(128) NOT NULL, " +
			"ConnectionID VARBINARY(255) NOT NULL, " +
			"UserID VARBINARY(128) NOT NULL DEFAULT '', " +
			"PRIMARY KEY (GroupName, ConnectionID), KEY idx_conn (ConnectionID), KEY idx_user (GroupName, UserID)" +
			") ENGINE=InnoDB",
	} {
		if _, err := s.db.ExecContext(ctx, ddl); err != nil {
			return false, false, fmt.Errorf("create the scfws.v1 tables: %w", err)
		}
	}
	return true, true, nil
}

// columns maps lower-case column names to their data types; empty when the
// table does not exist.
func (s *MySQL) columns(ctx context.Context, table string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", table)
	if err != nil {
		return nil, fmt.Errorf("inspect table %s: %w", table, err)
	}
	defer rows.Close()
	cols := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("inspect table %s: %w", table, err)
		}
		cols[strings.ToLower(name)] = strings.ToLower(typ)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inspect table %s: %w", table, err)
	}
	return cols, nil
}

func (s *MySQL) keyed(ctx context.Context, table string) (bool, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT INDEX_NAME, COUNT(*), MAX(COLUMN_NAME) FROM information_schema.STATISTICS "+
			"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 GROUP BY INDEX_NAME", table)
	if err != nil {
		return false, fmt.Errorf("inspect indexes of %s: %w", table, err)
	}
	defer rows.Close()
	keyed := false
	for rows.Next() {
		var index, column string
		var n int
		if err := rows.Scan(&index, &n, &column); err != nil {
			return false, fmt.Errorf("inspect indexes of %s: %w", table, err)
		}
		if n == 1 && strings.EqualFold(column, "ConnectionID") {
			keyed = true
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("inspect indexes of %s: %w", table, err)
	}
	return keyed, nil
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
	// NULL without a row; 1 when any of its rows is live, else 0.
	s.lookup = "SELECT MAX(" + alive + ") FROM " + t + " WHERE ConnectionID = ?"
	s.remove = "DELETE FROM " + t + " WHERE ConnectionID IN "
	s.sweep = "DELETE FROM " + t + " WHERE Date IS NULL OR " + dead + " LIMIT " + strconv.Itoa(sweepBatch)
}

// v1Alive is the condition for a live scfws.v1 row aliased c; its one
// argument is the idle timeout in microseconds.
const v1Alive = "c.LastSeen >= UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND"

// Schema says what OpenMySQL found, for a hint in the log.
func (s *MySQL) Schema() Schema { return s.schema }

// Close releases the pool.
func (s *MySQL) Close() error { return s.db.Close() }

// Register stores c (an upsert) and, for scfws.v1, joins groups. firsts are
// the groups in which c's user had no other live connection.
func (s *MySQL) Register(ctx context.Context, c Conn, groups []string) (firsts []string, err error) {
	if err := checkConn(c); err != nil {
		return nil, fmt.Errorf("store connection: %w", err)
	}
	return again(ctx, func() ([]string, error) { return s.register1(ctx, c, groups) })
}

func (s *MySQL) register1(ctx context.Context, c Conn, groups []string) (firsts []string, err error) {
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
func (s *MySQL) Touch(ctx context.Context, id string) (Conn, bool, error) {
	return s.either(ctx, id, s.touchPlain, s.touchV1)
}

// Lookup returns id's connection without refreshing it, and whether it is
// live; a dead row's connection comes back too (no row: c.ID is empty).
func (s *MySQL) Lookup(ctx context.Context, id string) (Conn, bool, error) {
	return s.either(ctx, id, s.lookupPlain, s.lookupV1)
}

// either asks the plain table, then the scfws.v1 one when the first has
// no row. A plain table without
// a key on ConnectionID (the tutorial's) is read whole for every question,
// so there the v1 table, keyed, goes first.
func (s *MySQL) either(ctx context.Context, id string, plain, v1 func(context.Context, string) (Conn, bool, error)) (Conn, bool, error) {
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

func (s *MySQL) touchPlain(ctx context.Context, id string) (Conn, bool, error) {
	res, err := s.db.ExecContext(ctx, s.touch, id)
	if err != nil {
		return Conn{}, false, fmt.Errorf("refresh connection: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return Conn{}, false, nil
	}
	return Conn{ID: id}, true, nil
}

func (s *MySQL) touchV1(ctx context.Context, id string) (Conn, bool, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.v1+" SET LastSeen = UTC_TIMESTAMP(3) WHERE ID = ?", id)
	if err != nil {
		return Conn{}, false, fmt.Errorf("refresh connection: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return Conn{}, false, nil
	}
	c, ok, err := s.readV1(ctx, "SELECT UserID, Roles, Info FROM "+s.v1+" WHERE ID = ?", id) // gone: removed in between
	if err != nil {
		return Conn{}, false, fmt.Errorf("read connection: %w", err)
	}
	return c, ok, nil
}

func (s *MySQL) lookupPlain(ctx context.Context, id string) (Conn, bool, error) {
	var alive sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.lookup, s.idle, id).Scan(&alive); err != nil {
		return Conn{}, false, fmt.Errorf("look up connection: %w", err)
	}
	if !alive.Valid {
		return Conn{}, false, nil
	}
	return Conn{ID: id}, alive.Int64 == 1, nil
}

func (s *MySQL) lookupV1(ctx context.Context, id string) (Conn, bool, error) {
	c := Conn{ID: id, V1: true}
	var roles string
	var alive bool
	err := s.db.QueryRowContext(ctx, "SELECT c.UserID, c.Roles, c.Info, "+v1Alive+" FROM "+s.v1+" c WHERE c.ID = ?", s.idle, id).
		Scan(&c.UserID, &roles, &c.Info, &alive)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Conn{}, false, nil
	case err != nil:
		return Conn{}, false, fmt.Errorf("look up connection: %w", err)
	}
	c.Roles = splitRoles(roles)
	return c, alive, nil
}

// readV1 reads one scfws.v1 connection by q, which selects its UserID,
// Roles and Info with args (the first is the ID).
func (s *MySQL) readV1(ctx context.Context, q string, args ...any) (Conn, bool, error) {
	c := Conn{ID: args[0].(string), V1: true}
	var roles string
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&c.UserID, &roles, &c.Info)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Conn{}, false, nil
	case err != nil:
		return Conn{}, false, err
	}
	c.Roles = splitRoles(roles)
	return c, true, nil
}

// Remove forgets ids, their memberships included; unknown ids are not an
// error. left are the groups whose user lost its last live connection.
func (s *MySQL) Remove(ctx context.Context, ids ...string) ([]Membership, error) {
	var left []Membership
	for len(ids) > 0 {
		n := min(len(ids), removeBatch)
		batch := ids[:n]
		l, err := again(ctx, func() ([]Membership, error) { return s.removeBatch(ctx, batch) })
		if err != nil {
			return left, err
		}
		left = append(left, l...)
		ids = ids[n:]
	}
	return sortedUnique(left), nil
}

func (s *MySQL) removeBatch(ctx context.Context, ids []string) ([]Membership, error) {
	var left []Membership
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
func (s *MySQL) removeV1(ctx context.Context, ids []string) ([]Membership, error) {
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
func (s *MySQL) departed(ctx context.Context, cands []Membership) ([]Membership, error) {
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
	present := map[Membership]bool{}
	for _, m := range still {
		present[m] = true
	}
	var left []Membership
	for _, m := range cands {
		if !present[m] {
			left = append(left, m)
		}
	}
	return left, nil
}

func scanMemberships(rows *sql.Rows) ([]Membership, error) {
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
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

// Sweep deletes up to sweepBatch rows of each kind older than the idle
// timeout, with their memberships, and says how many
// connections went and which users thereby left which groups. A larger
// backlog goes on the next sweeps.
func (s *MySQL) Sweep(ctx context.Context) (int64, []Membership, error) {
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
	var left []Membership
	if len(dead) > 0 {
		if left, err = s.Remove(ctx, dead...); err != nil {
			return n, left, fmt.Errorf("sweep connections: %w", err)
		}
	}
	return n + int64(len(dead)), left, nil
}

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
func (s *MySQL) GroupUsers(ctx context.Context, group string, limit int) ([]UserCount, int, bool, error) {
	if !s.schema.V1 {
		return []UserCount{}, 0, false, nil
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
	users := []UserCount{}
	anonymous, named := 0, 0
	for _, u := range counts {
		n := u.Connections - minus[u.UserID]
		switch {
		case u.UserID == "":
			anonymous = n
		case n > 0:
			named++
			if limit <= 0 || len(users) < limit {
				users = append(users, UserCount{UserID: u.UserID, Connections: n})
			}
		}
	}
	return users, anonymous, limit > 0 && named > limit, nil
}

func (s *MySQL) userCounts(ctx context.Context, q string, args ...any) ([]UserCount, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UserCount
	for rows.Next() {
		var u UserCount
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
