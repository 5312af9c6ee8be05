package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/scfws/scfws/internal/golden" // for go test ./... -update
)

// setenv sets a clean environment: every variable of Config unset, then kv.
func setenv(t *testing.T, kv map[string]string) {
	t.Helper()
	for _, name := range []string{"DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "DB_TABLE",
		"DB_AUTO_MIGRATE", "SENDBACK_HOST", "STORE", "IDLE_TIMEOUT", "PUSH_CONCURRENCY", "PUSH_TIMEOUT",
		"PUSH_RETRIES", "WS_SUBPROTOCOLS", "BROADCAST_TO_SENDER", "ONLINE_COUNT_SUFFIX",
		"HEARTBEAT_MESSAGE", "MAX_MESSAGE_BYTES", "LOG_LEVEL"} {
		t.Setenv(name, "")
	}
	for k, v := range kv {
		t.Setenv(k, v)
	}
}

var valid = map[string]string{
	"DB_HOST": "10.0.0.5", "DB_USER": "scf", "DB_PASSWORD": "hunter2-secret",
	"SENDBACK_HOST": "http://set-xxxx.cb-guangzhou.apigateway.tencentyun.com/api-xxxx",
}

func with(kv map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range valid {
		out[k] = v
	}
	for k, v := range kv {
		out[k] = v
	}
	return out
}

func TestLoadDefaults(t *testing.T) {
	setenv(t, valid)
	c, err := Load()
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	tests := []struct {
		name string
		give any
		want any
	}{
		{"DB_PORT", c.DBPort, 3306},
		{"DB_NAME", c.DBName, "SCF_Demo"},
		{"DB_TABLE", c.DBTable, "ConnectionID_List"},
		{"DB_AUTO_MIGRATE", c.DBAutoMigrate, true},
		{"STORE", c.Store, "mysql"},
		{"IDLE_TIMEOUT", c.IdleTimeout.D(), 600 * time.Second},
		{"PUSH_CONCURRENCY", c.PushConcurrency, 128},
		{"PUSH_TIMEOUT", c.PushTimeout.D(), 2 * time.Second},
		{"PUSH_RETRIES", c.PushRetries, 2},
		{"BROADCAST_TO_SENDER", c.BroadcastToSender, false},
		{"ONLINE_COUNT_SUFFIX", c.OnlineCountSuffix, false},
		{"HEARTBEAT_MESSAGE", c.HeartbeatMessage, ""},
		{"MAX_MESSAGE_BYTES", c.MaxMessageBytes, 262144},
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"WS_SUBPROTOCOLS", len(c.WSSubprotocols), 0},
	}
	for _, tt := range tests {
		if tt.give != tt.want {
			t.Errorf("%s = %v; want %v", tt.name, tt.give, tt.want)
		}
	}
}

func TestLoadValues(t *testing.T) {
	setenv(t, with(map[string]string{
		"IDLE_TIMEOUT": "300", "PUSH_TIMEOUT": "750ms", "WS_SUBPROTOCOLS": " chat , ,binary",
		"STORE": "memory", "DB_HOST": "", "DB_USER": "",
	}))
	c, err := Load()
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	if c.IdleTimeout.D() != 300*time.Second || c.PushTimeout.D() != 750*time.Millisecond {
		t.Errorf("durations = %v, %v; want 5m0s, 750ms", c.IdleTimeout, c.PushTimeout)
	}
	if got := strings.Join(c.WSSubprotocols, "|"); got != "chat|binary" {
		t.Errorf("WS_SUBPROTOCOLS = %q; want chat|binary", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		give map[string]string
		want []string // substrings of the error
	}{
		{map[string]string{"DB_HOST": "", "DB_USER": " "}, []string{"DB_HOST: required when STORE=mysql", "DB_USER: required"}},
		{map[string]string{"SENDBACK_HOST": ""}, []string{"SENDBACK_HOST: required"}},
		{map[string]string{"SENDBACK_HOST": "set-xxx.apigateway/api"}, []string{"SENDBACK_HOST: must start with http://"}},
		{map[string]string{"SENDBACK_HOST": "http:///nohost"}, []string{"SENDBACK_HOST: has no host"}},
		{map[string]string{"DB_TABLE": "x; DROP TABLE y"}, []string{"DB_TABLE: must match [A-Za-z0-9_]{1,64}"}},
		{map[string]string{"DB_NAME": "a-b"}, []string{"DB_NAME: must match"}},
		{map[string]string{"STORE": "redis"}, []string{`STORE: must be "mysql" or "memory", not "redis"`}},
		{map[string]string{"DB_PORT": "0"}, []string{"DB_PORT: must be 1-65535"}},
		{map[string]string{"DB_PORT": "abc"}, []string{"DB_PORT: "}},
		{map[string]string{"IDLE_TIMEOUT": "soon"}, []string{"IDLE_TIMEOUT: ", "neither seconds nor a duration"}},
		{map[string]string{"IDLE_TIMEOUT": "0"}, []string{"IDLE_TIMEOUT: must be at least 1s"}},
		{map[string]string{"PUSH_CONCURRENCY": "0"}, []string{"PUSH_CONCURRENCY: must be 1-4096"}},
		{map[string]string{"PUSH_RETRIES": "-1"}, []string{"PUSH_RETRIES: must be 0-10"}},
		{map[string]string{"PUSH_TIMEOUT": "0s"}, []string{"PUSH_TIMEOUT: must be positive"}},
		{map[string]string{"MAX_MESSAGE_BYTES": "0"}, []string{"MAX_MESSAGE_BYTES: must be 1-"}},
		{map[string]string{"LOG_LEVEL": "loud"}, []string{`LOG_LEVEL: must be debug, info, warn or error, not "loud"`}},
		{map[string]string{"BROADCAST_TO_SENDER": "maybe"}, []string{"BROADCAST_TO_SENDER: "}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			setenv(t, with(tt.give))
			_, err := Load()
			if err == nil {
				t.Fatalf("Load() = nil error; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load() error = %q; want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Load() error %q leaks the password", err)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	setenv(t, valid)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.DBPassword.String(), fmt.Sprint(c.DBPassword)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("printed config %q contains the password", s)
		}
	}
	if c.DBPassword.Reveal() != "hunter2-secret" {
		t.Errorf("Reveal() = %q; want the password", c.DBPassword.Reveal())
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	u := Usage()
	for _, name := range []string{"DB_HOST", "DB_PASSWORD", "SENDBACK_HOST", "IDLE_TIMEOUT", "PUSH_CONCURRENCY", "LOG_LEVEL"} {
		if !strings.Contains(u, name) {
			t.Errorf("Usage() lacks %s:\n%s", name, u)
		}
	}
	if !strings.Contains(u, "600s") {
		t.Errorf("Usage() lacks the IDLE_TIMEOUT default 600s:\n%s", u)
	}
}
