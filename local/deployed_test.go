package local

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/scfws/scfws/deploy/scfzip"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
)

// elfHeader is an ELF executable's header alone, for machine.
func elfHeader(t testing.TB, machine elf.Machine) []byte {
	t.Helper()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testDeployedRuntime(t testing.TB) *deployedRuntime {
	t.Helper()
	rt := newDeployedRuntime(zap.NewNop(), emulator.NewConsole(io.Discard), emulator.Options{})
	t.Cleanup(rt.Close)
	return rt
}

// Code SCF's Go1 runtime could not run is refused with the reason, which
// the Cloud shows as CreateFailed; nothing is left on disk.
func TestDeployRefusesCodeThatCannotRun(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where Deploy unzips
	tests := []struct {
		name string
		give []byte
		want string
	}{
		{"not a zip", []byte("hello"), "not a zip"},
		{"no main", testkit.Zip(t, testkit.ZipFile{Name: "bootstrap", Data: elfHeader(t, elf.EM_X86_64)}), `the zip has no file "main"`},
		{"not ELF", testkit.Zip(t, testkit.ZipFile{Name: "main", Data: []byte("#!/bin/sh\necho hi\n")}), "not an ELF executable"},
		{"arm64", testkit.Zip(t, testkit.ZipFile{Name: "main", Data: elfHeader(t, elf.EM_AARCH64)}), "not x86-64"},
		{"cannot start", testkit.Zip(t, testkit.ZipFile{Name: "main", Data: elfHeader(t, elf.EM_X86_64)}), "start main"},
	}
	rt := testDeployedRuntime(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			spec := cloudapi.FunctionSpec{FunctionID: cloudapi.FunctionID{Region: "ap-guangzhou", Namespace: "default", Name: "chat"},
				Runtime: "Go1", Handler: "main", Zip: tt.give, Timeout: time.Second}
			if err := rt.Deploy(ctx, spec); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Deploy(%s) = %v; want an error with %q", tt.name, err, tt.want)
			}
		})
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("%d files left in TMPDIR after refused deploys; want none", len(left))
	}
}

