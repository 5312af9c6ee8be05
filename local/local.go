// Package local is scfws local: it serves, on one address of this machine,
// a function under the emulator's API Gateway WebSocket API and SCF Go1
// runtime, and the fake Tencent Cloud API (local/cloudapi) that invokes it
// and that scfws deploy deploys more functions and APIs into, which then
// run here too. This package wires those parts from the command line.
package local

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
)

// Main runs scfws local with its command-line arguments until Ctrl+C.
func Main(args []string, stdout, stderr io.Writer) error {
	f, err := parseLocalFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runLocal(ctx, f, stdout, stderr)
}

// pushPath is local's own reverse-push address.
const pushPath = "/sendback"

// routePath is where local serves the signed HTTP route.
const routePath = "/_scfws/http/"

// runLocal runs scfws local until ctx ends (Ctrl+C).
func runLocal(ctx context.Context, f localFlags, stdout, stderr io.Writer) error {
	s, err := newSession(f)
	if err != nil {
		return err
	}
	f = s.f // -function filled in
	console := emulator.NewConsole(stderr)
	log := console.Logger(zapcore.InfoLevel)
	defer func() { _ = log.Sync() }()

	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	defer l.Close() // on every early return; Serve and Shutdown close it too
	host := dialHost(l.Addr().(*net.TCPAddr))
	base := "http://" + host
	pushURL := base + pushPath
	s.listening(base, pushURL)

	fn, err := s.startFunction(ctx, console.Function)
	if err != nil {
		return err
	}
	defer fn.Close()
	if s.metrics != nil {
		sampling, stopSampling := context.WithCancel(ctx)
		defer stopSampling()
		go s.metrics.Run(sampling)
	}
	// Deployed APIs behave as local's own, by the same flags.
	deployedGateway := s.gatewayOptions()
	own := s.ownGateway(deployedGateway)
	gw := emulator.New(fn, log, own)
	api := newCloudAPI(log, console, deployedGateway, host, fn, s)
	defer api.scf.Close()
	srv := &http.Server{
		Handler:           routes(api, gw, s.loopback),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       f.readTimeout,
		IdleTimeout:       f.idleConnTimeout,
		ErrorLog:          zap.NewStdLog(log),
	}

	fmt.Fprint(stdout, banner(f, !s.loopback, base, host, pushURL, fn, s.instances, s.perInstance, s.env))
	fmt.Fprint(stdout, backendBanner(base, "ws://"+host+f.path, api.cred, api.showKey, own.Token != nil, s.generated, s.env, f.faults))
	if !s.loopback {
		log.Warn("-public: listening beyond this machine; anyone who reaches " + l.Addr().String() +
			" can list the connections, push to and close any client through /sendback")
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.reportReadiness(ctx, fn, stdout, log)
	select {
	case err := <-errc:
		api.stopDeployed()
		gw.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("stopping")
	api.stopDeployed()
	gw.Close() // clients get 1001 going away
	fn.Close() // the function's connections to the push address go with it
	shutdown(srv)
	return nil
}

// dialHost is host:port where the function and the banner reach a
// listener: its own address, or loopback for an unspecified one.
func dialHost(addr *net.TCPAddr) string {
	if addr.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.Port))
	}
	return addr.String()
}

// routes serves everything on local's one address: the Tencent Cloud API
// at "/" (the SDKs post there), the deployed APIs under deployedPrefix, and
// local's own gateway (its WebSocket API, push address, chat page and
// /_scfws/ paths) at the rest.
func routes(api *cloudAPI, gw *emulator.Gateway, loopback bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/" && cloudapi.IsRequest(r):
			// It creates functions that run here: programs only, by a
			// loopback name (no DNS-rebound page), with the session's key.
			if msg, ok := emulator.ProgramOnly(r, !loopback); !ok {
				http.Error(w, msg, http.StatusForbidden)
				return
			}
			api.server.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, deployedPrefix):
			api.deployed.ServeHTTP(w, r)
		default:
			gw.ServeHTTP(w, r)
		}
	})
}

// shutdown ends the HTTP server within 2s.
func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		// Sockets opened but never used (a browser's preconnect) count as
		// busy for a while; nothing is lost by closing them.
		_ = srv.Close()
	}
}
