package local

import (
	"encoding/json"

	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
)

// EnvCloudAPI is where a function under scfws local finds the Tencent
// Cloud API (local's own address). SCF reserves SCF_, QCLOUD_ and
// TENCENTCLOUD_ for itself (a user cannot set them), so the name is
// outside those prefixes; it exists only under scfws local.
const EnvCloudAPI = "SCFWS_CLOUD_API"

// localRegion is the region local's own function says it runs in; it
// answers in every region SCF serves.
const localRegion = "ap-guangzhou"

// runtimeEnv is what SCF gives every function besides its own variables
// (SCF's 环境变量 page, tencentyun/qcloud-documents 无服务器云函数/开发指南/
// 环境变量.md: TENCENTCLOUD_RUNENV=SCF, SCF_RUNTIME, SCF_FUNCTIONNAME,
// SCF_FUNCTIONVERSION, TENCENTCLOUD_REGION, TENCENTCLOUD_APPID,
// TENCENTCLOUD_UIN; and, with a run role, its temporary key in
// TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY and
// TENCENTCLOUD_SESSIONTOKEN), plus SCF_NAMESPACE, which runtimes read but
// the page does not list, and local's API address in EnvCloudAPI. key may
// be nil: no run role, no key.
func runtimeEnv(id emulator.Identity, key *cloudapi.Credential, apiURL string) map[string]string {
	env := map[string]string{
		"TENCENTCLOUD_RUNENV": "SCF",
		"SCF_RUNTIME":         "Go1",
		"SCF_FUNCTIONNAME":    id.Name,
		"SCF_NAMESPACE":       id.Namespace,
		"SCF_FUNCTIONVERSION": "$LATEST",
		"TENCENTCLOUD_REGION": id.Region,
		"TENCENTCLOUD_APPID":  id.AppID,
		"TENCENTCLOUD_UIN":    id.UIN,
		EnvCloudAPI:           apiURL,
	}
	if key != nil {
		env["TENCENTCLOUD_SECRETID"], env["TENCENTCLOUD_SECRETKEY"] = key.SecretID, key.SecretKey
		env["TENCENTCLOUD_SESSIONTOKEN"] = key.Token
	}
	return env
}

// ownIdentity is local's own function as SCF would name it.
func ownIdentity() emulator.Identity {
	return emulator.Identity{Name: localFunctionName, Namespace: localNamespace, Region: localRegion,
		AppID: cloudapi.DefaultAppID, UIN: cloudapi.DefaultUIN}
}

// ownRoleKey is the run-role key of local's own function: a temporary key
// that may do what the role scfws deploy makes may do, invoke this one
// function (scf:InvokeFunction), and nothing else.
func ownRoleKey() *cloudapi.Credential {
	key := &cloudapi.Credential{SecretID: "AKIDscfwsRole" + sessionSecret()[:22], SecretKey: sessionSecret(), Token: sessionSecret()}
	key.Allow = func(req *cloudapi.Request) error {
		var in struct{ FunctionName, Namespace string }
		_ = json.Unmarshal(req.Params, &in) // a malformed call is refused by Invoke
		if req.Service == cloudapi.SCFService && req.Action == "Invoke" && isOwn(in.Namespace, in.FunctionName) {
			return nil
		}
		return cloudapi.Errorf(cloudapi.CodeUnauthorizedOperation,
			"The run role of scfws local's function may invoke that function (scf:InvokeFunction on %s/%s) and nothing else; this is %s:%s.",
			localNamespace, localFunctionName, req.Service, req.Action)
	}
	return key
}