// bomb is a zip of about 0.5 MB whose main is n bytes of zeros (n a
// multiple of 1 MB): one deflated MB, flushed to a byte boundary, repeated,
// so that the test need not deflate n bytes.
func bomb(t testing.TB, n int64) []byte {
	t.Helper()
	var mb bytes.Buffer
	fw, err := flate.NewWriter(&mb, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(fw, zeros{}, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	raw := append(bytes.Repeat(mb.Bytes(), int(n>>20)), 0x03, 0x00) // then a final empty block
	sum := crc32.NewIEEE()
	if _, err := io.CopyN(sum, zeros{}, n); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "main", Method: zip.Deflate, CRC32: sum.Sum32(),
		CompressedSize64: uint64(len(raw)), UncompressedSize64: uint64(n)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// A zip that unzips to far more than it weighs is refused before it is
// unzipped: a 0.5 MB zip does not write 480 MB to this machine's disk.
func TestDeployStopsAtTheUnzipBudget(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	zipped := bomb(t, 480<<20)
	t.Logf("480 MB of zeros zipped: %d bytes", len(zipped))
	spec := cloudapi.FunctionSpec{FunctionID: cloudapi.FunctionID{Region: "ap-guangzhou", Namespace: "default", Name: "chat"},
		Runtime: "Go1", Handler: "main", Zip: zipped, Timeout: time.Second}
	start := time.Now()
	err := testDeployedRuntime(t).Deploy(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "main is 503316480 bytes unzipped, over the 67108864 scfws local unzips") {
		t.Errorf("Deploy of a zip bomb = %v; want it refused by the budget", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refusing it took %s; want no unzipping", took)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("%d files left in TMPDIR", len(left))
	}
}

func TestExtractBudget(t *testing.T) {
	tests := []struct {
		give int
		want int64
	}{
		{give: 512 << 10, want: 64 << 20},
		{give: 8 << 20, want: 128 << 20},
		{give: 40 << 20, want: 500 << 20},
	}
	for _, tt := range tests {
		if got := extractBudget(tt.give); got != tt.want {
			t.Errorf("extractBudget(%d) = %d; want %d", tt.give, got, tt.want)
		}
	}
}

// A deployed function runs from its zip with its environment; a redeploy
// swaps in the new version and stops the old one; Remove stops it for good.
func TestDeployRunsTheZip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the zip and runs it: skipped under -short")
	}
	exe := filepath.Join(t.TempDir(), "main")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := scfzip.Build(ctx, "..", exe, "test", io.Discard); err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	zipped := testkit.Zip(t, testkit.ZipFile{Name: "main", Data: code}) // once: 13 MB deflate slowly under -race
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where Deploy unzips
	rt := testDeployedRuntime(t)
	id := cloudapi.FunctionID{Region: "ap-guangzhou", Namespace: "default", Name: "chat"}
	deploy := func(heartbeat string) []int {
		t.Helper()
		spec := cloudapi.FunctionSpec{FunctionID: id, Runtime: "Go1", Handler: "main", Zip: zipped, Timeout: 3 * time.Second,
			Env: map[string]string{"STORE": "memory", "SENDBACK_HOST": "http://127.0.0.1:9/push", "HEARTBEAT_MESSAGE": heartbeat}}
		if err := rt.Deploy(ctx, spec); err != nil {
			t.Fatal(err)
		}
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.fns[id].fn.Pids()
	}
	// frame connects a client and has it send hb: the reply's errMsg.
	frame := func() string {
		t.Helper()
		var r struct{ ErrMsg string }
		for _, ev := range []string{`{"websocket":{"action":"connecting","secConnectionID":"a=="}}`,
			`{"websocket":{"action":"data send","secConnectionID":"a==","dataType":"text","data":"hb"}}`} {
			out, err := rt.Invoke(ctx, id, []byte(ev))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatal(err)
			}
		}
		return r.ErrMsg
	}
	first := deploy("hb")
	if got := frame(); got != "heartbeat" {
		t.Errorf("frame hb with HEARTBEAT_MESSAGE=hb: errMsg %q; want heartbeat", got)
	}
	if len(first) != 1 {
		t.Fatalf("pids %v; want one instance with STORE=memory", first)
	}
	second := deploy("hb2")
	if got := frame(); got != "ok" {
		t.Errorf("frame hb after redeploying with HEARTBEAT_MESSAGE=hb2: errMsg %q; want ok (a broadcast)", got)
	}
	waitGone(t, first[0])
	if err := rt.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitGone(t, second[0])
	if _, err := rt.Invoke(ctx, id, []byte(`{}`)); !errors.Is(err, cloudapi.ErrFunctionNotFound) {
		t.Errorf("Invoke after Remove = %v; want ErrFunctionNotFound", err)
	}
	testkit.Eventually(t, 20*time.Second, "the executables deleted from TMPDIR after Remove", func() bool {
		left, _ := os.ReadDir(tmp)
		return len(left) == 0
	})
}

// waitGone waits until process pid has exited.
func waitGone(t testing.TB, pid int) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("process %d to exit", pid), func() bool {
		return syscall.Kill(pid, 0) != nil
	})
}

// fakeFunctions records the events roles sends, by function.
type fakeFunctions struct {
	mu     sync.Mutex
	events []string // "name event"
}

func (f *fakeFunctions) invoke(_ context.Context, id cloudapi.FunctionID, event []byte) ([]byte, error) {
	f.mu.Lock()
	f.events = append(f.events, id.Name+" "+string(event))
	f.mu.Unlock()
	return []byte(`{"errNo":0,"errMsg":"from ` + id.Name + `"}`), nil
}

func (f *fakeFunctions) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		return ""
	}
	return f.events[len(f.events)-1]
}

