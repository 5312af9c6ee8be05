// Package config reads the function's settings from the environment that the
// SCF console (or the local emulator) provides. It knows nothing of the other
// packages: main turns a Config into their options.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/proto"
)

// Store kinds.
const (
	StoreMySQL  = "mysql"
	StoreMemory = "memory"
)

// FANOUT's values.
const (
	FanoutAuto = "auto"
	FanoutOff  = "off"
)

// Config is everything the function needs. Field tags name the exact
// environment variables documented in the README; `alias` names a second
// variable read when the first is unset, and `secret` marks values that no
// message may quote.
type Config struct {
	DBHost        string   `envconfig:"DB_HOST" desc:"MySQL host (required when STORE=mysql)"`
	DBPort        int      `envconfig:"DB_PORT" default:"3306" desc:"MySQL port"`
	DBUser        string   `envconfig:"DB_USER" desc:"MySQL user (required when STORE=mysql)"`
	DBPassword    Secret   `envconfig:"DB_PASSWORD" secret:"true" desc:"MySQL password; never logged"`
	DBName        string   `envconfig:"DB_NAME" default:"SCF_Demo" desc:"database holding the connection table"`
	DBTable       string   `envconfig:"DB_TABLE" default:"ConnectionID_List" desc:"connection table (columns ConnectionID, Date)"`
	DBAutoMigrate bool     `envconfig:"DB_AUTO_MIGRATE" default:"true" desc:"create the database and tables when missing (never alters one)"`
	SendbackHost  string   `envconfig:"SENDBACK_HOST" alias:"wsBackUrl" secret:"true" desc:"the API's reverse-push address, http(s)://... (required; wsBackUrl is read when unset)"`
	Store         string   `envconfig:"STORE" default:"mysql" desc:"connection registry: mysql, or memory for local runs and tests"`
	IdleTimeout   Duration `envconfig:"IDLE_TIMEOUT" default:"600s" desc:"the API's backend timeout; quieter connections are dead (600 or 10m)"`

	PushConcurrency int      `envconfig:"PUSH_CONCURRENCY" default:"128" desc:"reverse pushes in flight at once (1-512)"`
	PushRate        int      `envconfig:"PUSH_RATE" default:"0" desc:"reverse pushes per second for the whole service: every instance draws from one budget in the database (with STORE=memory, or without the <DB_TABLE>_budget table, each instance alone); 0 = unlimited"`
	PushTimeout     Duration `envconfig:"PUSH_TIMEOUT" default:"2s" desc:"timeout of one push attempt"`
	PushRetries     int      `envconfig:"PUSH_RETRIES" default:"2" desc:"retries of a push after 429, or a failure before it was sent"`
	Fanout          string   `envconfig:"FANOUT" default:"auto" desc:"auto: a send with more recipients than its invoke can push before its deadline hands the rest to asynchronous invocations of the function (needs a run role); off: never"`
	FanoutShardSize int      `envconfig:"FANOUT_SHARD_SIZE" default:"10000" desc:"recipients per shard of a handed-off send (100-1000000)"`

	WSSubprotocols    []string `envconfig:"WS_SUBPROTOCOLS" desc:"comma-separated allow-list of subprotocols; empty = accept the first offered"`
	BroadcastToSender bool     `envconfig:"BROADCAST_TO_SENDER" default:"false" desc:"echo a message back to its sender too"`
	OnlineCountSuffix bool     `envconfig:"ONLINE_COUNT_SUFFIX" default:"false" desc:"append the template's (===Online people:N===) to text messages"`
	HeartbeatMessage  string   `envconfig:"HEARTBEAT_MESSAGE" desc:"a text frame equal to this only keeps the connection alive; empty = off"`
	MaxMessageBytes   int      `envconfig:"MAX_MESSAGE_BYTES" default:"262144" desc:"larger frames are not broadcast, nor a text frame that escaping for its pushes would grow by more"`
	LogLevel          string   `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`

	AuthSecret     Secret   `envconfig:"AUTH_SECRET" secret:"true" desc:"key of HS256/384/512 scfws.v1 tokens (32 bytes or more); never logged"`
	AuthPublicKey  string   `envconfig:"AUTH_PUBLIC_KEY" desc:"PEM public key(s) of RS*/PS*/ES* tokens from an identity provider (newlines may be \\n)"`
	AuthAudience   string   `envconfig:"AUTH_AUDIENCE" desc:"when set, a token's aud must include it"`
	AuthIssuer     string   `envconfig:"AUTH_ISSUER" desc:"when set, a token's iss must equal it"`
	AuthRequired   bool     `envconfig:"AUTH_REQUIRED" default:"false" desc:"refuse handshakes without a valid scfws.v1 token"`
	AuthMaxAge     Duration `envconfig:"AUTH_MAX_TOKEN_AGE" desc:"when set, refuse tokens whose lifetime (exp - iat) is longer, and tokens without iat; empty = no cap"`
	DefaultRoles   []string `envconfig:"DEFAULT_ROLES" default:"none" desc:"permissions of every scfws.v1 connection, anonymous ones included (none: groups need a token's roles); tokens add roles"`
	PresenceEvents bool     `envconfig:"PRESENCE_EVENTS" default:"false" desc:"push joined/left system events to a group's members"`
	PresenceLimit  int      `envconfig:"PRESENCE_MAX_MEMBERS" default:"100" desc:"a group of more connections gets no joined/left events: each is a push to every member (1-100000)"`
	MaxGroups      int      `envconfig:"MAX_GROUPS_PER_CONNECTION" default:"32" desc:"groups one scfws.v1 connection may be in (1-1000)"`
	HistorySize    int      `envconfig:"HISTORY_SIZE" default:"0" desc:"messages kept per group and per user for resume and history requests (0-1000); 0 = off"`
	HistoryTTL     Duration `envconfig:"HISTORY_TTL" default:"24h" desc:"how long a stream's messages are kept after its last message (1s-720h)"`
	PublishSecret  Secret   `envconfig:"PUBLISH_SECRET" secret:"true" desc:"turns on the signed HTTP route for backends (HMAC key, 32 bytes or more; shorter turns it off); never logged"`
	ProbeSecret    Secret   `envconfig:"PROBE_SECRET" secret:"true" desc:"lets scfws probe measure this deployment (32 bytes or more; shorter turns it off); remove it after; never logged"`

	// Off are the problems Load let pass by turning their feature off (a
	// PUBLISH_SECRET or PROBE_SECRET too short to be safe): connections
	// keep working, the function logs each as an error and status shows it.
	Off []Problem `ignored:"true"`
	// Warnings are settings that work but are likely a mistake, for the log.
	Warnings []string `ignored:"true"`
}

