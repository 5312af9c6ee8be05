package local

import (
	"context"
	"errors"
	"os"

	"go.uber.org/zap"

	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
)

// The local function's name in the SCF API that scfws local serves, so
// that `scfws publish -endpoint http://127.0.0.1:8080 -function scfws`
// reaches it.
const (
	localFunctionName = "scfws"
	localNamespace    = "default"
)

// cloudAPI is local's Tencent Cloud API, served at "/" beside the gateway:
// SCF Invoke of local's own function (scfws publish, any SDK), and the
// control plane scfws deploy uses, whose functions and APIs run here too.
type cloudAPI struct {
	server   *cloudapi.Server
	cloud    *cloudapi.Cloud  // the account scfws deploy fills
	deployed *deployedRuntime // runs what it holds
	scf      *cloudapi.SCF    // Invoke
	cred     cloudapi.Credential
	showKey  bool // cred was made for this session: the banner shows it
}

// newCloudAPI serves fn and the functions deployed later, whose APIs get
// the gateway options and URLs on host; it accepts the session's key and
// its function's run-role key, fails what -fail-action says, and retries
// Event invocations -async-retry-interval apart.
func newCloudAPI(log *zap.Logger, console *emulator.Console, gateway emulator.Options, host string, fn *emulator.Function, s *session) *cloudAPI {
	a := &cloudAPI{}
	a.cred, a.showKey = localCredential()
	a.server = cloudapi.NewServer(a.cred)
	if s.roleKey != nil {
		a.server.AddCredential(*s.roleKey)
	}
	a.server.Log = log.Named("api")
	for _, fault := range s.f.faults {
		a.server.Fail(fault)
	}
	a.deployed = newDeployedRuntime(log, console, gateway)
	a.deployed.apiURL = "http://" + host
	a.cloud = cloudapi.NewCloud(a.deployed, cloudOptions(host))
	a.cloud.Register(a.server)
	a.scf = cloudapi.NewSCF(localFunctions{fn: fn, cloud: a.cloud})
	a.scf.Log = log.Named("api")
	a.scf.RetryInterval = s.f.asyncRetryInterval
	a.scf.Register(a.server)
	return a
}

// stopDeployed stops everything deployed, before local's own function and
// gateway stop.
func (a *cloudAPI) stopDeployed() {
	a.cloud.Close() // deploys and removals in flight end
	a.deployed.Close()
}

// cloudOptions make the Cloud hand out URLs on local's address (host is
// host:port), without TLS.
func cloudOptions(host string) cloudapi.CloudOptions {
	return cloudapi.CloudOptions{
		SubDomain: func(_, serviceID string) string { return host + deployedPrefix + serviceID },
		PushURL: func(_, serviceID, apiID string) string {
			return "http://" + host + deployedPrefix + serviceID + "/push/" + apiID
		},
		WSScheme: "ws",
	}
}

// localCredential is the key local's Tencent Cloud API accepts, and
// whether to print it (never when it came from the environment). Without
// one in the environment it is made for this session: the API creates
// functions that run on this machine, so no published key may reach it.
func localCredential() (cloudapi.Credential, bool) {
	id, key := os.Getenv("TENCENTCLOUD_SECRETID"), os.Getenv("TENCENTCLOUD_SECRETKEY")
	if id != "" && key != "" {
		return cloudapi.Credential{SecretID: id, SecretKey: key, Token: os.Getenv("TENCENTCLOUD_SESSIONTOKEN")}, false
	}
	return cloudapi.Credential{SecretID: "AKIDscfwsLocal" + sessionSecret()[:22], SecretKey: sessionSecret()}, true
}

// localFunctions gives SCF Invoke local's own function by its name, and
// every other name to the deployed functions (of cloud, when there is one).
type localFunctions struct {
	fn    *emulator.Function
	cloud *cloudapi.Cloud // nil: no deployed functions
}

// isOwn tells local's own function by its name.
func isOwn(namespace, name string) bool {
	return name == localFunctionName && (namespace == "" || namespace == localNamespace)
}

func (l localFunctions) Invoke(ctx context.Context, namespace, name string, event []byte) ([]byte, error) {
	return l.InRegion("").Invoke(ctx, namespace, name, event)
}

// InRegion serves the local function in every region SCF serves (the API
// refuses others), as the one an endpoint names, and the deployed
// functions of that region.
func (l localFunctions) InRegion(region string) cloudapi.Functions {
	return regionFunctions{l: l, region: region}
}

type regionFunctions struct {
	l      localFunctions
	region string
}

func (r regionFunctions) Invoke(ctx context.Context, namespace, name string, event []byte) ([]byte, error) {
	if isOwn(namespace, name) {
		out, err := r.l.fn.Invoke(ctx, event)
		return out, functionError(err)
	}
	if r.l.cloud == nil {
		return nil, cloudapi.ErrFunctionNotFound
	}
	return r.l.cloud.InRegion(r.region).Invoke(ctx, namespace, name, event)
}

func (r regionFunctions) Find(ctx context.Context, namespace, name string) error {
	if isOwn(namespace, name) {
		return nil
	}
	if r.l.cloud == nil {
		return cloudapi.ErrFunctionNotFound
	}
	if f, ok := r.l.cloud.InRegion(r.region).(cloudapi.Finder); ok {
		return f.Find(ctx, namespace, name)
	}
	return nil
}

// functionError gives a failed invoke SCF's status code: 433 for a
// timeout, 430 for any other failure of the function.
func functionError(err error) error {
	var ie *emulator.InvokeError
	if !errors.As(err, &ie) {
		return err
	}
	status := cloudapi.StatusUserCodeException
	if ie.Kind == "timeout" {
		status = cloudapi.StatusTimeLimitReached
	}
	return &cloudapi.FunctionError{Status: status, Message: ie.Error()}
}
