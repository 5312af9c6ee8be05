// Command selfinvoke is an SCF Go1 function (scf-go-lib, not scfws) that
// shows what scfws local gives a function, and invokes itself the way SCF
// allows, for local's tests. Events:
//
//	{"op":"env"}                         its run-role and SCF variables, and its function context
//	{"op":"fanout","n":N,"fail":F,"pad":P}  N Event invocations of itself with its run-role key,
//	                                     each {"op":"push",...} (P bytes of padding); the answer
//	                                     lists their FunctionRequestIds, or the API's error code
//	{"op":"push","i":I,"fail":F}         pushes data I for connection ev-I to SELFINVOKE_PUSH, or
//	                                     else SENDBACK_HOST, then fails when F
//	{"op":"call","action":"GetFunction"} calls GetFunction on itself with its key; answers the code
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"
	"github.com/tencentyun/scf-go-lib/cloudfunction"
	"github.com/tencentyun/scf-go-lib/functioncontext"
)

type event struct {
	Op     string `json:"op"`
	N      int    `json:"n"`
	I      int    `json:"i"`
	Fail   bool   `json:"fail"`
	Pad    int    `json:"pad"`
	Action string `json:"action"`
	Data   string `json:"data,omitempty"`
}

// envKeys are the variables the tests look at.
var envKeys = []string{"TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN", "TENCENTCLOUD_REGION",
	"TENCENTCLOUD_RUNENV", "TENCENTCLOUD_APPID", "TENCENTCLOUD_UIN", "SCF_FUNCTIONNAME", "SCF_NAMESPACE", "SCF_FUNCTIONVERSION",
	"SCF_RUNTIME", "SCFWS_CLOUD_API", "SENDBACK_HOST"}

func handle(ctx context.Context, ev event) (any, error) {
	switch ev.Op {
	case "env":
		env := map[string]string{}
		for _, k := range envKeys {
			env[k] = os.Getenv(k)
		}
		fc, _ := functioncontext.FromContext(ctx)
		return map[string]any{"env": env, "fc": fc}, nil
	case "fanout":
		return fanout(ctx, ev)
	case "push":
		if err := push(ctx, ev.I); err != nil {
			return nil, err
		}
		if ev.Fail {
			return nil, errors.New("asked to fail")
		}
		return map[string]int{"pushed": ev.I}, nil
	case "call":
		req := scf.NewGetFunctionRequest()
		req.FunctionName = common.StringPtr(self(ctx))
		_, err := client(ctx).GetFunction(req)
		return map[string]string{"code": code(err)}, nil
	}
	return map[string]string{"errMsg": "unknown op " + ev.Op}, nil
}

// client is an SCF client with the run role's key of this invoke, at the
// API SCFWS_CLOUD_API names.
func client(ctx context.Context) *scf.Client {
	prof := profile.NewClientProfile()
	prof.HttpProfile.ReqTimeout = 2
	if u, err := url.Parse(os.Getenv("SCFWS_CLOUD_API")); err == nil && u.Host != "" {
		prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = u.Host, strings.ToUpper(u.Scheme)
	}
	cred := common.NewTokenCredential(os.Getenv("TENCENTCLOUD_SECRETID"), os.Getenv("TENCENTCLOUD_SECRETKEY"), os.Getenv("TENCENTCLOUD_SESSIONTOKEN"))
	fc, _ := functioncontext.FromContext(ctx)
	c, _ := scf.NewClient(cred, fc.TencentcloudRegion, prof)
	return c
}

func self(ctx context.Context) string {
	fc, _ := functioncontext.FromContext(ctx)
	return fc.FunctionName
}

func fanout(ctx context.Context, ev event) (any, error) {
	fc, _ := functioncontext.FromContext(ctx)
	c := client(ctx)
	var ids []string
	for i := range ev.N {
		body, _ := json.Marshal(event{Op: "push", I: i, Fail: ev.Fail, Data: strings.Repeat("x", ev.Pad)})
		req := scf.NewInvokeRequest()
		req.FunctionName, req.Namespace = common.StringPtr(fc.FunctionName), common.StringPtr(fc.Namespace)
		req.InvocationType, req.ClientContext = common.StringPtr("Event"), common.StringPtr(string(body))
		resp, err := c.Invoke(req)
		if err != nil {
			return map[string]any{"code": code(err), "ids": ids}, nil
		}
		ids = append(ids, *resp.Response.Result.FunctionRequestId)
	}
	return map[string]any{"ids": ids}, nil
}

// push sends data i for connection ev-i, in the reverse-push format.
func push(ctx context.Context, i int) error {
	body, _ := json.Marshal(map[string]any{"websocket": map[string]string{"action": "data send", "secConnectionID": "ev-" + strconv.Itoa(i), "dataType": "text", "data": strconv.Itoa(i)}})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	target := os.Getenv("SELFINVOKE_PUSH")
	if target == "" {
		target = os.Getenv("SENDBACK_HOST")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("push: HTTP %d", resp.StatusCode)
	}
	return nil
}

func code(err error) string {
	var e *sdkerrors.TencentCloudSDKError
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func main() { cloudfunction.Start(handle) }
