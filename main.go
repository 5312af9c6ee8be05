// Command scfws is one binary for the register, transmission and cleanup
// functions of a Tencent Cloud API Gateway WebSocket API. Under SCF it serves
// the Go1 runtime; elsewhere it runs events from the command line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/gateway"
	"github.com/scfws/scfws/local"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

var (
	_ router.Registry       = (*store.MySQL)(nil)
	_ router.Registry       = (*store.Memory)(nil)
	_ router.Pusher         = (*gateway.Client)(nil)
	_ router.Verifier       = tokenVerifier{}
	_ cloudfunction.Handler = (*router.Router)(nil)
)

// tokenVerifier gives the router auth's token check: the router connects
// the Principal; when the token expires is auth's business.
type tokenVerifier struct{ *auth.Verifier }

func (v tokenVerifier) Verify(token string) (proto.Principal, error) {
	id, err := v.Verifier.Verify(token)
	return id.Principal, err
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(os.Stderr, "scfws: %v\n\n%s", err, usage())
			os.Exit(2)
		}
		var x exitError
		if errors.As(err, &x) {
			fmt.Fprintf(os.Stderr, "scfws: %v\n", err)
			os.Exit(x.code)
		}
		fmt.Fprintf(os.Stderr, "scfws: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func usage() string {
	return `scfws: one binary for the register, transmission and cleanup functions of a
Tencent Cloud API Gateway WebSocket API.

Usage:
  scfws                     under SCF (_LAMBDA_SERVER_PORT set): serve the Go1 runtime
  scfws local [flags]       run the API Gateway + SCF emulator and the chat page (-h for flags)
  scfws invoke [-timeout 3s] EVENT.json|-
                            run one event (a file, or - for standard input; at most
                            6 MB) through the function with the settings of this
                            environment and print its reply; exit status 1 when the
                            reply's errNo is not 0
  scfws publish -function NAME [-namespace NS] [-region R] [-endpoint URL]
                (-all | -group G | -user U | -connection ID) [-type text|json|binary] DATA|-
                            send DATA through the function's backend API: SCF Invoke
                            with the key in TENCENTCLOUD_SECRETID/SECRETKEY, or with
                            -url URL the signed route (secret in PUBLISH_SECRET);
                            -close closes a -connection or -user instead; prints the
                            reply; exit status 1 when its errNo is not 0 (-h for more)
  scfws deploy -name NAME [-region R] [-namespace NS] [-memory 128] [-timeout 3s]
               [-idle-timeout 600s] [-path /websocket] [-env KEY=VALUE ...] [-env-file FILE]
               [-vpc VPC -subnet SUBNET] [-endpoint URL] [-zip FILE] [-dry-run] [-json]
                            put scfws on Tencent Cloud: the SCF function, an API Gateway
                            WebSocket API bound to it, the release and the push address,
                            with the key in TENCENTCLOUD_SECRETID/SECRETKEY; run again,
                            it changes only what differs (docs/deploy.md; -h for more)
  scfws destroy -name NAME [-region R] [-namespace NS] [-endpoint URL] [-yes]
                            remove what scfws deploy made for NAME (asks first)
  scfws token -sub USER [-groups a,b] [-roles r1,r2] [-ttl 1h]
                            print a scfws.v1 connect token signed with AUTH_SECRET
  scfws probe -url wss://... [-secret S] [-idle] [-json]
                            measure a deployment whose function has PROBE_SECRET set:
                            what the gateway does where Tencent's docs are silent
  scfws version             print the version
  scfws -h                  print this help

Push answers (what the reverse-push address answers decides each push):
  200 with errNo 0 or no JSON body   delivered
  200 with another errNo             gone: the connection is pruned, not retried
  429                                rate-limited: retried with backoff honouring
                                     Retry-After while the deadline allows
                                     (PUSH_RETRIES), then failed; the row is kept
  413, 414, 431                      the frame's fault: failed, kept
  1xx, 3xx, 401, 403, 405, 407, 415  the push address's fault: failed, kept
  any other status                   gone: pruned, not retried
  but a "gone" answer before this instance ever had a push delivered, or in a
  send where two or more pushes were refused and none delivered, is the push
  address's fault: nothing pruned (the reply's errMsg says check SENDBACK_HOST)
  a failure before the request was fully written: retried, as a 429
  sent but unanswered in PUSH_TIMEOUT: failed, kept, not retried (it may have
  been delivered: a retry could show the frame twice)

Environment (a variable set to "" counts as unset):
` + config.Usage()
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if os.Getenv("_LAMBDA_SERVER_PORT") != "" {
		return serveFunction(stdout)
	}
	if len(args) == 0 {
		return usageError{errors.New("no command (not under SCF: _LAMBDA_SERVER_PORT is not set)")}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage())
		return nil
	case "version":
		fmt.Fprintf(stdout, "scfws %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "invoke":
		return invoke(args[1:], stdin, stdout, stderr)
	case "local":
		return local.Main(args[1:], stdout, stderr)
	case "publish":
		return publish(args[1:], stdin, stdout, stderr)
	case "token":
		return token(args[1:], os.LookupEnv, stdout, stderr)
	case "probe":
		return probeCmd(args[1:], os.LookupEnv, stdout, stderr)
	case "deploy":
		return deploy(args[1:], stdin, stdout, stderr)
	case "destroy":
		return destroy(args[1:], stdin, stdout, stderr)
	default:
		return usageError{fmt.Errorf("unknown command %q", args[0])}
	}
}

