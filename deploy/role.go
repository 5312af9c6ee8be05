package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	cam "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/cam/v20190116"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// The run role (运行角色): SCF gives a function with one the role's
// temporary key in TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY and
// TENCENTCLOUD_SESSIONTOKEN (SCF's 角色与策略 page, "使用运行角色获取环境
// 变量"), which the function needs to hand a broadcast off to asynchronous
// invocations of itself. The role's carrier is "产品服务-scf.qcloud.com": its
// trust policy names the service scf.qcloud.com.
const (
	scfPrincipal = "scf.qcloud.com"
	// trustPolicy lets SCF assume the role, in the shape of CreateRole's
	// PolicyDocument example (tencentcloud-sdk-go cam/v20190116).
	trustPolicy = `{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["scf.qcloud.com"]}}]}`
	// maxRoleName is CAM's limit on a role's and a policy's name.
	maxRoleName = 128
)

// The steps of the run role, in Result.Changed.
const (
	StepCreateRole       = "createRole"
	StepCreatePolicy     = "createPolicy"
	StepAttachRolePolicy = "attachRolePolicy"
	StepDetachRolePolicy = "detachRolePolicy"
	StepDeletePolicy     = "deletePolicy"
	StepDeleteRole       = "deleteRole"
)

// RoleName is the run role deploy makes for t, and its policy's name:
// scfws-<region>-<namespace>-<name> (CAM names are account-wide; letters,
// digits and +=,.@-_, at most 128).
func (t Target) RoleName() string {
	name := "scfws-" + t.Region + "-" + t.namespace() + "-" + t.Name
	if len(name) > maxRoleName {
		name = name[:maxRoleName]
	}
	return name
}

// roleDesc marks the role (and its policy) deploy made for t.
func roleDesc(t Target) string {
	return "Run role of the SCF function " + t.Region + "/" + t.owner() + ", made by scfws deploy"
}

// invokePolicy allows invoking t's function and nothing else. The
// resource is SCF's six-segment form (SCF's policy syntax,
// https://cloud.tencent.com/document/product/583/47934) with the account
// left empty, which CAM reads as the policy's own account ("值为空的时候
// 表示创建策略的 CAM 用户所属的根账号": CAM's 资源描述方式, 598/10606), so
// deploy need not know the UIN.
func (t Target) invokePolicy() string {
	return `{"version":"2.0","statement":[{"effect":"allow","action":["scf:InvokeFunction"],"resource":["qcs::scf:` +
		t.Region + `::namespace/` + t.namespace() + `/function/` + t.Name + `"]}]}`
}

// denied says whether err is CAM refusing the key the call.
func denied(err error) bool {
	var api *APIError
	return errors.As(err, &api) && (api.Code == "AuthFailure.UnauthorizedOperation" || strings.HasPrefix(api.Code, "UnauthorizedOperation"))
}

// runRole decides the run role the function gets: the one -role names
// (checked), none with -no-role, or the one deploy makes. "" leaves the
// function's role as it is: a role set outside deploy is kept, and without
// the CAM rights to make one the function runs without (a note says what
// that costs).
func (r *run) runRole(ctx context.Context, fn *functionState) (string, error) {
	cfg := r.cfg
	switch {
	case cfg.Role != "":
		return cfg.Role, r.checkGivenRole(ctx, cfg.Role)
	case cfg.NoRole:
		if fn != nil && fn.role != "" {
			r.res.Role = fn.role
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("-no-role: the function keeps its run role %s", fn.role))
		}
		return "", nil
	case fn != nil && fn.role != "" && fn.role != cfg.RoleName():
		r.res.Role = fn.role
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the function keeps its run role %s, set outside scfws deploy (-role NAME changes it)", fn.role))
		return "", nil
	}
	return r.ownRole(ctx)
}

