package cloudapi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// API Gateway's error codes (tencentcloud-sdk-go
// apigateway/v20180808/errors.go; the messages are ours).
const (
	CodeServiceNotFound         = "ResourceNotFound.InvalidService"
	CodeAPINotFound             = "ResourceNotFound.InvalidApi"
	CodeInvalidProtocol         = "InvalidParameterValue.InvalidProcotol" // sic
	CodeInvalidAPIRequestConfig = "InvalidParameterValue.InvalidApiRequestConfig"
	CodeInvalidWSMethod         = "InvalidParameterValue.InvalidWSMethod"
	CodeInvalidScfConfig        = "InvalidParameterValue.InvalidScfConfig"
	CodeInvalidServiceType      = "InvalidParameterValue.InvalidServiceType"
	CodeNotInOptions            = "InvalidParameterValue.NotInOptions"
	CodeRangeExceeded           = "InvalidParameterValue.RangeExceeded"
	CodeLengthExceeded          = "InvalidParameterValue.LengthExceeded"
	CodeUnsupportedFilter       = "InvalidParameterValue.InvalidFilterNotSupportedName"
	CodeUnsupportedEndpointType = "UnsupportedOperation.InvalidEndpointType"
	CodeUnsupportedModifyProto  = "UnsupportedOperation.ModifyProtocol"
	CodeServiceInUse            = "UnsupportedOperation.UnsupportedDeleteService"
	CodeServiceReleased         = "UnsupportedOperation.ExistingOnlineEnvironment"
	CodeAPIListNotEmpty         = "UnsupportedOperation.ApiListNotEmpty"
	CodeTagsNotEmpty            = "UnsupportedOperation.TagsNotEmpty"
	CodeServiceError            = "FailedOperation.ServiceError"
	CodeServiceInOperation      = "FailedOperation.ServiceInOperation"
)

// MaxServiceTimeout is the longest backend timeout, in seconds: "超时时间的
// 最大限制为30分钟" (30 minutes at most), documented for URL backends
// (tencentyun/qcloud-documents, API网关/操作指南/创建API/创建后端对接公网
// URL：IP 的 API.md) and assumed for WebSocket APIs.
const MaxServiceTimeout = 1800

const (
	apigwTimeLayout              = "2006-01-02T15:04:05Z"
	defaultServiceTimeout        = 15
	maxServiceNameLength         = 50
	websocketProtocol            = "WEBSOCKET"
	scfServiceType               = "SCF"
	maxDescribeLimit             = 100
	defaultDescribeLimit         = 20
	releaseVersionLayout         = "20060102150405"
	environmentRelease           = "release"
	environmentPrepub            = "prepub"
	environmentTest              = "test"
	defaultAuthType              = "NONE"
	defaultAPIType               = "NORMAL"
	defaultIPVersion             = "IPv4"
	outerNetType                 = "OUTER"
	unsupportedNetTypeMessageFmt = "NetTypes %q: scfws local serves public services (OUTER) only."
)

type apigwTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type service struct {
	region    string
	id        string
	name      string
	desc      string
	protocol  string
	netTypes  []string
	tags      []apigwTag
	subDomain string
	created   time.Time
	modified  time.Time
	apis      []*api
	releases  map[string]*release // by environment
}

// scfBinding is a function bound to an API role.
type scfBinding struct {
	name, namespace, qualifier string
}

func (b scfBinding) id(region string) FunctionID {
	if b.name == "" {
		return FunctionID{}
	}
	return FunctionID{Region: region, Namespace: b.namespace, Name: b.name}
}

type api struct {
	id          string
	name        string
	desc        string
	protocol    string
	serviceType string
	path        string
	method      string
	authType    string
	timeout     int64
	register    scfBinding
	transport   scfBinding
	cleanup     scfBinding
	integrated  bool
	pushURL     string
	created     time.Time
	modified    time.Time
}

type release struct {
	version string
	desc    string
	apis    []api // as they were released
}

func (s *service) api(id string) *api {
	for _, a := range s.apis {
		if a.id == id {
			return a
		}
	}
	return nil
}

func (s *service) environments() []string {
	envs := make([]string, 0, len(s.releases))
	for env := range s.releases {
		envs = append(envs, env)
	}
	sort.Strings(envs)
	return envs
}

// apiEnvironments lists the environments whose release holds the API.
func (s *service) apiEnvironments(apiID string) []string {
	var envs []string
	for _, env := range s.environments() {
		for _, a := range s.releases[env].apis {
			if a.id == apiID {
				envs = append(envs, env)
			}
		}
	}
	return envs
}

// lookupService finds a service of the call's region. The lock is held.
func (c *Cloud) lookupService(req *Request, id string) (*service, error) {
	if id == "" {
		return nil, Errorf(CodeMissingParameter, "The request is missing a required parameter `ServiceId`.")
	}
	s, ok := c.services[id]
	if !ok || s.region != req.Region {
		return nil, Errorf(CodeServiceNotFound, "The service %s does not exist in %s.", clip(id), req.Region)
	}
	return s, nil
}

func (c *Cloud) lookupAPI(req *Request, serviceID, apiID string) (*service, *api, error) {
	s, err := c.lookupService(req, serviceID)
	if err != nil {
		return nil, nil, err
	}
	if apiID == "" {
		return nil, nil, Errorf(CodeMissingParameter, "The request is missing a required parameter `ApiId`.")
	}
	a := s.api(apiID)
	if a == nil {
		return nil, nil, Errorf(CodeAPINotFound, "The API %s does not exist in service %s.", clip(apiID), s.id)
	}
	return s, a, nil
}

type createServiceRequest struct {
	ServiceName string     `json:"ServiceName"`
	Protocol    string     `json:"Protocol"`
	ServiceDesc string     `json:"ServiceDesc"`
	NetTypes    []string   `json:"NetTypes"`
	IPVersion   string     `json:"IpVersion"`
	Tags        []apigwTag `json:"Tags"`
}

func (c *Cloud) createService(_ context.Context, req *Request) (any, error) {
	var in createServiceRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	if err := checkServiceName(in.ServiceName); err != nil {
		return nil, err
	}
	switch in.Protocol {
	case "http", "https", "http&https":
	case "":
		return nil, Errorf(CodeMissingParameter, "The request is missing a required parameter `Protocol` (http, https or http&https).")
	default:
		return nil, Errorf(CodeInvalidProtocol, "Protocol %q: use http, https or http&https.", clip(in.Protocol))
	}
	if len(in.NetTypes) == 0 {
		in.NetTypes = []string{outerNetType}
	}
	for _, t := range in.NetTypes {
		if t != outerNetType {
			return nil, Errorf(CodeUnsupportedEndpointType, unsupportedNetTypeMessageFmt, in.NetTypes)
		}
	}
	if in.IPVersion != "" && in.IPVersion != defaultIPVersion {
		return nil, Errorf(CodeNotInOptions, "IpVersion %q: scfws local serves IPv4 only.", clip(in.IPVersion))
	}
	now := c.opts.Now()
	s := &service{
		region: req.Region, id: "service-" + randomID(8), name: in.ServiceName, desc: in.ServiceDesc,
		protocol: in.Protocol, netTypes: in.NetTypes, tags: in.Tags, created: now, modified: now,
		releases: map[string]*release{},
	}
	s.subDomain = c.opts.SubDomain(s.region, s.id)
	c.mu.Lock()
	c.services[s.id] = s
	c.mu.Unlock()
	return struct {
		ServiceID      string   `json:"ServiceId"`
		ServiceName    string   `json:"ServiceName"`
		ServiceDesc    string   `json:"ServiceDesc"`
		OuterSubDomain string   `json:"OuterSubDomain"`
		InnerSubDomain string   `json:"InnerSubDomain"`
		CreatedTime    string   `json:"CreatedTime"`
		NetTypes       []string `json:"NetTypes"`
		IPVersion      string   `json:"IpVersion"`
	}{s.id, s.name, s.desc, s.subDomain, "", now.UTC().Format(apigwTimeLayout), s.netTypes, defaultIPVersion}, nil
}

// checkServiceName: at most 50 of a-z, A-Z, 0-9 and _ (the console's rule).
func checkServiceName(name string) error {
	if name == "" {
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `ServiceName`.")
	}
	if len(name) > maxServiceNameLength {
		return Errorf(CodeLengthExceeded, "ServiceName is %d characters, over the limit of %d.", len(name), maxServiceNameLength)
	}
	for _, r := range name {
		if !(isLetter(r) || r >= '0' && r <= '9' || r == '_') {
			return Errorf(CodeInvalidParameterValue, "ServiceName %q: use a-z, A-Z, 0-9 and _.", clip(name))
		}
	}
	return nil
}

// serviceDetail is a service as DescribeService and DescribeServicesStatus
// show it.
type serviceDetail struct {
	ServiceID             string     `json:"ServiceId"`
	ServiceName           string     `json:"ServiceName"`
	ServiceDesc           string     `json:"ServiceDesc"`
	Protocol              string     `json:"Protocol"`
	NetTypes              []string   `json:"NetTypes"`
	OuterSubDomain        string     `json:"OuterSubDomain"`
	InnerSubDomain        string     `json:"InnerSubDomain"`
	InternalSubDomain     string     `json:"InternalSubDomain"`
	AvailableEnvironments []string   `json:"AvailableEnvironments"`
	IPVersion             string     `json:"IpVersion"`
	Tags                  []apigwTag `json:"Tags"`
	CreatedTime           string     `json:"CreatedTime"`
	ModifiedTime          string     `json:"ModifiedTime"`
	ExclusiveSetName      string     `json:"ExclusiveSetName"`
	TradeIsolateStatus    int64      `json:"TradeIsolateStatus"`
}

func (s *service) detail() serviceDetail {
	return serviceDetail{
		ServiceID: s.id, ServiceName: s.name, ServiceDesc: s.desc, Protocol: s.protocol, NetTypes: s.netTypes,
		OuterSubDomain: s.subDomain, AvailableEnvironments: s.environments(), IPVersion: defaultIPVersion, Tags: s.tags,
		CreatedTime: s.created.UTC().Format(apigwTimeLayout), ModifiedTime: s.modified.UTC().Format(apigwTimeLayout),
	}
}

type apiIDStatus struct {
	ServiceID string `json:"ServiceId"`
	APIID     string `json:"ApiId"`
	APIName   string `json:"ApiName"`
	APIDesc   string `json:"ApiDesc"`
	Path      string `json:"Path"`
	Method    string `json:"Method"`
	// Protocol is null: its values are not documented for the list
	// (API协议, may be null), so nothing may find an API by it.
	Protocol     *string `json:"Protocol"`
	APIType      string  `json:"ApiType"`
	AuthType     string  `json:"AuthType"`
	CreatedTime  string  `json:"CreatedTime"`
	ModifiedTime string  `json:"ModifiedTime"`
}

func (s *service) apiStatus(a *api) apiIDStatus {
	return apiIDStatus{
		ServiceID: s.id, APIID: a.id, APIName: a.name, APIDesc: a.desc, Path: a.path, Method: a.method,
		APIType: defaultAPIType, AuthType: a.authType,
		CreatedTime: a.created.UTC().Format(apigwTimeLayout), ModifiedTime: a.modified.UTC().Format(apigwTimeLayout),
	}
}

func (c *Cloud) describeService(_ context.Context, req *Request) (any, error) {
	var in struct {
		ServiceID string `json:"ServiceId"`
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.lookupService(req, in.ServiceID)
	if err != nil {
		return nil, err
	}
	apis := make([]apiIDStatus, len(s.apis))
	for i, a := range s.apis {
		apis[i] = s.apiStatus(a)
	}
	detail := s.detail()
	// The SDK calls this field "服务 环境列表" (the service's environments),
	// not "released" as in the list's: local names them all, so that
	// nothing takes it for the released ones (DescribeServiceEnvironmentList
	// says which are).
	detail.AvailableEnvironments = allEnvironments()
	return struct {
		serviceDetail
		APITotalCount  int64         `json:"ApiTotalCount"`
		APIIDStatusSet []apiIDStatus `json:"ApiIdStatusSet"`
		InnerHTTPPort  int64         `json:"InnerHttpPort"`
		InnerHTTPSPort int64         `json:"InnerHttpsPort"`
	}{serviceDetail: detail, APITotalCount: int64(len(apis)), APIIDStatusSet: apis}, nil
}

// allEnvironments are API Gateway's three environments.
func allEnvironments() []string {
	return []string{environmentTest, environmentPrepub, environmentRelease}
}

// environment is an entry of DescribeServiceEnvironmentList.
type environment struct {
	EnvironmentName string `json:"EnvironmentName"`
	URL             string `json:"Url"`
	Status          int64  `json:"Status"` // 1 released, 0 not
	VersionName     string `json:"VersionName"`
}

func (c *Cloud) describeServiceEnvironmentList(_ context.Context, req *Request) (any, error) {
	var in struct {
		ServiceID string `json:"ServiceId"`
		Offset    int64  `json:"Offset"`
		Limit     *int64 `json:"Limit"`
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	offset, limit, err := listRequest{Offset: in.Offset, Limit: in.Limit}.limits()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.lookupService(req, in.ServiceID)
	if err != nil {
		return nil, err
	}
	var all []environment
	for _, env := range allEnvironments() {
		e := environment{EnvironmentName: env, URL: s.subDomain + "/" + env}
		if r := s.releases[env]; r != nil {
			e.Status, e.VersionName = 1, r.version
		}
		all = append(all, e)
	}
	type result struct {
		TotalCount      int64         `json:"TotalCount"`
		EnvironmentList []environment `json:"EnvironmentList"`
	}
	return struct {
		Result result `json:"Result"`
	}{result{int64(len(all)), page(all, offset, limit)}}, nil
}

type filter struct {
	Name   string   `json:"Name"`
	Values []string `json:"Values"`
}

type listRequest struct {
	ServiceID string   `json:"ServiceId"`
	Offset    int64    `json:"Offset"`
	Limit     *int64   `json:"Limit"`
	Filters   []filter `json:"Filters"`
}

func (in listRequest) limits() (offset, limit int64, err error) {
	limit = derefInt(in.Limit, defaultDescribeLimit)
	if limit < 1 || limit > maxDescribeLimit || in.Offset < 0 {
		return 0, 0, Errorf(CodeRangeExceeded, "Limit must be 1-%d and Offset not negative.", maxDescribeLimit)
	}
	return in.Offset, limit, nil
}

// matches applies filters by exact value; names are the ones the action
// supports.
func matches(filters []filter, supported map[string]string) (bool, error) {
	for _, f := range filters {
		v, ok := supported[f.Name]
		if !ok {
			return false, Errorf(CodeUnsupportedFilter, "Filter %q is not supported here.", clip(f.Name))
		}
		found := false
		for _, want := range f.Values {
			found = found || want == v
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

func (c *Cloud) describeServicesStatus(_ context.Context, req *Request) (any, error) {
	var in listRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	offset, limit, err := in.limits()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []*service
	for _, s := range c.services {
		if s.region != req.Region {
			continue
		}
		ok, err := matches(in.Filters, map[string]string{"ServiceId": s.id, "ServiceName": s.name})
		if err != nil {
			return nil, err
		}
		if ok {
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].created.Before(all[j].created) || all[i].created.Equal(all[j].created) && all[i].id < all[j].id
	})
	set := make([]serviceDetail, 0, limit)
	for _, s := range page(all, offset, limit) {
		set = append(set, s.detail())
	}
	type result struct {
		TotalCount int64           `json:"TotalCount"`
		ServiceSet []serviceDetail `json:"ServiceSet"`
	}
	return struct {
		Result result `json:"Result"`
	}{result{int64(len(all)), set}}, nil
}

func (c *Cloud) deleteService(_ context.Context, req *Request) (any, error) {
	var in struct {
		ServiceID string `json:"ServiceId"`
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.lookupService(req, in.ServiceID)
	if err != nil {
		return nil, err
	}
	if envs := s.environments(); len(envs) > 0 {
		return nil, Errorf(CodeServiceReleased, "The service %s is released in %s: unrelease it first (UnReleaseService).", s.id, strings.Join(envs, ", "))
	}
	if len(s.apis) > 0 {
		return nil, Errorf(CodeAPIListNotEmpty, "The service %s has %d APIs: delete them first (DeleteApi).", s.id, len(s.apis))
	}
	if len(s.tags) > 0 {
		return nil, Errorf(CodeTagsNotEmpty, "The service %s has %d tags bound: unbind them first (tag API DetachResourcesTag).", s.id, len(s.tags))
	}
	delete(c.services, s.id)
	return resultOK(), nil
}

// resultOK is the answer of actions whose Result says it worked.
func resultOK() any {
	return struct {
		Result bool `json:"Result"`
	}{true}
}

// apiRequest is CreateApi's and ModifyApi's parameters (the ones a
// WebSocket API with an SCF backend uses).
type apiRequest struct {
	ServiceID     string `json:"ServiceId"`
	APIID         string `json:"ApiId"`
	ServiceType   string `json:"ServiceType"`
	Protocol      string `json:"Protocol"`
	APIName       string `json:"ApiName"`
	APIDesc       string `json:"ApiDesc"`
	AuthType      string `json:"AuthType"`
	RequestConfig *struct {
		Path   string `json:"Path"`
		Method string `json:"Method"`
	} `json:"RequestConfig"`
	ServiceTimeout                             *int64  `json:"ServiceTimeout"`
	ServiceScfFunctionName                     string  `json:"ServiceScfFunctionName"`
	ServiceScfIsIntegratedResponse             *bool   `json:"ServiceScfIsIntegratedResponse"`
	ServiceWebsocketRegisterFunctionName       string  `json:"ServiceWebsocketRegisterFunctionName"`
	ServiceWebsocketRegisterFunctionNamespace  string  `json:"ServiceWebsocketRegisterFunctionNamespace"`
	ServiceWebsocketRegisterFunctionQualifier  string  `json:"ServiceWebsocketRegisterFunctionQualifier"`
	ServiceWebsocketTransportFunctionName      string  `json:"ServiceWebsocketTransportFunctionName"`
	ServiceWebsocketTransportFunctionNamespace string  `json:"ServiceWebsocketTransportFunctionNamespace"`
	ServiceWebsocketTransportFunctionQualifier string  `json:"ServiceWebsocketTransportFunctionQualifier"`
	ServiceWebsocketCleanupFunctionName        string  `json:"ServiceWebsocketCleanupFunctionName"`
	ServiceWebsocketCleanupFunctionNamespace   string  `json:"ServiceWebsocketCleanupFunctionNamespace"`
	ServiceWebsocketCleanupFunctionQualifier   string  `json:"ServiceWebsocketCleanupFunctionQualifier"`
	ResponseType                               *string `json:"ResponseType"`
}

// apiFrom checks the request and returns the API it describes. The lock
// is held: the bound functions must exist.
func (c *Cloud) apiFrom(req *Request, s *service, in apiRequest, self *api) (*api, error) {
	if err := checkAPIKind(in); err != nil {
		return nil, err
	}
	if in.RequestConfig == nil || !strings.HasPrefix(in.RequestConfig.Path, "/") {
		return nil, Errorf(CodeInvalidAPIRequestConfig, "RequestConfig.Path must start with / (e.g. /websocket).")
	}
	if !strings.EqualFold(in.RequestConfig.Method, "GET") {
		return nil, Errorf(CodeInvalidWSMethod, "A WEBSOCKET API's method must be GET, not %q.", clip(in.RequestConfig.Method))
	}
	for _, other := range s.apis {
		if other != self && other.path == in.RequestConfig.Path {
			return nil, Errorf(CodeInvalidAPIRequestConfig, "The path %s is already used by %s in service %s.", other.path, other.id, s.id)
		}
	}
	switch in.AuthType {
	case "", defaultAuthType:
	default:
		return nil, Errorf(CodeUnsupportedEndpointType, "AuthType %q: scfws local serves APIs without authentication (NONE) only.", clip(in.AuthType))
	}
	timeout := derefInt(in.ServiceTimeout, defaultServiceTimeout)
	if timeout < 1 || timeout > MaxServiceTimeout {
		return nil, Errorf(CodeRangeExceeded, "ServiceTimeout %d: the backend timeout is 1 to %d seconds.", timeout, MaxServiceTimeout)
	}
	if in.ServiceScfFunctionName != "" {
		return nil, Errorf(CodeInvalidScfConfig, "A WEBSOCKET API names its functions in ServiceWebsocketTransportFunctionName (and Register, Cleanup), not ServiceScfFunctionName.")
	}
	a := &api{
		name: in.APIName, desc: in.APIDesc, protocol: websocketProtocol, serviceType: scfServiceType,
		path: in.RequestConfig.Path, method: "GET", authType: defaultAuthType, timeout: timeout,
		integrated: in.ServiceScfIsIntegratedResponse != nil && *in.ServiceScfIsIntegratedResponse,
	}
	var err error
	if a.transport, err = c.binding(req, "transport", in.ServiceWebsocketTransportFunctionName, in.ServiceWebsocketTransportFunctionNamespace, in.ServiceWebsocketTransportFunctionQualifier, true); err != nil {
		return nil, err
	}
	if a.register, err = c.binding(req, "register", in.ServiceWebsocketRegisterFunctionName, in.ServiceWebsocketRegisterFunctionNamespace, in.ServiceWebsocketRegisterFunctionQualifier, false); err != nil {
		return nil, err
	}
	if a.cleanup, err = c.binding(req, "cleanup", in.ServiceWebsocketCleanupFunctionName, in.ServiceWebsocketCleanupFunctionNamespace, in.ServiceWebsocketCleanupFunctionQualifier, false); err != nil {
		return nil, err
	}
	return a, nil
}

// checkAPIKind accepts what scfws local serves: a WEBSOCKET API with an
// SCF backend.
func checkAPIKind(in apiRequest) error {
	switch strings.ToUpper(in.Protocol) {
	case websocketProtocol:
	case "HTTP", "HTTPS":
		return Errorf(CodeUnsupportedEndpointType, "scfws local serves WebSocket APIs (Protocol WEBSOCKET) only.")
	case "":
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `Protocol` (HTTP or WEBSOCKET).")
	default:
		return Errorf(CodeInvalidProtocol, "Protocol %q: use HTTP or WEBSOCKET.", clip(in.Protocol))
	}
	switch strings.ToUpper(in.ServiceType) {
	case scfServiceType:
	case "":
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `ServiceType`.")
	case "HTTP", "MOCK", "TSF", "CLB", "WEBSOCKET", "TARGET":
		return Errorf(CodeUnsupportedEndpointType, "ServiceType %s: scfws local serves WebSocket APIs with an SCF backend (ServiceType SCF) only.", in.ServiceType)
	default:
		return Errorf(CodeInvalidServiceType, "ServiceType %q is not a backend type.", clip(in.ServiceType))
	}
	return nil
}

// binding checks a function bound to a role: it must exist in the region.
func (c *Cloud) binding(req *Request, role, name, namespace, qualifier string, required bool) (scfBinding, error) {
	if name == "" {
		if required {
			return scfBinding{}, Errorf(CodeInvalidScfConfig, "A WEBSOCKET API with an SCF backend needs a transport function (ServiceWebsocketTransportFunctionName).")
		}
		return scfBinding{}, nil
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if qualifier == "" {
		qualifier = latestQualifier
	}
	if qualifier != latestQualifier {
		return scfBinding{}, Errorf(CodeInvalidScfConfig, "The %s function's qualifier %q: scfws local runs $LATEST only.", role, clip(qualifier))
	}
	id := FunctionID{Region: req.Region, Namespace: namespace, Name: name}
	if f, ok := c.functions[id]; !ok || f.status == StatusDeleting {
		return scfBinding{}, Errorf(CodeInvalidScfConfig, "The %s function %s does not exist in namespace %s of %s.", role, clip(name), clip(namespace), req.Region)
	}
	return scfBinding{name: name, namespace: namespace, qualifier: qualifier}, nil
}

func (c *Cloud) createAPI(_ context.Context, req *Request) (any, error) {
	var in apiRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.lookupService(req, in.ServiceID)
	if err != nil {
		return nil, err
	}
	a, err := c.apiFrom(req, s, in, nil)
	if err != nil {
		return nil, err
	}
	now := c.opts.Now()
	a.id, a.created, a.modified = "api-"+randomID(8), now, now
	a.pushURL = c.opts.PushURL(s.region, s.id, a.id)
	s.apis = append(s.apis, a)
	s.modified = now
	type result struct {
		APIID       string `json:"ApiId"`
		Path        string `json:"Path"`
		Method      string `json:"Method"`
		CreatedTime string `json:"CreatedTime"`
	}
	return struct {
		Result result `json:"Result"`
	}{result{a.id, a.path, a.method, now.UTC().Format(apigwTimeLayout)}}, nil
}

func (c *Cloud) modifyAPI(_ context.Context, req *Request) (any, error) {
	var in apiRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, old, err := c.lookupAPI(req, in.ServiceID, in.APIID)
	if err != nil {
		return nil, err
	}
	if in.Protocol != "" && !strings.EqualFold(in.Protocol, old.protocol) {
		return nil, Errorf(CodeUnsupportedModifyProto, "The API %s is %s; its protocol cannot change.", old.id, old.protocol)
	}
	in.Protocol = old.protocol
	a, err := c.apiFrom(req, s, in, old)
	if err != nil {
		return nil, err
	}
	a.id, a.created, a.pushURL, a.modified = old.id, old.created, old.pushURL, c.opts.Now()
	*old = *a
	s.modified = a.modified
	return struct{}{}, nil
}

func (c *Cloud) describeAPI(_ context.Context, req *Request) (any, error) {
	var in struct {
		ServiceID string `json:"ServiceId"`
		APIID     string `json:"ApiId"`
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, a, err := c.lookupAPI(req, in.ServiceID, in.APIID)
	if err != nil {
		return nil, err
	}
	type requestConfig struct {
		Path   string `json:"Path"`
		Method string `json:"Method"`
	}
	type info struct {
		ServiceID                                  string        `json:"ServiceId"`
		ServiceName                                string        `json:"ServiceName"`
		ServiceDesc                                string        `json:"ServiceDesc"`
		APIID                                      string        `json:"ApiId"`
		APIName                                    string        `json:"ApiName"`
		APIDesc                                    string        `json:"ApiDesc"`
		APIType                                    string        `json:"ApiType"`
		Protocol                                   string        `json:"Protocol"`
		AuthType                                   string        `json:"AuthType"`
		RequestConfig                              requestConfig `json:"RequestConfig"`
		ServiceType                                string        `json:"ServiceType"`
		ServiceTimeout                             int64         `json:"ServiceTimeout"`
		ServiceScfIsIntegratedResponse             bool          `json:"ServiceScfIsIntegratedResponse"`
		ServiceWebsocketRegisterFunctionName       string        `json:"ServiceWebsocketRegisterFunctionName"`
		ServiceWebsocketRegisterFunctionNamespace  string        `json:"ServiceWebsocketRegisterFunctionNamespace"`
		ServiceWebsocketRegisterFunctionQualifier  string        `json:"ServiceWebsocketRegisterFunctionQualifier"`
		ServiceWebsocketTransportFunctionName      string        `json:"ServiceWebsocketTransportFunctionName"`
		ServiceWebsocketTransportFunctionNamespace string        `json:"ServiceWebsocketTransportFunctionNamespace"`
		ServiceWebsocketTransportFunctionQualifier string        `json:"ServiceWebsocketTransportFunctionQualifier"`
		ServiceWebsocketCleanupFunctionName        string        `json:"ServiceWebsocketCleanupFunctionName"`
		ServiceWebsocketCleanupFunctionNamespace   string        `json:"ServiceWebsocketCleanupFunctionNamespace"`
		ServiceWebsocketCleanupFunctionQualifier   string        `json:"ServiceWebsocketCleanupFunctionQualifier"`
		InternalDomain                             string        `json:"InternalDomain"`
		Environments                               []string      `json:"Environments"`
		CreatedTime                                string        `json:"CreatedTime"`
		ModifiedTime                               string        `json:"ModifiedTime"`
	}
	return struct {
		Result info `json:"Result"`
	}{info{
		ServiceID: s.id, ServiceName: s.name, ServiceDesc: s.desc, APIID: a.id, APIName: a.name, APIDesc: a.desc,
		APIType: defaultAPIType, Protocol: a.protocol, AuthType: a.authType, RequestConfig: requestConfig{a.path, a.method},
		ServiceType: a.serviceType, ServiceTimeout: a.timeout, ServiceScfIsIntegratedResponse: a.integrated,
		ServiceWebsocketRegisterFunctionName: a.register.name, ServiceWebsocketRegisterFunctionNamespace: a.register.namespace,
		ServiceWebsocketRegisterFunctionQualifier: a.register.qualifier,
		ServiceWebsocketTransportFunctionName:     a.transport.name, ServiceWebsocketTransportFunctionNamespace: a.transport.namespace,
		ServiceWebsocketTransportFunctionQualifier: a.transport.qualifier,
		ServiceWebsocketCleanupFunctionName:        a.cleanup.name, ServiceWebsocketCleanupFunctionNamespace: a.cleanup.namespace,
		ServiceWebsocketCleanupFunctionQualifier: a.cleanup.qualifier,
		InternalDomain:                           a.pushURL, Environments: s.apiEnvironments(a.id),
		CreatedTime: a.created.UTC().Format(apigwTimeLayout), ModifiedTime: a.modified.UTC().Format(apigwTimeLayout),
	}}, nil
}

func (c *Cloud) describeAPIsStatus(_ context.Context, req *Request) (any, error) {
	var in listRequest
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	offset, limit, err := in.limits()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.lookupService(req, in.ServiceID)
	if err != nil {
		return nil, err
	}
	var all []apiIDStatus
	for _, a := range s.apis {
		ok, err := matches(in.Filters, map[string]string{"ApiId": a.id, "ApiName": a.name, "ApiPath": a.path})
		if err != nil {
			return nil, err
		}
		if ok {
			all = append(all, s.apiStatus(a))
		}
	}
	type result struct {
		TotalCount     int64         `json:"TotalCount"`
		APIIDStatusSet []apiIDStatus `json:"ApiIdStatusSet"`
	}
	return struct {
		Result result `json:"Result"`
	}{result{int64(len(all)), page(all, offset, limit)}}, nil
}

func (c *Cloud) deleteAPI(ctx context.Context, req *Request) (any, error) {
	var in struct {
		ServiceID string `json:"ServiceId"`
		APIID     string `json:"ApiId"`
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	c.releaseMu.Lock()
	defer c.releaseMu.Unlock()
	c.mu.Lock()
	s, a, err := c.lookupAPI(req, in.ServiceID, in.APIID)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	envs := s.apiEnvironments(a.id)
	for i, other := range s.apis {
		if other == a {
			s.apis = append(s.apis[:i:i], s.apis[i+1:]...)
			break
		}
	}
	for _, env := range envs {
		r := s.releases[env]
		kept := r.apis[:0:0]
		for _, released := range r.apis {
			if released.id != a.id {
				kept = append(kept, released)
			}
		}
		r.apis = kept
	}
	c.mu.Unlock()
	// A deleted API is no longer served, even where it was released.
	for _, env := range envs {
		if err := c.rt.Unserve(ctx, s.releasedID(a.id, env)); err != nil {
			return nil, Errorf(CodeServiceError, "The API %s was deleted, but scfws local could not stop serving it in %s: %v.", a.id, env, err)
		}
	}
	return resultOK(), nil
}

func checkEnvironmentName(env string) error {
	switch env {
	case environmentRelease, environmentPrepub, environmentTest:
		return nil
	case "":
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `EnvironmentName` (test, prepub or release).")
	}
	return Errorf(CodeNotInOptions, "EnvironmentName %q: use test, prepub or release.", clip(env))
}

func (c *Cloud) releaseService(ctx context.Context, req *Request) (any, error) {
	var in struct {
		ServiceID       string `json:"ServiceId"`
		EnvironmentName string `json:"EnvironmentName"`
		ReleaseDesc     string `json:"ReleaseDesc"`
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	if err := checkEnvironmentName(in.EnvironmentName); err != nil {
		return nil, err
	}
	c.releaseMu.Lock()
	defer c.releaseMu.Unlock()
	c.mu.Lock()
	s, err := c.lookupService(req, in.ServiceID)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	next := &release{desc: in.ReleaseDesc, version: c.opts.Now().UTC().Format(releaseVersionLayout)}
	for _, a := range s.apis {
		next.apis = append(next.apis, *a)
	}
	var stale []string
	if prev, ok := s.releases[in.EnvironmentName]; ok {
		for _, a := range prev.apis {
			if s.api(a.id) == nil {
				stale = append(stale, a.id)
			}
		}
		if next.version <= prev.version { // two releases in one second
			next.version = prev.version + "1"
		}
	}
	specs := make([]APISpec, len(next.apis))
	for i, a := range next.apis {
		specs[i] = c.apiSpec(s, a, in.EnvironmentName)
	}
	c.mu.Unlock()

	for _, spec := range specs {
		if err := c.rt.Serve(ctx, spec); err != nil {
			return nil, Errorf(CodeServiceError, "scfws local could not serve %s of service %s: %v.", spec.APIID.APIID, s.id, err)
		}
	}
	for _, id := range stale {
		if err := c.unserve(ctx, s, id, in.EnvironmentName); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	s.releases[in.EnvironmentName] = next
	c.mu.Unlock()
	type result struct {
		ReleaseDesc    string `json:"ReleaseDesc"`
		ReleaseVersion string `json:"ReleaseVersion"`
	}
	return struct {
		Result result `json:"Result"`
	}{result{next.desc, next.version}}, nil
}

func (c *Cloud) apiSpec(s *service, a api, env string) APISpec {
	return APISpec{
		APIID:       s.releasedID(a.id, env),
		URL:         fmt.Sprintf("%s://%s/%s%s", c.opts.WSScheme, s.subDomain, env, a.path),
		Path:        a.path,
		PushURL:     a.pushURL,
		IdleTimeout: time.Duration(a.timeout) * time.Second,
		Register:    a.register.id(s.region),
		Transport:   a.transport.id(s.region),
		Cleanup:     a.cleanup.id(s.region),
	}
}

// releasedID names s's API apiID as released in env.
func (s *service) releasedID(apiID, env string) APIID {
	return APIID{Region: s.region, ServiceID: s.id, APIID: apiID, Environment: env}
}

// unserve stops serving s's API apiID in env.
func (c *Cloud) unserve(ctx context.Context, s *service, apiID, env string) error {
	if err := c.rt.Unserve(ctx, s.releasedID(apiID, env)); err != nil {
		return Errorf(CodeServiceError, "scfws local could not stop serving %s of service %s: %v.", apiID, s.id, err)
	}
	return nil
}

func (c *Cloud) unReleaseService(ctx context.Context, req *Request) (any, error) {
	var in struct {
		ServiceID       string `json:"ServiceId"`
		EnvironmentName string `json:"EnvironmentName"`
	}
	if err := decode(req, &in); err != nil {
		return nil, err
	}
	if err := checkEnvironmentName(in.EnvironmentName); err != nil {
		return nil, err
	}
	c.releaseMu.Lock()
	defer c.releaseMu.Unlock()
	c.mu.Lock()
	s, err := c.lookupService(req, in.ServiceID)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	prev := s.releases[in.EnvironmentName]
	c.mu.Unlock()
	if prev == nil {
		// "如果服务在一个环境中未发布，则不能下线" (a service not released in
		// an environment cannot be unreleased from it: the console's doc);
		// the API's code for it is not documented.
		return nil, Errorf(CodeServiceError, "The service %s is not released in %s, so it cannot be unreleased from it.", s.id, in.EnvironmentName)
	}
	for _, a := range prev.apis {
		if err := c.unserve(ctx, s, a.id, in.EnvironmentName); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	delete(s.releases, in.EnvironmentName)
	c.mu.Unlock()
	return resultOK(), nil
}