// The optional features a bad setting turns off (Problem.Off).
const (
	FeatureRoute = "the signed HTTP route"
	FeatureProbe = "scfws probe"
)

// Limits enforced by Validate.
const (
	// MaxPushConcurrency stays well inside an SCF instance's 1,024 file
	// descriptors and 1,024 processes+threads: each push in flight holds a
	// socket, and the database pool and runtime need some too.
	MaxPushConcurrency = 512
	maxPushRetries     = 10
	// maxPresenceMembers bounds PRESENCE_MAX_MEMBERS: one event to that
	// many members is more pushes than any function timeout holds.
	maxPresenceMembers = 100000
	maxPushRate        = 1_000_000
	// FANOUT_SHARD_SIZE's bounds: smaller shards cost an invoke for few
	// pushes (SCF's Invoke API takes 100 calls a second per account).
	minShardSize = 100
	maxShardSize = 1_000_000
	// MaxHistorySize bounds HISTORY_SIZE: what one stream keeps, and so what
	// one resume may replay and one sweep may delete per stream.
	MaxHistorySize = 1000
	// maxHistoryTTL bounds HISTORY_TTL: thirty days.
	maxHistoryTTL = 720 * time.Hour
	// MaxEventBytes is SCF's limit on an event and a reply.
	MaxEventBytes = 6 << 20
	// MinSecretBytes is the floor for PUBLISH_SECRET and PROBE_SECRET, as
	// for AUTH_SECRET: RFC 7518's for an HMAC-SHA256 key.
	MinSecretBytes = 32
)

var (
	identifier = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	tableName  = regexp.MustCompile(`^[A-Za-z0-9_]{1,57}$`)
)

// Lookup finds an environment variable, as os.LookupEnv does.
type Lookup func(key string) (string, bool)

