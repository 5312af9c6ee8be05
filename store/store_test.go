package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
	"github.com/scfws/scfws/store/storetest"

	_ "github.com/scfws/scfws/internal/testkit" // for go test ./... -update
)

const idle = 10 * time.Minute

// registry is what the router needs; both implementations must offer it.
var (
	_ router.Registry = (*store.Memory)(nil)
	_ router.Registry = (*store.MySQL)(nil)
)

func live(t *testing.T, r router.Registry) []string {
	t.Helper()
	ids, err := r.Live(context.Background())
	if err != nil {
		t.Fatalf("Live: %v", err)
	}
	return slices.Sorted(slices.Values(ids))
}

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Subject {
		clock := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		m := store.NewMemory(idle, func() time.Time { return clock })
		return storetest.Subject{
			Reg:         m,
			Idle:        idle,
			Age:         func(t *testing.T, id string, by time.Duration) { m.TouchAt(id, clock.Add(-by)) },
			All:         func(t *testing.T) []string { return m.All() },
			Memberships: func(t *testing.T) [][2]string { return m.Memberships() },
			History:     m,
			AgeStream:   func(t *testing.T, s proto.Stream, by time.Duration) { m.AgeStream(s, by) },
			Kept:        func(t *testing.T) int { return m.Kept() },
			Fanout:      m,
			Budget:      m,
			AgeJob:      func(t *testing.T, job string, by time.Duration) { m.AgeJob(job, by) },
		}
	})
}

// mysqlSubject opens a registry on table in db with the given user.
func mysqlSubject(t *testing.T, db *mysqltest.DB, table string, c store.MySQLConfig) storetest.Subject {
	t.Helper()
	c.Host, c.Port, c.DBName, c.Table, c.IdleTimeout = db.Host, db.Port, db.Name, table, idle
	if c.User == "" {
		c.User, c.Password = db.User, db.Password
	}
	m, err := store.OpenMySQL(context.Background(), c)
	if err != nil {
		t.Fatalf("OpenMySQL: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	subject := storetest.Subject{
		Reg:  m,
		Idle: idle,
		Age: func(t *testing.T, id string, by time.Duration) {
			date := "UTC_TIMESTAMP(3) - INTERVAL ? SECOND"
			if m.Schema().DateType == "varchar" {
				date = "DATE_FORMAT(" + date + ", '%Y-%m-%d %H:%i:%s')"
			}
			db.Exec(t, "UPDATE `"+table+"` SET Date = "+date+" WHERE ConnectionID = ?", int(by.Seconds()), id)
			if m.Schema().V1 {
				db.Exec(t, "UPDATE `"+table+"_v1` SET LastSeen = UTC_TIMESTAMP(3) - INTERVAL ? SECOND WHERE ID = ?", int(by.Seconds()), id)
			}
		},
		All: func(t *testing.T) []string {
			ids := db.IDs(t, table)
			if m.Schema().V1 {
				ids = append(ids, db.Strings(t, "SELECT ID FROM `"+table+"_v1`")...)
			}
			return slices.Sorted(slices.Values(ids))
		},
		Memberships: func(t *testing.T) [][2]string {
			var out [][2]string
			if !m.Schema().V1 {
				return out
			}
			rows := db.Strings(t, "SELECT CONCAT(GroupName, 0x00, ConnectionID) FROM `"+table+"_groups` ORDER BY GroupName, ConnectionID")
			for _, r := range rows {
				g, id, _ := strings.Cut(r, "\x00")
				out = append(out, [2]string{g, id})
			}
			return out
		},
	}
	if m.Schema().Jobs && m.Schema().Keyed {
		subject.Fanout, subject.Budget = m, m
		subject.AgeJob = func(t *testing.T, job string, by time.Duration) {
			db.Exec(t, "UPDATE `"+table+"_jobs` SET Started = Started - INTERVAL ? MICROSECOND, Expires = Expires - INTERVAL ? MICROSECOND WHERE Job = ?",
				by.Microseconds(), by.Microseconds(), job)
			db.Exec(t, "UPDATE `"+table+"_shards` SET Updated = Updated - INTERVAL ? MICROSECOND WHERE Job = ?", by.Microseconds(), job)
		}
	}
	if m.Schema().History {
		subject.History = m
		subject.AgeStream = func(t *testing.T, s proto.Stream, by time.Duration) {
			key := "g:" + s.Group
			if s.UserID != "" {
				key = "u:" + s.UserID
			}
			db.Exec(t, "UPDATE `"+table+"_stream` SET LastAt = LastAt - INTERVAL ? MICROSECOND WHERE StreamKey = ?", by.Microseconds(), key)
		}
		subject.Kept = func(t *testing.T) int {
			return len(db.Strings(t, "SELECT Seq FROM `"+table+"_recent`"))
		}
	}
	return subject
}

func TestMySQLCreatedTable(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Subject {
		db := mysqltest.New(t)
		s := mysqlSubject(t, db, "ConnectionID_List", store.MySQLConfig{AutoMigrate: true})
		if got := s.Reg.(*store.MySQL).Schema(); got != (store.Schema{Created: true, Keyed: true, DateType: "datetime", V1: true, V1Created: true,
			Nonce: true, NonceCreated: true, History: true, HistoryCreated: true, Jobs: true, Budget: true, FanoutCreated: true}) {
			t.Errorf("store.Schema() = %+v; want created, keyed, datetime, with the v1, nonce, history and fan-out tables", got)
		}
		return s
	})
}

