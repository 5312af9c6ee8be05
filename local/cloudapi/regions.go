package cloudapi

import (
	"context"
	"slices"
	"sort"
)

// Region is one of Tencent Cloud's regions and what it serves.
type Region struct {
	Name       string // e.g. ap-guangzhou
	SCF        bool   // SCF's Invoke lists it
	APIGateway bool   // API Gateway's region page lists it
}

// Regions is the one list of regions scfws local answers in: the union of
// the two lists SCF's Invoke documents, "This API only supports" on
// https://www.tencentcloud.com/document/product/583/17243 and "本接口仅支持
// 其中的" on https://cloud.tencent.com/document/product/583/58400, and, for
// API Gateway, its region page (tencentyun/qcloud-documents
// product/计算与网络/API网关/产品简介/地域和可用区.md), which lacks three of
// them. SCF's actions elsewhere are refused with UnsupportedOperation.Region,
// API Gateway's with InvalidParameterValue.InvalidRegion.
var Regions = []Region{
	{"ap-bangkok", true, true},
	{"ap-beijing", true, true},
	{"ap-chengdu", true, true},
	{"ap-chongqing", true, true},
	{"ap-guangzhou", true, true},
	{"ap-hongkong", true, true},
	{"ap-jakarta", true, false},
	{"ap-mumbai", true, true},
	{"ap-nanjing", true, true},
	{"ap-seoul", true, true},
	{"ap-shanghai", true, true},
	{"ap-shanghai-fsi", true, true},
	{"ap-shenzhen-fsi", true, true},
	{"ap-singapore", true, true},
	{"ap-tokyo", true, true},
	{"eu-frankfurt", true, true},
	{"na-ashburn", true, false},
	{"na-siliconvalley", true, true},
	{"na-toronto", true, true},
	{"sa-saopaulo", true, false},
}

// Region error codes: SCF's (scf/v20180416/errors.go, 不支持此地域), API
// Gateway's (apigateway/v20180808/errors.go, 地域错误) and the tag API's
// (tag/v20180813/errors.go).
const (
	CodeSCFRegion       = "UnsupportedOperation.Region"
	CodeAPIGWRegion     = "InvalidParameterValue.InvalidRegion"
	CodeTagRegion       = "InvalidParameterValue.RegionInvalid"
	msgRegionListSource = "scfws local answers in the regions SCF's Invoke documents"
)

// servesSCF says whether SCF is documented in region.
func servesSCF(region string) bool {
	return slices.ContainsFunc(Regions, func(r Region) bool { return r.Name == region && r.SCF })
}

// servesAPIGateway says whether API Gateway is documented in region.
func servesAPIGateway(region string) bool {
	return slices.ContainsFunc(Regions, func(r Region) bool { return r.Name == region && r.APIGateway })
}

// regionNames lists the regions where ok holds, sorted.
func regionNames(ok func(Region) bool) []string {
	var names []string
	for _, r := range Regions {
		if ok(r) {
			names = append(names, r.Name)
		}
	}
	sort.Strings(names)
	return names
}

// checkRegion refuses a call outside the regions its service serves, as
// the cloud does; an empty region is a missing parameter.
func checkRegion(service, region string) error {
	if region == "" {
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `Region` (X-TC-Region).")
	}
	switch service {
	case SCFService:
		if !servesSCF(region) {
			return Errorf(CodeSCFRegion, "The region %q is not supported (%s: %v).", clip(region), msgRegionListSource, regionNames(func(r Region) bool { return r.SCF }))
		}
	case APIGatewayService:
		if !servesAPIGateway(region) {
			return Errorf(CodeAPIGWRegion, "The region %q has no API Gateway (its region page lists %v).", clip(region), regionNames(func(r Region) bool { return r.APIGateway }))
		}
	}
	return nil
}

// regional serves h in the regions service serves only.
func regional(service string, h Handler) Handler {
	return func(ctx context.Context, req *Request) (any, error) {
		if err := checkRegion(service, req.Region); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}
