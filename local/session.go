package local

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
)

// session is what one run of scfws local works out from its flags before
// it starts anything: where it listens, and how the function runs.
type session struct {
	f           localFlags
	loopback    bool                 // -addr is on this machine
	env         map[string]string    // the function's environment
	generated   map[string]bool      // the secrets made for this session
	instances   int                  // function processes
	perInstance int                  // invokes each takes at once
	metrics     *emulator.Metrics    // nil with -metrics=false
	roleKey     *cloudapi.Credential // the function's run-role key; nil with -run-role=false
}

// newSession checks -addr and works out the function's environment and
// scale.
func newSession(f localFlags) (*session, error) {
	loopback, err := checkAddr(f.addr, f.public)
	if err != nil {
		return nil, err
	}
	s := &session{f: f, loopback: loopback, env: functionEnv(f)}
	if f.metrics {
		s.metrics = emulator.NewMetrics()
	}
	if err := refuseFeaturesOff(s.env); err != nil {
		return nil, err
	}
	s.generated = addSessionSecrets(s.env)
	if f.runRole {
		s.roleKey = ownRoleKey()
	}
	if s.instances, s.perInstance, err = scale(f, s.env["STORE"]); err != nil {
		return nil, err
	}
	if s.f.function == "" {
		if s.f.function, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// refuseFeaturesOff refuses settings the function would run without,
// turning their feature off (a PUBLISH_SECRET under 32 bytes): the session
// would look ready with the feature missing. Settings the function refuses
// outright show on the readiness line and the chat page instead.
func refuseFeaturesOff(env map[string]string) error {
	full := maps.Clone(env)
	full["SENDBACK_HOST"] = "http://127.0.0.1/sendback" // known once local listens
	var errs []error
	for _, p := range config.Check(config.FromMap(full)) {
		if p.Off != "" {
			errs = append(errs, p)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("fix or unset: %w", errors.Join(errs...))
	}
	return nil
}

// functionEnv is the function's environment in local mode: what the user
// set, with the emulator's settings and local defaults. SENDBACK_HOST is
// added once the address is known.
func functionEnv(f localFlags) map[string]string {
	env := map[string]string{}
	for _, k := range config.Keys() {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	if env["DB_HOST"] == "" {
		env["STORE"] = config.StoreMemory
	} else if env["STORE"] == "" {
		env["STORE"] = config.StoreMySQL
	}
	env["IDLE_TIMEOUT"] = f.idleTimeout.String()
	if env["HEARTBEAT_MESSAGE"] == "" {
		env["HEARTBEAT_MESSAGE"] = f.heartbeat
	}
	// The chat page shows who is in a room, its last messages, and what it
	// missed while it was dropped.
	if env["PRESENCE_EVENTS"] == "" {
		env["PRESENCE_EVENTS"] = "true"
	}
	if env["HISTORY_SIZE"] == "" {
		env["HISTORY_SIZE"] = localHistorySize
	}
	if env["HISTORY_TTL"] == "" {
		env["HISTORY_TTL"] = localHistoryTTL
	}
	// Tells the function it runs under scfws local (for its log only).
	env["SCFWS_LOCAL"] = "true"
	return env
}

// History for the session, unless the environment says otherwise: the
// function's own default is off.
const (
	localHistorySize = "100"
	localHistoryTTL  = "1h"
)

// scale decides how many instances run and how many invokes each takes.
func scale(f localFlags, store string) (instances, perInstance int, err error) {
	if store == config.StoreMemory {
		if f.instances > 1 {
			return 0, 0, fmt.Errorf("-instances %d: with STORE=memory the connection registry lives inside one function process, "+
				"so only 1 instance can run (it takes -function-concurrency invokes at once); set DB_HOST to use MySQL and run more", f.instances)
		}
		return 1, cmp.Or(f.concurrency, 8), nil
	}
	return cmp.Or(f.instances, 4), cmp.Or(f.concurrency, 1), nil
}

// addSessionSecrets makes the secrets the user did not set for this
// session, so that the chat page's tokens, the signed route and scfws
// probe work without setup. It returns which it made.
func addSessionSecrets(env map[string]string) (generated map[string]bool) {
	generated = map[string]bool{}
	for _, k := range []string{"AUTH_SECRET", "PUBLISH_SECRET", "PROBE_SECRET"} {
		if env[k] == "" {
			env[k], generated[k] = sessionSecret(), true
		}
	}
	return generated
}

// sessionSecret is a random secret for this run of scfws local, for the
// settings a user did not give.
func sessionSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// listening completes the function's environment once local listens at
// base: where it pushes (local's push address, or -sendback), what SCF
// gives every function, and where the API is.
func (s *session) listening(base, pushURL string) {
	s.env["SENDBACK_HOST"] = cmp.Or(s.f.sendback, pushURL)
	maps.Copy(s.env, runtimeEnv(ownIdentity(), s.roleKey, base))
}

// startFunction starts local's own function, and waits (up to 15s) until
// every instance serves. Its log lines go to logs, and to the metrics.
func (s *session) startFunction(ctx context.Context, logs func(line []byte)) (*emulator.Function, error) {
	if m := s.metrics; m != nil {
		console := logs
		logs = func(line []byte) {
			console(line)
			m.FunctionLine(line)
		}
	}
	fn, err := emulator.NewFunction(s.f.function, emulator.FunctionOptions{
		Env: s.env, Timeout: s.f.functionTimeout, Logs: logs,
		Instances: s.instances, Concurrency: s.perInstance, MaxEventBytes: config.MaxEventBytes, Metrics: s.metrics,
		Identity: ownIdentity(),
	})
	if err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = fn.Start(startCtx)
	cancel()
	if err != nil {
		fn.Close()
		return nil, fmt.Errorf("start the function: %w", err)
	}
	return fn, nil
}

// gatewayOptions are the gateway settings the flags give, to local's own
// gateway and to every deployed API's.
func (s *session) gatewayOptions() emulator.Options {
	f := s.f
	return emulator.Options{
		IdleCleanup: f.idleCleanup, DropCleanup: f.dropCleanup, ClosingOnServerClose: f.closingOnServerClose,
		IdleCountsPings: f.idleCountsPings, ConcurrentFrames: f.concurrentFrames, HandshakeExtras: f.handshakeExtras,
		PushLatency: f.pushLatency, PushRateLimit: f.pushRateLimit, UnknownPushStatus: f.unknownPushStatus,
		PushReadTimeout: f.pushReadTimeout, MaxMessageBytes: f.maxMessageBytes, AnyHost: !s.loopback,
		MaxEventBytes: config.MaxEventBytes,
	}
}

// ownGateway is local's own gateway: the shared options, with its paths,
// the chat page's heartbeat, and maybe tokens for the chat page.
func (s *session) ownGateway(shared emulator.Options) emulator.Options {
	own := shared
	own.Path, own.PushPath, own.IdleTimeout = s.f.path, pushPath, s.f.idleTimeout
	own.HeartbeatMessage, own.RoutePath, own.Metrics = s.env["HEARTBEAT_MESSAGE"], routePath, s.metrics
	// An unsigned 6 MB body is refused here, not by an invoke.
	maxMessage, _ := strconv.Atoi(strings.TrimSpace(s.env["MAX_MESSAGE_BYTES"])) // unset or bad: the default
	own.RouteMaxBodyBytes = router.MaxRouteBody(maxMessage)
	// Tokens for anyone who asks: with your own AUTH_SECRET (maybe your
	// deployment's) only on this machine; on a -public address only with
	// the session's.
	if s.loopback || s.generated["AUTH_SECRET"] {
		own.Token = tokenMinter(s.env["AUTH_SECRET"], tokenTTL(s.env))
	}
	return own
}

// tokenTTL is how long the chat page's tokens live: 12 hours, or less
// when AUTH_MAX_TOKEN_AGE caps a token's lifetime.
func tokenTTL(env map[string]string) time.Duration {
	ttl := 12 * time.Hour
	var most config.Duration
	if v := env["AUTH_MAX_TOKEN_AGE"]; v != "" && most.Decode(v) == nil && most.D() >= time.Second {
		ttl = min(ttl, most.D())
	}
	return ttl
}

// chatRoles are the roles of the chat page's tokens: DEFAULT_ROLES grants
// nothing by default, so the page's users join rooms, talk in them and
// message each other by what their tokens say.
func chatRoles() []string {
	return []string{proto.PermJoinLeaveGroup, proto.PermSendToGroup, proto.PermSendToUser}
}

// tokenMinter signs scfws.v1 tokens with the session's AUTH_SECRET: a
// name, and the roles asked for (nil: chatRoles), living ttl.
func tokenMinter(secret string, ttl time.Duration) func(sub string, roles []string) (string, error) {
	return func(sub string, roles []string) (string, error) {
		if !proto.ValidName(sub) {
			return "", errors.New("name must be 1-128 bytes of printable text")
		}
		if roles == nil {
			roles = chatRoles()
		}
		for _, r := range roles {
			if !proto.ValidPermission(r) {
				return "", fmt.Errorf("%q is not a role: want joinLeaveGroup, sendToGroup, sendToUser, joinLeaveGroup.<group> or sendToGroup.<group>", proto.Clip(r, 64))
			}
		}
		return auth.Sign([]byte(secret), "", auth.Claims{Subject: sub, Roles: roles, TTL: ttl}, time.Now())
	}
}

// reportReadiness asks the function, before any client arrives, whether
// it can work, and prints one line: ready, or what to fix. The emulator
// keeps running either way, and the function recovers once its database
// does.
func (s *session) reportReadiness(ctx context.Context, fn *emulator.Function, stdout io.Writer, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(ctx, s.f.functionTimeout+time.Second)
	problem := readiness(ctx, fn, s.env)
	cancel()
	if problem != "" {
		fmt.Fprintf(stdout, "NOT READY     handshakes will be refused: %s\n", problem)
		log.Warn("the function is not ready: " + problem)
	} else {
		fmt.Fprintln(stdout, "ready         the function answered; open the chat page")
	}
}

// readiness asks the function whether it can work (its settings and its
// registry) before any client arrives, and says in one line what to fix.
func readiness(ctx context.Context, fn *emulator.Function, env map[string]string) string {
	out, err := fn.Invoke(ctx, []byte(`{"scfws":{"op":"status"}}`))
	if err != nil {
		return "the function failed its first invoke: " + err.Error()
	}
	var r router.Reply
	if err := json.Unmarshal(out, &r); err != nil {
		return "the function's answer is not JSON: " + err.Error()
	}
	if r.ErrNo == proto.CodeOK {
		return ""
	}
	msg := fmt.Sprintf("errNo %d %s", r.ErrNo, r.ErrMsg)
	if r.Detail != "" {
		msg += ": " + r.Detail
	}
	return msg + hint(r.Detail, env)
}

// hint names the variable to fix for the database errors people meet
// first.
func hint(detail string, env map[string]string) string {
	where := fmt.Sprintf("database %s on %s:%s", cmp.Or(env["DB_NAME"], "SCF_Demo"), env["DB_HOST"], cmp.Or(env["DB_PORT"], "3306"))
	switch {
	case strings.Contains(detail, "may not create it"), strings.Contains(detail, "Unknown database"):
		return fmt.Sprintf(" (%s: set DB_NAME to a database that exists, or let DB_AUTO_MIGRATE=true create it with a user allowed to)", where)
	case strings.Contains(detail, "Access denied"):
		return fmt.Sprintf(" (%s: check DB_USER and DB_PASSWORD)", where)
	case strings.Contains(detail, "connection refused"), strings.Contains(detail, "no such host"), strings.Contains(detail, "i/o timeout"):
		return fmt.Sprintf(" (%s: is MariaDB running there? check DB_HOST and DB_PORT; README: Local with MySQL)", where)
	}
	return ""
}
