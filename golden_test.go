package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"
	"github.com/tencentyun/scf-go-lib/functioncontext"
	"go.uber.org/zap/zaptest"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/internal/golden"
	"github.com/scfws/scfws/internal/pushtest"
	"github.com/scfws/scfws/internal/testbin"
	"github.com/scfws/scfws/internal/testdb"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

const goldenIdle = 600 * time.Second

// Every case starts from this registry. The push endpoint answers by ID
// prefix (see pushtest): gone-* and errno-* are pruned, fail-* is kept after
// its retry, and dave-expired is past the idle timeout.
var goldenSeed = []struct {
	id  string
	age time.Duration
}{
	{"alice==", 0}, {"bob==", time.Minute}, {"gone-carol==", 0}, {"errno-frank==", 0},
	{"fail-erin==", 0}, {"dave-expired==", 2 * goldenIdle},
}

// outcome is every observable effect of one event.
type outcome struct {
	Reply    router.Reply    `json:"reply"`
	Pushes   []pushtest.Push `json:"pushes"`
	Registry []string        `json:"registry"`
}

type goldenCase struct {
	name  string
	event []byte
	env   map[string]string // on top of goldenEnv
}

func loadGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	files, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events in testdata/golden (%v)", err)
	}
	var cases []goldenCase
	for _, f := range files {
		event, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := goldenCase{name: strings.TrimSuffix(filepath.Base(f), ".json"), event: event, env: map[string]string{}}
		if envFile, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".env"); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(envFile)), "\n") {
				k, v, _ := strings.Cut(line, "=")
				c.env[k] = v
			}
		}
		cases = append(cases, c)
	}
	return cases
}

func goldenPath(name string) string { return filepath.Join("testdata", "golden", name+".golden") }

// goldenEnv is the settings every case shares.
func goldenEnv(pushURL string) map[string]string {
	return map[string]string{"SENDBACK_HOST": pushURL, "PUSH_RETRIES": "1", "IDLE_TIMEOUT": "600", "LOG_LEVEL": "debug"}
}

