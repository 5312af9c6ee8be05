// Package config reads the function's settings from the environment that the
// SCF console (or the local emulator) provides. It knows nothing of the other
// packages: main turns a Config into their options.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap/zapcore"
)

// Store kinds.
const (
	StoreMySQL  = "mysql"
	StoreMemory = "memory"
)

// Config is everything the function needs. Field tags name the exact
// environment variables documented in the README.
type Config struct {
	DBHost        string   `envconfig:"DB_HOST" desc:"MySQL host (required when STORE=mysql)"`
	DBPort        int      `envconfig:"DB_PORT" default:"3306" desc:"MySQL port"`
	DBUser        string   `envconfig:"DB_USER" desc:"MySQL user (required when STORE=mysql)"`
	DBPassword    Secret   `envconfig:"DB_PASSWORD" desc:"MySQL password; never logged"`
	DBName        string   `envconfig:"DB_NAME" default:"SCF_Demo" desc:"database holding the connection table"`
	DBTable       string   `envconfig:"DB_TABLE" default:"ConnectionID_List" desc:"connection table (columns ConnectionID, Date)"`
	DBAutoMigrate bool     `envconfig:"DB_AUTO_MIGRATE" default:"true" desc:"create the table when it is missing"`
	SendbackHost  string   `envconfig:"SENDBACK_HOST" desc:"the API's reverse-push address, http(s)://... (required)"`
	Store         string   `envconfig:"STORE" default:"mysql" desc:"connection registry: mysql, or memory for local runs and tests"`
	IdleTimeout   Duration `envconfig:"IDLE_TIMEOUT" default:"600s" desc:"the API's backend timeout; quieter connections are dead (600 or 10m)"`

	PushConcurrency int      `envconfig:"PUSH_CONCURRENCY" default:"128" desc:"reverse pushes in flight at once"`
	PushTimeout     Duration `envconfig:"PUSH_TIMEOUT" default:"2s" desc:"timeout of one push attempt"`
	PushRetries     int      `envconfig:"PUSH_RETRIES" default:"2" desc:"retries of a push after 429, 5xx, or a failure before it was sent"`

	WSSubprotocols    []string `envconfig:"WS_SUBPROTOCOLS" desc:"comma-separated allow-list of subprotocols; empty = accept the first offered"`
	BroadcastToSender bool     `envconfig:"BROADCAST_TO_SENDER" default:"false" desc:"echo a message back to its sender too"`
	OnlineCountSuffix bool     `envconfig:"ONLINE_COUNT_SUFFIX" default:"false" desc:"append the template's (===Online people:N===) to text messages"`
	HeartbeatMessage  string   `envconfig:"HEARTBEAT_MESSAGE" desc:"a text frame equal to this only keeps the connection alive; empty = off"`
	MaxMessageBytes   int      `envconfig:"MAX_MESSAGE_BYTES" default:"262144" desc:"larger frames are not broadcast"`
	LogLevel          string   `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
}

// Limits enforced by Validate.
const (
	maxPushConcurrency = 4096
	maxPushRetries     = 10
	// MaxEventBytes is SCF's limit on an event and a reply.
	MaxEventBytes = 6 << 20
)

var identifier = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// Load reads the environment as it is now and validates the result.
// A variable set to the empty string counts as unset, so a blank field in the
// SCF console means "use the default" rather than "parse an empty value".
func Load() (Config, error) {
	var c Config
	for _, key := range Keys() {
		if v, ok := os.LookupEnv(key); ok && strings.TrimSpace(v) == "" {
			_ = os.Unsetenv(key)
		}
	}
	if err := envconfig.Process("", &c); err != nil {
		// envconfig's own message quotes the raw value; say only which
		// variable is wrong and why.
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return Config{}, fmt.Errorf("%s: %w", pe.KeyName, pe.Err)
		}
		return Config{}, err
	}
	c.WSSubprotocols = trimAll(c.WSSubprotocols)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem at once, each naming its variable, so that
// one look at the log is enough to fix the console settings.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	switch c.Store {
	case StoreMySQL:
		if strings.TrimSpace(c.DBHost) == "" {
			bad("DB_HOST", "required when STORE=mysql")
		}
		if strings.TrimSpace(c.DBUser) == "" {
			bad("DB_USER", "required when STORE=mysql")
		}
	case StoreMemory:
	default:
		bad("STORE", "must be %q or %q, not %q", StoreMySQL, StoreMemory, c.Store)
	}
	if c.DBPort < 1 || c.DBPort > 65535 {
		bad("DB_PORT", "must be 1-65535, not %d", c.DBPort)
	}
	if !identifier.MatchString(c.DBName) {
		bad("DB_NAME", "must match [A-Za-z0-9_]{1,64}")
	}
	if !identifier.MatchString(c.DBTable) {
		bad("DB_TABLE", "must match [A-Za-z0-9_]{1,64}")
	}
	if err := checkURL(c.SendbackHost); err != nil {
		bad("SENDBACK_HOST", "%v", err)
	}
	if c.IdleTimeout.D() < time.Second {
		bad("IDLE_TIMEOUT", "must be at least 1s, not %s", c.IdleTimeout)
	}
	if c.PushConcurrency < 1 || c.PushConcurrency > maxPushConcurrency {
		bad("PUSH_CONCURRENCY", "must be 1-%d, not %d", maxPushConcurrency, c.PushConcurrency)
	}
	if c.PushTimeout.D() <= 0 {
		bad("PUSH_TIMEOUT", "must be positive, not %s", c.PushTimeout)
	}
	if c.PushRetries < 0 || c.PushRetries > maxPushRetries {
		bad("PUSH_RETRIES", "must be 0-%d, not %d", maxPushRetries, c.PushRetries)
	}
	if c.MaxMessageBytes < 1 || c.MaxMessageBytes > MaxEventBytes {
		bad("MAX_MESSAGE_BYTES", "must be 1-%d, not %d", MaxEventBytes, c.MaxMessageBytes)
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		bad("LOG_LEVEL", "must be debug, info, warn or error, not %q", c.LogLevel)
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("required (the API's reverse-push address)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must start with http:// or https://, not %q", u.Scheme+"://")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}

// Level is the parsed LOG_LEVEL; Validate has already checked it.
func (c Config) Level() zapcore.Level {
	l, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return zapcore.InfoLevel
	}
	return l
}

// Usage writes the table of variables with their defaults, for -h.
func Usage() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 1, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	_ = envconfig.Usagef("", &Config{}, tw, "{{range .}}  {{usage_key .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}")
	_ = tw.Flush()
	return b.String()
}

// Keys lists the environment variables that Config reads.
func Keys() []string {
	t := reflect.TypeOf(Config{})
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("envconfig"); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func trimAll(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Secret holds a password. Its String and GoString never show the value, so
// that printing a Config (or an error that quotes one) cannot leak it.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// Reveal returns the value, for the one place that needs it: the DB driver.
func (s Secret) Reveal() string { return string(s) }

// Duration accepts Go durations ("10m", "2s") and, like the SCF and API
// Gateway consoles, plain seconds ("600").
type Duration time.Duration

// Decode implements envconfig.Decoder.
func (d *Duration) Decode(v string) error {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		*d = Duration(time.Duration(n) * time.Second)
		return nil
	}
	p, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is neither seconds nor a duration like 10m", v)
	}
	*d = Duration(p)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }
