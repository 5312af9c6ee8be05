package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	scfwsclient "github.com/scfws/scfws/client"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// fanSetup is a fan-out test's function.
type fanSetup struct {
	db      *mysqltest.DB
	push    string            // the function's SENDBACK_HOST
	env     map[string]string // more settings
	timeout time.Duration     // the function's
	noRole  bool              // the function gets no run-role key
}

// newFanCluster starts the function for s: `scfws local -instances 4`,
// with -sendback, Event invokes under SCF's retry policy and a run-role key.
func newFanCluster(t testing.TB, s fanSetup) *fanLocal {
	t.Helper()
	env := localDBEnv(s.db)
	for k, v := range s.env {
		env[k] = v
	}
	return startFanLocal(t, s, env)
}

// seedConnections registers plain and v1 connections straight into the
// registry's tables (p-000000..., v-000000...), as if each had connected.
func seedConnections(t testing.TB, db *mysqltest.DB, plain, v1 int) []string {
	t.Helper()
	reg, err := store.OpenMySQL(context.Background(), store.MySQLConfig{Host: db.Host, Port: db.Port, User: db.User, Password: db.Password,
		DBName: db.Name, Table: "ConnectionID_List", AutoMigrate: true, IdleTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
	var ids []string
	insert := func(table, cols, row string, prefix string, n int) {
		const batch = 2000
		for from := 0; from < n; from += batch {
			var b strings.Builder
			b.WriteString("INSERT INTO `" + table + "` " + cols + " VALUES ")
			for i := from; i < min(n, from+batch); i++ {
				id := fmt.Sprintf("%s-%07d", prefix, i)
				ids = append(ids, id)
				if i > from {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, row, id)
			}
			db.Exec(t, b.String())
		}
	}
	insert("ConnectionID_List", "(ConnectionID, Date)", "('%s', UTC_TIMESTAMP(3))", "p", plain)
	insert("ConnectionID_List_v1", "(ID, UserID, LastSeen)", "('%s', 'u', UTC_TIMESTAMP(3))", "v", v1)
	return ids
}

// waitJob asks for job's progress until it is no longer running.
func waitJob(t testing.TB, c *fanLocal, job string, within time.Duration) router.Reply {
	t.Helper()
	var last router.Reply
	testkit.Eventually(t, within, "job "+job+" to end", func() bool {
		last, _ = c.invoke(t, `{"scfws":{"op":"job","job":"`+job+`"}}`)
		return last.Job != nil && last.Job.State != "running"
	})
	return last
}

// fanLocal is scfws local running the function for the fan-out tests.
type fanLocal struct {
	l   *localRun
	scf *scfwsclient.SCF
}

func startFanLocal(t testing.TB, s fanSetup, env map[string]string) *fanLocal {
	t.Helper()
	args := []string{"-instances", "4", "-function-timeout", s.timeout.String(), "-sendback", s.push, "-async-retry-interval", "200ms"}
	if s.noRole {
		args = append(args, "-run-role=false")
	}
	l := startLocal(t, env, args...)
	c, err := scfwsclient.NewSCF(scfwsclient.SCFConfig{SecretID: l.secretID, SecretKey: l.secretKey, Region: "ap-guangzhou",
		Function: "scfws", Endpoint: l.base})
	if err != nil {
		t.Fatal(err)
	}
	return &fanLocal{l: l, scf: c}
}

func (f *fanLocal) invoke(t testing.TB, cmd string) (router.Reply, time.Duration) {
	t.Helper()
	start := time.Now()
	out, err := f.scf.Invoke(context.Background(), []byte(cmd))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("invoke %.80s: %v", cmd, err)
	}
	var reply router.Reply
	if err := json.Unmarshal(out, &reply); err != nil {
		t.Fatalf("reply %s: %v", out, err)
	}
	return reply, took
}

// kill kills one of local's instances; with four and a send's shards
// queued, each is running one.
func (f *fanLocal) kill(t testing.TB) {
	t.Helper()
	pids := f.pids()
	if err := killPid(pids[len(pids)-1]); err != nil {
		t.Fatal(err)
	}
}

func (f *fanLocal) pids() []int { return f.l.fnPids }

func killPid(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
