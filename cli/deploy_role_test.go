package cli

import (
	"fmt"
	"strings"
	"testing"

	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/scfws/scfws/local/cloudapi"
)

// depRole is the run role deploy makes for chat in depRegion.
const depRole = "scfws-ap-guangzhou-default-chat"

// scfTrust lets SCF assume a role.
const scfTrust = `{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["scf.qcloud.com"]}}]}`

func camClient(t testing.TB, c *testCloud) *cam.Client {
	t.Helper()
	cl, err := cam.NewClient(common.NewCredential(depID, depKey), "", testProfile(c))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// makeRole makes a role as an administrator would, not through deploy.
func makeRole(t testing.TB, c *testCloud, name, trust, description string) {
	t.Helper()
	req := cam.NewCreateRoleRequest()
	req.RoleName, req.PolicyDocument, req.Description = common.StringPtr(name), common.StringPtr(trust), common.StringPtr(description)
	if _, err := camClient(t, c).CreateRole(req); err != nil {
		t.Fatal(err)
	}
}

// roleSpec is the role the runtime was told the function runs as, and
// whether it got a key for it.
func (r *recRuntime) roleSpec(name string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	spec := r.last[cloudapi.FunctionID{Region: depRegion, Namespace: "default", Name: name}]
	return spec.Role, spec.RoleKey != nil
}

// Without -role deploy makes a role SCF can assume, with one policy
// (invoke this function), gives it to the function and prints it; a
// second run changes nothing; destroy removes both after the function.
func TestDeployMakesTheRole(t *testing.T) {
	c := newTestCloud(t)
	stdout, _ := mustDeploy(t, c, testHooks(t))
	calls := c.Calls()
	if !strings.Contains(stdout, "run role    "+depRole) {
		t.Errorf("stdout lacks the run role:\n%s", stdout)
	}
	role := bodies(calls, "cam:CreateRole")
	if len(role) != 1 || role[0]["RoleName"] != depRole || role[0]["PolicyDocument"] != scfTrust {
		t.Fatalf("CreateRole = %v; want %s trusting scf.qcloud.com", role, depRole)
	}
	policy := bodies(calls, "cam:CreatePolicy")
	wantPolicy := `{"version":"2.0","statement":[{"effect":"allow","action":["scf:InvokeFunction"],"resource":["qcs::scf:ap-guangzhou::namespace/default/function/chat"]}]}`
	if len(policy) != 1 || policy[0]["PolicyDocument"] != wantPolicy {
		t.Errorf("CreatePolicy = %v; want %s", policy, wantPolicy)
	}
	if got, key := c.rt.roleSpec("chat"); got != depRole || !key {
		t.Errorf("the function runs as %q (key %v); want %s with a key", got, key, depRole)
	}

	mustDeploy(t, c, testHooks(t))
	if w := writes(c.Calls()); len(w) != 0 {
		t.Errorf("deploy again wrote %v; want nothing", w)
	}
	if _, _, err := runDestroyT(t, c, "", "-yes"); err != nil {
		t.Fatal(err)
	}
	if roles := c.cloud.Roles(); len(roles) != 0 {
		t.Errorf("roles after destroy = %v; want none", roles)
	}
}

// A run stopped after it made the role attaches the policy next time; a
// role of deploy's name that deploy did not make stops it.
func TestDeployFindsItsRoleAgain(t *testing.T) {
	t.Run("made, no policy", func(t *testing.T) {
		c := newTestCloud(t)
		makeRole(t, c, depRole, scfTrust, "Run role of the SCF function ap-guangzhou/default/chat, made by scfws deploy")
		c.Calls()
		mustDeploy(t, c, testHooks(t))
		w := writes(c.Calls())
		if w["cam:CreateRole"] != 0 || w["cam:CreatePolicy"] != 1 || w["cam:AttachRolePolicy"] != 1 {
			t.Errorf("deploy wrote %v; want the policy made and attached, no role", w)
		}
	})
	t.Run("not deploy's", func(t *testing.T) {
		c := newTestCloud(t)
		makeRole(t, c, depRole, scfTrust, "made by hand")
		_, _, err := runDeployT(t, c, testHooks(t))
		if err == nil || !strings.Contains(err.Error(), "exists that scfws deploy did not make") || !strings.Contains(err.Error(), "-role "+depRole) {
			t.Errorf("deploy = %v; want it stopped, naming -role", err)
		}
		if w := writes(c.Calls()); w["scf:CreateFunction"] != 0 {
			t.Errorf("deploy wrote %v; want no function", w)
		}
	})
}

// -role gives the function an existing role SCF can assume, makes none,
// and destroy leaves it; a role that does not exist, or that SCF cannot
// assume, stops deploy before anything is made.
func TestDeployWithRole(t *testing.T) {
	c := newTestCloud(t)
	makeRole(t, c, "chat_runner", scfTrust, "")
	makeRole(t, c, "cls_only", strings.Replace(scfTrust, "scf.qcloud.com", "cls.cloud.tencent.com", 1), "")
	c.Calls()
	tests := []struct {
		role string
		want string // in the error
	}{
		{"nope", "the role nope does not exist"},
		{"cls_only", "SCF cannot assume the role cls_only"},
		{"bad role", "a CAM role's name is 1-128 letters"},
	}
	for _, tt := range tests {
		_, _, err := runDeployT(t, c, testHooks(t), "-role", tt.role)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("deploy -role %q = %v; want %q", tt.role, err, tt.want)
		}
	}
	if w := writes(c.Calls()); len(w) != 0 {
		t.Errorf("refused deploys wrote %v", w)
	}

	stdout, _ := mustDeploy(t, c, testHooks(t), "-role", "chat_runner")
	calls := c.Calls()
	if w := writes(calls); w["cam:CreateRole"]+w["cam:CreatePolicy"]+w["cam:AttachRolePolicy"] != 0 {
		t.Errorf("deploy -role wrote %v; want no CAM writes", w)
	}
	if create := bodies(calls, "scf:CreateFunction"); len(create) != 1 || create[0]["Role"] != "chat_runner" {
		t.Errorf("CreateFunction = %v; want Role chat_runner", create)
	}
	if !strings.Contains(stdout, "run role    chat_runner") {
		t.Errorf("stdout lacks the role:\n%s", stdout)
	}
	// Without -role next time the function keeps the role it has.
	out, _ := mustDeploy(t, c, testHooks(t))
	if w := writes(c.Calls()); len(w) != 0 || !strings.Contains(out, "keeps its run role chat_runner") {
		t.Errorf("deploy without -role wrote %v:\n%s\nwant nothing, and the role kept", w, out)
	}
	stdout, _, err := runDestroyT(t, c, "", "-yes")
	if err != nil {
		t.Fatal(err)
	}
	if roles := c.cloud.Roles(); fmt.Sprint(roles) != "[chat_runner cls_only]" || !strings.Contains(stdout, "the run role chat_runner is left") {
		t.Errorf("roles after destroy = %v, stdout %q; want chat_runner left, and said", roles, stdout)
	}
}

