package emulator

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestReadable(t *testing.T) {
	at := time.Date(2026, 11, 27, 14, 2, 3, 481e6, time.UTC)
	clock := at.Local().Format("15:04:05.000")
	tests := []struct {
		give string
		want string
	}{
		{`{"level":"info","time":"2026-11-27T14:02:03.481Z","msg":"invoke","action":"data send","connectionId":"a+b==","errNo":0,"durationMs":0.9}`,
			clock + ` fn INFO  invoke action="data send" connectionId="a+b==" errNo=0 durationMs=0.9`},
		{`{"level":"warn","msg":"configured","wsSubprotocols":["chat"],"heartbeat":true}`,
			` fn WARN  configured wsSubprotocols=["chat"] heartbeat=true`},
		{`panic: runtime error`, ` fn       panic: runtime error`},
		{`{"not":"closed"`, ` fn       {"not":"closed"`},
	}
	for _, tt := range tests {
		got := strings.TrimSuffix(readable("fn", []byte(tt.give)), "\n")
		if !strings.HasSuffix(got, tt.want) {
			t.Errorf("readable(%s) = %q; want it to end with %q", tt.give, got, tt.want)
		}
	}
}

// The gateway's lines and the function's share one format on the console.
func TestConsoleOneFormat(t *testing.T) {
	var out strings.Builder
	c := NewConsole(&out)
	c.Logger(zapcore.InfoLevel).Info("connected", zap.String("connectionId", "a+b=="), zap.String("remote", "127.0.0.1"))
	c.Function([]byte(`{"level":"warn","time":"2026-11-27T14:02:03.481Z","msg":"invoke","action":"connecting","errNo":501}`))
	c.Function([]byte(`goroutine 1 [running]:`))
	line := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} (gw|fn) (INFO |WARN |ERROR|DEBUG|     ) \S`)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("console:\n%s\nwant 3 lines", out.String())
	}
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("console line %q; want TIME SOURCE LEVEL message", l)
		}
	}
	if !strings.HasSuffix(lines[0], " gw INFO  connected connectionId=\"a+b==\" remote=127.0.0.1") {
		t.Errorf("gateway line %q", lines[0])
	}
}
