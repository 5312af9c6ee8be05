// Package e2e runs scfws as its users do: the built binary over the SCF
// runtime protocol, `scfws local` with real WebSocket clients, MariaDB and
// headless Chromium, and the command line. go test -short skips it.
package e2e

import (
	"context"
	"encoding/json"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"

	"github.com/scfws/scfws/deploy"
	"github.com/scfws/scfws/deploy/scfzip"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/goldencase"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// goldenDir is the root package's golden events.
const goldenDir = "../testdata/golden"

// TestGoldenRuntime runs each event through the built binary over the SCF Go1
// runtime protocol (net/rpc Function.Invoke), with the MySQL registry. The
// function's settings arrive in the invoke's Environment, as under SCF.
func TestGoldenRuntime(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	db := mysqltest.New(t)
	bin := buildBinary(t)
	srv := pushtest.Start()
	defer srv.Close()
	const table = "ConnectionID_List"
	for _, c := range goldencase.Load(t, goldenDir) {
		t.Run(c.Name, func(t *testing.T) {
			srv.Reset()
			for _, tb := range []string{table, table + "_v1", table + "_groups", table + "_stream", table + "_recent"} {
				db.Exec(t, "DROP TABLE IF EXISTS "+tb)
			}
			s, err := store.OpenMySQL(context.Background(), store.MySQLConfig{Host: db.Host, Port: db.Port, User: db.User,
				Password: db.Password, DBName: db.Name, Table: table, AutoMigrate: true, IdleTimeout: goldencase.Idle})
			if err != nil {
				t.Fatal(err)
			}
			goldencase.Plant(t, s, func(id string, by time.Duration) {
				db.Exec(t, "UPDATE "+table+" SET Date = UTC_TIMESTAMP(3) - INTERVAL ? SECOND WHERE ConnectionID = ?", int(by.Seconds()), id)
				db.Exec(t, "UPDATE "+table+"_v1 SET LastSeen = UTC_TIMESTAMP(3) - INTERVAL ? SECOND WHERE ID = ?", int(by.Seconds()), id)
			})
			c.Epochs = goldencase.PlantHistory(t, s)
			s.Close()
			env := goldencase.Env(srv.URL, c)
			for k, v := range map[string]string{"STORE": "mysql", "DB_HOST": db.Host, "DB_PORT": strconv.Itoa(db.Port),
				"DB_USER": db.User, "DB_PASSWORD": db.Password, "DB_NAME": db.Name} {
				env[k] = v
			}
			fn := startFunction(t, bin)
			resp := fn.invoke(t, c.Name, goldencase.Prepare(t, c), env, 3*time.Second)
			if resp.Error != nil {
				t.Fatalf("invoke failed: %+v; want a reply, never an error", resp.Error)
			}
			ids := append(db.IDs(t, table), db.Strings(t, "SELECT ID FROM "+table+"_v1")...)
			var groups [][2]string
			for _, row := range db.Strings(t, "SELECT CONCAT(GroupName, 0x00, ConnectionID) FROM "+table+"_groups ORDER BY GroupName, ConnectionID") {
				g, id, _ := strings.Cut(row, "\x00")
				groups = append(groups, [2]string{g, id})
			}
			o := goldencase.Outcome{Reply: resp.Payload, Pushes: srv.Pushes(), Registry: slices.Sorted(slices.Values(ids)), Groups: groups}
			testkit.CheckGolden(t, goldencase.Path(goldenDir, c.Name), o.Marshal(t), false)
			logs := fn.stop(t)
			if strings.Contains(logs, db.Password) {
				t.Errorf("function log contains the DB password:\n%s", logs)
			}
			goldencase.NoTokens(t, c, logs, string(o.Marshal(t)))
		})
	}
}

// buildBinary builds scfws once per test run.
func buildBinary(t testing.TB) string { return testkit.BuildProgram(t, "..") }

// buildZip builds the deployment package as a user does (go run
// ./tools/mkzip, -function-only for the tag scfzip.FunctionOnly): a static
// linux/amd64 scfws, which the test binary is not. It returns the zip and
// its main, built once per test binary and tag set; tests must not change
// them. The zip is written by zipper (scfzip.WriteFile, as mkzip), a
// process without the race detector, which makes deflating 30 times slower.
func buildZip(t testing.TB, tags ...string) (zip, exe string) {
	t.Helper()
	zipsMu.Lock()
	defer zipsMu.Unlock()
	key := strings.Join(tags, ",")
	if z, ok := zips[key]; ok {
		return z[0], z[1]
	}
	dir, err := os.MkdirTemp(tempRoot(t), "zip")
	if err != nil {
		t.Fatal(err)
	}
	exe, zip = filepath.Join(dir, "main"), filepath.Join(dir, "main.zip")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log testkit.SyncBuffer
	if err := scfzip.Build(ctx, "..", exe, "e2e", &log, tags...); err != nil {
		t.Fatalf("build the function: %v\n%s", err, log.String())
	}
	writeZip(t, exe, zip)
	zips[key] = [2]string{zip, exe}
	return zip, exe
}

var (
	zipsMu sync.Mutex
	zips   = map[string][2]string{} // tags -> zip, main
)

// writeZip writes the SCF zip of exe to zip with zipper.
func writeZip(t testing.TB, exe, zip string) {
	t.Helper()
	if out, err := exec.Command(testkit.BuildProgram(t, "./testdata/zipper"), exe, zip).CombinedOutput(); err != nil {
		t.Fatalf("zipper %s: %v\n%s", exe, err, out)
	}
}

// Built with the function alone (go run ./tools/mkzip -function-only), the
// zip is one deploy takes, its main answers the runtime's Ping and an
// invoke, and it refuses the commands it leaves out.
func TestFunctionOnlyBuild(t *testing.T) {
	t.Parallel() // mostly waits: see TestMain
	zip, exe := buildZip(t, scfzip.FunctionOnly)
	if _, err := deploy.Package(context.Background(), deploy.PackageOptions{ZipFile: zip}); err != nil {
		t.Fatalf("deploy refuses the function-only zip: %v", err)
	}
	push := pushtest.Start()
	defer push.Close()
	fn := startFunction(t, exe)
	event := []byte(`{"websocket":{"action":"connecting","secConnectionID":"a=="}}`)
	resp := fn.invoke(t, "function-only", event, map[string]string{"STORE": "memory", "SENDBACK_HOST": push.URL}, 3*time.Second)
	var r router.Reply
	if resp.Error != nil || json.Unmarshal(resp.Payload, &r) != nil || r.ErrNo != 0 {
		t.Errorf("invoke = %s %+v; want errNo 0", resp.Payload, resp.Error)
	}
	for _, cmd := range []string{"local", "publish", "probe", "deploy", "destroy"} {
		out, err := exec.Command(exe, cmd).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "not in this build") {
			t.Errorf("scfws %s = %v, %q; want it refused as not in this build", cmd, err, out)
		}
	}
}

