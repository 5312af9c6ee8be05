package cloudapi

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"
	"time"
	"unicode"
)

// SCF's function status values (https://cloud.tencent.com/document/api/583/47175):
// the control-plane API is asynchronous, so callers poll GetFunction until
// the function is Active again.
const (
	StatusCreating     = "Creating"
	StatusCreateFailed = "CreateFailed"
	StatusActive       = "Active"
	StatusUpdating     = "Updating"
	StatusUpdateFailed = "UpdateFailed"
	StatusDeleting     = "Deleting"
	StatusDeleteFailed = "DeleteFailed"
)

// SCF's control-plane error codes (tencentcloud-sdk-go
// scf/v20180416/errors.go; the messages are ours).
const (
	CodeFunctionInUse         = "ResourceInUse.Function"
	CodeInvalidRuntime        = "InvalidParameterValue.Runtime"
	CodeInvalidHandler        = "InvalidParameterValue.Handler"
	CodeInvalidMemorySize     = "InvalidParameterValue.MemorySize"
	CodeTimeoutLimit          = "LimitExceeded.Timeout"
	CodeInvalidEnvironment    = "InvalidParameterValue.Environment"
	CodeEnvironmentTooLarge   = "InvalidParameterValue.EnvironmentExceededLimit"
	CodeEnvironmentProtected  = "InvalidParameterValue.EnvironmentSystemProtect"
	CodeInvalidPublicNet      = "InvalidParameterValue.PublicNetConfig"
	CodeInvalidEip            = "InvalidParameterValue.EipConfig"
	CodeInvalidDescription    = "InvalidParameterValue.Description"
	CodeMissingCode           = "MissingParameter.Code"
	CodeInvalidZipFile        = "InvalidParameterValue.ZipFile"
	CodeInvalidZipBase64      = "InvalidParameterValue.ZipFileBase64BinasciiError"
	CodeUnsupportedCos        = "UnsupportedOperation.Cos"
	CodeUpdateCodeBusy        = "FailedOperation.UpdateFunctionCode"
	CodeUpdateConfigBusy      = "FailedOperation.UpdateFunctionConfiguration"
	CodeDeleteBusy            = "FailedOperation.DeleteFunction"
	CodeFunctionStatusError   = "FailedOperation.FunctionStatusError"
	CodeCreateFunctionFailed  = "FailedOperation.CreateFunction"
	CodeFunctionVersionAbsent = "ResourceNotFound.FunctionVersion"
	CodeFunctionLimit         = "LimitExceeded.Function"
)

// Limits of CreateFunction (https://cloud.tencent.com/document/api/583/18586)
// and of environment variables (4 KB in all).
const (
	MaxFunctionTimeout     = 900
	MaxEnvironmentBytes    = 4 << 10
	MaxDescriptionRunes    = 1000
	defaultHandler         = "index.main_handler"
	defaultRuntime         = "Python2.7"
	defaultMemorySize      = 128
	defaultFunctionTimeout = 3
	scfTimeLayout          = "2006-01-02 15:04:05"
	// latestQualifier is the one version of a function scfws local keeps.
	latestQualifier = "$LATEST"
)

// runtimes SCF's CreateFunction accepts.
var runtimes = map[string]bool{
	"Python2.7": true, "Python3.6": true, "Python3.7": true, "Python3.9": true, "Python3.10": true,
	"Nodejs6.10": true, "Nodejs8.9": true, "Nodejs10.15": true, "Nodejs12.16": true, "Nodejs14.18": true,
	"Nodejs16.13": true, "Nodejs18.15": true, "Php5": true, "Php7": true, "Php7.2": true, "Php7.4": true,
	"Php8.0": true, "Go1": true, "Java8": true, "Java11": true, "CustomRuntime": true,
}

