package function

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tencentyun/scf-go-lib/functioncontext"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/internal/testkit/goldencase"
	"github.com/scfws/scfws/internal/testkit/pushtest"
	"github.com/scfws/scfws/router"
	"github.com/scfws/scfws/store"
)

// goldenDir holds the events; e2e runs the same files over the SCF runtime.
const goldenDir = "../testdata/golden"

// TestGoldenInProcess runs each event through the raw-bytes handler, with the
// in-memory registry and the real push client.
func TestGoldenInProcess(t *testing.T) {
	srv := pushtest.Start()
	defer srv.Close()
	for _, c := range goldencase.Load(t, goldenDir) {
		t.Run(c.Name, func(t *testing.T) {
			srv.Reset()
			env := goldencase.Env(srv.URL, c)
			env["STORE"] = "memory"
			now := time.Now()
			reg := store.NewMemory(goldencase.Idle, nil)
			goldencase.Plant(t, reg, func(id string, by time.Duration) { reg.TouchAt(id, now.Add(-by)) })
			c.Epochs = goldencase.PlantHistory(t, reg)
			core, logs := observer.New(zapcore.DebugLevel)
			log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
			var pusher interface{ CloseIdle() }
			load := loaderFrom(config.FromMap(env), log, zap.NewAtomicLevel(),
				func(context.Context, config.Config, *zap.Logger) (router.Registry, error) {
					return reg, nil
				})
			r := router.New(log, func(ctx context.Context) (*router.Deps, error) {
				d, err := load(ctx)
				if err == nil {
					pusher = d.Pusher.(interface{ CloseIdle() })
				}
				return d, err
			})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			ctx = functioncontext.NewContext(ctx, &functioncontext.FunctionContext{RequestID: "golden-" + c.Name})
			payload, err := r.Invoke(ctx, goldencase.Prepare(t, c))
			if err != nil {
				t.Fatalf("Invoke returned error %v; want nil always", err)
			}
			if pusher != nil {
				pusher.CloseIdle()
			}
			o := goldencase.Outcome{Reply: payload, Pushes: srv.Pushes(), Registry: reg.All(), Groups: reg.Memberships()}
			var logged strings.Builder
			for _, e := range logs.All() {
				fmt.Fprintf(&logged, "%s %v\n", e.Message, e.ContextMap())
			}
			goldencase.NoTokens(t, c, logged.String(), string(o.Marshal(t)))
			testkit.CheckGolden(t, goldencase.Path(goldenDir, c.Name), o.Marshal(t), true)
		})
	}
}
