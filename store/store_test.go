package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfws/scfws/internal/testdb"

	_ "github.com/scfws/scfws/internal/golden" // for go test ./... -update
)

const idle = 10 * time.Minute

// registry is what every implementation offers; the contract below runs
// against each.
type registry interface {
	Touch(ctx context.Context, id string) error
	Remove(ctx context.Context, ids ...string) error
	Live(ctx context.Context) ([]string, error)
	Sweep(ctx context.Context) (int64, error)
}

var (
	_ registry = (*Memory)(nil)
	_ registry = (*MySQL)(nil)
)

// subject is one implementation under test, with a way to make a row old.
type subject struct {
	reg registry
	age func(t *testing.T, id string, by time.Duration)
	all func(t *testing.T) []string // every row, sorted, duplicates included
}

var hostileIDs = []string{
	"xawexasdfewezdfsdfeasdfffa==",
	"ab+/cd==",
	"ABCD+/cd==", // differs from the next only in case: must stay two rows
	"abcd+/cd==",
	"abcd+/cd== ", // and from the one before only by a trailing space
	`it's "quoted"`,
	"'; DROP TABLE ConnectionID_List; --",
	`back\slash %_ ? ??`,
	"连接编号-🙂",
}

func testContract(t *testing.T, newSubject func(t *testing.T) subject) {
	ctx := context.Background()

	t.Run("touch is an upsert", func(t *testing.T) {
		s := newSubject(t)
		for range 3 {
			if err := s.reg.Touch(ctx, "a=="); err != nil {
				t.Fatalf("Touch: %v", err)
			}
		}
		if got := s.all(t); !slices.Equal(got, []string{"a=="}) {
			t.Errorf("rows = %q; want one row", got)
		}
	})

	t.Run("hostile ids round-trip", func(t *testing.T) {
		s := newSubject(t)
		for _, id := range hostileIDs {
			if err := s.reg.Touch(ctx, id); err != nil {
				t.Fatalf("Touch(%q): %v", id, err)
			}
		}
		want := slices.Sorted(slices.Values(hostileIDs))
		if got := live(t, s.reg); !slices.Equal(got, want) {
			t.Errorf("Live() = %q; want %q", got, want)
		}
		if err := s.reg.Remove(ctx, hostileIDs[4:]...); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		want = slices.Sorted(slices.Values(hostileIDs[:4]))
		if got := live(t, s.reg); !slices.Equal(got, want) {
			t.Errorf("after Remove, Live() = %q; want %q", got, want)
		}
	})

	t.Run("remove unknown and many", func(t *testing.T) {
		s := newSubject(t)
		if err := s.reg.Remove(ctx, "never-seen"); err != nil {
			t.Errorf("Remove(unknown) = %v; want nil", err)
		}
		if err := s.reg.Remove(ctx); err != nil {
			t.Errorf("Remove() = %v; want nil", err)
		}
		var ids []string
		for i := range 1234 {
			ids = append(ids, fmt.Sprintf("id-%04d", i))
		}
		for _, id := range ids {
			if err := s.reg.Touch(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.reg.Remove(ctx, ids[:1200]...); err != nil {
			t.Fatalf("Remove(1200 ids): %v", err)
		}
		if got := live(t, s.reg); !slices.Equal(got, ids[1200:]) {
			t.Errorf("Live() after removing 1200 = %d ids; want %d", len(got), len(ids)-1200)
		}
	})

	t.Run("expiry and sweep", func(t *testing.T) {
		s := newSubject(t)
		for _, id := range []string{"fresh", "quiet", "dead"} {
			if err := s.reg.Touch(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		s.age(t, "quiet", idle-time.Minute)
		s.age(t, "dead", idle+time.Minute)
		if got := live(t, s.reg); !slices.Equal(got, []string{"fresh", "quiet"}) {
			t.Errorf("Live() = %q; want fresh and quiet", got)
		}
		n, err := s.reg.Sweep(ctx)
		if err != nil || n != 1 {
			t.Errorf("Sweep() = %d, %v; want 1, nil", n, err)
		}
		if got := s.all(t); !slices.Equal(got, []string{"fresh", "quiet"}) {
			t.Errorf("rows after Sweep = %q; want fresh and quiet", got)
		}
		// A dead connection that speaks again is alive: Touch revives it.
		s.age(t, "quiet", idle+time.Minute)
		if err := s.reg.Touch(ctx, "quiet"); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.reg.Sweep(ctx); n != 0 {
			t.Errorf("Sweep() after revival = %d; want 0", n)
		}
	})

	t.Run("concurrent register and cleanup", func(t *testing.T) {
		s := newSubject(t)
		var wg sync.WaitGroup
		errs := make(chan error, 300)
		for i := range 100 {
			wg.Go(func() {
				id := fmt.Sprintf("c-%03d", i)
				errs <- s.reg.Touch(ctx, id)
				errs <- s.reg.Touch(ctx, id) // a frame right after connecting
				if i%2 == 1 {
					errs <- s.reg.Remove(ctx, id)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var want []string
		for i := 0; i < 100; i += 2 {
			want = append(want, fmt.Sprintf("c-%03d", i))
		}
		if got := s.all(t); !slices.Equal(got, want) {
			t.Errorf("rows = %d %q; want the 50 even ids", len(got), got)
		}
	})
}

func live(t *testing.T, r registry) []string {
	t.Helper()
	ids, err := r.Live(context.Background())
	if err != nil {
		t.Fatalf("Live: %v", err)
	}
	return slices.Sorted(slices.Values(ids))
}

func TestMemory(t *testing.T) {
	testContract(t, func(t *testing.T) subject {
		clock := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		m := NewMemory(idle, func() time.Time { return clock })
		return subject{
			reg: m,
			age: func(t *testing.T, id string, by time.Duration) { m.TouchAt(id, clock.Add(-by)) },
			all: func(t *testing.T) []string { return m.All() },
		}
	})
}

// mysqlSubject opens a registry on table in db with the given user.
func mysqlSubject(t *testing.T, db *testdb.DB, table string, c MySQLConfig) subject {
	t.Helper()
	c.Host, c.Port, c.DBName, c.Table, c.IdleTimeout = db.Host, db.Port, db.Name, table, idle
	if c.User == "" {
		c.User, c.Password = db.User, db.Password
	}
	m, err := OpenMySQL(context.Background(), c)
	if err != nil {
		t.Fatalf("OpenMySQL: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return subject{
		reg: m,
		age: func(t *testing.T, id string, by time.Duration) {
			date := "UTC_TIMESTAMP() - INTERVAL ? SECOND"
			if m.Schema().DateType == "varchar" {
				date = "DATE_FORMAT(" + date + ", '%Y-%m-%d %H:%i:%s')"
			}
			db.Exec(t, "UPDATE `"+table+"` SET Date = "+date+" WHERE ConnectionID = ?", int(by.Seconds()), id)
		},
		all: func(t *testing.T) []string { return db.IDs(t, table) },
	}
}

func TestMySQLCreatedTable(t *testing.T) {
	testContract(t, func(t *testing.T) subject {
		db := testdb.New(t)
		s := mysqlSubject(t, db, "ConnectionID_List", MySQLConfig{AutoMigrate: true})
		if got := s.reg.(*MySQL).Schema(); got != (Schema{Created: true, Keyed: true, DateType: "datetime"}) {
			t.Errorf("Schema() = %+v; want created, keyed, datetime", got)
		}
		return s
	})
}

// A hand-made table with a NO PAD binary collation, as the README advises
// for tables made without auto-migrate.
func TestMySQLNoPadTable(t *testing.T) {
	testContract(t, func(t *testing.T) subject {
		db := testdb.New(t)
		db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin PRIMARY KEY, Date DATETIME(3))")
		return mysqlSubject(t, db, "ConnectionID_List", MySQLConfig{})
	})
}

// The tutorial's table: two columns made by hand, no key, Date a string.
func TestMySQLSeedTable(t *testing.T) {
	for _, dateType := range []string{"VARCHAR(64)", "DATETIME"} {
		t.Run(dateType, func(t *testing.T) {
			testContract(t, func(t *testing.T) subject {
				db := testdb.New(t)
				db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(255) COLLATE utf8mb4_nopad_bin, Date "+dateType+")")
				s := mysqlSubject(t, db, "ConnectionID_List", MySQLConfig{AutoMigrate: true})
				got := s.reg.(*MySQL).Schema()
				if got.Created || got.Keyed || got.DateType != strings.ToLower(strings.TrimSuffix(dateType, "(64)")) {
					t.Errorf("Schema() = %+v; want existing, unkeyed, %s", got, dateType)
				}
				return s
			})
		})
	}
}

func TestMySQLSeedTableDuplicates(t *testing.T) {
	db := testdb.New(t)
	db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(255), Date VARCHAR(64))")
	// Rows as the Python templates leave them, plus a duplicate and garbage.
	db.Exec(t, "INSERT INTO ConnectionID_List VALUES ('dup', DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')), "+
		"('dup', DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')), ('garbage', 'yesterday-ish'), ('null', NULL)")
	s := mysqlSubject(t, db, "ConnectionID_List", MySQLConfig{})
	if got := live(t, s.reg); !slices.Equal(got, []string{"dup"}) {
		t.Errorf("Live() = %q; want dup once", got)
	}
	if n, err := s.reg.Sweep(context.Background()); n != 2 || err != nil {
		t.Errorf("Sweep() = %d, %v; want the garbage and NULL rows, nil", n, err)
	}
	if err := s.reg.Remove(context.Background(), "dup"); err != nil {
		t.Fatal(err)
	}
	if got := s.all(t); len(got) != 0 {
		t.Errorf("rows after Remove(dup) = %q; want none", got)
	}
}

func TestMySQLLimitedUser(t *testing.T) {
	db := testdb.New(t)
	user, pass := db.LimitedUser(t)
	c := MySQLConfig{User: user, Password: pass, AutoMigrate: true,
		Host: db.Host, Port: db.Port, DBName: db.Name, Table: "ConnectionID_List", IdleTimeout: idle}

	_, err := OpenMySQL(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "create table ConnectionID_List") || !strings.Contains(err.Error(), "denied") {
		t.Errorf("OpenMySQL without CREATE and no table = %v; want a create-denied error", err)
	}
	if strings.Contains(fmt.Sprint(err), pass) {
		t.Errorf("error %q contains the password", err)
	}

	db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(64) PRIMARY KEY, Date DATETIME)")
	s := mysqlSubject(t, db, "ConnectionID_List", MySQLConfig{User: user, Password: pass, AutoMigrate: true})
	if err := s.reg.Touch(context.Background(), "a=="); err != nil {
		t.Fatalf("Touch as limited user: %v", err)
	}
	if got := live(t, s.reg); !slices.Equal(got, []string{"a=="}) {
		t.Errorf("Live() = %q; want a==", got)
	}
}

func TestMySQLOpenErrors(t *testing.T) {
	db := testdb.New(t)
	db.Exec(t, "CREATE TABLE no_date (ConnectionID VARCHAR(64))")
	db.Exec(t, "CREATE TABLE int_date (ConnectionID VARCHAR(64), Date INT)")
	base := MySQLConfig{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password, DBName: db.Name, IdleTimeout: idle}
	tests := []struct {
		give func(c *MySQLConfig)
		want string
	}{
		{func(c *MySQLConfig) { c.Table = "missing" }, "table missing does not exist and auto-migrate is off"},
		{func(c *MySQLConfig) { c.Table = "no_date" }, "table no_date has no Date column"},
		{func(c *MySQLConfig) { c.Table = "int_date" }, "Date column is int"},
		{func(c *MySQLConfig) { c.Table = "x`; DROP" }, "must match"},
		{func(c *MySQLConfig) { c.Table, c.Password = "t", "wrong-password-xyz" }, "Access denied"},
		{func(c *MySQLConfig) { c.Table, c.Port = "t", 1 }, "connect: connection refused"},
	}
	for _, tt := range tests {
		c := base
		tt.give(&c)
		t.Run(tt.want, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := OpenMySQL(ctx, c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenMySQL(%s) = %v; want %q", c.Table, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), c.Password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}