// The parameters and answers, in the SDK's JSON shapes.
type (
	scfVariable struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	}
	scfEnvironment struct {
		Variables []scfVariable `json:"Variables"`
	}
	scfVPC struct {
		VpcID    string `json:"VpcId"`
		SubnetID string `json:"SubnetId"`
	}
	scfTag struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	}
	scfCode struct {
		ZipFile           *string `json:"ZipFile"`
		CosBucketName     *string `json:"CosBucketName"`
		CosObjectName     *string `json:"CosObjectName"`
		DemoID            *string `json:"DemoId"`
		TempCosObjectName *string `json:"TempCosObjectName"`
		GitURL            *string `json:"GitUrl"`
	}
	statusReason struct {
		ErrorCode    string `json:"ErrorCode"`
		ErrorMessage string `json:"ErrorMessage"`
	}
	// scfPublicNet is PublicNetConfig, in (EipAddress unset) and out.
	scfPublicNet struct {
		PublicNetStatus string `json:"PublicNetStatus"`
		EipConfig       *struct {
			EipStatus  string   `json:"EipStatus"`
			EipAddress []string `json:"EipAddress,omitempty"`
		} `json:"EipConfig"`
	}
)

// Values of PublicNetConfig's PublicNetStatus and EipStatus.
const (
	netEnable  = "ENABLE"
	netDisable = "DISABLE"
)

// reservedEnvPrefixes: "预留的环境变量 key 无法配置" (reserved keys cannot be
// set): keys starting with SCF_, QCLOUD_ or TENCENTCLOUD_ (SCF's
// environment variable doc, tencentyun/qcloud-documents
// 无服务器云函数/开发指南/环境变量.md).
var reservedEnvPrefixes = []string{"SCF_", "QCLOUD_", "TENCENTCLOUD_"}

// function is one function's $LATEST settings and state.
type function struct {
	functionID  string
	runtime     string
	handler     string
	description string
	memory      int64
	timeout     int64
	env         []scfVariable
	vpc         scfVPC
	publicNet   bool // PublicNetStatus ENABLE
	eip         bool // EipConfig.EipStatus ENABLE
	tags        []scfTag
	zip         []byte
	status      string
	reasons     []statusReason
	running     bool // a version answers invokes
	role        string
	key         *Credential // the role's key, once minted; kept while the function lives
	added       time.Time
	modified    time.Time
}

func (f *function) spec(id FunctionID) FunctionSpec {
	env := make(map[string]string, len(f.env))
	for _, v := range f.env {
		env[v.Key] = v.Value
	}
	return FunctionSpec{FunctionID: id, Runtime: f.runtime, Handler: f.handler, Zip: f.zip, Env: env,
		Timeout: time.Duration(f.timeout) * time.Second, MemoryMB: f.memory, Role: f.role}
}

// decode reads an action's parameters; every control-plane call names a
// region.
func decode(req *Request, v any) error {
	if err := json.Unmarshal(req.Params, v); err != nil {
		return Errorf(CodeInvalidParameter, "The parameters of %s are malformed (scfws local takes them as a POSTed JSON object, the SDK's default): %v.", req.Action, err)
	}
	if req.Region == "" {
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `Region` (X-TC-Region).")
	}
	return nil
}

