package store_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/store"
)

// docs/mysql.md's CREATE TABLE statements for scfws.v1 (and the signed
// route's nonces, history, and fan-out's jobs and budget) make tables the store
// accepts: an administrator can run them for a DB_USER without CREATE, and
// that user then gets scfws.v1 with DB_AUTO_MIGRATE on or off.
func TestDocsV1TablesWork(t *testing.T) {
	doc, err := os.ReadFile("../docs/mysql.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllSubmatch(doc, -1)
	var ddl string
	for _, block := range m {
		if strings.Contains(string(block[1]), "ConnectionID_List_v1") {
			ddl = string(block[1])
		}
	}
	if ddl == "" {
		t.Fatal("no ```sql block creating ConnectionID_List_v1 in docs/mysql.md")
	}
	db := mysqltest.New(t)
	db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARCHAR(64) PRIMARY KEY, Date DATETIME)")
	for _, stmt := range strings.Split(ddl, ";") {
		if strings.TrimSpace(stmt) != "" {
			db.Exec(t, stmt)
		}
	}
	user, pass := db.LimitedUser(t)
	s, err := store.OpenMySQL(context.Background(), store.MySQLConfig{Host: db.Host, Port: db.Port, User: user, Password: pass,
		DBName: db.Name, Table: "ConnectionID_List", AutoMigrate: true, IdleTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatalf("OpenMySQL on docs/mysql.md's tables: %v", err)
	}
	defer s.Close()
	if sc := s.Schema(); !sc.V1 || sc.V1Created || sc.V1Denied || !sc.Nonce || sc.NonceCreated || !sc.History || sc.HistoryCreated ||
		!sc.Jobs || !sc.Budget || sc.FanoutCreated {
		t.Errorf("schema %+v; want V1, Nonce, History and the fan-out's found, not created", sc)
	}
	keep := proto.Retention{Size: 2, TTL: time.Hour}
	for range 3 {
		if _, err := s.Append(context.Background(), proto.Stream{Group: "lobby"}, []byte(`{"type":"message"}`), keep); err != nil {
			t.Fatalf("Append on the README's tables: %v", err)
		}
	}
	pos, err := s.Position(context.Background(), proto.Stream{Group: "lobby"}, keep)
	if err != nil || pos.Offset != 3 {
		t.Errorf("Position on the README's tables = %+v, %v; want offset 3", pos, err)
	}
	if kept, err := s.Messages(context.Background(), proto.Stream{Group: "lobby"}, pos.Epoch, proto.Range{Limit: 5}); err != nil || len(kept) != 2 {
		t.Errorf("Messages on the README's tables = %d, %v; want the last 2", len(kept), err)
	}
	if _, err := s.SweepHistory(context.Background(), keep); err != nil {
		t.Errorf("SweepHistory on the README's tables: %v", err)
	}
	if first, err := s.ClaimNonce(context.Background(), []byte("signature"), time.Now().Add(time.Hour)); err != nil || !first {
		t.Errorf("ClaimNonce on docs/mysql.md's table = %v, %v; want claimed", first, err)
	}
	if _, err := s.Register(context.Background(), proto.Conn{ID: "v==", UserID: "alice", V1: true}, []string{"lobby"}); err != nil {
		t.Errorf("Register(v1) on docs/mysql.md's tables: %v", err)
	}
	fanoutOnDocTables(t, s)
}

// fanoutOnDocTables runs a job's life on docs/mysql.md's fan-out tables:
// created with a stored frame, a shard handed off with what was sent,
// read back, committed, and the push budget drawn from.
func fanoutOnDocTables(t *testing.T, s *store.MySQL) {
	t.Helper()
	ctx := context.Background()
	j := proto.NewJob{ID: "job1", Recipients: 2, Frames: []proto.Frame{{Data: "hi"}}, StallAfter: time.Minute, TTL: time.Hour}
	if err := s.CreateJob(ctx, j, proto.KeyRange{}); err != nil {
		t.Fatalf("CreateJob on docs/mysql.md's tables: %v", err)
	}
	n, err := s.HandOff(ctx, "job1", 0, "", []proto.KeyRange{{After: "a"}}, []string{"b"})
	if err != nil {
		t.Fatalf("HandOff on docs/mysql.md's tables: %v", err)
	}
	if sh, _, ok, err := s.Shards(ctx, "job1", n, false); err != nil || !ok || len(sh.Sent) != 1 {
		t.Errorf("Shards on docs/mysql.md's tables = %+v, %v, %v; want shard %d with its Sent", sh, ok, err, n)
	}
	if _, err := s.Commit(ctx, "job1", n, "a", "z", proto.Counts{Delivered: 1}, true); err != nil {
		t.Errorf("Commit on docs/mysql.md's tables: %v", err)
	}
	if frames, ok, err := s.JobFrames(ctx, "job1"); err != nil || !ok || len(frames) != 1 {
		t.Errorf("JobFrames on docs/mysql.md's tables = %v, %v, %v", frames, ok, err)
	}
	if got, err := s.TakePushes(ctx, 1, 5, 10); err != nil || got != 5 {
		t.Errorf("TakePushes on docs/mysql.md's table = %d, %v; want 5", got, err)
	}
}
