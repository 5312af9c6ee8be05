package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/scfws/scfws/auth"
	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
	"github.com/scfws/scfws/proto"
	"github.com/scfws/scfws/router"
)

// The local function's name in the SCF API that scfws local serves, so
// that `scfws publish -endpoint http://127.0.0.1:8080 -function scfws`
// reaches it.
const (
	localFunctionName = "scfws"
	localNamespace    = "default"
)

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

// localFunctions gives the SCF API the local function by its name, and
// everything else to the cloud of deployed functions (when there is one).
type localFunctions struct {
	fn    *emulator.Function
	cloud *cloudapi.Cloud // nil: no deployed functions
}

func (l localFunctions) Invoke(ctx context.Context, namespace, name string, event []byte) ([]byte, error) {
	return l.InRegion("").Invoke(ctx, namespace, name, event)
}

// InRegion serves the local function in every region, as the one an
// endpoint names, and the cloud's of that region.
func (l localFunctions) InRegion(region string) cloudapi.Functions {
	return regionFunctions{l: l, region: region}
}

type regionFunctions struct {
	l      localFunctions
	region string
}

func (r regionFunctions) Invoke(ctx context.Context, namespace, name string, event []byte) ([]byte, error) {
	if name == localFunctionName && (namespace == "" || namespace == localNamespace) {
		out, err := r.l.fn.Invoke(ctx, event)
		return out, functionError(err)
	}
	if r.l.cloud == nil {
		return nil, cloudapi.ErrFunctionNotFound
	}
	return r.l.cloud.InRegion(r.region).Invoke(ctx, namespace, name, event)
}

func (r regionFunctions) Find(ctx context.Context, namespace, name string) error {
	if name == localFunctionName && (namespace == "" || namespace == localNamespace) {
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

// sessionSecret is a random secret for this run of scfws local, for the
// settings a user did not give.
func sessionSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tokenMinter signs chat page tokens with the session's AUTH_SECRET: a
// name, and the right to message users (groups are joined from the page).
func tokenMinter(secret string) func(sub string) (string, error) {
	return func(sub string) (string, error) {
		if !proto.ValidName(sub) {
			return "", errors.New("name must be 1-128 bytes of printable text")
		}
		return auth.Sign([]byte(secret), "", auth.Claims{Subject: sub, Roles: []string{proto.PermSendToUser}, TTL: 12 * time.Hour}, time.Now())
	}
}

// readiness asks the function whether it can work (its settings and its
// registry) before any client arrives, and says in one line what to fix.
func readiness(ctx context.Context, fn *emulator.Function, env map[string]string) string {
	out, err := fn.Invoke(ctx, []byte(`{"scfws":{"op":"status"}}`))
	if err != nil {
		return "the function failed its first invoke: " + err.Error()
	}
	var r router.Reply
	if err := json.Unmarshal(out, &r); err != nil {
		return "the function's answer is not JSON: " + err.Error()
	}
	if r.ErrNo == proto.CodeOK {
		return ""
	}
	msg := fmt.Sprintf("errNo %d %s", r.ErrNo, r.ErrMsg)
	if r.Detail != "" {
		msg += ": " + r.Detail
	}
	return msg + hint(r.Detail, env)
}

// hint names the variable to fix for the database errors people meet
// first.
func hint(detail string, env map[string]string) string {
	where := fmt.Sprintf("database %s on %s:%s", or(env["DB_NAME"], "SCF_Demo"), env["DB_HOST"], or(env["DB_PORT"], "3306"))
	switch {
	case strings.Contains(detail, "may not create it"), strings.Contains(detail, "Unknown database"):
		return fmt.Sprintf(" (%s: set DB_NAME to a database that exists, or let DB_AUTO_MIGRATE=true create it with a user allowed to)", where)
	case strings.Contains(detail, "Access denied"):
		return fmt.Sprintf(" (%s: check DB_USER and DB_PASSWORD)", where)
	case strings.Contains(detail, "connection refused"), strings.Contains(detail, "no such host"), strings.Contains(detail, "i/o timeout"):
		return fmt.Sprintf(" (%s: is MariaDB running there? check DB_HOST and DB_PORT; README: Local with MySQL)", where)
	}
	return ""
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