// getRole reads a role; nil when there is none of that name.
func (r *run) getRole(ctx context.Context, name string) (*cam.RoleInfo, error) {
	req := cam.NewGetRoleRequest()
	req.RoleName = common.StringPtr(name)
	var resp *cam.GetRoleResponse
	err := r.c.cam(ctx, func(c *cam.Client) (err error) { resp, err = c.GetRole(req); return err })
	if isCode(err, "InvalidParameter.RoleNotExist") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return resp.Response.RoleInfo, nil
}

// checkGivenRole checks that -role names a role SCF can assume.
func (r *run) checkGivenRole(ctx context.Context, name string) error {
	info, err := r.getRole(ctx, name)
	if err != nil {
		return failed("read the run role", "cam:GetRole", err)
	}
	if info == nil {
		return &StepError{Step: "check the run role", Action: "cam:GetRole", Code: "InvalidParameter.RoleNotExist",
			Err:  fmt.Errorf("the role %s does not exist", name),
			Hint: "check -role (a role's name, as CAM lists it); an administrator makes it in CAM with the service scf.qcloud.com as its carrier (角色载体), or leave -role out for deploy to make one"}
	}
	if !trusts(str(info.PolicyDocument), scfPrincipal) {
		return &StepError{Step: "check the run role", Action: "cam:GetRole",
			Err:  fmt.Errorf("SCF cannot assume the role %s: its policy document names no principal service %s", name, scfPrincipal),
			Hint: "give the role the carrier (角色载体) scf.qcloud.com in CAM, or choose another -role"}
	}
	r.res.Role = name
	return nil
}

// trusts says whether a trust policy lets service assume the role.
func trusts(doc, service string) bool {
	var d struct {
		Statement []struct {
			Effect    string
			Principal struct {
				Service json.RawMessage
			}
		}
	}
	if json.Unmarshal([]byte(doc), &d) != nil {
		return false
	}
	for _, st := range d.Statement {
		var one string
		var many []string
		if st.Effect == "allow" && (json.Unmarshal(st.Principal.Service, &one) == nil && one == service ||
			json.Unmarshal(st.Principal.Service, &many) == nil && slices.Contains(many, service)) {
			return true
		}
	}
	return false
}

// ownRole makes (or finds) the role deploy makes for the target, with its
// policy attached. A key CAM refuses makes no role: the function runs
// without one, and a note says so.
func (r *run) ownRole(ctx context.Context) (string, error) {
	t := r.cfg.Target
	name := t.RoleName()
	info, err := r.getRole(ctx, name)
	switch {
	case denied(err):
		return r.noRole("the key may not read CAM roles (cam:GetRole)")
	case err != nil:
		return "", failed("read the run role", "cam:GetRole", err)
	case info != nil && str(info.Description) != roleDesc(t):
		return "", &StepError{Step: "check the run role", Action: "cam:GetRole",
			Err:  fmt.Errorf("a role named %s exists that scfws deploy did not make for %s", name, t.owner()),
			Hint: fmt.Sprintf("give it with -role %s if it is meant for this function, or -no-role", name)}
	}
	if info == nil {
		if err := r.createRole(ctx, name); denied(err) {
			return r.noRole("the key may not create CAM roles (cam:CreateRole)")
		} else if err != nil {
			return "", err
		}
	}
	attached := false
	if info != nil {
		if attached, err = r.policyAttached(ctx, name); err != nil {
			return "", err
		}
	}
	if !attached {
		if err := r.attachPolicy(ctx, name); denied(err) {
			return r.noRole(fmt.Sprintf("the key may not give the role %s its policy (cam:CreatePolicy, cam:AttachRolePolicy)", name))
		} else if err != nil {
			return "", err
		}
	}
	r.res.Role = name
	return name, nil
}

// noRole records why the function runs without a run role.
func (r *run) noRole(why string) (string, error) {
	r.res.Notes = append(r.res.Notes, "no run role: "+why+"; without one the function cannot hand a broadcast off to "+
		"asynchronous invocations of itself. Give a role an administrator made with -role NAME (recommended), or grant the key "+
		"cam:CreateRole, cam:CreatePolicy, cam:AttachRolePolicy and cam:PassRole (docs/deploy.md)")
	return "", nil
}