func (c *Cloud) functionID(req *Request, namespace, name string) (FunctionID, error) {
	if name == "" {
		return FunctionID{}, Errorf(CodeMissingParameter, "The request is missing a required parameter `FunctionName`.")
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if !c.hasNamespace(namespace) {
		return FunctionID{}, &Error{Code: CodeNamespaceNotFound, Message: msgNamespaceNotFound}
	}
	return FunctionID{Region: req.Region, Namespace: namespace, Name: name}, nil
}

// checkQualifier accepts the one version scfws local keeps, $LATEST (an
// empty qualifier names it too).
func checkQualifier(q string) error {
	if q != "" && q != latestQualifier {
		return Errorf(CodeFunctionVersionAbsent, "The version %q does not exist (scfws local keeps $LATEST only).", clip(q))
	}
	return nil
}

// lookup finds a function that exists (Deleting counts as gone). The lock
// is held.
func (c *Cloud) lookup(id FunctionID) (*function, error) {
	f, ok := c.functions[id]
	if !ok || f.status == StatusDeleting {
		return nil, &Error{Code: CodeFunctionNotFound, Message: msgFunctionNotFound}
	}
	return f, nil
}

type createFunctionRequest struct {
	FunctionName string          `json:"FunctionName"`
	Namespace    string          `json:"Namespace"`
	Code         *scfCode        `json:"Code"`
	Handler      *string         `json:"Handler"`
	Description  *string         `json:"Description"`
	MemorySize   *int64          `json:"MemorySize"`
	Timeout      *int64          `json:"Timeout"`
	Environment  *scfEnvironment `json:"Environment"`
	Runtime      *string         `json:"Runtime"`
	VpcConfig    *scfVPC         `json:"VpcConfig"`
	PublicNet    *scfPublicNet   `json:"PublicNetConfig"`
	Tags         []scfTag        `json:"Tags"`
	Type         *string         `json:"Type"`
	Role         *string         `json:"Role"`
}

func (c *Cloud) createFunction(_ context.Context, req *Request) (any, error) {
	var in createFunctionRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	if err := checkFunctionName(in.FunctionName); err != nil {
		return nil, err
	}
	now := c.opts.Now()
	f := &function{
		functionID: "lam-" + randomID(8),
		runtime:    deref(in.Runtime, defaultRuntime),
		handler:    deref(in.Handler, defaultHandler),
		memory:     derefInt(in.MemorySize, defaultMemorySize),
		timeout:    derefInt(in.Timeout, defaultFunctionTimeout),
		tags:       in.Tags,
		status:     StatusCreating,
		added:      now,
		modified:   now,
	}
	if in.Description != nil {
		f.description = *in.Description
	}
	if in.Environment != nil {
		f.env = in.Environment.Variables
	}
	if in.VpcConfig != nil {
		f.vpc = *in.VpcConfig
	}
	// "云函数创建成功后，默认只有公网访问权限" (a new function has public
	// access only); a function in a VPC "默认是和外网隔离开的" (is cut off
	// from the Internet by default: the older VPC doc).
	f.publicNet = f.vpc.VpcID == ""
	if err := f.setPublicNet(in.PublicNet); err != nil {
		return nil, err
	}
	if in.Type != nil && *in.Type != "Event" {
		return nil, Errorf("InvalidParameterValue.Type", "Type %q: scfws local runs event functions (Event) only.", clip(*in.Type))
	}
	var err error
	if f.zip, err = zipFile(in.Code, nil); err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if in.Role != nil {
		f.role = *in.Role
		if err := c.passRole(f.role); err != nil {
			c.mu.Unlock()
			return nil, err
		}
	}
	id, err := c.functionID(req, in.Namespace, in.FunctionName)
	if err == nil {
		err = c.roomFor(id)
	}
	if err == nil {
		if old, ok := c.functions[id]; ok && old.status != StatusDeleting {
			err = Errorf(CodeFunctionInUse, "The function %s already exists in namespace %s.", id.Name, id.Namespace)
		} else if ok {
			err = Errorf(CodeFunctionInUse, "The function %s is being deleted; create it again once it is gone.", id.Name)
		}
	}
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	c.functions[id] = f
	c.deploy(id, f, StatusCreateFailed, CodeCreateFunctionFailed)
	c.mu.Unlock()
	return struct{}{}, nil
}

// roomFor refuses a new function over the account's bound. The lock is
// held.
func (c *Cloud) roomFor(id FunctionID) error {
	if _, ok := c.functions[id]; !ok && len(c.functions) >= c.opts.MaxFunctions {
		return Errorf(CodeFunctionLimit, "The account has %d functions, the most scfws local runs at once: delete one first.", len(c.functions))
	}
	return nil
}

// passRole checks that the caller may give a function the role (CAM's
// cam:PassRole, checked as -fail-action cam:PassRole=... says) and that it
// exists ("" is no role). The lock is held.
func (c *Cloud) passRole(name string) error {
	if name == "" {
		return nil
	}
	if c.srv != nil {
		if err := c.srv.Check(CAMService, "PassRole"); err != nil {
			return err
		}
	}
	if _, err := c.findRole("", name); err != nil {
		return Errorf(CodeQcsRoleNotFound, "The role %s does not exist: create it in CAM first (its carrier the service scf.qcloud.com).", clip(name))
	}
	return nil
}

// roleKey gives spec f's role key, minting it the first time, when SCF can
// assume the role; else it says why not. The lock is held.
func (c *Cloud) roleKey(id FunctionID, f *function, spec *FunctionSpec) {
	spec.AppID, spec.UIN = c.opts.AppID, c.opts.UIN
	if f.role == "" {
		return
	}
	if spec.RoleProblem = c.assumableBySCF(f.role); spec.RoleProblem != "" || c.srv == nil {
		return
	}
	if f.key == nil {
		key := Credential{SecretID: "AKIDscfwsRole" + randomID(22), SecretKey: randomID(32), Token: randomID(40)}
		key.Allow = func(req *Request) error {
			c.mu.Lock()
			g := c.functions[id]
			role := ""
			if g == f {
				role = f.role
			}
			c.mu.Unlock()
			return c.authorize(role, req)
		}
		c.srv.AddCredential(key)
		f.key = &key
	}
	spec.RoleKey = f.key
}

// dropKey stops accepting f's role key. The lock is held.
func (c *Cloud) dropKey(f *function) {
	if f.key != nil && c.srv != nil {
		c.srv.RemoveCredential(f.key.SecretID)
	}
	f.key = nil
}

// deploy starts the background Deploy of f's settings, which then makes f
// Active, or failed (with failCode as the reason). The lock is held.
func (c *Cloud) deploy(id FunctionID, f *function, failed, failCode string) {
	spec := f.spec(id)
	c.roleKey(id, f, &spec)
	c.background(func(ctx context.Context) error { return c.rt.Deploy(ctx, spec) }, func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.functions[id] != f {
			return // deleted meanwhile
		}
		f.modified = c.opts.Now()
		if err != nil {
			f.status, f.reasons = failed, []statusReason{{ErrorCode: failCode, ErrorMessage: err.Error()}}
			return
		}
		f.status, f.reasons, f.running = StatusActive, nil, true
	})
}

