package cloudapi_test

import (
	"strings"
	"testing"

	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"

	"github.com/scfws/scfws/local/cloudapi"
)

// scfTrust lets SCF assume a role: a function's run role.
const scfTrust = `{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["scf.qcloud.com"]}}]}`

// invokePolicy allows invoking one function of testRegion (the account
// left empty: the policy's own).
const invokePolicy = `{"version":"2.0","statement":[{"effect":"allow","action":["scf:InvokeFunction"],"resource":["qcs::scf:ap-guangzhou::namespace/default/function/chat"]}]}`

func (e *cloudEnv) cam(t testing.TB, cred *common.Credential) *cam.Client {
	t.Helper()
	if cred == nil {
		cred = common.NewCredential(testID, testKey)
	}
	c, err := cam.NewClient(cred, "", e.profile())
	if err != nil {
		t.Fatal(err)
	}
	c.WithHttpTransport(e.tr)
	return c
}

func createRole(t testing.TB, c *cam.Client, name, trust string) {
	t.Helper()
	req := cam.NewCreateRoleRequest()
	req.RoleName, req.PolicyDocument = common.StringPtr(name), common.StringPtr(trust)
	if _, err := c.CreateRole(req); err != nil {
		t.Fatalf("CreateRole(%s) = %v", name, err)
	}
}

func createPolicy(t testing.TB, c *cam.Client, name, doc string) uint64 {
	t.Helper()
	req := cam.NewCreatePolicyRequest()
	req.PolicyName, req.PolicyDocument = common.StringPtr(name), common.StringPtr(doc)
	resp, err := c.CreatePolicy(req)
	if err != nil {
		t.Fatalf("CreatePolicy(%s) = %v", name, err)
	}
	return *resp.Response.PolicyId
}

func attach(t testing.TB, c *cam.Client, policy, role string) {
	t.Helper()
	req := cam.NewAttachRolePolicyRequest()
	req.PolicyName, req.AttachRoleName = common.StringPtr(policy), common.StringPtr(role)
	if _, err := c.AttachRolePolicy(req); err != nil {
		t.Fatalf("AttachRolePolicy(%s, %s) = %v", policy, role, err)
	}
}

// A role and its policy, made, read, attached, listed, detached and
// deleted through the official SDK.
func TestCAMRoleLifecycle(t *testing.T) {
	e := newCloudEnv(t)
	c := e.cam(t, nil)
	createRole(t, c, "scfws_chat", scfTrust)
	get := cam.NewGetRoleRequest()
	get.RoleName = common.StringPtr("scfws_chat")
	role, err := c.GetRole(get)
	if err != nil {
		t.Fatalf("GetRole = %v", err)
	}
	if r := role.Response.RoleInfo; *r.RoleName != "scfws_chat" || *r.PolicyDocument != scfTrust || *r.RoleId == "" {
		t.Errorf("RoleInfo = %s", role.ToJsonString())
	}
	id := createPolicy(t, c, "scfws_chat_invoke", invokePolicy)
	attach(t, c, "scfws_chat_invoke", "scfws_chat")
	attach(t, c, "scfws_chat_invoke", "scfws_chat") // again: nothing changes
	list := cam.NewListAttachedRolePoliciesRequest()
	list.RoleName = common.StringPtr("scfws_chat")
	attached, err := c.ListAttachedRolePolicies(list)
	if err != nil {
		t.Fatalf("ListAttachedRolePolicies = %v", err)
	}
	if l := attached.Response.List; len(l) != 1 || *l[0].PolicyId != id || *l[0].PolicyName != "scfws_chat_invoke" || *attached.Response.TotalNum != 1 {
		t.Errorf("attached = %s", attached.ToJsonString())
	}
	detach := cam.NewDetachRolePolicyRequest()
	detach.PolicyId, detach.DetachRoleName = common.Uint64Ptr(id), common.StringPtr("scfws_chat")
	if _, err := c.DetachRolePolicy(detach); err != nil {
		t.Fatalf("DetachRolePolicy = %v", err)
	}
	del := cam.NewDeletePolicyRequest()
	del.PolicyId = []*uint64{common.Uint64Ptr(id)}
	if _, err := c.DeletePolicy(del); err != nil {
		t.Fatalf("DeletePolicy = %v", err)
	}
	delRole := cam.NewDeleteRoleRequest()
	delRole.RoleName = common.StringPtr("scfws_chat")
	if _, err := c.DeleteRole(delRole); err != nil {
		t.Fatalf("DeleteRole = %v", err)
	}
	if _, err := c.GetRole(get); sdkCode(t, err) != cloudapi.CodeRoleNotExist {
		t.Errorf("GetRole after DeleteRole = %v; want %s", err, cloudapi.CodeRoleNotExist)
	}
}