// A hand-made table with a NO PAD binary collation, as the README advises
// for tables made without auto-migrate.
func TestMySQLNoPadTable(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Subject {
		db := mysqltest.New(t)
		db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin PRIMARY KEY, Date DATETIME(3))")
		return mysqlSubject(t, db, "ConnectionID_List", store.MySQLConfig{AutoMigrate: true})
	})
}

// The tutorial's table: two columns made by hand, no key, Date a string.
func TestMySQLSeedTable(t *testing.T) {
	for _, dateType := range []string{"VARCHAR(64)", "DATETIME"} {
		t.Run(dateType, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Subject {
				db := mysqltest.New(t)
				db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(255) COLLATE utf8mb4_nopad_bin, Date "+dateType+")")
				s := mysqlSubject(t, db, "ConnectionID_List", store.MySQLConfig{AutoMigrate: true})
				got := s.Reg.(*store.MySQL).Schema()
				if got.Created || got.Keyed || got.DateType != strings.ToLower(strings.TrimSuffix(dateType, "(64)")) || !got.V1Created {
					t.Errorf("store.Schema() = %+v; want existing, unkeyed, %s, v1 tables created beside it", got, dateType)
				}
				return s
			})
		})
	}
}

func TestMySQLSeedTableDuplicates(t *testing.T) {
	db := mysqltest.New(t)
	db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(255), Date VARCHAR(64))")
	// Rows as the Python templates leave them, plus a duplicate and garbage.
	db.Exec(t, "INSERT INTO ConnectionID_List VALUES ('dup', DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')), "+
		"('dup', DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')), ('garbage', 'yesterday-ish'), ('null', NULL)")
	s := mysqlSubject(t, db, "ConnectionID_List", store.MySQLConfig{})
	if got := live(t, s.Reg); !slices.Equal(got, []string{"dup"}) {
		t.Errorf("Live() = %q; want dup once", got)
	}
	if n, _, err := s.Reg.Sweep(context.Background()); n != 2 || err != nil {
		t.Errorf("Sweep() = %d, %v; want the garbage and NULL rows, nil", n, err)
	}
	if _, err := s.Reg.Remove(context.Background(), "dup"); err != nil {
		t.Fatal(err)
	}
	if got := s.All(t); len(got) != 0 {
		t.Errorf("rows after Remove(dup) = %q; want none", got)
	}
}

