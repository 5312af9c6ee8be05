package emulator

import (
	"strings"
	"testing"
	"time"
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
		{`panic: runtime error`, `fn panic: runtime error`},
		{`{"not":"closed"`, `fn {"not":"closed"`},
	}
	for _, tt := range tests {
		got := strings.TrimSuffix(readable([]byte(tt.give)), "\n")
		if !strings.HasSuffix(got, tt.want) {
			t.Errorf("readable(%s) = %q; want it to end with %q", tt.give, got, tt.want)
		}
	}
}