// A key without CAM's rights deploys the function without a role, and
// the note says what that costs and what to do; a key that may not pass
// the role is told so; -no-role makes no CAM call at all.
func TestDeployWithoutCAMRights(t *testing.T) {
	tests := []struct {
		name    string
		fault   string
		args    []string
		wantErr string // "" for a deploy that succeeds
		want    string // in stdout or the error
		camCall bool   // any cam: call made
	}{
		{"no cam:CreateRole", "cam:CreateRole=AuthFailure.UnauthorizedOperation", nil, "",
			"no run role: the key may not create CAM roles (cam:CreateRole)", true},
		{"no cam:GetRole", "cam:GetRole=UnauthorizedOperation", nil, "", "no run role: the key may not read CAM roles (cam:GetRole)", true},
		{"no cam:AttachRolePolicy", "cam:AttachRolePolicy=AuthFailure.UnauthorizedOperation", nil, "", "may not give the role " + depRole + " its policy", true},
		{"no cam:PassRole", "cam:PassRole=AuthFailure.UnauthorizedOperation", nil, "create the function (scf:CreateFunction)",
			"also takes cam:PassRole (or deploy with -no-role)", true},
		{"-no-role", "", []string{"-no-role"}, "", "Deployed chat", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCloud(t)
			if tt.fault != "" {
				f, err := cloudapi.ParseFault(tt.fault)
				if err != nil {
					t.Fatal(err)
				}
				c.srv.Fail(f)
			}
			stdout, _, err := runDeployT(t, c, testHooks(t), tt.args...)
			got := stdout
			if err != nil {
				got = err.Error()
			}
			switch {
			case tt.wantErr == "" && err != nil, tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("deploy = %v; want error %q", err, tt.wantErr)
			case !strings.Contains(got, tt.want):
				t.Errorf("output lacks %q:\n%s", tt.want, got)
			}
			calls := c.Calls()
			if tt.wantErr == "" {
				if create := bodies(calls, "scf:CreateFunction"); len(create) != 1 || create[0]["Role"] != nil {
					t.Errorf("CreateFunction = %v; want no Role", create)
				}
			}
			camCall := false
			for _, call := range calls {
				camCall = camCall || strings.HasPrefix(call.action, "cam:")
			}
			if camCall != tt.camCall {
				t.Errorf("CAM called: %v; want %v", camCall, tt.camCall)
			}
		})
	}
}
