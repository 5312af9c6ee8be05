package cloudapi_test

import (
	"context"
	"net/http"

	"github.com/scfws/scfws/local/cloudapi"
)

// stubRuntime stands for the emulator's functions and gateway.
type stubRuntime struct{}

func (stubRuntime) Deploy(context.Context, cloudapi.FunctionSpec) error { return nil }
func (stubRuntime) Invoke(context.Context, cloudapi.FunctionID, []byte) ([]byte, error) {
	return []byte(`{"errNo":0}`), nil
}
func (stubRuntime) Remove(context.Context, cloudapi.FunctionID) error { return nil }
func (stubRuntime) Serve(context.Context, cloudapi.APISpec) error     { return nil }
func (stubRuntime) Unserve(context.Context, cloudapi.APIID) error     { return nil }

// How scfws local serves the control plane beside its gateway: one
// address for every service, client and push addresses on it, no TLS.
func ExampleNewCloud() {
	const addr = "127.0.0.1:8080"
	srv := cloudapi.NewServer(cloudapi.Credential{SecretID: "AKIDlocal", SecretKey: "local-key"})
	cloud := cloudapi.NewCloud(stubRuntime{}, cloudapi.CloudOptions{
		SubDomain: func(_, serviceID string) string { return addr + "/_services/" + serviceID },
		PushURL:   func(_, serviceID, apiID string) string { return "http://" + addr + "/_push/" + serviceID + "/" + apiID },
		WSScheme:  "ws",
	})
	defer cloud.Close()
	cloud.Register(srv)              // CreateFunction, CreateApi, ReleaseService...
	invoke := cloudapi.NewSCF(cloud) // Invoke reaches the functions the cloud holds
	defer invoke.Close()
	invoke.Register(srv)
	_ = http.Handler(srv) // serve it where cloudapi.IsRequest(r) says so
	// Output:
}
