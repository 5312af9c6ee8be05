package cloudapi

import (
	"context"
	"encoding/json"
	"slices"
)

// The tag API: service, version, and the codes of DetachResourcesTag
// (tencentcloud-sdk-go tag/v20180813/client.go and errors.go; the
// messages are ours).
const (
	TagService                = "tag"
	TagVersion                = "2018-08-13"
	CodeTagServiceTypeInvalid = "InvalidParameterValue.ServiceTypeInvalid"
	CodeTagPrefixInvalid      = "InvalidParameterValue.ResourcePrefixInvalid"
	CodeTagResourceIDInvalid  = "InvalidParameterValue.ResourceIdInvalid"
	CodeTagKeyEmpty           = "InvalidParameterValue.TagKeyEmpty"
	CodeTagKeyNotAttached     = "ResourceNotFound.AttachedTagKeyNotFound"
	CodeTagTooManyResources   = "LimitExceeded.ResourceNumPerRequest"
	maxTagResourceIDs         = 50 // "资源个数最多为50"
	tagServiceTypeAPIGW       = "apigw"
	tagPrefixService          = "service"
)

// detachResourcesTagRequest is DetachResourcesTag's parameters: the
// resources are named by their six-segment parts, so no account ID is
// needed.
type detachResourcesTagRequest struct {
	ServiceType    string   `json:"ServiceType"`
	ResourceIDs    []string `json:"ResourceIds"`
	TagKey         string   `json:"TagKey"`
	ResourceRegion string   `json:"ResourceRegion"`
	ResourcePrefix string   `json:"ResourcePrefix"`
}

// detachResourcesTag unbinds a tag key from API Gateway services, the one
// kind of resource scfws local tags that refuses deletion while tagged
// (DeleteService: UnsupportedOperation.TagsNotEmpty).
func (c *Cloud) detachResourcesTag(_ context.Context, req *Request) (any, error) {
	var in detachResourcesTagRequest
	if err := json.Unmarshal(req.Params, &in); err != nil {
		return nil, Errorf(CodeInvalidParameter, "The parameters of %s are malformed: %v.", req.Action, err)
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var found []*service
	for _, id := range in.ResourceIDs {
		s, ok := c.services[id]
		if !ok || s.region != in.ResourceRegion {
			return nil, Errorf(CodeTagResourceIDInvalid, "The resource %s does not exist in %s.", clip(id), clip(in.ResourceRegion))
		}
		if !slices.ContainsFunc(s.tags, func(t apigwTag) bool { return t.Key == in.TagKey }) {
			return nil, Errorf(CodeTagKeyNotAttached, "The tag key %s is not bound to %s.", clip(in.TagKey), s.id)
		}
		found = append(found, s)
	}
	for _, s := range found {
		s.tags = slices.DeleteFunc(slices.Clone(s.tags), func(t apigwTag) bool { return t.Key == in.TagKey })
	}
	return struct{}{}, nil
}

// check validates the request as the tag API does, for the resources
// scfws local has (API Gateway services).
func (in detachResourcesTagRequest) check() error {
	switch {
	case in.ServiceType == "":
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `ServiceType`.")
	case in.ServiceType != tagServiceTypeAPIGW:
		return Errorf(CodeTagServiceTypeInvalid, "ServiceType %q: scfws local tags API Gateway services (apigw) only.", clip(in.ServiceType))
	case in.ResourcePrefix != tagPrefixService:
		return Errorf(CodeTagPrefixInvalid, "ResourcePrefix %q: an API Gateway service's is service.", clip(in.ResourcePrefix))
	case in.TagKey == "":
		return Errorf(CodeTagKeyEmpty, "TagKey is empty.")
	case len(in.ResourceIDs) == 0:
		return Errorf(CodeMissingParameter, "The request is missing a required parameter `ResourceIds`.")
	case len(in.ResourceIDs) > maxTagResourceIDs:
		return Errorf(CodeTagTooManyResources, "ResourceIds has %d resources, over the %d one call may name.", len(in.ResourceIDs), maxTagResourceIDs)
	case !servesAPIGateway(in.ResourceRegion):
		return Errorf(CodeTagRegion, "ResourceRegion %q is not a region with API Gateway.", clip(in.ResourceRegion))
	}
	return nil
}