func (r *run) createRole(ctx context.Context, name string) error {
	req := cam.NewCreateRoleRequest()
	req.RoleName, req.PolicyDocument = common.StringPtr(name), common.StringPtr(trustPolicy)
	req.Description, req.ConsoleLogin = common.StringPtr(roleDesc(r.cfg.Target)), common.Uint64Ptr(0)
	r.change(StepCreateRole, "create the run role %s (carrier scf.qcloud.com)", name)
	if r.cfg.DryRun {
		return nil
	}
	err := r.c.cam(ctx, func(c *cam.Client) error { _, err := c.CreateRole(req); return err })
	if err != nil && !denied(err) {
		return failed("create the run role", "cam:CreateRole", err)
	}
	return err
}

// policyAttached says whether the role has deploy's policy.
func (r *run) policyAttached(ctx context.Context, role string) (bool, error) {
	attached, err := r.attachedPolicies(ctx, role)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(attached, func(p *cam.AttachedPolicyOfRole) bool { return str(p.PolicyName) == role }), nil
}

// attachedPolicies lists the role's policies (up to 200, CAM's page).
func (r *run) attachedPolicies(ctx context.Context, role string) ([]*cam.AttachedPolicyOfRole, error) {
	req := cam.NewListAttachedRolePoliciesRequest()
	req.RoleName, req.Page, req.Rp = common.StringPtr(role), common.Uint64Ptr(1), common.Uint64Ptr(200)
	var resp *cam.ListAttachedRolePoliciesResponse
	if err := r.c.cam(ctx, func(c *cam.Client) (err error) { resp, err = c.ListAttachedRolePolicies(req); return err }); err != nil {
		return nil, failed("list the run role's policies", "cam:ListAttachedRolePolicies", err)
	}
	return resp.Response.List, nil
}

// attachPolicy makes deploy's policy (named as the role; one already made
// by an earlier run is used) and attaches it to the role.
func (r *run) attachPolicy(ctx context.Context, role string) error {
	t := r.cfg.Target
	create := cam.NewCreatePolicyRequest()
	create.PolicyName, create.PolicyDocument = common.StringPtr(role), common.StringPtr(t.invokePolicy())
	create.Description = common.StringPtr(roleDesc(t))
	r.change(StepCreatePolicy, "create the policy %s: scf:InvokeFunction on %s only", role, t.owner())
	r.change(StepAttachRolePolicy, "attach the policy %s to the run role %s", role, role)
	if r.cfg.DryRun {
		return nil
	}
	err := r.c.cam(ctx, func(c *cam.Client) error { _, err := c.CreatePolicy(create); return err })
	if err != nil && !isCode(err, "FailedOperation.PolicyNameInUse") {
		return r.camFailure("create the run role's policy", "cam:CreatePolicy", err)
	}
	attach := cam.NewAttachRolePolicyRequest()
	attach.PolicyName, attach.AttachRoleName = common.StringPtr(role), common.StringPtr(role)
	err = r.c.cam(ctx, func(c *cam.Client) error { _, err := c.AttachRolePolicy(attach); return err })
	return r.camFailure("attach the policy to the run role", "cam:AttachRolePolicy", err)
}

// camFailure passes a CAM refusal on as is (the caller decides), and
// makes any other failure a step's.
func (r *run) camFailure(step, action string, err error) error {
	if err == nil || denied(err) {
		return err
	}
	return failed(step, action, err)
}

// passRoleHint adds, to a refused call that gave the function a role, that
// giving a role takes cam:PassRole too: the refusal does not say which of
// the two CAM checked.
func passRoleHint(err error, role string) error {
	var se *StepError
	if role == "" || !errors.As(err, &se) || !denied(se.Err) {
		return err
	}
	se.Hint += fmt.Sprintf("; giving the function the run role %s also takes cam:PassRole (or deploy with -no-role)", role)
	return se
}

