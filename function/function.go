// Package function is the function's wiring: the environment's settings
// become the registry, the push client and the token verifier the router
// runs with, served over SCF's Go1 runtime or run once by scfws invoke.
package function

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/gateway"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/selfinvoke"
	"github.com/scfws/scfws/store"
	"github.com/tencentyun/scf-go-lib/cloudfunction"
)

var (
	_ router.Registry       = (*store.MySQL)(nil)
	_ router.Registry       = (*store.Memory)(nil)
	_ router.History        = (*store.MySQL)(nil)
	_ router.History        = (*store.Memory)(nil)
	_ router.Pusher         = (*gateway.Client)(nil)
	_ router.Fanout         = (*store.MySQL)(nil)
	_ router.Fanout         = (*store.Memory)(nil)
	_ router.Invoker        = (*selfinvoke.Invoker)(nil)
	_ gateway.Budget        = (*store.MySQL)(nil)
	_ router.Verifier       = tokenVerifier{}
	_ cloudfunction.Handler = (*router.Router)(nil)
)

// Serve serves the SCF Go1 runtime until the process is killed, logging
// JSON to stdout (SCF's function log). Settings are read on the first
// invoke: the runtime sets the function's environment variables as it
// delivers each one.
func Serve(stdout io.Writer, version string) error {
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	log := NewLogger(stdout, level, true).With(zap.String("version", version))
	return StartHandler(router.New(log, Loader(log, level)))
}

// Loader turns the environment into the router's Deps, once it is valid.
// The runtime sets the function's variables as it delivers each invoke, so
// they are read when the first invoke needs them.
func Loader(log *zap.Logger, level zap.AtomicLevel) router.Loader {
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
		Budget:      budgetOf(cfg, reg),
		Timeout:     cfg.PushTimeout.D(),
		Retries:     cfg.PushRetries,
	})
	if err != nil {
		return nil, router.NotConfigured(fmt.Errorf("SENDBACK_HOST: %w", err))
	}
	var verify router.Verifier
	if cfg.AuthSecret != "" || strings.TrimSpace(cfg.AuthPublicKey) != "" {
		v, err := auth.NewVerifier(auth.Config{Secret: []byte(cfg.AuthSecret.Reveal()), PublicKeysPEM: cfg.AuthPublicKey,
			Audience: cfg.AuthAudience, Issuer: cfg.AuthIssuer, MaxAge: cfg.AuthMaxAge.D()})
		if err != nil {
			// auth's messages name the key's problem and never quote it.
			return nil, router.NotConfigured(fmt.Errorf("AUTH_SECRET or AUTH_PUBLIC_KEY: %w", err))
		}
		verify = tokenVerifier{v}
		log.Info("scfws.v1 tokens", zap.Strings("algorithms", v.Algorithms()), zap.Bool("required", cfg.AuthRequired),
			zap.Duration("maxTokenAge", cfg.AuthMaxAge.D()))
	}
	log.Info("configured",
		zap.String("store", cfg.Store), zap.String("dbHost", cfg.DBHost), zap.Int("dbPort", cfg.DBPort),
		zap.String("dbName", cfg.DBName), zap.String("dbTable", cfg.DBTable), zap.String("sendbackHost", config.RedactURL(cfg.SendbackHost)),
		zap.Duration("idleTimeout", cfg.IdleTimeout.D()), zap.Int("pushConcurrency", cfg.PushConcurrency), zap.Int("pushRate", cfg.PushRate),
		zap.Duration("pushTimeout", cfg.PushTimeout.D()), zap.Int("pushRetries", cfg.PushRetries),
		zap.Strings("wsSubprotocols", cfg.WSSubprotocols), zap.Bool("broadcastToSender", cfg.BroadcastToSender),
		zap.Bool("onlineCountSuffix", cfg.OnlineCountSuffix), zap.Bool("heartbeat", cfg.HeartbeatMessage != ""),
		zap.Int("maxMessageBytes", cfg.MaxMessageBytes), zap.Strings("defaultRoles", cfg.DefaultRoles),
		zap.Bool("presenceEvents", cfg.PresenceEvents), zap.Int("presenceMaxMembers", cfg.PresenceLimit), zap.Bool("publishRoute", cfg.PublishSecret != ""),
		zap.Bool("probe", cfg.ProbeSecret != ""), zap.Int("historySize", cfg.HistorySize), zap.Duration("historyTTL", cfg.HistoryTTL.D()),
		zap.String("fanout", cfg.Fanout), zap.Int("fanoutShardSize", cfg.FanoutShardSize))
	history, problem := historyOf(cfg, reg)
	if problem != nil {
		cfg.Off = append(cfg.Off, *problem)
	}
	var off []string
	for _, p := range cfg.Off {
		// An error, not a warning: a feature the settings ask for is off.
		log.Error("setting refused: " + p.Error())
		off = append(off, p.Error())
	}
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	fan, fanOff := fanoutOf(cfg, reg)
	return &router.Deps{
		Registry: reg,
		Pusher:   push,
		Verifier: verify,
		History:  history,
		Fanout:   fan,
		Invoker:  &selfinvoke.Invoker{},
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
			PresenceLimit:     cfg.PresenceLimit,
			MaxGroups:         cfg.MaxGroups,
			History:           proto.Retention{Size: cfg.HistorySize, TTL: cfg.HistoryTTL.D()},
			PublishSecret:     cfg.PublishSecret.Reveal(),
			ProbeSecret:       cfg.ProbeSecret.Reveal(),
			Off:               off,
			IdleTimeout:       cfg.IdleTimeout.D(),
			PushRate:          cfg.PushRate,
			Fanout:            router.FanoutOptions{Off: fanOff, ShardSize: cfg.FanoutShardSize},
		},
	}, nil
}

