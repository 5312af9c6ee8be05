package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CAM's API: service and version. CAM is global: its calls may name any
// region, or none.
const (
	CAMService = "cam"
	CAMVersion = "2019-01-16"
)

// CAM's error codes for the role and policy calls (tencentcloud-sdk-go
// cam/v20190116/errors.go and the per-action lists of client.go, v1.3.166;
// the messages are ours).
const (
	CodeRoleNotExist             = "InvalidParameter.RoleNotExist"
	CodeRoleNameInUse            = "InvalidParameter.RoleNameInUse"
	CodeRoleNameError            = "InvalidParameter.RoleNameError"
	CodeCAMParamError            = "InvalidParameter.ParamError"
	CodePolicyNameInUse          = "FailedOperation.PolicyNameInUse"
	CodePolicyNameError          = "InvalidParameter.PolicyNameError"
	CodePolicyIDNotExist         = "InvalidParameter.PolicyIdNotExist"
	CodePolicyIDNotFound         = "ResourceNotFound.PolicyIdNotFound"
	CodePolicyDocumentError      = "InvalidParameter.PolicyDocumentError"
	CodeVersionError             = "InvalidParameter.VersionError"
	CodeStatementError           = "InvalidParameter.StatementError"
	CodeEffectError              = "InvalidParameter.EffectError"
	CodeActionError              = "InvalidParameter.ActionError"
	CodeActionNotExist           = "InvalidParameter.ActionNotExist"
	CodeActionServiceNotExist    = "InvalidParameter.ActionServiceNotExist"
	CodeResourceError            = "InvalidParameter.ResourceError"
	CodeResourceServiceNotExist  = "InvalidParameter.ResourceServiceNotExist"
	CodeResourceRegionError      = "InvalidParameter.ResourceRegionError"
	CodeResourceUinError         = "InvalidParameter.ResourceUinError"
	CodePrincipalError           = "InvalidParameter.PrincipalError"
	CodePrincipalServiceNotExist = "InvalidParameter.PrincipalServiceNotExist"
	CodeDescriptionTooLong       = "InvalidParameter.DescriptionLengthOverlimit"
	// SCF's code for a Role that does not exist (CreateFunction's and
	// UpdateFunctionConfiguration's lists: "角色不存在").
	CodeQcsRoleNotFound = "FailedOperation.QcsRoleNotFound"
)

// Limits of CAM's calls: names "长度为1~128个字符，可包含英文字母、数字和
// +=,.@-_" (CreateRole's and CreatePolicy's RoleName, PolicyName), a
// description "不能大于300字节" (DescriptionLengthOverlimit), a role key
// "0~43200" seconds (SessionDuration).
const (
	maxCAMName          = 128
	maxCAMDescription   = 300
	maxSessionDuration  = 43200
	assumeRoleAction    = "name/sts:AssumeRole"
	policyVersion       = "2.0"
	camTimeLayout       = "2006-01-02 15:04:05"
	scfPrincipalService = "scf.qcloud.com"
)

// principalServices are the services a role's trust policy may name here:
// SCF (a function's run role) and the ones CAM's own examples name.
var principalServices = []string{scfPrincipalService, "apigateway.qcloud.com", "cloudaudit.cloud.tencent.com", "cls.cloud.tencent.com"}

// role is a CAM role.
type role struct {
	id          string
	name        string
	trust       string // its PolicyDocument, as given
	description string
	console     uint64
	session     uint64
	added       time.Time
	policies    []uint64 // attached, in order
}

// policy is a custom CAM policy.
type policy struct {
	id          uint64
	name        string
	doc         string
	statements  []statement
	description string
	added       time.Time
}

// document is a CAM policy document (a role's trust policy too).
type document struct {
	Version   string      `json:"version"`
	Statement []statement `json:"statement"`
}

type statement struct {
	Effect    string          `json:"effect"`
	Action    strList         `json:"action"`
	Resource  strList         `json:"resource"`
	Principal *principal      `json:"principal"`
	Condition json.RawMessage `json:"condition"`
}

type principal struct {
	Service strList `json:"service"`
	Qcs     strList `json:"qcs"`
}

// strList is a string or a list of them, as policy syntax allows.
type strList []string