// rolePlan is the removal of the run role deploy made for the target, and
// of its policy, after the function: a role deploy did not make (-role's,
// or one of that name made otherwise) is left, as is one that still holds
// policies deploy did not attach or that a function deploy did not make
// still runs as.
func (r *run) rolePlan(ctx context.Context, fn *functionState) ([]removal, error) {
	t := r.cfg.Target
	name := t.RoleName()
	info, err := r.getRole(ctx, name)
	switch {
	case denied(err):
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the key may not read CAM roles (cam:GetRole): if scfws deploy made the run role %s, remove it and its policy in the CAM console", name))
		return nil, nil
	case err != nil:
		return nil, failed("read the run role", "cam:GetRole", err)
	case info == nil:
		return nil, nil
	case str(info.Description) != roleDesc(t):
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the role %s is left: scfws deploy did not make it", name))
		return nil, nil
	case fn != nil && !fn.owned && fn.role == name:
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the run role %s is left: the function %s, which stays, runs as it", name, t.Name))
		return nil, nil
	}
	attached, err := r.attachedPolicies(ctx, name)
	if err != nil {
		return nil, err
	}
	var plan []removal
	var others []string
	for _, p := range attached {
		if str(p.PolicyName) == name {
			plan = append(plan, r.detachPolicy(name, *p.PolicyId), r.deletePolicy(name, *p.PolicyId))
		} else {
			others = append(others, str(p.PolicyName))
		}
	}
	if len(others) > 0 {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the run role %s is left: policies scfws deploy did not attach are attached to it (%s)", name, strings.Join(others, ", ")))
		return plan, nil
	}
	return append(plan, r.deleteRole(name)), nil
}

func (r *run) detachPolicy(role string, id uint64) removal {
	return removal{step: StepDetachRolePolicy, detail: fmt.Sprintf("detach the policy %s from the run role %s", role, role), do: func(ctx context.Context) error {
		req := cam.NewDetachRolePolicyRequest()
		req.PolicyId, req.DetachRoleName = common.Uint64Ptr(id), common.StringPtr(role)
		if err := r.c.cam(ctx, func(c *cam.Client) error { _, err := c.DetachRolePolicy(req); return err }); err != nil {
			return failed("detach the run role's policy", "cam:DetachRolePolicy", err)
		}
		return nil
	}}
}

func (r *run) deletePolicy(name string, id uint64) removal {
	return removal{step: StepDeletePolicy, detail: fmt.Sprintf("delete the policy %s", name), do: func(ctx context.Context) error {
		req := cam.NewDeletePolicyRequest()
		req.PolicyId = []*uint64{common.Uint64Ptr(id)}
		if err := r.c.cam(ctx, func(c *cam.Client) error { _, err := c.DeletePolicy(req); return err }); err != nil {
			return failed("delete the run role's policy", "cam:DeletePolicy", err)
		}
		return nil
	}}
}

func (r *run) deleteRole(name string) removal {
	return removal{step: StepDeleteRole, detail: fmt.Sprintf("delete the run role %s", name), do: func(ctx context.Context) error {
		req := cam.NewDeleteRoleRequest()
		req.RoleName = common.StringPtr(name)
		err := r.c.cam(ctx, func(c *cam.Client) error { _, err := c.DeleteRole(req); return err })
		if err != nil && !isCode(err, "InvalidParameter.RoleNotExist") {
			return failed("delete the run role", "cam:DeleteRole", err)
		}
		return nil
	}}
}

// validRoleName: 1-128 letters, digits and +=,.@-_ (CreateRole's RoleName).
func validRoleName(name string) bool {
	ok := name != "" && len(name) <= maxRoleName
	for _, c := range name {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+=,.@-_", c))
	}
	return ok
}

// checkRole refuses a role deploy could not set.
func (cfg Config) checkRole() error {
	switch {
	case cfg.Role != "" && cfg.NoRole:
		return errors.New("a run role and no run role: give -role NAME or -no-role, not both")
	case cfg.Role != "" && !validRoleName(cfg.Role):
		return fmt.Errorf("role %q: a CAM role's name is 1-128 letters, digits and +=,.@-_", cfg.Role)
	}
	return nil
}
