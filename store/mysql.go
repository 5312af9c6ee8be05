package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net"
	"regexp"
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

	// serverPrepare turns off client-side interpolation, for the benchmark
	// that chose it.
	serverPrepare bool
}

// Schema is what OpenMySQL found out about the table.
type Schema struct {
	// Created is true when OpenMySQL created the table.
	Created bool
	// Keyed is true when ConnectionID has a one-column unique index. Without
	// one (a table made by hand as Tencent's tutorial says) writes take two
	// statements and a racing register can leave a duplicate row, which Live
	// folds and Remove deletes.
	Keyed bool
	// DateType is the Date column's SQL type: datetime, timestamp, or a
	// string type holding 'YYYY-MM-DD HH:MM:SS'.
	DateType string
}

// MySQL is the registry in a MySQL table with the columns of Tencent's
// tutorial: ConnectionID and Date (last client frame, by the database clock).
// One MySQL, with its pool, serves every invoke of a warm instance.
type MySQL struct {
	db     *sql.DB
	schema Schema
	idle   int64 // microseconds

	touchUpdate string // keyed: the whole upsert; unkeyed: UPDATE, then...
	touchInsert string // ...INSERT when no row matched
	remove      string // prefix; the IN list is appended
	live        string
	sweep       string
}

var tableName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// sweepBatch bounds one sweep, so that a backlog never holds a long lock.
const sweepBatch = 1000

// removeBatch bounds the IN list of one DELETE.
const removeBatch = 500

// OpenMySQL connects, creates the table if allowed and needed, and inspects
// it. The caller owns the result and closes it.
func OpenMySQL(ctx context.Context, c MySQLConfig) (*MySQL, error) {
	if !tableName.MatchString(c.Table) {
		return nil, fmt.Errorf("table name %q: must match [A-Za-z0-9_]{1,64}", c.Table)
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
	if err != nil {
		db.Close()
		return nil, err
	}
	s.schema = schema
	s.buildQueries("`" + c.Table + "`")
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
	return schema, nil
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

func (s *MySQL) buildQueries(quoted string) {
	// Times come from the database clock in UTC, so instances in any time
	// zone agree. A string Date holds 'YYYY-MM-DD HH:MM:SS', which sorts as
	// it reads, so it is compared as a string: no cast that strict mode
	// would turn into an error on a garbage row. Garbage that sorts after
	// every date ("yesterday") is caught by an upper bound a day ahead.
	// Milliseconds: MariaDB rounds a fraction written to a whole-second
	// column, which with a short idle timeout makes rows look a second
	// younger than they are. Hand-made tables keep whole seconds, which
	// the usual 600s timeout does not notice.
	t := quoted
	now, alive, dead := "UTC_TIMESTAMP(3)", "Date >= UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND", "Date < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND"
	if s.schema.DateType != "datetime" && s.schema.DateType != "timestamp" {
		const format = ", '%Y-%m-%d %H:%i:%s')"
		now = "DATE_FORMAT(UTC_TIMESTAMP()" + format
		cutoff := "DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL ? MICROSECOND" + format
		upper := "DATE_FORMAT(UTC_TIMESTAMP() + INTERVAL 1 DAY" + format
		alive = "Date BETWEEN " + cutoff + " AND " + upper
		dead = "(Date < " + cutoff + " OR Date > " + upper + ")"
	}
	if s.schema.Keyed {
		s.touchUpdate = "INSERT INTO " + t + " (ConnectionID, Date) VALUES (?, " + now + ") ON DUPLICATE KEY UPDATE Date = VALUES(Date)"
		s.live = "SELECT ConnectionID FROM " + t + " WHERE " + alive
	} else {
		s.touchUpdate = "UPDATE " + t + " SET Date = " + now + " WHERE ConnectionID = ?"
		s.touchInsert = "INSERT INTO " + t + " (ConnectionID, Date) VALUES (?, " + now + ")"
		s.live = "SELECT DISTINCT ConnectionID FROM " + t + " WHERE " + alive
	}
	s.remove = "DELETE FROM " + t + " WHERE ConnectionID IN "
	s.sweep = "DELETE FROM " + t + " WHERE Date IS NULL OR " + dead + " LIMIT " + strconv.Itoa(sweepBatch)
}

// Schema says what OpenMySQL found, for a hint in the log.
func (s *MySQL) Schema() Schema { return s.schema }

// Close releases the pool.
func (s *MySQL) Close() error { return s.db.Close() }

// Touch registers id, or refreshes its last-seen time.
func (s *MySQL) Touch(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.touchUpdate, id)
	if err != nil {
		return fmt.Errorf("store connection: %w", err)
	}
	if s.schema.Keyed {
		return nil
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.touchInsert, id); err != nil {
		return fmt.Errorf("store connection: %w", err)
	}
	return nil
}

// Remove deletes ids; unknown ids are not an error.
func (s *MySQL) Remove(ctx context.Context, ids ...string) error {
	for len(ids) > 0 {
		n := min(len(ids), removeBatch)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		q := s.remove + "(?" + strings.Repeat(", ?", n-1) + ")"
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("remove %d connections: %w", n, err)
		}
		ids = ids[n:]
	}
	return nil
}

// Live returns the ids seen within the idle timeout, in no particular order.
func (s *MySQL) Live(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.live, s.idle)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return ids, nil
}

// Sweep deletes up to sweepBatch rows older than the idle timeout and says
// how many; a larger backlog goes on the next sweeps.
func (s *MySQL) Sweep(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.sweep, s.idle)
	if err != nil {
		return 0, fmt.Errorf("sweep connections: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sweep connections: %w", err)
	}
	return n, nil
}