// serveFunction serves the SCF Go1 runtime until the process is killed.
// Settings are read on the first invoke: the runtime sets the function's
// environment variables as it delivers each one.
func serveFunction(stdout io.Writer) error {
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	log := newLogger(stdout, level, true).With(zap.String("version", version))
	cloudfunction.StartHandler(router.New(log, loader(log, level)))
	return errors.New("runtime server stopped") // StartHandler does not return
}

func invoke(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "the invocation deadline, as SCF's function timeout")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *timeout <= 0 {
		return usageError{errors.New("-timeout must be positive")}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("invoke wants one event file, or - for standard input")}
	}
	payload, err := readEvent(fs.Arg(0), stdin, *timeout)
	if err != nil {
		return err
	}
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	log := newLogger(stderr, level, false)
	defer func() { _ = log.Sync() }()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	reply := router.New(log, loader(log, level)).Handle(ctx, payload)
	out, err := json.MarshalIndent(reply, "", "  ")
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		return err
	}
	if reply.ErrNo != proto.CodeOK {
		// Scripts see a refusal without parsing the reply.
		return exitError{code: 1, msg: fmt.Sprintf("the function answered errNo %d", reply.ErrNo)}
	}
	return nil
}

// exitError ends the process with code after printing msg.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// readEvent reads an event from a file, or standard input for "-", never
// more than SCF's limit: /dev/zero or a huge file is refused, not slurped.
// A file (a FIFO nobody writes, say) must be read within wait; standard
// input may be typed, and is the caller's to interrupt.
func readEvent(name string, stdin io.Reader, wait time.Duration) ([]byte, error) {
	if name == "-" {
		return readLimited(stdin)
	}
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() { // left behind on a timeout: the process is about to exit
		f, err := os.Open(name)
		if err != nil {
			done <- read{nil, err}
			return
		}
		defer f.Close()
		b, err := readLimited(f)
		done <- read{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(wait):
		return nil, fmt.Errorf("%s: no event within %s (a FIFO with no writer?)", name, wait)
	}
}

func readLimited(r io.Reader) ([]byte, error) {
	payload, err := io.ReadAll(io.LimitReader(r, config.MaxEventBytes+1))
	if err != nil {
		return nil, err
	}
	if len(payload) > config.MaxEventBytes {
		return nil, fmt.Errorf("the event is over %d bytes, SCF's limit", config.MaxEventBytes)
	}
	return payload, nil
}

// loader turns the environment into the router's Deps, once it is valid.
// The runtime sets the function's variables as it delivers each invoke, so
// they are read when the first invoke needs them.
func loader(log *zap.Logger, level zap.AtomicLevel) router.Loader {
	return loaderFrom(os.LookupEnv, log, level, openRegistry)
}

// registryOpener makes the registry the settings name.
type registryOpener func(ctx context.Context, cfg config.Config, log *zap.Logger) (router.Registry, error)

// loaderFrom is loader with the lookup and the registry replaceable, so that
// tests run the very same wiring in process.
func loaderFrom(lookup config.Lookup, log *zap.Logger, level zap.AtomicLevel, open registryOpener) router.Loader {
	return func(ctx context.Context) (*router.Deps, error) {
		cfg, err := config.Load(lookup)
		if err != nil {
			return nil, router.NotConfigured(err)
		}
		level.SetLevel(cfg.Level())
		reg, err := open(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		d, err := depsFrom(cfg, reg, log)
		if err != nil {
			if c, ok := reg.(io.Closer); ok {
				_ = c.Close() // its pool, open for nothing
			}
			return nil, err
		}
		return d, nil
	}
}

// depsFrom builds the push client and options around a registry.
func depsFrom(cfg config.Config, reg router.Registry, log *zap.Logger) (*router.Deps, error) {
	push, err := gateway.New(cfg.SendbackHost, gateway.Options{
		Concurrency: cfg.PushConcurrency,
		Rate:        cfg.PushRate,
		Timeout:     cfg.PushTimeout.D(),
		Retries:     cfg.PushRetries,
	})
	if err != nil {
		return nil, router.NotConfigured(fmt.Errorf("SENDBACK_HOST: %w", err))
	}
	var verify router.Verifier
	if cfg.AuthSecret != "" || strings.TrimSpace(cfg.AuthPublicKey) != "" {
		v, err := auth.NewVerifier(auth.Config{Secret: []byte(cfg.AuthSecret.Reveal()), PublicKeysPEM: cfg.AuthPublicKey,
			Audience: cfg.AuthAudience, Issuer: cfg.AuthIssuer})
		if err != nil {
			// auth's messages name the key's problem and never quote it.
			return nil, router.NotConfigured(fmt.Errorf("AUTH_SECRET or AUTH_PUBLIC_KEY: %w", err))
		}
		verify = tokenVerifier{v}
		log.Info("scfws.v1 tokens", zap.Strings("algorithms", v.Algorithms()), zap.Bool("required", cfg.AuthRequired))
	}
	log.Info("configured",
		zap.String("store", cfg.Store), zap.String("dbHost", cfg.DBHost), zap.Int("dbPort", cfg.DBPort),
		zap.String("dbName", cfg.DBName), zap.String("dbTable", cfg.DBTable), zap.String("sendbackHost", config.RedactURL(cfg.SendbackHost)),
		zap.Duration("idleTimeout", cfg.IdleTimeout.D()), zap.Int("pushConcurrency", cfg.PushConcurrency), zap.Int("pushRate", cfg.PushRate),
		zap.Duration("pushTimeout", cfg.PushTimeout.D()), zap.Int("pushRetries", cfg.PushRetries),
		zap.Strings("wsSubprotocols", cfg.WSSubprotocols), zap.Bool("broadcastToSender", cfg.BroadcastToSender),
		zap.Bool("onlineCountSuffix", cfg.OnlineCountSuffix), zap.Bool("heartbeat", cfg.HeartbeatMessage != ""),
		zap.Int("maxMessageBytes", cfg.MaxMessageBytes), zap.Strings("defaultRoles", cfg.DefaultRoles),
		zap.Bool("presenceEvents", cfg.PresenceEvents), zap.Bool("publishRoute", cfg.PublishSecret != ""),
		zap.Bool("probe", cfg.ProbeSecret != ""))
	return &router.Deps{
		Registry: reg,
		Pusher:   push,
		Verifier: verify,
		Options: router.Options{
			Subprotocols:      cfg.WSSubprotocols,
			BroadcastToSender: cfg.BroadcastToSender,
			OnlineCountSuffix: cfg.OnlineCountSuffix,
			HeartbeatMessage:  cfg.HeartbeatMessage,
			MaxMessageBytes:   cfg.MaxMessageBytes,
			SweepEvery:        min(time.Minute, cfg.IdleTimeout.D()/2),
			AuthRequired:      cfg.AuthRequired,
			DefaultRoles:      cfg.DefaultRoles,
			PresenceEvents:    cfg.PresenceEvents,
			MaxGroups:         cfg.MaxGroups,
			PublishSecret:     cfg.PublishSecret.Reveal(),
			ProbeSecret:       cfg.ProbeSecret.Reveal(),
			IdleTimeout:       cfg.IdleTimeout.D(),
			PushRate:          cfg.PushRate,
		},
	}, nil
}

func openRegistry(ctx context.Context, cfg config.Config, log *zap.Logger) (router.Registry, error) {
	if cfg.Store == config.StoreMemory {
		// scfws local sets SCFWS_LOCAL: memory is what it is for there.
		if os.Getenv("SCFWS_LOCAL") != "true" {
			log.Warn("STORE=memory: connections are kept in this process only; use it for local runs and tests")
		}
		return store.NewMemory(cfg.IdleTimeout.D(), nil), nil
	}
	db, err := store.OpenMySQL(ctx, store.MySQLConfig{
		Host:        cfg.DBHost,
		Port:        cfg.DBPort,
		User:        cfg.DBUser,
		Password:    cfg.DBPassword.Reveal(),
		DBName:      cfg.DBName,
		Table:       cfg.DBTable,
		AutoMigrate: cfg.DBAutoMigrate,
		IdleTimeout: cfg.IdleTimeout.D(),
		// The driver's own messages join our log, so it stays JSON.
		DriverLog: func(msg string) { log.Named("mysql").Warn(msg) },
	})
	if err != nil {
		return nil, fmt.Errorf("open registry %s.%s at %s: %w", cfg.DBName, cfg.DBTable, cfg.DBHost, err)
	}
	s := db.Schema()
	if s.DatabaseCreated {
		log.Info("created the database", zap.String("dbName", cfg.DBName))
	}
	if !s.Keyed {
		log.Warn("the connection table has no unique key on ConnectionID: writes take two statements and racing registers can duplicate rows; "+
			"add one with ALTER TABLE ... ADD PRIMARY KEY (ConnectionID)", zap.String("dbTable", cfg.DBTable))
	} else if s.Created {
		log.Info("created the connection table", zap.String("dbTable", cfg.DBTable))
	}
	switch {
	case s.V1Created:
		log.Info("created the scfws.v1 tables", zap.String("dbTable", cfg.DBTable))
	case s.V1Denied:
		log.Warn("the scfws.v1 tables do not exist and DB_USER may not create them: scfws.v1 handshakes are refused; plain connections work",
			zap.String("dbTable", cfg.DBTable))
	case !s.V1:
		log.Warn("the scfws.v1 tables do not exist and DB_AUTO_MIGRATE is off: scfws.v1 handshakes are refused; plain connections work",
			zap.String("dbTable", cfg.DBTable))
	}
	return db, nil
}

// newLogger writes JSON (SCF turns stdout into the function log) or, for
// people at a terminal, the console format.
func newLogger(w io.Writer, level zap.AtomicLevel, jsonFormat bool) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	var e zapcore.Encoder
	if jsonFormat {
		e = zapcore.NewJSONEncoder(enc)
	} else {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		e = zapcore.NewConsoleEncoder(enc)
	}
	return zap.New(zapcore.NewCore(e, zapcore.AddSync(w), level))
}