func TestMySQLLimitedUser(t *testing.T) {
	db := mysqltest.New(t)
	user, pass := db.LimitedUser(t)
	c := store.MySQLConfig{User: user, Password: pass, AutoMigrate: true,
		Host: db.Host, Port: db.Port, DBName: db.Name, Table: "ConnectionID_List", IdleTimeout: idle}

	_, err := store.OpenMySQL(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "create table ConnectionID_List") || !strings.Contains(err.Error(), "denied") {
		t.Errorf("OpenMySQL without CREATE and no table = %v; want a create-denied error", err)
	}
	if strings.Contains(fmt.Sprint(err), pass) {
		t.Errorf("error %q contains the password", err)
	}

	// The tutorial's table and a user without CREATE: auto-migrate on (the
	// default) cannot make the v1 tables, and plain connections still work,
	// as they did before scfws.v1.
	db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(64) PRIMARY KEY, Date DATETIME)")
	m, err := store.OpenMySQL(context.Background(), c)
	if err != nil {
		t.Fatalf("OpenMySQL without CREATE, the v1 tables missing, auto-migrate on = %v; want it open for plain connections", err)
	}
	if sc := m.Schema(); sc.V1 || !sc.V1Denied || sc.Nonce || sc.History {
		t.Errorf("schema = %+v; want V1 false, V1Denied true, Nonce and History false", sc)
	}
	_, err = m.Append(context.Background(), proto.Stream{Group: "g"}, []byte("{}"), proto.Retention{Size: 1, TTL: time.Hour})
	if e, ok := err.(interface{ Unavailable() bool }); !ok || !e.Unavailable() {
		t.Errorf("Append without the history tables = %v; want an Unavailable error", err)
	}
	_, err = m.ClaimNonce(context.Background(), []byte("sig"), time.Now().Add(time.Hour))
	if e, ok := err.(interface{ Unavailable() bool }); !ok || !e.Unavailable() {
		t.Errorf("ClaimNonce without its table = %v; want an Unavailable error", err)
	}
	if _, err := m.Register(context.Background(), proto.Conn{ID: "p=="}, nil); err != nil {
		t.Errorf("Register(plain) as limited user, auto-migrate on: %v", err)
	}
	_, err = m.Register(context.Background(), proto.Conn{ID: "w==", V1: true}, nil)
	if e, ok := err.(interface{ Unavailable() bool }); !ok || !e.Unavailable() {
		t.Errorf("Register(v1) with the v1 tables denied = %v; want an Unavailable error", err)
	}
	_ = m.Close()
	// With auto-migrate off, plain connections work and v1 is refused.
	s := mysqlSubject(t, db, "ConnectionID_List", store.MySQLConfig{User: user, Password: pass})
	if _, err := s.Reg.Register(context.Background(), proto.Conn{ID: "a=="}, nil); err != nil {
		t.Fatalf("Register as limited user: %v", err)
	}
	if got := live(t, s.Reg); !slices.Equal(got, []string{"a==", "p=="}) {
		t.Errorf("Live() = %q; want a==, p==", got)
	}
	_, err = s.Reg.Register(context.Background(), proto.Conn{ID: "v==", V1: true}, nil)
	if e, ok := err.(interface{ Unavailable() bool }); !ok || !e.Unavailable() {
		t.Errorf("Register(v1) without the v1 tables = %v; want an Unavailable error", err)
	}
}