// function is the binary running in SCF function mode.
type function struct {
	cmd    *exec.Cmd
	client *rpc.Client
	out    *testkit.SyncBuffer
}

// startFunction starts bin as the SCF runtime would, with nothing in its
// environment but the port, and waits for Function.Ping.
func startFunction(t *testing.T, bin string) *function {
	t.Helper()
	port := strconv.Itoa(testkit.FreePort(t))
	f := &function{cmd: exec.Command(bin), out: &testkit.SyncBuffer{}}
	f.cmd.Env = []string{"_LAMBDA_SERVER_PORT=" + port}
	f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the function's output:\n%s", f.out)
		}
	})
	t.Cleanup(func() { f.stop(t) })
	testkit.Eventually(t, 10*time.Second, "the function to listen on "+port, func() bool {
		var err error
		f.client, err = rpc.Dial("tcp", "127.0.0.1:"+port)
		return err == nil
	})
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

// Settings may be missing on the first invoke and fixed later: the same warm
// process then works, without a restart.
func TestRuntimeConfigFixedWhileWarm(t *testing.T) {
	bin := buildBinary(t)
	push := pushtest.Start()
	defer push.Close()
	fn := startFunction(t, bin)
	event := []byte(`{"websocket":{"action":"connecting","secConnectionID":"a=="}}`)

	resp := fn.invoke(t, "unconfigured", event, map[string]string{}, 3*time.Second)
	var r router.Reply
	if resp.Error != nil || json.Unmarshal(resp.Payload, &r) != nil {
		t.Fatalf("invoke = %+v; want a reply", resp)
	}
	for _, name := range []string{"DB_HOST", "DB_USER", "SENDBACK_HOST"} {
		if r.ErrNo != proto.CodeNotReady || !strings.Contains(r.ErrMsg, name) {
			t.Errorf("unconfigured reply = %d %q; want %d naming %s", r.ErrNo, r.ErrMsg, proto.CodeNotReady, name)
		}
	}
	resp = fn.invoke(t, "configured", event, map[string]string{"STORE": "memory", "SENDBACK_HOST": push.URL}, 3*time.Second)
	if resp.Error != nil || json.Unmarshal(resp.Payload, &r) != nil || r.ErrNo != 0 {
		t.Errorf("after fixing the settings, reply = %s %+v; want errNo 0", resp.Payload, resp.Error)
	}
	logs := fn.stop(t)
	if n := strings.Count(logs, `"msg":"invoke"`); n != 2 {
		t.Errorf("log has %d invoke lines for 2 invokes:\n%s", n, logs)
	}
}
