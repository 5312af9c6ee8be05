package e2e

import (
	"context"
	"fmt"
	"net/rpc"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction/messages"

	"github.com/scfws/scfws/deploy/scfzip"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/goldencase"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/store"
)

// BenchmarkFunctionTransmit is one transmit invoke per op over the SCF
// runtime protocol, to the built binary with the MySQL registry holding the
// given number of live connections, each reached through a push endpoint that
// answers after 2ms. It reports the function process's peak RSS.
func BenchmarkFunctionTransmit(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			db := mysqltest.New(b)
			s, err := store.OpenMySQL(context.Background(), store.MySQLConfig{Host: db.Host, Port: db.Port, User: db.User,
				Password: db.Password, DBName: db.Name, Table: "ConnectionID_List", AutoMigrate: true, IdleTimeout: goldencase.Idle})
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			db.Exec(b, "INSERT INTO ConnectionID_List (ConnectionID, Date) SELECT CONCAT('xawexasdfewezdfsdf', LPAD(seq, 10, '0')), UTC_TIMESTAMP(3) FROM seq_1_to_"+strconv.Itoa(n))
			// The sender is registered: a frame from an unknown connection closes it.
			db.Exec(b, "INSERT INTO ConnectionID_List (ConnectionID, Date) VALUES ('sender==', UTC_TIMESTAMP(3))")
			push := pushtest.Start()
			defer push.Close()
			push.Discard()
			push.SetLatency(2 * time.Millisecond)

			bin := buildBinary(b)
			cmd := exec.Command(bin)
			port := strconv.Itoa(testkit.FreePort(b))
			cmd.Env = []string{"_LAMBDA_SERVER_PORT=" + port, "STORE=mysql", "DB_HOST=" + db.Host, "DB_PORT=" + strconv.Itoa(db.Port),
				"DB_USER=" + db.User, "DB_PASSWORD=" + db.Password, "DB_NAME=" + db.Name, "SENDBACK_HOST=" + push.URL, "LOG_LEVEL=warn"}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			client := dialFunction(b, port)
			defer client.Close()

			payload := []byte(`{"websocket":{"action":"data send","secConnectionID":"sender==","dataType":"text","data":"hello, everyone"}}`)
			for b.Loop() {
				deadline := time.Now().Add(10 * time.Second)
				var resp messages.InvokeResponse
				err := client.Call("Function.Invoke", &messages.InvokeRequest{Payload: payload, RequestId: "bench",
					Deadline: messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())}}, &resp)
				if err != nil || resp.Error != nil || !strings.Contains(string(resp.Payload), fmt.Sprintf(`"delivered":%d`, n)) {
					b.Fatalf("invoke = %s %v %v", resp.Payload, resp.Error, err)
				}
			}
			b.ReportMetric(float64(peakRSS(b, cmd.Process.Pid))/(1<<20), "peak-RSS-MiB")
		})
	}
}

// BenchmarkColdStart is the time from starting the process to its first
// answered Function.Ping, for the zip's main as go run ./tools/mkzip builds
// it, and built with the function alone (-function-only).
func BenchmarkColdStart(b *testing.B) {
	tests := []struct {
		name string
		tags []string
	}{
		{name: "zip=full"},
		{name: "zip=function-only", tags: []string{scfzip.FunctionOnly}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			_, bin := buildZip(b, tt.tags...)
			for b.Loop() {
				port := strconv.Itoa(testkit.FreePort(b))
				cmd := exec.Command(bin)
				cmd.Env = []string{"_LAMBDA_SERVER_PORT=" + port}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				client := dialFunction(b, port)
				client.Close()
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
	}
}

// dialFunction waits for the runtime server and pings it. It polls every
// 200µs, not through testkit.Eventually's 20 ms: BenchmarkColdStart
// measures this wait, a few milliseconds.
func dialFunction(tb testing.TB, port string) *rpc.Client {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := rpc.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			if err := c.Call("Function.Ping", &messages.PingRequest{}, &messages.PingResponse{}); err != nil {
				tb.Fatal(err)
			}
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatalf("function did not listen: %v", err)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// peakRSS reads the process's high-water resident set (VmHWM), in bytes.
func peakRSS(tb testing.TB, pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmHWM in /proc status")
	return 0
}