// setPublicNet applies a PublicNetConfig (nil: unchanged). A fixed egress
// IP needs public access ("云函数开启公网访问后，才可选择开启固定公网出口
// IP"), and a function in a VPC with public access always has one ("同时
// 设置开启内网访问和公网访问后 ... 会强制开启固定公网出口 IP 功能"): SCF's
// network configuration docs.
func (f *function) setPublicNet(in *scfPublicNet) error {
	if in != nil {
		switch in.PublicNetStatus {
		case netEnable, netDisable:
			f.publicNet = in.PublicNetStatus == netEnable
		default:
			return Errorf(CodeInvalidPublicNet, "PublicNetConfig.PublicNetStatus %q: use ENABLE or DISABLE.", clip(in.PublicNetStatus))
		}
		if in.EipConfig != nil {
			switch in.EipConfig.EipStatus {
			case netEnable, netDisable:
				f.eip = in.EipConfig.EipStatus == netEnable
			default:
				return Errorf(CodeInvalidEip, "PublicNetConfig.EipConfig.EipStatus %q: use ENABLE or DISABLE.", clip(in.EipConfig.EipStatus))
			}
		}
	}
	if f.eip && !f.publicNet {
		return Errorf(CodeInvalidEip, "A fixed public egress IP (EipStatus ENABLE) needs public access (PublicNetStatus ENABLE).")
	}
	f.eip = f.eip || f.publicNet && f.vpc.VpcID != ""
	return nil
}

// publicNetOut is GetFunction's PublicNetConfig.
func (f *function) publicNetOut() scfPublicNet {
	out := scfPublicNet{PublicNetStatus: netDisable}
	out.EipConfig = &struct {
		EipStatus  string   `json:"EipStatus"`
		EipAddress []string `json:"EipAddress,omitempty"`
	}{EipStatus: netDisable}
	if f.publicNet {
		out.PublicNetStatus = netEnable
	}
	if f.eip {
		out.EipConfig.EipStatus = netEnable
	}
	return out
}