// fanoutOf is the registry's fan-out, and why it is off when it is: by
// FANOUT, or because a MySQL registry cannot read its connections in
// pages or keep jobs.
func fanoutOf(cfg config.Config, reg router.Registry) (router.Fanout, string) {
	fan, ok := reg.(router.Fanout)
	db, isDB := reg.(*store.MySQL)
	switch {
	case !ok:
		return nil, "the registry cannot keep fan-out jobs"
	case cfg.Fanout == config.FanoutOff:
		return fan, "FANOUT=off"
	case isDB && !db.Schema().Keyed:
		return fan, "the connection table has no unique key on ConnectionID, so its connections cannot be read in pages"
	case isDB && !db.Schema().Jobs:
		return fan, "the fan-out tables (<DB_TABLE>_jobs, <DB_TABLE>_shards) do not exist, and DB_AUTO_MIGRATE is off or DB_USER may not create them"
	}
	return fan, ""
}

// budgetOf is where PUSH_RATE's pushes come from: the database's budget,
// which every instance shares, when there is one.
func budgetOf(cfg config.Config, reg router.Registry) gateway.Budget {
	if db, ok := reg.(*store.MySQL); ok && cfg.PushRate > 0 && db.Schema().Budget {
		return db
	}
	return nil
}

// historyOf is the registry's history when HISTORY_SIZE turns it on. A
// MySQL registry without the history tables turns history off, as a
// feature whose setting cannot be honoured: sends and connections work.
func historyOf(cfg config.Config, reg router.Registry) (router.History, *config.Problem) {
	if cfg.HistorySize == 0 {
		return nil, nil
	}
	h, ok := reg.(router.History)
	if db, isDB := reg.(*store.MySQL); !ok || (isDB && !db.Schema().History) {
		return nil, &config.Problem{Key: "HISTORY_SIZE", Off: "history", Msg: "the history tables (<DB_TABLE>_stream, <DB_TABLE>_recent) " +
			"do not exist, and DB_AUTO_MIGRATE is off or DB_USER may not create them (the README has their CREATE TABLE)"}
	}
	return h, nil
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
	logSchema(log, cfg, db.Schema())
	return db, nil
}

// logSchema says what OpenMySQL found and made, and what is missing.
func logSchema(log *zap.Logger, cfg config.Config, s store.Schema) {
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
	switch {
	case s.NonceCreated:
		log.Info("created the signed route's nonce table", zap.String("dbTable", cfg.DBTable))
	case !s.Nonce && cfg.PublishSecret != "":
		log.Warn("the signed route's nonce table does not exist, and DB_AUTO_MIGRATE is off or DB_USER may not create it: "+
			"signed requests are refused (501) until it exists (the README has its CREATE TABLE)", zap.String("dbTable", cfg.DBTable))
	}
	if s.HistoryCreated {
		log.Info("created the history tables", zap.String("dbTable", cfg.DBTable))
	}
	switch {
	case s.FanoutCreated:
		log.Info("created the fan-out tables", zap.String("dbTable", cfg.DBTable))
	case !s.Jobs && cfg.Fanout != config.FanoutOff:
		log.Warn("the fan-out tables do not exist, and DB_AUTO_MIGRATE is off or DB_USER may not create them: sends are never handed off "+
			"(docs/fanout.md has their CREATE TABLE)", zap.String("dbTable", cfg.DBTable))
	}
	if !s.Budget && cfg.PushRate > 0 {
		log.Warn("the push budget's table does not exist: PUSH_RATE holds for each instance alone (docs/fanout.md has its CREATE TABLE)",
			zap.String("dbTable", cfg.DBTable))
	}
}

// tokenVerifier gives the router auth's token check: the router connects
// the Principal; when the token expires is auth's business.
type tokenVerifier struct{ *auth.Verifier }

func (v tokenVerifier) Verify(token string) (proto.Principal, error) {
	id, err := v.Verifier.Verify(token)
	return id.Principal, err
}

// NewLogger writes JSON (SCF turns stdout into the function log) or, for
// people at a terminal, the console format.
func NewLogger(w io.Writer, level zap.AtomicLevel, jsonFormat bool) *zap.Logger {
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
