package function

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/internal/testkit/mysqltest"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// A short PUBLISH_SECRET or PROBE_SECRET loads: the function works, its
// log says at error level which feature is off (never quoting the secret),
// and status says it too. Both key kinds without AUTH_ISSUER load with a
// warning.
func TestSettingsThatTurnAFeatureOffAreLoud(t *testing.T) {
	env := map[string]string{"STORE": "memory", "SENDBACK_HOST": "http://127.0.0.1:1/push",
		"PUBLISH_SECRET": "hunter2", "PROBE_SECRET": "hunter3", "AUTH_SECRET": strings.Repeat("s", 32), "AUTH_PUBLIC_KEY": publicKeyPEM(t)}
	core, logs := observer.New(zapcore.InfoLevel)
	load := loaderFrom(config.FromMap(env), zap.New(core), zap.NewAtomicLevel(),
		func(context.Context, config.Config, *zap.Logger) (router.Registry, error) {
			return store.NewMemory(10*time.Minute, nil), nil
		})
	d, err := load(context.Background())
	if err != nil {
		t.Fatalf("load: %v; want loaded with the features off", err)
	}
	if d.Options.PublishSecret != "" || d.Options.ProbeSecret != "" || len(d.Options.Off) != 2 {
		t.Errorf("Options: secrets kept %v, Off %q; want both off", d.Options.PublishSecret != "", d.Options.Off)
	}
	want := map[zapcore.Level][]string{
		zapcore.ErrorLevel: {"setting refused: PUBLISH_SECRET: must be at least 32 bytes, not 7", "the signed HTTP route is off",
			"setting refused: PROBE_SECRET", "scfws probe is off"},
		zapcore.WarnLevel: {"AUTH_ISSUER"},
	}
	for level, parts := range want {
		var lines []string
		for _, e := range logs.FilterLevelExact(level).All() {
			lines = append(lines, e.Message)
		}
		for _, p := range parts {
			if !strings.Contains(strings.Join(lines, "\n"), p) {
				t.Errorf("%s lines %q; want %q among them", level, lines, p)
			}
		}
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "hunter") {
			t.Errorf("log line %q quotes a secret", e.Message)
		}
	}
	reply := router.New(zap.NewNop(), router.Fixed(d)).Handle(context.Background(), []byte(`{"scfws":{"op":"status"}}`))
	if reply.ErrNo != 0 || len(reply.Off) != 2 || !strings.Contains(reply.ErrMsg, "the signed HTTP route is off") {
		t.Errorf("status = %d %q off %q; want 0, naming both features", reply.ErrNo, reply.ErrMsg, reply.Off)
	}
}

// publicKeyPEM is a fresh P-256 public key, as AUTH_PUBLIC_KEY holds one.
func publicKeyPEM(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// HISTORY_SIZE on a MySQL registry without the history tables, which its
// DB_USER may not create: the function loads with history off, says so at
// error level and in status, and messages go out without offsets.
func TestHistoryOffWithoutItsTables(t *testing.T) {
	db := mysqltest.New(t)
	db.Exec(t, "CREATE TABLE ConnectionID_List (ConnectionID VARBINARY(255) PRIMARY KEY, Date DATETIME(3))")
	user, pass := db.LimitedUser(t)
	env := dbEnv(db, db.Port)
	env["DB_USER"], env["DB_PASSWORD"] = user, pass
	env["SENDBACK_HOST"], env["HISTORY_SIZE"] = "http://127.0.0.1:1/push", "50"
	core, logs := observer.New(zapcore.InfoLevel)
	d, err := loaderFrom(config.FromMap(env), zap.New(core), zap.NewAtomicLevel(), openRegistry)(context.Background())
	if err != nil {
		t.Fatalf("load: %v; want loaded with history off", err)
	}
	defer closeRegistry(d)
	if d.History != nil || len(d.Options.Off) != 1 || !strings.Contains(d.Options.Off[0], "HISTORY_SIZE: the history tables") {
		t.Errorf("History %v, Off %q; want history off, said", d.History, d.Options.Off)
	}
	if n := len(logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("history is off").All()); n != 1 {
		t.Errorf("%d error lines say history is off; want 1", n)
	}
	reply := router.New(zap.NewNop(), router.Fixed(d)).Handle(context.Background(), []byte(`{"scfws":{"op":"status"}}`))
	if reply.ErrNo != 0 || !strings.Contains(reply.ErrMsg, "history is off") {
		t.Errorf("status = %d %q; want 0, saying history is off", reply.ErrNo, reply.ErrMsg)
	}
}

func closeRegistry(d *router.Deps) {
	if c, ok := d.Registry.(interface{ Close() error }); ok {
		_ = c.Close()
	}
}