func TestMySQLOpenErrors(t *testing.T) {
	db := mysqltest.New(t)
	db.Exec(t, "CREATE TABLE no_date (ConnectionID VARCHAR(64))")
	db.Exec(t, "CREATE TABLE int_date (ConnectionID VARCHAR(64), Date INT)")
	base := store.MySQLConfig{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password, DBName: db.Name, IdleTimeout: idle}
	tests := []struct {
		give func(c *store.MySQLConfig)
		want string
	}{
		{func(c *store.MySQLConfig) { c.Table = "missing" }, "table missing does not exist and auto-migrate is off"},
		{func(c *store.MySQLConfig) { c.Table = "no_date" }, "table no_date has no Date column"},
		{func(c *store.MySQLConfig) { c.Table = "int_date" }, "Date column is int"},
		{func(c *store.MySQLConfig) { c.Table = "x`; DROP" }, "must match"},
		{func(c *store.MySQLConfig) { c.Table = strings.Repeat("t", 58) }, "must match [A-Za-z0-9_]{1,57}"},
		{func(c *store.MySQLConfig) { c.Table, c.Password = "t", "wrong-password-xyz" }, "Access denied"},
		{func(c *store.MySQLConfig) { c.Table, c.Port = "t", 1 }, "connect: connection refused"},
	}
	for _, tt := range tests {
		c := base
		tt.give(&c)
		t.Run(tt.want, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := store.OpenMySQL(ctx, c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("store.OpenMySQL(%s) = %v; want %q", c.Table, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), c.Password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// With auto-migrate, a database that does not exist yet is created when
// the user may, and said plainly when it may not.
func TestMySQLCreatesDatabase(t *testing.T) {
	db := mysqltest.New(t)
	name := db.Name + "_new"
	t.Cleanup(func() { db.Exec(t, "DROP DATABASE IF EXISTS `"+name+"`") })
	c := store.MySQLConfig{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password, DBName: name,
		Table: "ConnectionID_List", AutoMigrate: true, IdleTimeout: idle}
	m, err := store.OpenMySQL(context.Background(), c)
	if err != nil {
		t.Fatalf("OpenMySQL with a missing database = %v; want it created", err)
	}
	if s := m.Schema(); !s.DatabaseCreated || !s.Created || !s.V1Created {
		t.Errorf("Schema() = %+v; want the database and tables created", s)
	}
	m.Close()

	user, pass := db.LimitedUser(t)
	c.User, c.Password, c.DBName = user, pass, db.Name+"_denied"
	_, err = store.OpenMySQL(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "does not exist (or user "+user+" may not use it), and "+user+" may not create it") ||
		!strings.Contains(err.Error(), "CREATE DATABASE "+c.DBName) {
		t.Errorf("OpenMySQL with a missing database and no right to create it = %v; want a clear refusal", err)
	}
	c.AutoMigrate = false
	if _, err = store.OpenMySQL(context.Background(), c); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("without auto-migrate, OpenMySQL = %v; want the server's refusal", err)
	}
}

// Connections registering, joining, leaving and closing at once on
// parallel instances take the same InnoDB rows in different orders, and
// InnoDB answers some with a deadlock (1213). The store runs those again:
// none reaches the caller. (Before, 24 workers doing this saw 11.)
func TestMySQLChurnSeesNoDeadlock(t *testing.T) {
	db := mysqltest.New(t)
	m := mysqlSubject(t, db, "churn", store.MySQLConfig{AutoMigrate: true}).Reg.(*store.MySQL)
	ctx := context.Background()
	groups := []string{"g0", "g1", "g2", "g3"}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for w := range 24 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 300 {
				id, g := fmt.Sprintf("c%02d", r.IntN(20)), groups[r.IntN(len(groups))]
				var err error
				switch r.IntN(5) {
				case 0:
					_, err = m.Register(ctx, proto.Conn{ID: id, V1: true, UserID: fmt.Sprintf("u%d", r.IntN(4))}, []string{g, groups[r.IntN(4)]})
				case 1, 2:
					_, err = m.Join(ctx, id, g, 3)
				case 3:
					_, err = m.Leave(ctx, id, g)
				case 4:
					_, err = m.Remove(ctx, id, fmt.Sprintf("c%02d", r.IntN(20)))
				}
				var refused *store.Error // not registered, or at the group limit: expected here
				if err != nil && !errors.As(err, &refused) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("%d of 7,200 operations failed; the first: %v", len(errs), errs[0])
	}
}

// Each claim forgets at most 64 expired nonces: the work per signed
// request is bounded, and a backlog drains over the next claims.
// A sweep deletes at most 16 expired streams, each with its messages.
func TestHistorySweepIsBounded(t *testing.T) {
	db := mysqltest.New(t)
	s := mysqlSubject(t, db, "ConnectionID_List", store.MySQLConfig{AutoMigrate: true})
	clock := time.Now()
	mem := store.NewMemory(idle, func() time.Time { return clock })
	keep := proto.Retention{Size: 3, TTL: time.Minute}
	tests := []struct {
		name string
		subj storetest.Subject
		age  func()
	}{
		{"mysql", s, func() { db.Exec(t, "UPDATE ConnectionID_List_stream SET LastAt = LastAt - INTERVAL 2 MINUTE") }},
		{"memory", storetest.Subject{History: mem, Kept: func(*testing.T) int { return mem.Kept() }}, func() { clock = clock.Add(2 * time.Minute) }},
	}
	for _, tt := range tests {
		for i := range 40 {
			for range 2 {
				if _, err := tt.subj.History.Append(context.Background(), proto.Stream{Group: fmt.Sprint("g", i)}, []byte("{}"), keep); err != nil {
					t.Fatal(err)
				}
			}
		}
		tt.age()
		for _, want := range []int64{16, 16, 8, 0} {
			n, err := tt.subj.History.SweepHistory(context.Background(), keep)
			if err != nil || n != want {
				t.Errorf("%s: SweepHistory() = %d, %v; want %d", tt.name, n, err, want)
			}
		}
		if n := tt.subj.Kept(t); n != 0 {
			t.Errorf("%s: %d messages left after sweeping every stream; want 0", tt.name, n)
		}
	}
}

func TestNonceSweepIsBounded(t *testing.T) {
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	future := time.Now().Add(time.Hour)
	db := mysqltest.New(t)
	s := mysqlSubject(t, db, "ConnectionID_List", store.MySQLConfig{AutoMigrate: true})
	for i := range 200 {
		db.Exec(t, "INSERT INTO ConnectionID_List_nonce (Nonce, Expires) VALUES (?, ?)", fmt.Sprint("old-", i), old)
	}
	count := func() int {
		n, _ := strconv.Atoi(db.Strings(t, "SELECT COUNT(*) FROM ConnectionID_List_nonce")[0])
		return n
	}
	clock := old.Add(-time.Hour) // while planting, the old ones are live
	mem := store.NewMemory(idle, func() time.Time { return clock })
	for i := range 200 {
		if _, err := mem.ClaimNonce(context.Background(), []byte(fmt.Sprint("old-", i)), old); err != nil {
			t.Fatal(err)
		}
	}
	clock = time.Now()
	tests := []struct {
		name  string
		reg   router.Registry
		count func() int
	}{
		{"mysql", s.Reg, count},
		{"memory", mem, mem.Nonces},
	}
	for _, tt := range tests {
		for i, want := range []int{200 - 64 + 1, 200 - 128 + 2, 200 - 192 + 3, 4, 5} {
			if _, err := tt.reg.ClaimNonce(context.Background(), []byte(fmt.Sprint("new-", i)), future); err != nil {
				t.Fatal(err)
			}
			if got := tt.count(); got != want {
				t.Errorf("%s: after claim %d, %d nonces recorded; want %d", tt.name, i+1, got, want)
			}
		}
	}
}

// A shards table made before shards kept their Sent gains the column
// under auto-migrate, and fan-out works on it.
func TestMySQLShardsTableBeforeSent(t *testing.T) {
	db := mysqltest.New(t)
	db.Exec(t, "CREATE TABLE `ConnectionID_List_shards` (Job VARBINARY(32) NOT NULL, Shard INT UNSIGNED NOT NULL, "+
		"Parent INT UNSIGNED NOT NULL, State TINYINT UNSIGNED NOT NULL, LastKey VARBINARY(255) NOT NULL, UpTo VARBINARY(255) NOT NULL, "+
		"Delivered INT UNSIGNED NOT NULL DEFAULT 0, Pruned INT UNSIGNED NOT NULL DEFAULT 0, Failed INT UNSIGNED NOT NULL DEFAULT 0, "+
		"Updated DATETIME(3) NOT NULL, PRIMARY KEY (Job, Shard)) ENGINE=InnoDB")
	s := mysqlSubject(t, db, "ConnectionID_List", store.MySQLConfig{AutoMigrate: true})
	m := s.Reg.(*store.MySQL)
	if !m.Schema().Jobs {
		t.Fatalf("store.Schema() = %+v; want the fan-out tables", m.Schema())
	}
	ctx := context.Background()
	if err := m.CreateJob(ctx, proto.NewJob{ID: "J", Recipients: 2, StallAfter: time.Hour, TTL: time.Hour}, proto.KeyRange{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.HandOff(ctx, "J", 0, "a", []proto.KeyRange{{After: "a"}}, []string{"b"}); err != nil {
		t.Fatalf("HandOff = %v", err)
	}
	if _, children, _, err := m.Shards(ctx, "J", 0, true); err != nil || len(children) != 1 || len(children[0].Sent) != 1 {
		t.Errorf("Shards = %+v, %v; want one child with its sent", children, err)
	}
}