// CAM refuses what its error lists say it refuses: a policy may name only
// actions that exist.
func TestCAMRefusals(t *testing.T) {
	policyWith := func(action, resource string) string {
		return `{"version":"2.0","statement":[{"effect":"allow","action":["` + action + `"],"resource":["` + resource + `"]}]}`
	}
	tests := []struct {
		name string
		call func(c *cam.Client) error
		want string
	}{
		{"role name taken", func(c *cam.Client) error { return roleErr(c, "taken", scfTrust) }, cloudapi.CodeRoleNameInUse},
		{"role name with a space", func(c *cam.Client) error { return roleErr(c, "my role", scfTrust) }, cloudapi.CodeRoleNameError},
		{"trust of an unknown service", func(c *cam.Client) error {
			return roleErr(c, "r1", strings.Replace(scfTrust, "scf.qcloud.com", "nope.qcloud.com", 1))
		}, cloudapi.CodePrincipalServiceNotExist},
		{"trust allowing another action", func(c *cam.Client) error {
			return roleErr(c, "r2", strings.Replace(scfTrust, "name/sts:AssumeRole", "scf:InvokeFunction", 1))
		}, cloudapi.CodeActionError},
		{"trust of version 1.0", func(c *cam.Client) error { return roleErr(c, "r3", strings.Replace(scfTrust, "2.0", "1.0", 1)) }, cloudapi.CodeVersionError},
		{"an action that does not exist", func(c *cam.Client) error {
			return policyErr(c, "p1", policyWith("scf:InvokeFunctions", "*"))
		}, cloudapi.CodeActionNotExist},
		{"a product that does not exist", func(c *cam.Client) error { return policyErr(c, "p2", policyWith("nope:Do", "*")) }, cloudapi.CodeActionServiceNotExist},
		{"a pattern matching no action", func(c *cam.Client) error { return policyErr(c, "p3", policyWith("scf:Zap*", "*")) }, cloudapi.CodeActionNotExist},
		{"a resource not in six segments", func(c *cam.Client) error {
			return policyErr(c, "p4", policyWith("scf:InvokeFunction", "scf:function/chat"))
		}, cloudapi.CodeResourceError},
		{"a resource in no region", func(c *cam.Client) error {
			return policyErr(c, "p5", policyWith("scf:InvokeFunction", "qcs::scf:ap-mars::namespace/default/function/chat"))
		}, cloudapi.CodeResourceRegionError},
		{"a resource of a bad account", func(c *cam.Client) error {
			return policyErr(c, "p6", policyWith("scf:InvokeFunction", "qcs::scf:ap-guangzhou:me:namespace/default/function/chat"))
		}, cloudapi.CodeResourceUinError},
		{"a policy name taken", func(c *cam.Client) error { return policyErr(c, "taken", invokePolicy) }, cloudapi.CodePolicyNameInUse},
		{"attach to no role", func(c *cam.Client) error {
			req := cam.NewAttachRolePolicyRequest()
			req.PolicyName, req.AttachRoleName = common.StringPtr("taken"), common.StringPtr("nobody")
			_, err := c.AttachRolePolicy(req)
			return err
		}, cloudapi.CodeRoleNotExist},
		{"attach no policy", func(c *cam.Client) error {
			req := cam.NewAttachRolePolicyRequest()
			req.PolicyName, req.AttachRoleName = common.StringPtr("nothing"), common.StringPtr("taken")
			_, err := c.AttachRolePolicy(req)
			return err
		}, cloudapi.CodePolicyIDNotExist},
		{"delete no policy", func(c *cam.Client) error {
			req := cam.NewDeletePolicyRequest()
			req.PolicyId = []*uint64{common.Uint64Ptr(42)}
			_, err := c.DeletePolicy(req)
			return err
		}, cloudapi.CodePolicyIDNotFound},
		{"delete no role", func(c *cam.Client) error {
			req := cam.NewDeleteRoleRequest()
			req.RoleName = common.StringPtr("nobody")
			_, err := c.DeleteRole(req)
			return err
		}, cloudapi.CodeRoleNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCloudEnv(t)
			c := e.cam(t, nil)
			createRole(t, c, "taken", scfTrust)
			createPolicy(t, c, "taken", invokePolicy)
			if got := sdkCode(t, tt.call(c)); got != tt.want {
				t.Errorf("code = %s; want %s", got, tt.want)
			}
		})
	}
}

func roleErr(c *cam.Client, name, trust string) error {
	req := cam.NewCreateRoleRequest()
	req.RoleName, req.PolicyDocument = common.StringPtr(name), common.StringPtr(trust)
	_, err := c.CreateRole(req)
	return err
}

func policyErr(c *cam.Client, name, doc string) error {
	req := cam.NewCreatePolicyRequest()
	req.PolicyName, req.PolicyDocument = common.StringPtr(name), common.StringPtr(doc)
	_, err := c.CreatePolicy(req)
	return err
}

// A function given a role SCF can assume runs with a key for it, which
// the API accepts for what the role's policies allow, and no more; giving
// a role needs cam:PassRole and a role that exists.
func TestFunctionRunRole(t *testing.T) {
	e := newCloudEnv(t)
	c := e.cam(t, nil)
	createRole(t, c, "chat_role", scfTrust)
	createPolicy(t, c, "chat_invoke", invokePolicy)
	attach(t, c, "chat_invoke", "chat_role")
	createRole(t, c, "cls_role", strings.Replace(scfTrust, "scf.qcloud.com", "cls.cloud.tencent.com", 1))
	sc := e.scf(t, testRegion)

	req := createRequest(t, "chat")
	req.Role = common.StringPtr("no_such_role")
	if _, err := sc.CreateFunction(req); sdkCode(t, err) != cloudapi.CodeQcsRoleNotFound {
		t.Errorf("CreateFunction with a role that does not exist = %v; want %s", err, cloudapi.CodeQcsRoleNotFound)
	}
	e.srv.Fail(cloudapi.Fault{Service: "cam", Action: "PassRole", Code: "AuthFailure.UnauthorizedOperation", Count: 1})
	req.Role = common.StringPtr("chat_role")
	if _, err := sc.CreateFunction(req); sdkCode(t, err) != "AuthFailure.UnauthorizedOperation" {
		t.Errorf("CreateFunction without cam:PassRole = %v; want AuthFailure.UnauthorizedOperation", err)
	}
	if _, err := sc.CreateFunction(req); err != nil {
		t.Fatalf("CreateFunction = %v", err)
	}
	other := createRequest(t, "other")
	other.Role = common.StringPtr("cls_role")
	if _, err := sc.CreateFunction(other); err != nil {
		t.Fatalf("CreateFunction(other) = %v", err)
	}
	e.cloud.Wait()
	if got := getFunction(t, sc, "chat").Response.Role; got == nil || *got != "chat_role" {
		t.Errorf("GetFunction Role = %v; want chat_role", got)
	}
	spec := e.rt.spec(cloudapi.FunctionID{Region: testRegion, Namespace: "default", Name: "chat"})
	if spec.Role != "chat_role" || spec.RoleKey == nil || spec.RoleKey.Token == "" || spec.RoleProblem != "" {
		t.Fatalf("the function's spec: role %q, key %v, problem %q; want a temporary key for chat_role", spec.Role, spec.RoleKey, spec.RoleProblem)
	}
	if o := e.rt.spec(cloudapi.FunctionID{Region: testRegion, Namespace: "default", Name: "other"}); o.RoleKey != nil || !strings.Contains(o.RoleProblem, "scf.qcloud.com") {
		t.Errorf("a role SCF cannot assume: key %v, problem %q; want no key and why", o.RoleKey, o.RoleProblem)
	}

	key := common.NewTokenCredential(spec.RoleKey.SecretID, spec.RoleKey.SecretKey, spec.RoleKey.Token)
	asRole, err := scf.NewClient(key, testRegion, e.profile())
	if err != nil {
		t.Fatal(err)
	}
	asRole.WithHttpTransport(e.tr)
	tests := []struct {
		name string
		call func() error
		want string // "" for allowed
	}{
		{"invoke itself", func() error { _, err := asRole.Invoke(invokeRequest("chat", "{}")); return err }, ""},
		{"invoke another function", func() error { _, err := asRole.Invoke(invokeRequest("other", "{}")); return err }, "AuthFailure.UnauthorizedOperation"},
		{"read itself", func() error {
			r := scf.NewGetFunctionRequest()
			r.FunctionName = common.StringPtr("chat")
			_, err := asRole.GetFunction(r)
			return err
		}, "AuthFailure.UnauthorizedOperation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.want == "" && err != nil || tt.want != "" && sdkCode(t, err) != tt.want {
				t.Errorf("error %v; want %q", err, tt.want)
			}
		})
	}
	detach := cam.NewDetachRolePolicyRequest()
	detach.PolicyName, detach.DetachRoleName = common.StringPtr("chat_invoke"), common.StringPtr("chat_role")
	if _, err := c.DetachRolePolicy(detach); err != nil {
		t.Fatal(err)
	}
	if _, err := asRole.Invoke(invokeRequest("chat", "{}")); sdkCode(t, err) != "AuthFailure.UnauthorizedOperation" {
		t.Errorf("Invoke once the policy is detached = %v; want AuthFailure.UnauthorizedOperation", err)
	}
	del := scf.NewDeleteFunctionRequest()
	del.FunctionName = common.StringPtr("chat")
	if _, err := sc.DeleteFunction(del); err != nil {
		t.Fatal(err)
	}
	e.cloud.Wait()
	if _, err := asRole.Invoke(invokeRequest("chat", "{}")); sdkCode(t, err) != cloudapi.CodeSecretIDNotFound {
		t.Errorf("Invoke with the key of a deleted function = %v; want %s", err, cloudapi.CodeSecretIDNotFound)
	}
}
