// Package cloudapi is a fake Tencent Cloud API 3.0 server for scfws local,
// so that real SDK code (a backend's scf.Client.Invoke, scfws deploy) runs
// against this machine. It is the server side only, not a client.
//
// Server is the one HTTP endpoint: it checks TC3-HMAC-SHA256 signatures
// exactly as the official SDKs make them, answers in the API's envelope and
// error codes, and dispatches each (service, action) to a registered
// handler. SCF answers SCF's Invoke, queueing Event invocations and
// running them with SCF's retry policy; Cloud is an in-memory account that
// answers SCF's and API Gateway's control-plane actions (create, update,
// release, delete), the tag API's DetachResourcesTag and CAM's role and
// policy calls, gives a function with a run role a key the Server accepts
// for what the role's policies allow, and has a Runtime, which the caller
// provides, run the code and serve the APIs.
//
// The service comes from the credential scope of the Authorization header,
// not from the Host, so clients pointed at one address with the SDK's
// HttpProfile.Endpoint reach every service. From a loopback client whose
// scope names no product (the Node SDK puts the endpoint's first label
// there, "127") it comes from the action and version, and the host may be
// signed without its port.
//
// Where Tencent Cloud refuses, the Cloud refuses with its codes: regions
// outside Regions, a tagged service's deletion, out-of-range settings,
// reserved variables. It also bounds what a deployed function may cost
// this machine (MaxFunctions).
package cloudapi