func (l *strList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = strList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// registerCAM makes srv answer the role and policy calls.
func (c *Cloud) registerCAM(srv *Server) {
	for action, h := range map[string]Handler{
		"GetRole":                  c.getRole,
		"CreateRole":               c.createRole,
		"DeleteRole":               c.deleteRole,
		"CreatePolicy":             c.createPolicy,
		"DeletePolicy":             c.deletePolicy,
		"AttachRolePolicy":         c.attachRolePolicy,
		"DetachRolePolicy":         c.detachRolePolicy,
		"ListAttachedRolePolicies": c.listAttachedRolePolicies,
	} {
		srv.Handle(CAMService, CAMVersion, action, h)
	}
}

// decodeCAM reads a CAM call's parameters (no region needed).
func decodeCAM(req *Request, v any) error {
	if err := json.Unmarshal(req.Params, v); err != nil {
		return Errorf(CodeCAMParamError, "The parameters of %s are malformed: %v.", req.Action, err)
	}
	return nil
}

// checkCAMName checks a role's or policy's name.
func checkCAMName(code, what, name string) error {
	ok := name != "" && len(name) <= maxCAMName
	for _, r := range name {
		ok = ok && (isLetter(r) || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@-_", r))
	}
	if !ok {
		return Errorf(code, "%s %q: 1-128 letters, digits and +=,.@-_.", what, clip(name))
	}
	return nil
}

func checkCAMDescription(s string) error {
	if len(s) > maxCAMDescription {
		return Errorf(CodeDescriptionTooLong, "Description is %d bytes, over the %d-byte limit.", len(s), maxCAMDescription)
	}
	return nil
}

// findRole is the role named by id or name, one of them given. The lock is
// held.
func (c *Cloud) findRole(id, name string) (*role, error) {
	if (id == "") == (name == "") {
		return nil, Errorf(CodeCAMParamError, "Give the role's ID or its name, one of them.")
	}
	for _, r := range c.roles {
		if r.id == id || r.name == name {
			return r, nil
		}
	}
	return nil, Errorf(CodeRoleNotExist, "The role %s does not exist.", clip(id+name))
}

// findPolicy is the policy named by id or name, one of them given. The
// lock is held.
func (c *Cloud) findPolicy(id uint64, name string) (*policy, error) {
	if (id == 0) == (name == "") {
		return nil, Errorf(CodeCAMParamError, "Give the policy's ID or its name, one of them.")
	}
	for _, p := range c.policies {
		if p.id == id || p.name == name {
			return p, nil
		}
	}
	return nil, Errorf(CodePolicyIDNotExist, "The policy %s does not exist.", clip(strconv.FormatUint(id, 10)+name))
}

type roleRef struct {
	RoleID   string `json:"RoleId"`
	RoleName string `json:"RoleName"`
}

// roleInfo is GetRole's RoleInfo.
type roleInfo struct {
	RoleID          string `json:"RoleId"`
	RoleName        string `json:"RoleName"`
	PolicyDocument  string `json:"PolicyDocument"`
	Description     string `json:"Description"`
	AddTime         string `json:"AddTime"`
	UpdateTime      string `json:"UpdateTime"`
	ConsoleLogin    uint64 `json:"ConsoleLogin"`
	RoleType        string `json:"RoleType"`
	SessionDuration uint64 `json:"SessionDuration"`
}

func (c *Cloud) getRole(_ context.Context, req *Request) (any, error) {
	var in roleRef
	if err := decodeCAM(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.findRole(in.RoleID, in.RoleName)
	if err != nil {
		return nil, err
	}
	return struct {
		RoleInfo roleInfo `json:"RoleInfo"`
	}{roleInfo{RoleID: r.id, RoleName: r.name, PolicyDocument: r.trust, Description: r.description,
		AddTime: r.added.Format(camTimeLayout), UpdateTime: r.added.Format(camTimeLayout), ConsoleLogin: r.console,
		RoleType: "user", SessionDuration: r.session}}, nil
}

type createRoleRequest struct {
	RoleName        string  `json:"RoleName"`
	PolicyDocument  string  `json:"PolicyDocument"`
	Description     string  `json:"Description"`
	ConsoleLogin    *uint64 `json:"ConsoleLogin"`
	SessionDuration *uint64 `json:"SessionDuration"`
}

func (c *Cloud) createRole(_ context.Context, req *Request) (any, error) {
	var in createRoleRequest
	if err := decodeCAM(req, &in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.findRole("", in.RoleName); err == nil {
		return nil, Errorf(CodeRoleNameInUse, "A role named %s exists.", in.RoleName)
	}
	c.seq++
	r := &role{id: strconv.FormatUint(4611686018427387904+c.seq, 10), name: in.RoleName, trust: in.PolicyDocument,
		description: in.Description, console: derefUint(in.ConsoleLogin, 0), session: derefUint(in.SessionDuration, 0), added: c.opts.Now()}
	c.roles = append(c.roles, r)
	return struct {
		RoleID string `json:"RoleId"`
	}{r.id}, nil
}

func (in createRoleRequest) check() error {
	if err := checkCAMName(CodeRoleNameError, "RoleName", in.RoleName); err != nil {
		return err
	}
	if err := checkCAMDescription(in.Description); err != nil {
		return err
	}
	if derefUint(in.SessionDuration, 0) > maxSessionDuration {
		return Errorf(CodeCAMParamError, "SessionDuration %d: 0 to %d seconds.", *in.SessionDuration, maxSessionDuration)
	}
	return checkTrust(in.PolicyDocument)
}

// checkTrust checks a role's trust policy: it lets services (or accounts)
// assume the role, and nothing else.
func checkTrust(doc string) error {
	d, err := parseDocument(doc)
	if err != nil {
		return err
	}
	for _, st := range d.Statement {
		if len(st.Action) == 0 || slices.ContainsFunc(st.Action, func(a string) bool { return a != assumeRoleAction }) {
			return Errorf(CodeActionError, "A role's policy document allows %s only; it has %q.", assumeRoleAction, []string(st.Action))
		}
		if st.Principal == nil || len(st.Principal.Service)+len(st.Principal.Qcs) == 0 {
			return Errorf(CodePrincipalError, "Each statement of a role's policy document names a principal (service or qcs).")
		}
		for _, s := range st.Principal.Service {
			if !slices.Contains(principalServices, s) {
				return Errorf(CodePrincipalServiceNotExist, "The principal service %q does not exist (scfws local knows %s).", clip(s), strings.Join(principalServices, ", "))
			}
		}
	}
	return nil
}

// parseDocument reads a policy document and checks its frame: version
// 2.0, statements, each with an effect.
func parseDocument(doc string) (document, error) {
	var d document
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return d, Errorf(CodePolicyDocumentError, "PolicyDocument is not a policy document: %v.", err)
	}
	if d.Version != policyVersion {
		return d, Errorf(CodeVersionError, "PolicyDocument version %q: policy syntax is version 2.0.", clip(d.Version))
	}
	if len(d.Statement) == 0 {
		return d, Errorf(CodeStatementError, "PolicyDocument has no statement.")
	}
	for _, st := range d.Statement {
		if st.Effect != "allow" && st.Effect != "deny" {
			return d, Errorf(CodeEffectError, "A statement's effect is %q: allow or deny.", clip(st.Effect))
		}
	}
	return d, nil
}

type createPolicyRequest struct {
	PolicyName     string `json:"PolicyName"`
	PolicyDocument string `json:"PolicyDocument"`
	Description    string `json:"Description"`
}

func (c *Cloud) createPolicy(_ context.Context, req *Request) (any, error) {
	var in createPolicyRequest
	if err := decodeCAM(req, &in); err != nil {
		return nil, err
	}
	if err := checkCAMName(CodePolicyNameError, "PolicyName", in.PolicyName); err != nil {
		return nil, err
	}
	if err := checkCAMDescription(in.Description); err != nil {
		return nil, err
	}
	d, err := parseDocument(in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	if err := checkStatements(d.Statement); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.findPolicy(0, in.PolicyName); err == nil {
		return nil, Errorf(CodePolicyNameInUse, "A policy named %s exists.", in.PolicyName)
	}
	c.seq++
	p := &policy{id: 200000000 + c.seq, name: in.PolicyName, doc: in.PolicyDocument, statements: d.Statement,
		description: in.Description, added: c.opts.Now()}
	c.policies = append(c.policies, p)
	return struct {
		PolicyID uint64 `json:"PolicyId"`
	}{p.id}, nil
}

// checkStatements checks each statement's actions and resources.
func checkStatements(sts []statement) error {
	for _, st := range sts {
		if len(st.Action) == 0 {
			return Errorf(CodeActionError, "A statement has no action.")
		}
		for _, a := range st.Action {
			if err := checkAction(a); err != nil {
				return err
			}
		}
		if len(st.Resource) == 0 {
			return Errorf(CodeResourceError, "A statement has no resource (\"*\" for all).")
		}
		for _, r := range st.Resource {
			if err := checkResource(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkAction accepts "*", product:* and the actions of camActions (a
// pattern with * must match one of them).
func checkAction(a string) error {
	if a == "*" {
		return nil
	}
	service, name, ok := strings.Cut(a, ":")
	if !ok || name == "" {
		return Errorf(CodeActionError, "Action %q: product:Action, e.g. scf:InvokeFunction.", clip(a))
	}
	known, ok := camActions[service]
	if !ok {
		return Errorf(CodeActionServiceNotExist, "Action %q: the product %q does not exist (scfws local knows scf, apigw, tag, cam and sts).", clip(a), clip(service))
	}
	for k := range known {
		if glob(name, k) {
			return nil
		}
	}
	return Errorf(CodeActionNotExist, "Action %q does not exist.", clip(a))
}

// checkResource accepts "*" and the six-segment form
// qcs:project:service:region:account:resource (CAM's 资源描述方式,
// https://www.tencentcloud.com/document/product/598/10606): project empty,
// account empty (the policy's own account) or uin/<digits>.
func checkResource(r string) error {
	if r == "*" {
		return nil
	}
	seg := strings.SplitN(r, ":", 6)
	switch {
	case len(seg) != 6 || seg[0] != "qcs" || seg[5] == "":
		return Errorf(CodeResourceError, "Resource %q: \"*\" or qcs::service:region:account:resource.", clip(r))
	case seg[2] != "*" && camActions[seg[2]] == nil:
		return Errorf(CodeResourceServiceNotExist, "Resource %q: the product %q does not exist here.", clip(r), clip(seg[2]))
	case seg[3] != "" && seg[3] != "*" && !slices.ContainsFunc(Regions, func(rg Region) bool { return rg.Name == seg[3] }):
		return Errorf(CodeResourceRegionError, "Resource %q: the region %q does not exist.", clip(r), clip(seg[3]))
	case seg[4] != "" && !validUin(seg[4]):
		return Errorf(CodeResourceUinError, "Resource %q: the account is uin/<digits>, or empty for this account.", clip(r))
	}
	return nil
}

func validUin(s string) bool {
	uin, ok := strings.CutPrefix(s, "uin/")
	_, err := strconv.ParseUint(uin, 10, 64)
	return ok && err == nil
}

type attachRequest struct {
	PolicyID       uint64 `json:"PolicyId"`
	PolicyName     string `json:"PolicyName"`
	AttachRoleID   string `json:"AttachRoleId"`
	AttachRoleName string `json:"AttachRoleName"`
	DetachRoleID   string `json:"DetachRoleId"`
	DetachRoleName string `json:"DetachRoleName"`
}

// attachRolePolicy attaches a policy to a role; attaching it again
// changes nothing.
func (c *Cloud) attachRolePolicy(_ context.Context, req *Request) (any, error) {
	var in attachRequest
	if err := decodeCAM(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.findRole(in.AttachRoleID, in.AttachRoleName)
	if err != nil {
		return nil, err
	}
	p, err := c.findPolicy(in.PolicyID, in.PolicyName)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(r.policies, p.id) {
		r.policies = append(r.policies, p.id)
	}
	return struct{}{}, nil
}

// detachRolePolicy detaches a policy from a role; one not attached is
// done.
func (c *Cloud) detachRolePolicy(_ context.Context, req *Request) (any, error) {
	var in attachRequest
	if err := decodeCAM(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.findRole(in.DetachRoleID, in.DetachRoleName)
	if err != nil {
		return nil, err
	}
	p, err := c.findPolicy(in.PolicyID, in.PolicyName)
	if err != nil {
		return nil, err
	}
	r.policies = slices.DeleteFunc(r.policies, func(id uint64) bool { return id == p.id })
	return struct{}{}, nil
}

// attachedPolicy is ListAttachedRolePolicies' AttachedPolicyOfRole.
type attachedPolicy struct {
	PolicyID    uint64 `json:"PolicyId"`
	PolicyName  string `json:"PolicyName"`
	AddTime     string `json:"AddTime"`
	PolicyType  string `json:"PolicyType"`
	CreateMode  uint64 `json:"CreateMode"`
	Description string `json:"Description"`
}

type listAttachedRequest struct {
	Page     *uint64 `json:"Page"`
	Rp       *uint64 `json:"Rp"`
	RoleID   string  `json:"RoleId"`
	RoleName string  `json:"RoleName"`
}

func (c *Cloud) listAttachedRolePolicies(_ context.Context, req *Request) (any, error) {
	var in listAttachedRequest
	if err := decodeCAM(req, &in); err != nil {
		return nil, err
	}
	pageNo, rp := derefUint(in.Page, 1), derefUint(in.Rp, 20)
	if pageNo < 1 || rp < 1 || rp > 200 {
		return nil, Errorf(CodeCAMParamError, "Page starts at 1; Rp is 1 to 200.")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.findRole(in.RoleID, in.RoleName)
	if err != nil {
		// The call's error list has no RoleNotExist.
		return nil, Errorf(CodeCAMParamError, "%s", err.(*Error).Message)
	}
	all := make([]attachedPolicy, 0, len(r.policies))
	for _, id := range r.policies {
		p, _ := c.findPolicy(id, "")
		all = append(all, attachedPolicy{PolicyID: p.id, PolicyName: p.name, AddTime: p.added.Format(camTimeLayout),
			PolicyType: "User", CreateMode: 2, Description: p.description})
	}
	return struct {
		List     []attachedPolicy `json:"List"`
		TotalNum uint64           `json:"TotalNum"`
	}{page(all, int64((pageNo-1)*rp), int64(rp)), uint64(len(all))}, nil
}

// deletePolicy deletes policies, detaching them from their roles: the
// call's error list has no code for a policy in use.
func (c *Cloud) deletePolicy(_ context.Context, req *Request) (any, error) {
	var in struct {
		PolicyID []uint64 `json:"PolicyId"`
	}
	if err := decodeCAM(req, &in); err != nil {
		return nil, err
	}
	if len(in.PolicyID) == 0 {
		return nil, Errorf(CodeMissingParameter, "The request is missing a required parameter `PolicyId`.")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range in.PolicyID {
		if _, err := c.findPolicy(id, ""); err != nil {
			return nil, Errorf(CodePolicyIDNotFound, "The policy %d does not exist.", id)
		}
	}
	for _, id := range in.PolicyID {
		c.policies = slices.DeleteFunc(c.policies, func(p *policy) bool { return p.id == id })
		for _, r := range c.roles {
			r.policies = slices.DeleteFunc(r.policies, func(p uint64) bool { return p == id })
		}
	}
	return struct{}{}, nil
}

// deleteRole deletes a role, and with it the keys of the functions that
// run as it: the call's error list has no code for a role in use.
func (c *Cloud) deleteRole(_ context.Context, req *Request) (any, error) {
	var in roleRef
	if err := decodeCAM(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.findRole(in.RoleID, in.RoleName)
	if err != nil {
		return nil, err
	}
	c.roles = slices.DeleteFunc(c.roles, func(x *role) bool { return x == r })
	return struct{}{}, nil
}

// Roles lists the roles' names, sorted: for tests.
func (c *Cloud) Roles() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.roles))
	for _, r := range c.roles {
		names = append(names, r.name)
	}
	sort.Strings(names)
	return names
}

// assumableBySCF says why SCF could not assume the named role ("" when it
// can): it must exist and trust scf.qcloud.com. The lock is held.
func (c *Cloud) assumableBySCF(name string) string {
	r, err := c.findRole("", name)
	if err != nil {
		return fmt.Sprintf("the role %s does not exist", name)
	}
	d, _ := parseDocument(r.trust) // checked by CreateRole
	for _, st := range d.Statement {
		if st.Effect == "allow" && st.Principal != nil && slices.Contains(st.Principal.Service, scfPrincipalService) {
			return ""
		}
	}
	return fmt.Sprintf("the role %s does not let %s assume it (its policy document names no such principal service)", name, scfPrincipalService)
}

func derefUint(p *uint64, def uint64) uint64 {
	if p == nil {
		return def
	}
	return *p
}

// camAction is the CAM action a call is checked as: the product's CAM
// prefix and the API's action, except SCF's Invoke, which SCF's CAM table
// names scf:InvokeFunction ("触发函数，分为同步和异步触发").
func camAction(req *Request) string {
	service := req.Service
	if service == APIGatewayService {
		service = "apigw"
	}
	if service == SCFService && req.Action == "Invoke" {
		return "scf:InvokeFunction"
	}
	return service + ":" + req.Action
}

// resourceOf is the six-segment resource of a call on one SCF function,
// qcs::scf:<region>:uin/<uin>:namespace/<namespace>/function/<name>
// (SCF's policy syntax, https://cloud.tencent.com/document/product/583/47934),
// or "" when the call names none.
func (c *Cloud) resourceOf(req *Request) string {
	var in struct {
		FunctionName string `json:"FunctionName"`
		Namespace    string `json:"Namespace"`
	}
	if req.Service != SCFService || json.Unmarshal(req.Params, &in) != nil || in.FunctionName == "" {
		return ""
	}
	if in.Namespace == "" {
		in.Namespace = DefaultNamespace
	}
	return "qcs::scf:" + req.Region + ":uin/" + c.opts.UIN + ":namespace/" + in.Namespace + "/function/" + in.FunctionName
}

// authorize decides a call made with the key of a function running as
// the named role, by the policies attached to the role now: an explicit
// deny wins, else an allow must match. Conditions are not evaluated (a
// statement with one does not match).
func (c *Cloud) authorize(roleName string, req *Request) error {
	action, resource := camAction(req), c.resourceOf(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	allowed := false
	if r, err := c.findRole("", roleName); err == nil {
		for _, id := range r.policies {
			p, _ := c.findPolicy(id, "")
			for _, st := range p.statements {
				if !c.matches(st, action, resource) {
					continue
				}
				if st.Effect == "deny" {
					return c.unauthorized(roleName, action, resource)
				}
				allowed = true
			}
		}
	}
	if !allowed {
		return c.unauthorized(roleName, action, resource)
	}
	return nil
}

func (c *Cloud) unauthorized(roleName, action, resource string) error {
	return Errorf(CodeUnauthorizedOperation, "The role %s is not authorized to perform operation (%s) on resource (%s): no policy attached to it allows it.", roleName, action, or(resource, "*"))
}

// matches says whether a statement names the action and the resource.
func (c *Cloud) matches(st statement, action, resource string) bool {
	if len(st.Condition) > 0 && string(st.Condition) != "null" {
		return false
	}
	return slices.ContainsFunc(st.Action, func(a string) bool { return glob(strings.ToLower(a), strings.ToLower(action)) }) &&
		slices.ContainsFunc(st.Resource, func(r string) bool { return r == "*" || resource != "" && glob(c.ownAccount(r), resource) })
}

// ownAccount fills in a resource's empty region ("值为空的时候表示所有地域",
// every region) and empty account (the policy's own).
func (c *Cloud) ownAccount(r string) string {
	seg := strings.SplitN(r, ":", 6)
	if len(seg) != 6 {
		return r
	}
	if seg[3] == "" {
		seg[3] = "*"
	}
	if seg[4] == "" {
		seg[4] = "uin/" + c.opts.UIN
	}
	return strings.Join(seg, ":")
}

// glob matches s against pattern, where * stands for any run of
// characters, / included.
func glob(pattern, s string) bool {
	first, rest, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == s
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for i := 0; i <= len(s); i++ {
		if glob(rest, s[i:]) {
			return true
		}
	}
	return false
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
