package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/scfws/scfws/config"
)

func TestFunctionEnvInLocalMode(t *testing.T) {
	for _, k := range config.Keys() {
		t.Setenv(k, "")
	}
	f := localFlags{idleTimeout: 90 * time.Second, heartbeat: "hb"}
	got := functionEnv(f, "http://127.0.0.1:1/sendback")
	want := map[string]string{"STORE": "memory", "SENDBACK_HOST": "http://127.0.0.1:1/sendback", "IDLE_TIMEOUT": "1m30s",
		"HEARTBEAT_MESSAGE": "hb", "ONLINE_COUNT_SUFFIX": "true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("functionEnv = %v; want %v", got, want)
	}
	t.Setenv("DB_HOST", "db.internal")
	t.Setenv("PUSH_RETRIES", "5")
	got = functionEnv(f, "http://x/")
	if got["STORE"] != "mysql" || got["DB_HOST"] != "db.internal" || got["PUSH_RETRIES"] != "5" {
		t.Errorf("with DB_HOST set, functionEnv = %v; want STORE=mysql and the variables passed through", got)
	}
}