// check validates f's settings as CreateFunction and
// UpdateFunctionConfiguration do.
func (f *function) check() error {
	if !runtimes[f.runtime] {
		return Errorf(CodeInvalidRuntime, "Runtime %q is not one of SCF's runtimes (e.g. Go1, Python3.6, Nodejs12.16, CustomRuntime).", clip(f.runtime))
	}
	if f.handler == "" || len(f.handler) > 60 {
		return Errorf(CodeInvalidHandler, "Handler must be 1-60 characters (for Go1, the executable's name in the zip, e.g. main).")
	}
	if f.memory != 64 && (f.memory < 128 || f.memory > 3072 || f.memory%128 != 0) {
		return Errorf(CodeInvalidMemorySize, "MemorySize %d: use 64, or 128 to 3072 in steps of 128 (MB).", f.memory)
	}
	if f.timeout < 1 {
		return Errorf(CodeInvalidParameterValue, "Timeout %d: use 1 to %d seconds.", f.timeout, MaxFunctionTimeout)
	}
	if f.timeout > MaxFunctionTimeout {
		return Errorf(CodeTimeoutLimit, "Timeout %d is over the %d-second limit.", f.timeout, MaxFunctionTimeout)
	}
	if err := checkDescription(f.description); err != nil {
		return err
	}
	if err := checkEnvironment(f.env); err != nil {
		return err
	}
	if (f.vpc.VpcID == "") != (f.vpc.SubnetID == "") {
		return Errorf(CodeInvalidParameterValue, "VpcConfig needs both VpcId and SubnetId (or neither, for no VPC).")
	}
	return nil
}

// checkFunctionName: letters, digits, - and _, 2-60, starting with a
// letter and not ending with - or _.
func checkFunctionName(name string) error {
	if name == "" {
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `FunctionName`.")
	}
	ok := len(name) >= 2 && len(name) <= 60 && isLetter(rune(name[0])) && name[len(name)-1] != '-' && name[len(name)-1] != '_'
	for _, r := range name {
		ok = ok && (isLetter(r) || r >= '0' && r <= '9' || r == '-' || r == '_')
	}
	if !ok {
		return Errorf(CodeInvalidFunctionArg, "FunctionName %q: 2-60 letters, digits, - and _, starting with a letter and not ending with - or _.", clip(name))
	}
	return nil
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

// checkDescription: at most 1000 letters, digits, spaces, commas, newlines
// and full stops; Chinese is allowed.
func checkDescription(s string) error {
	n := 0
	for _, r := range s {
		n++
		if !(isLetter(r) || r >= '0' && r <= '9' || r == ' ' || r == ',' || r == '\n' || r == '.' || unicode.Is(unicode.Han, r)) {
			return Errorf(CodeInvalidDescription, "Description may hold letters, digits, spaces, commas, newlines, full stops and Chinese only; %q is none of them.", r)
		}
	}
	if n > MaxDescriptionRunes {
		return Errorf(CodeInvalidDescription, "Description is %d characters, over the %d-character limit.", n, MaxDescriptionRunes)
	}
	return nil
}

// checkEnvironment: keys are letters, digits and _, starting with a
// letter, each once, none reserved; values are not empty ("变量的值，不可
// 为空字符": the SDK's Variable); 4 KB of keys and values in all. Messages
// name keys, never values. Which code the cloud gives an empty value or a
// reserved key is not documented.
func checkEnvironment(vars []scfVariable) error {
	seen := map[string]bool{}
	size := 0
	for _, v := range vars {
		if err := checkVariable(v); err != nil {
			return err
		}
		if seen[v.Key] {
			return Errorf(CodeInvalidEnvironment, "Environment variable %s is given twice.", v.Key)
		}
		seen[v.Key] = true
		size += len(v.Key) + len(v.Value)
	}
	if size > MaxEnvironmentBytes {
		return Errorf(CodeEnvironmentTooLarge, "The environment variables are %d bytes, over the %d-byte limit.", size, MaxEnvironmentBytes)
	}
	return nil
}

// checkVariable checks one variable's name and that it has a value.
func checkVariable(v scfVariable) error {
	ok := v.Key != "" && isLetter(rune(v.Key[0]))
	for _, r := range v.Key {
		ok = ok && (isLetter(r) || r >= '0' && r <= '9' || r == '_')
	}
	if !ok {
		return Errorf(CodeInvalidEnvironment, "Environment variable name %q: letters, digits and _, starting with a letter.", clip(v.Key))
	}
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(v.Key, p) {
			return Errorf(CodeEnvironmentProtected, "Environment variable %s: names starting with %s are reserved for the system.", v.Key, p)
		}
	}
	if v.Value == "" {
		return Errorf(CodeInvalidEnvironment, "Environment variable %s has an empty value: a value may not be empty.", v.Key)
	}
	return nil
}

