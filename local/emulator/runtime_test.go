package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tencentyun/scf-go-lib/functioncontext"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/proto"
)

// scfws serves on the loopback listener the emulator hands each instance,
// already bound: no port is picked free and bound later, so instances
// start at once and each listens on loopback only. A binary that is not
// scfws binds its port on every interface (scf-go-lib's 0.0.0.0), and
// Loopback says so for the banner.
func TestInstancesListen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds scfws and starts it as processes: skipped under -short")
	}
	tests := []struct {
		name string
		give string // the binary
		want bool   // loopback only
	}{
		{"scfws", testkit.BuildProgram(t, "../.."), true},
		{"scf-go-lib", buildBadfn(t), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFunction(tt.give, FunctionOptions{Instances: 3,
				Env: map[string]string{"STORE": "memory", "SENDBACK_HOST": "http://127.0.0.1:1/push"}})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := f.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if f.Loopback() != tt.want {
				t.Errorf("Loopback() = %v; want %v", f.Loopback(), tt.want)
			}
			listening := testkit.Listening(t, f.Pids()...)
			for _, pid := range f.Pids() {
				addrs := listening[pid]
				if len(addrs) != 1 || addrs[0].Addr().IsLoopback() != tt.want {
					t.Errorf("instance %d listens on %v; want one listener, loopback %v", pid, addrs, tt.want)
				}
			}
			for range 6 { // each instance answers
				if _, err := f.Invoke(ctx, []byte(`{"websocket":{"action":"closing","secConnectionID":"a=="}}`)); err != nil {
					t.Errorf("Invoke: %v", err)
				}
			}
		})
	}
}

// A program is taken for scfws by the variable's name in it, wherever it
// falls in the file (across the scan's reads too); without it, or without
// a file, it is not.
func TestServesHandedListener(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	marker := []byte(proto.RuntimeListenerFD)
	straddling := append(make([]byte, 256<<10-5), marker...)
	tests := []struct {
		give string
		want bool
	}{
		{write("start", append(marker, "rest"...)), true},
		{write("straddling", straddling), true},
		{write("end", append(make([]byte, 1<<20), marker...)), true},
		{write("cut", append(make([]byte, 1<<20), marker[:len(marker)-1]...)), false},
		{write("script", []byte("#!/bin/sh\nexec badfn\n")), false},
		{filepath.Join(dir, "missing"), false},
	}
	for _, tt := range tests {
		if got := servesHandedListener(tt.give); got != tt.want {
			t.Errorf("servesHandedListener(%s) = %v; want %v", filepath.Base(tt.give), got, tt.want)
		}
	}
}

// Each invoke request carries the function's name and account, as SCF's
// does, so that scf-go-lib's functioncontext gives them to the handler
// (rtcheck answers "ctx" with what it got).
func TestInvokeCarriesIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function and starts it: skipped under -short")
	}
	f, err := NewFunction(testkit.BuildProgram(t, "../../function/testdata/rtcheck"), FunctionOptions{
		Env:      map[string]string{"TENCENTCLOUD_REGION": "ap-shanghai"},
		Identity: Identity{Name: "chat", Namespace: "prod", Region: "ap-shanghai", AppID: "1250000000", UIN: "100000000001", MemoryMB: 256},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := f.Invoke(ctx, []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		FC functioncontext.FunctionContext `json:"fc"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	fc := got.FC
	want := functioncontext.FunctionContext{Namespace: "prod", FunctionName: "chat", FunctionVersion: "$LATEST", MemoryLimitInMb: 256,
		TimeLimitInMs: 3000, TencentcloudRegion: "ap-shanghai", TencentcloudAppID: "1250000000", TencentcloudUin: "100000000001",
		Environment: map[string]string{"TENCENTCLOUD_REGION": "ap-shanghai"}}
	fc.RequestID = ""
	if fmt.Sprint(fc) != fmt.Sprint(want) {
		t.Errorf("the handler's function context = %+v;\nwant %+v", fc, want)
	}
}