func (o outcome) marshal(t *testing.T) []byte {
	t.Helper()
	if o.Reply.Summary != nil {
		o.Reply.Summary.ElapsedMs = 0 // the one field that depends on the clock
	}
	if o.Pushes == nil {
		o.Pushes = []pushtest.Push{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(o); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGoldenInProcess runs each event through the raw-bytes handler, with the
// in-memory registry and the real push client.
func TestGoldenInProcess(t *testing.T) {
	srv := pushtest.Start()
	defer srv.Close()
	for _, c := range loadGoldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			srv.Reset()
			for _, k := range config.Keys() {
				t.Setenv(k, "")
			}
			t.Setenv("STORE", "memory")
			for k, v := range goldenEnv(srv.URL + "/api-golden") {
				t.Setenv(k, v)
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			now := time.Now()
			reg := store.NewMemory(goldenIdle, nil)
			for _, s := range goldenSeed {
				reg.TouchAt(s.id, now.Add(-s.age))
			}
			log := zaptest.NewLogger(t)
			var pusher interface{ CloseIdle() }
			r := router.New(log, func(ctx context.Context) (*router.Deps, error) {
				cfg, err := config.Load()
				if err != nil {
					return nil, err
				}
				d, err := depsFrom(cfg, reg, log)
				if err == nil {
					pusher = d.Pusher.(interface{ CloseIdle() })
				}
				return d, err
			})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			ctx = functioncontext.NewContext(ctx, &functioncontext.FunctionContext{RequestID: "golden-" + c.name})
			payload, err := r.Invoke(ctx, c.event)
			if err != nil {
				t.Fatalf("Invoke returned error %v; want nil always", err)
			}
			if pusher != nil {
				pusher.CloseIdle()
			}
			var o outcome
			if err := json.Unmarshal(payload, &o.Reply); err != nil {
				t.Fatalf("reply %s is not JSON: %v", payload, err)
			}
			o.Pushes, o.Registry = srv.Pushes(), reg.All()
			golden.Check(t, goldenPath(c.name), o.marshal(t), true)
		})
	}
}

// TestGoldenRuntime runs each event through the built binary over the SCF Go1
// runtime protocol (net/rpc Function.Invoke), with the MySQL registry. The
// function's settings arrive in the invoke's Environment, as under SCF.
func TestGoldenRuntime(t *testing.T) {
	db := testdb.New(t)
	bin := buildBinary(t)
	srv := pushtest.Start()
	defer srv.Close()
	const table = "ConnectionID_List"
	for _, c := range loadGoldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			srv.Reset()
			db.Exec(t, "DROP TABLE IF EXISTS "+table)
			s, err := store.OpenMySQL(context.Background(), store.MySQLConfig{Host: db.Host, Port: db.Port, User: db.User,
				Password: db.Password, DBName: db.Name, Table: table, AutoMigrate: true, IdleTimeout: goldenIdle})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			for _, sd := range goldenSeed {
				db.Exec(t, "INSERT INTO "+table+" (ConnectionID, Date) VALUES (?, UTC_TIMESTAMP() - INTERVAL ? SECOND)", sd.id, int(sd.age.Seconds()))
			}
			env := goldenEnv(srv.URL + "/api-golden")
			for k, v := range map[string]string{"STORE": "mysql", "DB_HOST": db.Host, "DB_PORT": strconv.Itoa(db.Port),
				"DB_USER": db.User, "DB_PASSWORD": db.Password, "DB_NAME": db.Name} {
				env[k] = v
			}
			for k, v := range c.env {
				env[k] = v
			}
			fn := startFunction(t, bin)
			resp := fn.invoke(t, c.name, c.event, env, 3*time.Second)
			if resp.Error != nil {
				t.Fatalf("invoke failed: %+v; want a reply, never an error", resp.Error)
			}
			var o outcome
			if err := json.Unmarshal(resp.Payload, &o.Reply); err != nil {
				t.Fatalf("reply %s is not JSON: %v", resp.Payload, err)
			}
			o.Pushes, o.Registry = srv.Pushes(), db.IDs(t, table)
			golden.Check(t, goldenPath(c.name), o.marshal(t), false)
			logs := fn.stop(t)
			if strings.Contains(logs, db.Password) {
				t.Errorf("function log contains the DB password:\n%s", logs)
			}
		})
	}
}

// buildBinary builds scfws once per test run.
func buildBinary(t testing.TB) string { return testbin.Build(t, ".") }

// function is the binary running in SCF function mode.
type function struct {
	cmd    *exec.Cmd
	client *rpc.Client
	out    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFunction starts bin as the SCF runtime would, with nothing in its
// environment but the port, and waits for Function.Ping.
func startFunction(t *testing.T, bin string) *function {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	f := &function{cmd: exec.Command(bin), out: &syncBuffer{}}
	f.cmd.Env = []string{"_LAMBDA_SERVER_PORT=" + port}
	f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f.client, err = rpc.Dial("tcp", "127.0.0.1:"+port); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("function did not listen on %s: %v\n%s", port, err, f.out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := f.client.Call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err != nil {
		t.Fatalf("Function.Ping: %v", err)
	}
	return f
}

func (f *function) invoke(t *testing.T, name string, payload []byte, env map[string]string, timeout time.Duration) messages.InvokeResponse {
	t.Helper()
	envJSON, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	req := messages.InvokeRequest{
		Payload:       payload,
		RequestId:     "golden-" + name,
		Deadline:      messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
		Environment:   string(envJSON),
		FunctionName:  "scfws",
		TimeLimitInMs: int32(timeout.Milliseconds()),
	}
	var resp messages.InvokeResponse
	if err := f.client.Call("Function.Invoke", &req, &resp); err != nil {
		t.Fatalf("Function.Invoke: %v\n%s", err, f.out)
	}
	return resp
}

// stop kills the function and returns its log, which must be JSON lines.
func (f *function) stop(t *testing.T) string {
	t.Helper()
	if f.cmd.ProcessState == nil {
		if f.client != nil {
			f.client.Close()
		}
		_ = f.cmd.Process.Kill()
		_ = f.cmd.Wait()
	}
	logs := f.out.String()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			t.Errorf("function log line is not JSON: %s", line)
		}
	}
	return logs
}