// zipFile decodes the code package from Code.ZipFile, or from top, the
// ZipFile parameter of UpdateFunctionCode.
func zipFile(code *scfCode, top *string) ([]byte, error) {
	b64 := top
	if b64 == nil && code != nil {
		b64 = code.ZipFile
	}
	if b64 == nil {
		if code != nil && (code.CosBucketName != nil || code.CosObjectName != nil || code.TempCosObjectName != nil || code.DemoID != nil || code.GitURL != nil) {
			return nil, Errorf(CodeUnsupportedCos, "scfws local takes code as a base64 ZipFile only, not from COS, a demo or Git.")
		}
		return nil, Errorf(CodeMissingCode, "The request is missing the function code: give Code.ZipFile, a base64 zip.")
	}
	raw, err := base64.StdEncoding.DecodeString(*b64)
	if err != nil {
		return nil, Errorf(CodeInvalidZipBase64, "ZipFile is not base64: %v.", err)
	}
	if _, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw))); err != nil {
		return nil, Errorf(CodeInvalidZipFile, "ZipFile is not a zip file: %v.", err)
	}
	return raw, nil
}

type updateFunctionCodeRequest struct {
	FunctionName string   `json:"FunctionName"`
	Namespace    string   `json:"Namespace"`
	Handler      *string  `json:"Handler"`
	ZipFile      *string  `json:"ZipFile"`
	Code         *scfCode `json:"Code"`
}

func (c *Cloud) updateFunctionCode(_ context.Context, req *Request) (any, error) {
	var in updateFunctionCodeRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	code, err := zipFile(in.Code, in.ZipFile)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := c.functionID(req, in.Namespace, in.FunctionName)
	if err != nil {
		return nil, err
	}
	f, err := c.lookup(id)
	if err != nil {
		return nil, err
	}
	if f.status != StatusActive && f.status != StatusUpdateFailed {
		return nil, Errorf(CodeUpdateCodeBusy, "The function %s is %s: update its code when it is Active.", id.Name, f.status)
	}
	if in.Handler != nil {
		if *in.Handler == "" || len(*in.Handler) > 60 {
			return nil, Errorf(CodeInvalidHandler, "Handler must be 1-60 characters.")
		}
		f.handler = *in.Handler
	}
	f.zip, f.status, f.modified = code, StatusUpdating, c.opts.Now()
	c.deploy(id, f, StatusUpdateFailed, CodeUpdateCodeBusy)
	return struct{}{}, nil
}

type updateFunctionConfigurationRequest struct {
	FunctionName string          `json:"FunctionName"`
	Namespace    string          `json:"Namespace"`
	Description  *string         `json:"Description"`
	MemorySize   *int64          `json:"MemorySize"`
	Timeout      *int64          `json:"Timeout"`
	Runtime      *string         `json:"Runtime"`
	Environment  *scfEnvironment `json:"Environment"`
	VpcConfig    *scfVPC         `json:"VpcConfig"`
	PublicNet    *scfPublicNet   `json:"PublicNetConfig"`
	Role         *string         `json:"Role"`
}

