package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/rpc"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"

	scfwsclient "github.com/scfws/scfws/client"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// fanCluster is where the fan-out tests run the function: `scfws local
// -instances 4` once it has the pieces (-sendback, Event invokes with
// SCF's retry policy, a run-role key), else scfCluster, the same function
// binary under this test's own stand-in for SCF.
type fanCluster interface {
	// invoke is a backend's synchronous invoke of the function.
	invoke(t testing.TB, cmd string) (router.Reply, time.Duration)
	// kill kills an instance while it runs a shard.
	kill(t testing.TB)
	// pids are the function's processes now.
	pids() []int
	// retries counts asynchronous invokes that failed and ran again.
	retries() int64
}

// fanSetup is a fan-out test's function.
type fanSetup struct {
	db      *mysqltest.DB
	push    string            // the function's SENDBACK_HOST
	env     map[string]string // more settings
	timeout time.Duration     // the function's
	noRole  bool              // the function gets no run-role key
}

// newFanCluster starts the function for s: under scfws local when it can
// run it, else under scfCluster.
func newFanCluster(t testing.TB, s fanSetup) fanCluster {
	t.Helper()
	env := localDBEnv(s.db)
	for k, v := range s.env {
		env[k] = v
	}
	if localHasFanout(t) {
		return startFanLocal(t, s, env)
	}
	return startSCFCluster(t, s, env)
}

var (
	localFanoutOnce sync.Once
	localFanout     bool
)