// FromMap is a Lookup over a map, for tests and for settings that arrive
// as data (the local emulator's function environment).
func FromMap(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Load reads the settings through lookup and validates them. It changes
// nothing global, so tests may run it in parallel. A variable set to the
// empty string counts as unset, so a blank field in the SCF console means
// "use the default" rather than "parse an empty value". Every problem is
// reported at once, each naming its variable, except those of optional
// features, which are turned off instead (Config.Off).
func Load(lookup Lookup) (Config, error) {
	c, problems := load(lookup)
	var errs []error
	for _, p := range problems {
		if p.Off != "" {
			c.turnOff(p)
		} else {
			errs = append(errs, p)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	c.Warnings = c.warnings()
	return c, nil
}

// Check lists every problem Load finds with the variables lookup gives,
// those Load survives by turning a feature off (Problem.Off) included, so
// that where a user sets the variables (scfws deploy, scfws local) they are
// refused before the function runs with a feature missing.
func Check(lookup Lookup) []Problem {
	_, problems := load(lookup)
	return problems
}

// load reads the settings and lists their problems: those of values that
// cannot be read, then the checks' on the others.
func load(lookup Lookup) (Config, []Problem) {
	var c Config
	var problems []Problem
	unparsed := map[string]bool{}
	from := map[string]string{} // key -> the alias that supplied its value
	v := reflect.ValueOf(&c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("envconfig")
		if key == "" {
			continue
		}
		raw, ok := get(lookup, key)
		if alias := f.Tag.Get("alias"); !ok && alias != "" {
			if raw, ok = get(lookup, alias); ok {
				from[key] = alias
			}
		}
		if !ok {
			raw, ok = f.Tag.Lookup("default")
		}
		if !ok {
			continue
		}
		if err := decode(v.Field(i), raw); err != nil {
			if f.Tag.Get("secret") == "true" {
				err = errors.New("cannot be read (the value is not shown)")
			}
			problems = append(problems, Problem{Key: key, Msg: err.Error()})
			unparsed[key] = true
		}
	}
	c.WSSubprotocols = trimAll(c.WSSubprotocols)
	if c.DefaultRoles = trimAll(c.DefaultRoles); len(c.DefaultRoles) == 1 && c.DefaultRoles[0] == "none" {
		c.DefaultRoles = nil
	}
	c.SendbackHost, c.DBHost = strings.TrimSpace(c.SendbackHost), strings.TrimSpace(c.DBHost)
	for _, p := range c.problems(from) {
		if !unparsed[p.Key] {
			problems = append(problems, p)
		}
	}
	return c, problems
}

// turnOff turns off the feature whose setting p is about, and records it.
func (c *Config) turnOff(p Problem) {
	switch p.Key {
	case "PUBLISH_SECRET":
		c.PublishSecret = ""
	case "PROBE_SECRET":
		c.ProbeSecret = ""
	}
	c.Off = append(c.Off, p)
}

// warnings are what works but is likely a mistake.
func (c Config) warnings() []string {
	var w []string
	if c.AuthSecret != "" && strings.TrimSpace(c.AuthPublicKey) != "" && c.AuthIssuer == "" {
		w = append(w, "AUTH_SECRET and AUTH_PUBLIC_KEY are both set and AUTH_ISSUER is not: tokens signed with either name users "+
			"in one sub namespace, so whoever holds AUTH_SECRET can connect as any of the identity provider's users; "+
			"set AUTH_ISSUER (every token must then carry that iss) or keep one of the two")
	}
	return w
}

// get is lookup with blank values treated as unset.
func get(lookup Lookup, key string) (string, bool) {
	v, ok := lookup(key)
	if !ok || strings.TrimSpace(v) == "" {
		return "", false
	}
	return v, true
}

// decode parses raw into the field: the kinds Config uses, and any type
// with envconfig's Decode method.
func decode(field reflect.Value, raw string) error {
	if d, ok := field.Addr().Interface().(envconfig.Decoder); ok {
		return d.Decode(raw)
	}
	s := strings.TrimSpace(raw)
	switch field.Kind() {
	case reflect.String:
		field.SetString(raw) // as given: a heartbeat may have spaces
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", clip(s))
		}
		field.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is neither true nor false", clip(s))
		}
		field.SetBool(b)
	case reflect.Slice:
		field.Set(reflect.ValueOf(strings.Split(s, ",")))
	default:
		return fmt.Errorf("unsupported kind %s", field.Kind())
	}
	return nil
}

// clip keeps a quoted value short in a message.
func clip(s string) string { return proto.Clip(s, 40) }

// Validate reports every problem at once, each naming its variable, so that
// one look at the log is enough to fix the console settings.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.problems(nil) {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// Problem is one variable's problem. Its text never quotes a value that
// may be secret.
type Problem struct {
	Key string
	Msg string
	// Off names the feature Load turns off for it, rather than fail; empty
	// for a problem Load fails on.
	Off string
}

func (p Problem) Error() string {
	if p.Off != "" {
		return p.Key + ": " + p.Msg + ": " + p.Off + " is off"
	}
	return p.Key + ": " + p.Msg
}

// problems names each variable; from maps a key whose value came from its
// alias to that alias, so a bad value is blamed on the variable that held it.
func (c Config) problems(from map[string]string) []Problem {
	var l checklist
	c.checkStore(&l)
	c.checkPush(&l, from)
	c.checkAccess(&l)
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		l.bad("LOG_LEVEL", "must be debug, info, warn or error, not %q", clip(c.LogLevel))
	}
	return l
}