func (c *Cloud) updateFunctionConfiguration(_ context.Context, req *Request) (any, error) {
	var in updateFunctionConfigurationRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := c.functionID(req, in.Namespace, in.FunctionName)
	if err != nil {
		return nil, err
	}
	f, err := c.lookup(id)
	if err != nil {
		return nil, err
	}
	if f.status != StatusActive && f.status != StatusUpdateFailed {
		return nil, Errorf(CodeUpdateConfigBusy, "The function %s is %s: update its configuration when it is Active.", id.Name, f.status)
	}
	next := *f
	if in.Runtime != nil && *in.Runtime != f.runtime {
		return nil, Errorf(CodeInvalidRuntime, "The function %s runs %s; scfws local does not change a function's runtime (to %s).", id.Name, f.runtime, clip(*in.Runtime))
	}
	if in.Description != nil {
		next.description = *in.Description
	}
	next.memory = derefInt(in.MemorySize, f.memory)
	next.timeout = derefInt(in.Timeout, f.timeout)
	if in.Environment != nil {
		next.env = in.Environment.Variables
	}
	if in.VpcConfig != nil {
		next.vpc = *in.VpcConfig
	}
	if err := next.setPublicNet(in.PublicNet); err != nil {
		return nil, err
	}
	if err := next.check(); err != nil {
		return nil, err
	}
	if in.Role != nil && *in.Role != f.role {
		if err := c.passRole(*in.Role); err != nil {
			return nil, err
		}
		f.role = *in.Role
	}
	f.description, f.memory, f.timeout, f.env, f.vpc = next.description, next.memory, next.timeout, next.env, next.vpc
	f.publicNet, f.eip = next.publicNet, next.eip
	f.status, f.modified = StatusUpdating, c.opts.Now()
	c.deploy(id, f, StatusUpdateFailed, CodeUpdateConfigBusy)
	return struct{}{}, nil
}

type getFunctionRequest struct {
	FunctionName string `json:"FunctionName"`
	Namespace    string `json:"Namespace"`
	Qualifier    string `json:"Qualifier"`
}

// functionInfo is GetFunction's answer (the SDK's GetFunctionResponse).
type functionInfo struct {
	FunctionName    string         `json:"FunctionName"`
	FunctionID      string         `json:"FunctionId"`
	Namespace       string         `json:"Namespace"`
	Runtime         string         `json:"Runtime"`
	Handler         string         `json:"Handler"`
	Description     string         `json:"Description"`
	MemorySize      int64          `json:"MemorySize"`
	Timeout         int64          `json:"Timeout"`
	CodeSize        int64          `json:"CodeSize"`
	Environment     scfEnvironment `json:"Environment"`
	VpcConfig       scfVPC         `json:"VpcConfig"`
	PublicNetConfig scfPublicNet   `json:"PublicNetConfig"`
	Status          string         `json:"Status"`
	StatusDesc      string         `json:"StatusDesc"`
	StatusReasons   []statusReason `json:"StatusReasons"`
	Tags            []scfTag       `json:"Tags"`
	FunctionVersion string         `json:"FunctionVersion"`
	Qualifier       string         `json:"Qualifier"`
	Type            string         `json:"Type"`
	AvailableStatus string         `json:"AvailableStatus"`
	CodeResult      string         `json:"CodeResult"`
	CodeError       string         `json:"CodeError"`
	ErrNo           int64          `json:"ErrNo"`
	InitTimeout     int64          `json:"InitTimeout"`
	AddTime         string         `json:"AddTime"`
	ModTime         string         `json:"ModTime"`
	Role            string         `json:"Role"`
}

func (c *Cloud) getFunction(_ context.Context, req *Request) (any, error) {
	var in getFunctionRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := c.functionID(req, in.Namespace, in.FunctionName)
	if err != nil {
		return nil, err
	}
	f, ok := c.functions[id]
	if !ok {
		return nil, &Error{Code: CodeFunctionNotFound, Message: msgFunctionNotFound}
	}
	if err := checkQualifier(in.Qualifier); err != nil {
		return nil, err
	}
	return functionInfo{
		FunctionName: id.Name, FunctionID: f.functionID, Namespace: id.Namespace, Runtime: f.runtime,
		Handler: f.handler, Description: f.description, MemorySize: f.memory, Timeout: f.timeout,
		CodeSize: int64(len(f.zip)), Environment: scfEnvironment{Variables: f.env}, VpcConfig: f.vpc, PublicNetConfig: f.publicNetOut(),
		Status: f.status, StatusDesc: statusDesc(f), StatusReasons: f.reasons, Tags: f.tags,
		FunctionVersion: latestQualifier, Qualifier: latestQualifier, Type: "Event", AvailableStatus: "Available",
		CodeResult: "success", InitTimeout: 65,
		AddTime: f.added.Format(scfTimeLayout), ModTime: f.modified.Format(scfTimeLayout), Role: f.role,
	}, nil
}

