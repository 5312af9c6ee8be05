package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/scfws/scfws/internal/testkit" // for go test ./... -update
)

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
	t.Parallel()
	c, err := Load(FromMap(valid))
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
		{"PUSH_RATE", c.PushRate, 0},
		{"PUSH_TIMEOUT", c.PushTimeout.D(), 2 * time.Second},
		{"PUSH_RETRIES", c.PushRetries, 2},
		{"BROADCAST_TO_SENDER", c.BroadcastToSender, false},
		{"ONLINE_COUNT_SUFFIX", c.OnlineCountSuffix, false},
		{"HEARTBEAT_MESSAGE", c.HeartbeatMessage, ""},
		{"MAX_MESSAGE_BYTES", c.MaxMessageBytes, 262144},
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"WS_SUBPROTOCOLS", len(c.WSSubprotocols), 0},
		// No group permissions unless a token grants them (issue 19).
		{"DEFAULT_ROLES", len(c.DefaultRoles), 0},
		{"PRESENCE_EVENTS", c.PresenceEvents, false},
		{"PRESENCE_MAX_MEMBERS", c.PresenceLimit, 100},
		// History is off unless asked for (scfws local asks).
		{"HISTORY_SIZE", c.HistorySize, 0},
		{"HISTORY_TTL", c.HistoryTTL.D(), 24 * time.Hour},
	}
	for _, tt := range tests {
		if tt.give != tt.want {
			t.Errorf("%s = %v; want %v", tt.name, tt.give, tt.want)
		}
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, err := Load(FromMap(with(map[string]string{
		"IDLE_TIMEOUT": "300", "PUSH_TIMEOUT": "750ms", "WS_SUBPROTOCOLS": " chat , ,binary",
		"STORE": "memory", "DB_HOST": "", "DB_USER": "", "PUSH_RATE": "5000", "PUSH_CONCURRENCY": "512",
	})))
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	if c.IdleTimeout.D() != 300*time.Second || c.PushTimeout.D() != 750*time.Millisecond {
		t.Errorf("durations = %v, %v; want 5m0s, 750ms", c.IdleTimeout, c.PushTimeout)
	}
	if got := strings.Join(c.WSSubprotocols, "|"); got != "chat|binary" {
		t.Errorf("WS_SUBPROTOCOLS = %q; want chat|binary", got)
	}
	if c.PushRate != 5000 || c.PushConcurrency != 512 {
		t.Errorf("PUSH_RATE, PUSH_CONCURRENCY = %d, %d; want 5000, 512", c.PushRate, c.PushConcurrency)
	}
}

// Tencent's WebSocket component stores the push address in wsBackUrl; it
// is read when SENDBACK_HOST is unset (or blank), and SENDBACK_HOST wins.
func TestWsBackURLAlias(t *testing.T) {
	t.Parallel()
	const component, ours = "http://set-a.cb-guangzhou.apigateway.tencentyun.com/api-a", "http://set-b.cb-guangzhou.apigateway.tencentyun.com/api-b"
	tests := []struct {
		name string
		give map[string]string
		want string
	}{
		{"alias only", map[string]string{"SENDBACK_HOST": "", "wsBackUrl": component}, component},
		{"blank SENDBACK_HOST", map[string]string{"SENDBACK_HOST": "  ", "wsBackUrl": component}, component},
		{"both", map[string]string{"SENDBACK_HOST": ours, "wsBackUrl": component}, ours},
	}
	for _, tt := range tests {
		c, err := Load(FromMap(with(tt.give)))
		if err != nil || c.SendbackHost != tt.want {
			t.Errorf("%s: SendbackHost = %q, %v; want %q", tt.name, c.SendbackHost, err, tt.want)
		}
	}
	// A bad address is blamed on the variable it came from, unquoted.
	errs := []struct {
		give map[string]string
		want string
	}{
		{map[string]string{"SENDBACK_HOST": "", "wsBackUrl": "ftp://admin:hunter2@x/api"}, "wsBackUrl: must start with http:// or https:// (read because SENDBACK_HOST is unset)"},
		{map[string]string{"SENDBACK_HOST": " ", "wsBackUrl": "http:///hunter2"}, "wsBackUrl: has no host (read because SENDBACK_HOST is unset)"},
		{map[string]string{"SENDBACK_HOST": "ftp://admin:hunter2@x/api", "wsBackUrl": component}, "SENDBACK_HOST: must start with http:// or https://"},
		{map[string]string{"SENDBACK_HOST": "ftp://admin:hunter2@x/api"}, "SENDBACK_HOST: must start with http:// or https://"},
		{map[string]string{"SENDBACK_HOST": ""}, "SENDBACK_HOST: required (the API's reverse-push address; nor is wsBackUrl set)"},
	}
	for _, tt := range errs {
		_, err := Load(FromMap(with(tt.give)))
		if err == nil || err.Error() != tt.want || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Load(%v) error = %v; want %q", tt.give, err, tt.want)
		}
	}
	if !slices.Contains(Keys(), "wsBackUrl") {
		t.Errorf("Keys() = %v; want wsBackUrl among them (local passes it through)", Keys())
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
		{map[string]string{"DB_TABLE": "x; DROP TABLE y"}, []string{"DB_TABLE: must match [A-Za-z0-9_]{1,57}"}},
		{map[string]string{"DB_NAME": "a-b"}, []string{"DB_NAME: must match"}},
		{map[string]string{"STORE": "redis"}, []string{`STORE: must be "mysql" or "memory", not "redis"`}},
		{map[string]string{"DB_PORT": "0"}, []string{"DB_PORT: must be 1-65535"}},
		{map[string]string{"DB_PORT": "abc"}, []string{"DB_PORT: "}},
		{map[string]string{"IDLE_TIMEOUT": "soon"}, []string{"IDLE_TIMEOUT: ", "neither seconds nor a duration"}},
		{map[string]string{"IDLE_TIMEOUT": "0"}, []string{"IDLE_TIMEOUT: must be at least 1s"}},
		{map[string]string{"PUSH_CONCURRENCY": "0"}, []string{"PUSH_CONCURRENCY: must be 1-512"}},
		{map[string]string{"PUSH_CONCURRENCY": "513"}, []string{"PUSH_CONCURRENCY: must be 1-512, not 513", "1,024 file descriptors"}},
		{map[string]string{"PUSH_RATE": "-1"}, []string{"PUSH_RATE: must be 0 (unlimited)"}},
		{map[string]string{"PUSH_RATE": "fast"}, []string{`PUSH_RATE: "fast" is not a whole number`}},
		{map[string]string{"PUSH_RETRIES": "-1"}, []string{"PUSH_RETRIES: must be 0-10"}},
		{map[string]string{"PUSH_TIMEOUT": "0s"}, []string{"PUSH_TIMEOUT: must be positive"}},
		{map[string]string{"MAX_MESSAGE_BYTES": "0"}, []string{"MAX_MESSAGE_BYTES: must be 1-"}},
		{map[string]string{"PRESENCE_MAX_MEMBERS": "0"}, []string{"PRESENCE_MAX_MEMBERS: must be 1-100000, not 0"}},
		{map[string]string{"LOG_LEVEL": "loud"}, []string{`LOG_LEVEL: must be debug, info, warn or error, not "loud"`}},
		{map[string]string{"BROADCAST_TO_SENDER": "maybe"}, []string{"BROADCAST_TO_SENDER: "}},
		// Values that may be secret are never quoted.
		{map[string]string{"SENDBACK_HOST": "admin:hunter2@set-xxx/api"}, []string{"SENDBACK_HOST: must start with http://"}},
		{map[string]string{"SENDBACK_HOST": "ftp://admin:hunter2@set-xxx/api"}, []string{"SENDBACK_HOST: must start with http://"}},
		{map[string]string{"DB_HOST": "", "PUSH_RATE": "x", "IDLE_TIMEOUT": "0"}, []string{"DB_HOST: required", "PUSH_RATE: ", "IDLE_TIMEOUT: must be"}},
		{map[string]string{"AUTH_MAX_TOKEN_AGE": "500ms"}, []string{"AUTH_MAX_TOKEN_AGE: must be at least 1s, or unset for no cap, not 500ms"}},
		{map[string]string{"AUTH_MAX_TOKEN_AGE": "-1h"}, []string{"AUTH_MAX_TOKEN_AGE: must be at least 1s"}},
		{map[string]string{"AUTH_MAX_TOKEN_AGE": "a day"}, []string{"AUTH_MAX_TOKEN_AGE: "}},
		{map[string]string{"HISTORY_SIZE": "-1"}, []string{"HISTORY_SIZE: must be 0 (off) to 1000 messages per stream, not -1"}},
		{map[string]string{"HISTORY_SIZE": "1001"}, []string{"HISTORY_SIZE: must be 0 (off) to 1000 messages per stream, not 1001"}},
		{map[string]string{"HISTORY_SIZE": "many"}, []string{`HISTORY_SIZE: "many" is not a whole number`}},
		{map[string]string{"HISTORY_TTL": "0"}, []string{"HISTORY_TTL: must be 1s-720h0m0s, not 0s"}},
		{map[string]string{"HISTORY_TTL": "721h"}, []string{"HISTORY_TTL: must be 1s-720h0m0s, not 721h0m0s"}},
		{map[string]string{"HISTORY_TTL": "a while"}, []string{"HISTORY_TTL: "}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			t.Parallel()
			_, err := Load(FromMap(with(tt.give)))
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

// A PUBLISH_SECRET or PROBE_SECRET too short to be safe turns its feature
// off, not the function: Load succeeds without it and says so in Off,
// never quoting it; Check, for where the user sets them, lists it with
// the problems Load fails on.
func TestShortOptionalSecretsTurnTheirFeatureOff(t *testing.T) {
	t.Parallel()
	env := with(map[string]string{"PUBLISH_SECRET": "hunter2", "PROBE_SECRET": strings.Repeat("x", 31)})
	c, err := Load(FromMap(env))
	if err != nil {
		t.Fatalf("Load() error: %v; want the features off, the function configured", err)
	}
	want := []string{
		"PUBLISH_SECRET: must be at least 32 bytes, not 7 (try: openssl rand -hex 32): the signed HTTP route is off",
		"PROBE_SECRET: must be at least 32 bytes, not 31 (try: openssl rand -hex 32): scfws probe is off",
	}
	var got []string
	for _, p := range c.Off {
		got = append(got, p.Error())
	}
	if !slices.Equal(got, want) || c.PublishSecret != "" || c.ProbeSecret != "" {
		t.Errorf("Off = %q, secrets kept %v; want %q, both cleared", got, c.PublishSecret != "" || c.ProbeSecret != "", want)
	}
	env["LOG_LEVEL"] = "loud"
	var checked []string
	for _, p := range Check(FromMap(env)) {
		checked = append(checked, p.Error())
	}
	if want := append([]string{`LOG_LEVEL: must be debug, info, warn or error, not "loud"`}, want...); !slices.Equal(sorted(checked), sorted(want)) {
		t.Errorf("Check() = %q; want %q", checked, want)
	}
	if strings.Contains(fmt.Sprint(checked, got), "hunter2") {
		t.Errorf("the problems quote the secret: %q", checked)
	}
	if p := Check(FromMap(valid)); len(p) != 0 {
		t.Errorf("Check(valid) = %v; want none", p)
	}
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

// Both key kinds without AUTH_ISSUER work, with a warning: their tokens
// share one sub namespace.
func TestWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give map[string]string
		want int // warnings
	}{
		{map[string]string{"AUTH_SECRET": strings.Repeat("s", 32), "AUTH_PUBLIC_KEY": "pem"}, 1},
		{map[string]string{"AUTH_SECRET": strings.Repeat("s", 32), "AUTH_PUBLIC_KEY": "pem", "AUTH_ISSUER": "https://idp"}, 0},
		{map[string]string{"AUTH_SECRET": strings.Repeat("s", 32)}, 0},
		{map[string]string{"AUTH_PUBLIC_KEY": "pem"}, 0},
	}
	for _, tt := range tests {
		c, err := Load(FromMap(with(tt.give)))
		if err != nil || len(c.Warnings) != tt.want {
			t.Errorf("Load(%v) = %q, %v; want %d warnings", tt.give, c.Warnings, err, tt.want)
		}
		for _, w := range c.Warnings {
			if !strings.Contains(w, "AUTH_ISSUER") || strings.Contains(w, "sss") {
				t.Errorf("warning %q; want it to name AUTH_ISSUER and not quote the secret", w)
			}
		}
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	c, err := Load(FromMap(valid))
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
	t.Parallel()
	u := Usage()
	for _, name := range Keys() {
		if !strings.Contains(u, name) {
			t.Errorf("Usage() lacks %s:\n%s", name, u)
		}
	}
	for i, line := range strings.Split(strings.TrimSuffix(u, "\n"), "\n")[1:] {
		if f := strings.Fields(line); len(f) == 0 || !slices.Contains(Keys(), f[0]) {
			t.Errorf("Usage() line %d %q does not start with a variable: a description spans lines?", i+2, line)
		}
	}
	if !strings.Contains(u, "600s") {
		t.Errorf("Usage() lacks the IDLE_TIMEOUT default 600s:\n%s", u)
	}
}

// Load reads only through its lookup: the process environment is neither
// read nor changed (config.Load once called os.Unsetenv).
func TestLoadIsPure(t *testing.T) {
	t.Setenv("DB_HOST", "from-the-process")
	t.Setenv("LOG_LEVEL", " ")
	c, err := Load(FromMap(with(map[string]string{"DB_HOST": "from-the-lookup"})))
	if err != nil || c.DBHost != "from-the-lookup" {
		t.Errorf("DB_HOST = %q, %v; want the lookup's value", c.DBHost, err)
	}
	if v, ok := os.LookupEnv("LOG_LEVEL"); !ok || v != " " {
		t.Errorf("after Load, LOG_LEVEL = %q, %v; want the blank value left alone", v, ok)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ give, want string }{
		{"http://set-x.apigateway.tencentyun.com/api-x", "http://set-x.apigateway.tencentyun.com/api-x"},
		{"http://admin:hunter2@set-x/api-x", "http://redacted@set-x/api-x"},
		{"http://token@set-x/api-x", "http://redacted@set-x/api-x"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.give); got != tt.want {
			t.Errorf("RedactURL(%q) = %q; want %q", tt.give, got, tt.want)
		}
	}
}

// FuzzDuration: any input either decodes or errs; never panics, and a
// decoded value round-trips through its own String form.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"600", "10m", "1h2m3.5s", "-5", "9223372036854775807", "1e9", "", " 30 ", "µs", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if err := d.Decode(s); err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error for %q spans lines: %v", s, err)
			}
			return
		}
		var back Duration
		if err := back.Decode(d.String()); err != nil || back != d {
			t.Errorf("Decode(%q) = %v; its String %q decodes to %v, %v", s, d, d.String(), back, err)
		}
	})
}
