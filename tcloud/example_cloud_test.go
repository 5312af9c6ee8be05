package tcloud_test

import (
	"context"
	"net/http"

	"github.com/scfws/scfws/tcloud"
)

// stubRuntime stands for the emulator's functions and gateway.
type stubRuntime struct{}

func (stubRuntime) Deploy(context.Context, tcloud.FunctionSpec) error { return nil }
func (stubRuntime) Invoke(context.Context, tcloud.FunctionID, []byte) ([]byte, error) {
	return []byte(`{"errNo":0}`), nil
}
func (stubRuntime) Remove(context.Context, tcloud.FunctionID) error { return nil }
func (stubRuntime) Serve(context.Context, tcloud.APISpec) error     { return nil }
func (stubRuntime) Unserve(context.Context, tcloud.APIID) error     { return nil }

// How scfws local serves the control plane beside its gateway: one
// address for every service, client and push addresses on it, no TLS.
func ExampleNewCloud() {
	const addr = "127.0.0.1:8080"
	srv := tcloud.NewServer(tcloud.Credential{SecretID: "AKIDlocal", SecretKey: "local-key"})
	cloud := tcloud.NewCloud(stubRuntime{}, tcloud.CloudOptions{
		SubDomain: func(_, serviceID string) string { return addr + "/_services/" + serviceID },
		PushURL:   func(_, serviceID, apiID string) string { return "http://" + addr + "/_push/" + serviceID + "/" + apiID },
		WSScheme:  "ws",
	})
	defer cloud.Close()
	cloud.Register(srv)            // CreateFunction, CreateApi, ReleaseService...
	invoke := tcloud.NewSCF(cloud) // Invoke reaches the functions the cloud holds
	defer invoke.Close()
	invoke.Register(srv)
	_ = http.Handler(srv) // serve it where tcloud.IsRequest(r) says so
	// Output:
}