func statusDesc(f *function) string {
	if len(f.reasons) > 0 {
		return f.reasons[0].ErrorMessage
	}
	return ""
}

type deleteFunctionRequest struct {
	FunctionName string `json:"FunctionName"`
	Namespace    string `json:"Namespace"`
	Qualifier    string `json:"Qualifier"`
}

func (c *Cloud) deleteFunction(_ context.Context, req *Request) (any, error) {
	var in deleteFunctionRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := c.functionID(req, in.Namespace, in.FunctionName)
	if err != nil {
		return nil, err
	}
	f, err := c.lookup(id)
	if err != nil {
		return nil, err
	}
	if err := checkQualifier(in.Qualifier); err != nil {
		return nil, err
	}
	if f.status == StatusCreating || f.status == StatusUpdating {
		return nil, Errorf(CodeDeleteBusy, "The function %s is %s: delete it once it is Active or failed.", id.Name, f.status)
	}
	f.status, f.running, f.modified = StatusDeleting, false, c.opts.Now()
	c.background(func(ctx context.Context) error { return c.rt.Remove(ctx, id) }, func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.functions[id] != f {
			return
		}
		if err != nil {
			f.status, f.reasons = StatusDeleteFailed, []statusReason{{ErrorCode: CodeDeleteBusy, ErrorMessage: err.Error()}}
			return
		}
		c.dropKey(f)
		delete(c.functions, id)
	})
	return struct{}{}, nil
}

type listFunctionsRequest struct {
	Namespace string `json:"Namespace"`
	SearchKey string `json:"SearchKey"`
	Offset    int64  `json:"Offset"`
	Limit     *int64 `json:"Limit"`
}

type functionSummary struct {
	FunctionName  string         `json:"FunctionName"`
	FunctionID    string         `json:"FunctionId"`
	Namespace     string         `json:"Namespace"`
	Runtime       string         `json:"Runtime"`
	Status        string         `json:"Status"`
	StatusDesc    string         `json:"StatusDesc"`
	StatusReasons []statusReason `json:"StatusReasons"`
	Description   string         `json:"Description"`
	Tags          []scfTag       `json:"Tags"`
	Type          string         `json:"Type"`
	AddTime       string         `json:"AddTime"`
	ModTime       string         `json:"ModTime"`
}

func (c *Cloud) listFunctions(_ context.Context, req *Request) (any, error) {
	var in listFunctionsRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	limit := derefInt(in.Limit, 20)
	if limit < 0 || in.Offset < 0 {
		return nil, Errorf("InvalidParameterValue.Limit", "Offset and Limit must not be negative.")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := in.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if !c.hasNamespace(ns) {
		return nil, &Error{Code: CodeNamespaceNotFound, Message: msgNamespaceNotFound}
	}
	var all []functionSummary
	for id, f := range c.functions {
		if id.Region != req.Region || id.Namespace != ns || !strings.Contains(id.Name, in.SearchKey) {
			continue
		}
		all = append(all, functionSummary{
			FunctionName: id.Name, FunctionID: f.functionID, Namespace: ns, Runtime: f.runtime, Status: f.status,
			StatusDesc: statusDesc(f), StatusReasons: f.reasons, Description: f.description, Tags: f.tags, Type: "Event",
			AddTime: f.added.Format(scfTimeLayout), ModTime: f.modified.Format(scfTimeLayout),
		})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].FunctionName < all[j].FunctionName })
	return struct {
		Functions  []functionSummary `json:"Functions"`
		TotalCount int64             `json:"TotalCount"`
	}{page(all, in.Offset, limit), int64(len(all))}, nil
}

// page is items[offset:offset+limit], clamped.
func page[T any](items []T, offset, limit int64) []T {
	if offset > int64(len(items)) {
		offset = int64(len(items))
	}
	end := offset + limit
	if end > int64(len(items)) {
		end = int64(len(items))
	}
	return append([]T{}, items[offset:end]...)
}

func deref(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func derefInt(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}