// localHasFanout reports whether this build's scfws local has what the
// fan-out tests need of it (its -sendback flag says so).
func localHasFanout(t testing.TB) bool {
	localFanoutOnce.Do(func() {
		out, _ := exec.Command(buildBinary(t), "local", "-h").CombinedOutput()
		localFanout = strings.Contains(string(out), "-sendback") && strings.Contains(string(out), "-async-retry-interval")
	})
	return localFanout
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
func waitJob(t testing.TB, c fanCluster, job string, within time.Duration) router.Reply {
	t.Helper()
	var last router.Reply
	testkit.Eventually(t, within, "job "+job+" to end", func() bool {
		last, _ = c.invoke(t, `{"scfws":{"op":"job","job":"`+job+`"}}`)
		return last.Job != nil && last.Job.State != "running"
	})
	return last
}

// scfCluster runs the function binary as SCF runs it: a front instance
// for a backend's synchronous invokes, and pool instances for the
// asynchronous ones, each a process serving the Go1 runtime protocol. The
// function's Invoke API is local/cloudapi's SCF over real HTTP (the SDK's
// wire format, signature and size limit); each Event invocation runs on a
// free pool instance, and one that fails (an error, a timeout, a killed
// process) runs again up to twice, retryPause apart, as SCF retries.
type scfCluster struct {
	t          testing.TB
	bin        string
	env        map[string]string
	timeout    time.Duration
	retryPause time.Duration
	front      *runtimeProc
	idle       chan *runtimeProc
	retried    atomic.Int64

	mu    sync.Mutex
	procs map[*runtimeProc]bool // live ones: true while running a shard
}

// runtimeProc is one instance: the binary serving the runtime protocol.
type runtimeProc struct {
	cmd    *exec.Cmd
	client *rpc.Client
	out    *testkit.SyncBuffer
}

func startSCFCluster(t testing.TB, s fanSetup, env map[string]string) *scfCluster {
	t.Helper()
	cred := cloudapi.Credential{SecretID: "AKIDfanouttest", SecretKey: "fanout-test-secret-key"}
	srv := cloudapi.NewServer(cred)
	c := &scfCluster{t: t, bin: buildBinary(t), env: env, timeout: s.timeout, retryPause: 200 * time.Millisecond,
		idle: make(chan *runtimeProc, 4), procs: map[*runtimeProc]bool{}}
	scf := cloudapi.NewSCF(c)
	scf.MaxAsync = 100_000 // SCF's queue
	scf.Register(srv)
	api := httptest.NewServer(srv)
	t.Cleanup(api.Close)
	t.Cleanup(scf.Close)
	env["SENDBACK_HOST"] = s.push
	env["TENCENTCLOUD_REGION"] = "ap-guangzhou"
	if !s.noRole {
		env["TENCENTCLOUD_SECRETID"], env["TENCENTCLOUD_SECRETKEY"], env["SCFWS_CLOUD_API"] = cred.SecretID, cred.SecretKey, api.URL
	}
	c.front = c.start()
	for range 4 {
		c.idle <- c.start()
	}
	t.Cleanup(c.stop)
	return c
}

func (c *scfCluster) start() *runtimeProc {
	c.t.Helper()
	p, err := startRuntimeProc(c.bin)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs[p] = false
	c.mu.Unlock()
	return p
}

func startRuntimeProc(bin string) (*runtimeProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	p := &runtimeProc{cmd: exec.Command(bin), out: &testkit.SyncBuffer{}}
	p.cmd.Env = []string{"_LAMBDA_SERVER_PORT=" + port}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := rpc.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			p.client = c
			return p, nil
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			return nil, fmt.Errorf("the function did not listen: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// call runs one invoke on p, as SCF's runtime does: the settings in
// Environment, the name in the request, the deadline the timeout's.
func (c *scfCluster) call(p *runtimeProc, event []byte) ([]byte, error) {
	env, _ := json.Marshal(c.env)
	deadline := time.Now().Add(c.timeout)
	req := messages.InvokeRequest{Payload: event, RequestId: fmt.Sprintf("req-%d", time.Now().UnixNano()),
		Deadline:    messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
		Environment: string(env), FunctionName: "scfws", Namespace: "default", TimeLimitInMs: int32(c.timeout.Milliseconds()),
		TencentcloudRegion: "ap-guangzhou"}
	var resp messages.InvokeResponse
	done := make(chan error, 1)
	go func() { done <- p.client.Call("Function.Invoke", &req, &resp) }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("the instance died: %w", err)
		}
	case <-time.After(c.timeout + time.Second):
		_ = p.cmd.Process.Kill() // as SCF ends an invoke past its time limit
		return nil, errors.New("time limit reached")
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("function error: %s", resp.Error.Message)
	}
	return resp.Payload, nil
}

// Invoke is SCF running an Event invocation, with its retries.
func (c *scfCluster) Invoke(ctx context.Context, _, _ string, event []byte) ([]byte, error) {
	for try := 0; ; try++ {
		out, err := c.runOnPool(ctx, event)
		if err == nil || try == 2 || ctx.Err() != nil {
			return out, err
		}
		c.retried.Add(1)
		select {
		case <-time.After(c.retryPause):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// runOnPool runs event on a free pool instance; one that died is
// replaced, as SCF starts another.
func (c *scfCluster) runOnPool(ctx context.Context, event []byte) ([]byte, error) {
	var p *runtimeProc
	select {
	case p = <-c.idle:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	c.procs[p] = true
	c.mu.Unlock()
	out, err := c.call(p, event)
	c.mu.Lock()
	c.procs[p] = false
	c.mu.Unlock()
	if p.cmd.ProcessState != nil || (err != nil && strings.HasPrefix(err.Error(), "the instance died")) {
		c.retire(p)
		if np, serr := startRuntimeProc(c.bin); serr == nil {
			c.mu.Lock()
			c.procs[np] = false
			c.mu.Unlock()
			p = np
		}
	}
	c.idle <- p
	return out, err
}

func (c *scfCluster) retire(p *runtimeProc) {
	c.mu.Lock()
	delete(c.procs, p)
	c.mu.Unlock()
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	if testing.Verbose() {
		c.t.Logf("instance %d's log:\n%s", p.cmd.Process.Pid, p.out)
	}
}

func (c *scfCluster) invoke(t testing.TB, cmd string) (router.Reply, time.Duration) {
	t.Helper()
	start := time.Now()
	out, err := c.call(c.front, []byte(cmd))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("invoke %.80s: %v\n%s", cmd, err, c.front.out)
	}
	var reply router.Reply
	if err := json.Unmarshal(out, &reply); err != nil {
		t.Fatalf("reply %s: %v", out, err)
	}
	return reply, took
}

func (c *scfCluster) kill(t testing.TB) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "an instance running a shard", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for p, busy := range c.procs {
			if busy {
				_ = p.cmd.Process.Kill()
				return true
			}
		}
		return false
	})
}

func (c *scfCluster) pids() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for p := range c.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

func (c *scfCluster) retries() int64 { return c.retried.Load() }

func (c *scfCluster) stop() {
	c.mu.Lock()
	procs := make([]*runtimeProc, 0, len(c.procs))
	for p := range c.procs {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	for _, p := range procs {
		if c.t.Failed() {
			out := strings.Split(p.out.String(), "\n")
			c.t.Logf("instance %d's last lines:\n%s", p.cmd.Process.Pid, strings.Join(out[max(0, len(out)-15):], "\n"))
		}
		c.retire(p)
	}
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

// retries is not known from outside local: -1.
func (f *fanLocal) retries() int64 { return -1 }

func killPid(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