// checklist gathers problems in the order they are found.
type checklist []Problem

func (l *checklist) bad(key, format string, args ...any) {
	*l = append(*l, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// off is a problem that turns feature off rather than fail Load.
func (l *checklist) off(key, feature, format string, args ...any) {
	*l = append(*l, Problem{Key: key, Msg: fmt.Sprintf(format, args...), Off: feature})
}

// checkStore checks the registry's settings.
func (c Config) checkStore(l *checklist) {
	switch c.Store {
	case StoreMySQL:
		if strings.TrimSpace(c.DBHost) == "" {
			l.bad("DB_HOST", "required when STORE=mysql")
		}
		if strings.TrimSpace(c.DBUser) == "" {
			l.bad("DB_USER", "required when STORE=mysql")
		}
	case StoreMemory:
	default:
		l.bad("STORE", "must be %q or %q, not %q", StoreMySQL, StoreMemory, c.Store)
	}
	if c.DBPort < 1 || c.DBPort > 65535 {
		l.bad("DB_PORT", "must be 1-65535, not %d", c.DBPort)
	}
	if !identifier.MatchString(c.DBName) {
		l.bad("DB_NAME", "must match [A-Za-z0-9_]{1,64}")
	}
	if !tableName.MatchString(c.DBTable) {
		l.bad("DB_TABLE", "must match [A-Za-z0-9_]{1,57} (the other tables add suffixes of up to 7 characters: _v1, _groups, _nonce, _stream, _recent, _jobs, _shards, _budget)")
	}
}

// checkPush checks the push address, the idle timeout and the limits on
// pushes and frames.
func (c Config) checkPush(l *checklist, from map[string]string) {
	switch err := checkURL(c.SendbackHost); {
	case strings.TrimSpace(c.SendbackHost) == "":
		l.bad("SENDBACK_HOST", "required (the API's reverse-push address; nor is wsBackUrl set)")
	case err == nil:
	case from["SENDBACK_HOST"] != "":
		l.bad(from["SENDBACK_HOST"], "%v (read because SENDBACK_HOST is unset)", err)
	default:
		l.bad("SENDBACK_HOST", "%v", err)
	}
	if c.IdleTimeout.D() < time.Second {
		l.bad("IDLE_TIMEOUT", "must be at least 1s, not %s", c.IdleTimeout)
	}
	if c.PushConcurrency < 1 || c.PushConcurrency > MaxPushConcurrency {
		l.bad("PUSH_CONCURRENCY", "must be 1-%d, not %d (an SCF instance has 1,024 file descriptors)", MaxPushConcurrency, c.PushConcurrency)
	}
	if c.PushRate < 0 || c.PushRate > maxPushRate {
		l.bad("PUSH_RATE", "must be 0 (unlimited) to %d, not %d", maxPushRate, c.PushRate)
	}
	if c.PushTimeout.D() <= 0 {
		l.bad("PUSH_TIMEOUT", "must be positive, not %s", c.PushTimeout)
	}
	if c.PushRetries < 0 || c.PushRetries > maxPushRetries {
		l.bad("PUSH_RETRIES", "must be 0-%d, not %d", maxPushRetries, c.PushRetries)
	}
	if c.MaxMessageBytes < 1 || c.MaxMessageBytes > MaxEventBytes {
		l.bad("MAX_MESSAGE_BYTES", "must be 1-%d, not %d", MaxEventBytes, c.MaxMessageBytes)
	}
	if c.Fanout != FanoutAuto && c.Fanout != FanoutOff {
		l.bad("FANOUT", "must be %q or %q, not %q", FanoutAuto, FanoutOff, clip(c.Fanout))
	}
	if c.FanoutShardSize < minShardSize || c.FanoutShardSize > maxShardSize {
		l.bad("FANOUT_SHARD_SIZE", "must be %d-%d, not %d", minShardSize, maxShardSize, c.FanoutShardSize)
	}
}

// checkAccess checks tokens, secrets, roles and the group limit.
func (c Config) checkAccess(l *checklist) {
	if c.AuthRequired && c.AuthSecret == "" && strings.TrimSpace(c.AuthPublicKey) == "" {
		l.bad("AUTH_REQUIRED", "needs AUTH_SECRET or AUTH_PUBLIC_KEY to verify tokens with")
	}
	// They sign requests that reach every client; the route's and the
	// probe's are checked on every call, so a short one is guessable. Each
	// turns on an optional feature: a bad one turns that off, not the API.
	if n := len(c.PublishSecret); n > 0 && n < MinSecretBytes {
		l.off("PUBLISH_SECRET", FeatureRoute, "must be at least %d bytes, not %d (try: openssl rand -hex 32)", MinSecretBytes, n)
	}
	if n := len(c.ProbeSecret); n > 0 && n < MinSecretBytes {
		l.off("PROBE_SECRET", FeatureProbe, "must be at least %d bytes, not %d (try: openssl rand -hex 32)", MinSecretBytes, n)
	}
	if d := c.AuthMaxAge.D(); d != 0 && d < time.Second {
		l.bad("AUTH_MAX_TOKEN_AGE", "must be at least 1s, or unset for no cap, not %s", c.AuthMaxAge)
	}
	for _, r := range c.DefaultRoles {
		if !proto.ValidPermission(r) {
			l.bad("DEFAULT_ROLES", "%q is not a role: want joinLeaveGroup, sendToGroup, sendToUser, joinLeaveGroup.<group>, sendToGroup.<group>, or none", clip(r))
		}
	}
	if c.MaxGroups < 1 || c.MaxGroups > 1000 {
		l.bad("MAX_GROUPS_PER_CONNECTION", "must be 1-1000, not %d", c.MaxGroups)
	}
	if c.PresenceLimit < 1 || c.PresenceLimit > maxPresenceMembers {
		l.bad("PRESENCE_MAX_MEMBERS", "must be 1-%d, not %d", maxPresenceMembers, c.PresenceLimit)
	}
	c.checkHistory(l)
}

// checkHistory checks the history settings.
func (c Config) checkHistory(l *checklist) {
	if c.HistorySize < 0 || c.HistorySize > MaxHistorySize {
		l.bad("HISTORY_SIZE", "must be 0 (off) to %d messages per stream, not %d", MaxHistorySize, c.HistorySize)
	}
	if d := c.HistoryTTL.D(); d < time.Second || d > maxHistoryTTL {
		l.bad("HISTORY_TTL", "must be 1s-%s, not %s", maxHistoryTTL, c.HistoryTTL)
	}
}

// checkURL checks a push address that is set.
func checkURL(s string) error {
	// The value may carry credentials (user:pass@host): no message quotes it.
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must start with http:// or https://")
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

// Keys lists the environment variables that Config reads, aliases included.
func Keys() []string {
	t := reflect.TypeOf(Config{})
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("envconfig"); k != "" {
			out = append(out, k)
		}
		if a := t.Field(i).Tag.Get("alias"); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// RedactURL hides the credentials a URL may carry (user:pass@), so that the
// push address can be logged.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[unparsable URL]"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	return u.String()
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