// Each event goes to the function of its role; a role without one is
// answered by the gateway: accepted, or ignored.
func TestRolesDispatch(t *testing.T) {
	fn := func(name string) cloudapi.FunctionID {
		return cloudapi.FunctionID{Region: "ap-guangzhou", Namespace: "default", Name: name}
	}
	bound := cloudapi.APISpec{Register: fn("reg"), Transport: fn("tx"), Cleanup: fn("clean")}
	unbound := cloudapi.APISpec{Transport: fn("tx")}
	tests := []struct {
		name   string
		api    cloudapi.APISpec
		action string
		want   string // the reply
		wantFn string // the function invoked, "" for none
	}{
		{"connecting", bound, "connecting", `{"errNo":0,"errMsg":"from reg"}`, "reg"},
		{"data send", bound, "data send", `{"errNo":0,"errMsg":"from tx"}`, "tx"},
		{"data recv", bound, "data recv", `{"errNo":0,"errMsg":"from tx"}`, "tx"},
		{"closing", bound, "closing", `{"errNo":0,"errMsg":"from clean"}`, "clean"},
		{"connecting unbound", unbound, "connecting", `{"errNo":0,"errMsg":"ok","websocket":{"action":"connecting","secConnectionID":"a+/="}}`, ""},
		{"closing unbound", unbound, "closing", `{"errNo":0,"errMsg":"ok"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFunctions{}
			event := `{"websocket":{"action":"` + tt.action + `","secConnectionID":"a+/="}}`
			out, err := roles{api: tt.api, invoke: f.invoke}.Invoke(context.Background(), []byte(event))
			wantEvent := ""
			if tt.wantFn != "" {
				wantEvent = tt.wantFn + " " + event
			}
			if err != nil || string(out) != tt.want || f.last() != wantEvent {
				t.Errorf("Invoke(%s) = %s, %v, invoked %q; want %s, invoked %q", tt.action, out, err, f.last(), tt.want, wantEvent)
			}
		})
	}
	if _, err := (roles{api: bound}).Invoke(context.Background(), []byte(`{"websocket":{"action":"dance"}}`)); err == nil {
		t.Errorf("an unknown action invoked something; want an error")
	}
}

// A served API answers at its client URL and push URL; its events carry
// the API's own path; a new release replaces the gateway (old clients get
// 1001) and Unserve stops it.
func TestServeMountsTheAPI(t *testing.T) {
	rt := testDeployedRuntime(t)
	f := &fakeFunctions{}
	rt.invokeFn = f.invoke
	srv := httptest.NewServer(rt)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	opts := cloudOptions(host)
	fnID := cloudapi.FunctionID{Region: "ap-guangzhou", Namespace: "default", Name: "chat"}
	api := cloudapi.APISpec{
		APIID: cloudapi.APIID{Region: "ap-guangzhou", ServiceID: "service-abc", APIID: "api-def", Environment: "release"},
		URL:   "ws://" + opts.SubDomain("ap-guangzhou", "service-abc") + "/release/websocket", Path: "/websocket",
		PushURL: opts.PushURL("ap-guangzhou", "service-abc", "api-def"), IdleTimeout: time.Minute,
		Register: fnID, Transport: fnID, Cleanup: fnID,
	}
	if api.URL != "ws://"+host+"/_cloud/service-abc/release/websocket" || api.PushURL != "http://"+host+"/_cloud/service-abc/push/api-def" {
		t.Fatalf("URLs %s and %s; want them under /_cloud/service-abc/", api.URL, api.PushURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Serve(ctx, api); err != nil {
		t.Fatal(err)
	}
	old, _, err := websocket.Dial(ctx, api.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.CloseNow()
	if err := old.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		WebSocket struct {
			SecConnectionID string `json:"secConnectionID"`
			Data            string `json:"data"`
		} `json:"websocket"`
	}
	testkit.Eventually(t, 20*time.Second, "a data send invoke for hi", func() bool {
		return strings.Contains(f.last(), `"data":"hi"`)
	})
	if err := json.Unmarshal([]byte(strings.TrimPrefix(f.last(), "chat ")), &ev); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	connecting := f.events[0]
	f.mu.Unlock()
	if !strings.Contains(connecting, `"path":"/websocket"`) {
		t.Errorf("connecting event %s; want the API's path /websocket in requestContext", connecting)
	}
	push := `{"websocket":{"action":"data send","secConnectionID":"` + ev.WebSocket.SecConnectionID + `","dataType":"text","data":"pushed"}}`
	resp, err := http.Post(api.PushURL, "application/json", strings.NewReader(push))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push = %d; want 200", resp.StatusCode)
	}
	if _, data, err := old.Read(ctx); err != nil || string(data) != "pushed" {
		t.Fatalf("client read %q, %v; want the push", data, err)
	}

	// A new release: the old gateway's client goes away, new ones connect.
	if err := rt.Serve(ctx, api); err != nil {
		t.Fatal(err)
	}
	if _, _, err := old.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("old client after a new release: %v; want 1001 going away", err)
	}
	c, _, err := websocket.Dial(ctx, api.URL, nil)
	if err != nil {
		t.Fatalf("dial after a new release: %v", err)
	}
	defer c.CloseNow()

	if err := rt.Unserve(ctx, api.APIID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("client after Unserve: %v; want 1001 going away", err)
	}
	if _, resp, err := websocket.Dial(ctx, api.URL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("dial after Unserve: %v; want 404", err)
	}
}

func TestServeRefusesPathsItCannotMount(t *testing.T) {
	rt := testDeployedRuntime(t)
	api := func(i int, p string) cloudapi.APISpec {
		id := fmt.Sprintf("api-%d", i)
		return cloudapi.APISpec{APIID: cloudapi.APIID{APIID: id}, URL: "ws://127.0.0.1:1/_cloud/s/release" + p, Path: p,
			PushURL: "http://127.0.0.1:1/_cloud/s/push/" + id}
	}
	for i, p := range []string{"/", "/_scfws/status", "/a//b", "/a/../b", "/{id}", "/a b"} {
		if err := rt.Serve(context.Background(), api(i, p)); err == nil {
			t.Errorf("Serve(path %q) = nil; want a refusal", p)
		}
	}
	for i, p := range []string{"/websocket", "/chat/v1/", "/a-b_c.d~e"} {
		if err := rt.Serve(context.Background(), api(10+i, p)); err != nil {
			t.Errorf("Serve(path %q) = %v; want it served", p, err)
		}
	}
}

// A deployed function gets what SCF gives it: its own name, namespace and
// region (in Environment and in the invoke request), local's API address,
// and its role's key when it has one SCF can assume; without, no key.
func TestDeployedFunctionEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function and runs it: skipped under -short")
	}
	code, err := os.ReadFile(testkit.BuildProgram(t, "./testdata/selfinvoke"))
	if err != nil {
		t.Fatal(err)
	}
	rt := testDeployedRuntime(t)
	rt.apiURL = "http://127.0.0.1:9"
	key := &cloudapi.Credential{SecretID: "AKIDscfwsRoleTest", SecretKey: "role-key", Token: "role-token"}
	tests := []struct {
		name    string
		role    string
		key     *cloudapi.Credential
		problem string
		want    map[string]string
	}{
		{"with a role", "chat_role", key, "", map[string]string{"TENCENTCLOUD_SECRETID": "AKIDscfwsRoleTest", "TENCENTCLOUD_SECRETKEY": "role-key",
			"TENCENTCLOUD_SESSIONTOKEN": "role-token"}},
		{"with a role SCF cannot assume", "cls_role", nil, "the role cls_role does not let scf.qcloud.com assume it",
			map[string]string{"TENCENTCLOUD_SECRETID": "", "TENCENTCLOUD_SESSIONTOKEN": ""}},
		{"without a role", "", nil, "", map[string]string{"TENCENTCLOUD_SECRETID": "", "TENCENTCLOUD_SESSIONTOKEN": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			id := cloudapi.FunctionID{Region: "ap-shanghai", Namespace: "prod", Name: "chat"}
			spec := cloudapi.FunctionSpec{FunctionID: id, Runtime: "Go1", Handler: "main", Timeout: 3 * time.Second,
				Zip: testkit.Zip(t, testkit.ZipFile{Name: "main", Data: code}), Env: map[string]string{"SENDBACK_HOST": "http://127.0.0.1:9/push"},
				Role: tt.role, RoleKey: tt.key, RoleProblem: tt.problem, AppID: "1250000000", UIN: "100000000001", MemoryMB: 256}
			if err := rt.Deploy(ctx, spec); err != nil {
				t.Fatal(err)
			}
			out, err := rt.Invoke(ctx, id, []byte(`{"op":"env"}`))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Env map[string]string                                                             `json:"env"`
				FC  struct{ FunctionName, Namespace, TencentcloudRegion, TencentcloudUin string } `json:"fc"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			want := map[string]string{"SCF_FUNCTIONNAME": "chat", "SCF_NAMESPACE": "prod", "TENCENTCLOUD_REGION": "ap-shanghai",
				"SCFWS_CLOUD_API": "http://127.0.0.1:9", "TENCENTCLOUD_UIN": "100000000001"}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				if got.Env[k] != v {
					t.Errorf("%s = %q; want %q", k, got.Env[k], v)
				}
			}
			if fc := got.FC; fc.FunctionName != "chat" || fc.Namespace != "prod" || fc.TencentcloudRegion != "ap-shanghai" || fc.TencentcloudUin != "100000000001" {
				t.Errorf("function context %+v; want chat in prod of ap-shanghai", fc)
			}
		})
	}
}
