//go:build !scfws_function

package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"

	"github.com/scfws/scfws/client"
)

// publishError is a command that got no reply, said as deploy says its
// failures: the way publish took, the cause (Tencent's code with its
// meaning in English), and what to do.
type publishError struct {
	way   string // e.g. SCF Invoke of default/chat in ap-guangzhou (scf:InvokeFunction)
	cause string
	hint  string
	err   error
}

func (e *publishError) Error() string {
	return e.way + ": " + e.cause + "\n  what to do: " + e.hint
}

func (e *publishError) Unwrap() error { return e.err }

// explainPublish turns the client's error into a publishError.
func explainPublish(err error, f publishFlags) error {
	e := &publishError{err: err, cause: err.Error()}
	var te *client.TransportError
	if errors.As(err, &te) {
		e.cause = te.Err.Error() // without the client's "scfws scf:" prefix
	}
	if f.url != "" {
		e.way = "the signed route " + f.url
		explainRoute(e, f)
	} else {
		ns := f.namespace
		if ns == "" {
			ns = "default"
		}
		e.way = fmt.Sprintf("SCF Invoke of %s/%s in %s (scf:InvokeFunction)", ns, f.function, publishRegion(f))
		// The way names the function already.
		e.cause = strings.TrimPrefix(strings.TrimPrefix(e.cause, ns+"/"+f.function+": "), "invoke: ")
		explainInvoke(e, f)
	}
	return e
}

// explainInvoke fills in the cause and the hint of a failed SCF Invoke.
func explainInvoke(e *publishError, f publishFlags) {
	var ce *client.CloudError
	var fe *client.FunctionError
	switch {
	case errors.As(e.err, &ce):
		code := invokeCodeFor(ce.Code)
		e.cause = fmt.Sprintf("%s: %s (Tencent: %s; RequestId %s)", ce.Code, code.meaning, ce.Message, ce.RequestID)
		e.hint = code.hint
	case errors.As(e.err, &fe):
		e.cause = fmt.Sprintf("the function failed and gave no reply (status %d): %s", fe.Status, fe.Message)
		e.hint = fmt.Sprintf("read the function's log for FunctionRequestId %s (the SCF console, or scfws local's terminal); "+
			"SCF's status codes: https://www.tencentcloud.com/document/product/583/35311", fe.RequestID)
	default:
		e.hint = unreachedHint(e.err, "-endpoint", f.endpoint)
	}
}

// explainRoute fills in the hint of a failed call of the signed route.
func explainRoute(e *publishError, f publishFlags) {
	var he *client.HTTPError
	if !errors.As(e.err, &he) {
		e.hint = unreachedHint(e.err, "-url", f.url)
		return
	}
	switch he.StatusCode {
	case http.StatusUnauthorized:
		e.hint = fmt.Sprintf("give publish the function's PUBLISH_SECRET in %s (scfws local prints its session's on its signed route line); "+
			"if it is the same, this machine's clock is more than 300 s off the function's", f.secretEnv)
	case http.StatusForbidden:
		e.hint = "set PUBLISH_SECRET on the function (32 bytes or more: openssl rand -hex 32), then give publish the same"
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		e.hint = "check -url: the path of the HTTP API bound to the function (scfws local: http://127.0.0.1:8080/_scfws/http/publish)"
	case http.StatusRequestEntityTooLarge:
		e.hint = "send less: the route takes 2 x the function's MAX_MESSAGE_BYTES + 64 KiB at most"
	default:
		e.hint = "the answer did not come from the function (its gateway's?): check -url and that the API's response integration is on"
	}
}

// unreachedHint is what to do when the API or the route did not answer.
func unreachedHint(err error, flag, addr string) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within -timeout: check the network and " + flag + ", or give a longer -timeout"
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused"):
		// The SDK wraps the network error in a string.
		return fmt.Sprintf("nothing listens at %s: is scfws local running, and on that address? Check %s", addr, flag)
	}
	return "check the network and " + flag
}

// invokeCode is what an error code of SCF's Invoke means, and what to do.
type invokeCode struct {
	codes         []string // exact codes, or prefixes ending in "."
	meaning, hint string
}

// invokeCodes are the codes Invoke answers (SCF's own, and API 3.0's
// common ones); the first match wins.
var invokeCodes = []invokeCode{
	{[]string{"ResourceNotFound.Function", "ResourceNotFound.FunctionName"}, "no function of that name in that namespace and region",
		"check -function, -namespace and -region against the SCF console (scfws local serves the function scfws, and those scfws deploy made)"},
	{[]string{"ResourceNotFound.Namespace"}, "no such namespace", "check -namespace, or leave it out for default"},
	{[]string{"ResourceNotFound.Qualifier", "ResourceNotFound.Version", "ResourceNotFound.FunctionVersion", "ResourceNotFound.Alias"},
		"no such version or alias", "check -qualifier, or leave it out for $LATEST"},
	{[]string{"AuthFailure.SignatureFailure", "AuthFailure.SecretIdNotFound", "AuthFailure.InvalidSecretId", "AuthFailure.InvalidAuthorization"},
		"the API key is not valid", "check TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY (scfws local prints its session's key on its try line)"},
	{[]string{"AuthFailure.TokenFailure"}, "the session token is not valid",
		"check TENCENTCLOUD_SESSIONTOKEN: set it for a temporary key (and only then), and renew it if it expired"},
	{[]string{"AuthFailure.SignatureExpire"}, "the request's time is more than 5 minutes off Tencent's", "correct this machine's clock"},
	{[]string{"AuthFailure.UnauthorizedOperation", "UnauthorizedOperation."}, "the key may not invoke this function",
		"grant scf:InvokeFunction on the function to the key's user or role (docs/deploy.md)"},
	{[]string{"InvalidParameterValue.Region", "InvalidParameterValue.InvalidRegion", "UnsupportedRegion", "InvalidRegion"},
		"no such region", "check -region (e.g. ap-guangzhou) or TENCENTCLOUD_REGION"},
	{[]string{"RequestLimitExceeded", "LimitExceeded."}, "too many calls, or too many invocations at once",
		"send less often, or ask for a higher concurrency quota"},
	{[]string{"ResourceUnavailable.", "FailedOperation.InsufficientBalance"}, "the function cannot run (the account is in arrears, or SCF is not open)",
		"check the account in the console"},
	{[]string{"FailedOperation."}, "the function is not Active (being created, updated, or failed to start)",
		"wait until the SCF console shows it Active; if it failed, deploy it again"},
	{[]string{"InternalError"}, "Tencent Cloud failed", "try again; if it keeps failing, contact support with the RequestId"},
	{[]string{"InvalidParameter", "InvalidParameterValue", "MissingParameter"}, "the call was refused as malformed",
		"check -function, -namespace and -qualifier: letters, digits, - and _"},
}

// invokeCodeFor finds code's entry; an unknown code gets a generic one.
func invokeCodeFor(code string) invokeCode {
	for _, c := range invokeCodes {
		if slices.ContainsFunc(c.codes, func(m string) bool {
			return m == code || strings.HasSuffix(m, ".") && strings.HasPrefix(code, m) || strings.HasPrefix(code, m+".")
		}) {
			return c
		}
	}
	return invokeCode{meaning: "an error of SCF's Invoke API", hint: "look the code up on the Invoke API's page, https://www.tencentcloud.com/document/product/583/17243"}
}
