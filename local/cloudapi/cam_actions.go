package cloudapi

import "strings"

// camActions are the action names a CAM policy may hold, for the products
// scfws local knows: each product's API actions, as the official Go SDK
// (tencentcloud-sdk-go v1.0.162, its client.go files) names them, plus the
// ones its products' CAM tables name that this SDK lacks: scf:UpdateFunction
// (SCF's 权限管理概述: "更新函数，包括配置和/或代码"), scf:InvokeFunction
// (the same table, "触发函数"; an API action in later SDKs) and cam:PassRole
// (CAM's 1040/36819). A policy naming another action of these products is refused
// with InvalidParameter.ActionNotExist, as CAM refuses one ("策略语法中操作
// 不存在"); one naming another product, with InvalidParameter.ActionServiceNotExist.
var camActions = actionSet(map[string]string{
	"scf":   "CopyFunction InvokeFunction CreateAlias CreateFunction CreateNamespace CreateTrigger DeleteAlias DeleteFunction DeleteLayerVersion DeleteNamespace DeleteProvisionedConcurrencyConfig DeleteReservedConcurrencyConfig DeleteTrigger GetAccount GetAlias GetFunction GetFunctionAddress GetFunctionEventInvokeConfig GetFunctionLogs GetLayerVersion GetProvisionedConcurrencyConfig GetReservedConcurrencyConfig Invoke ListAliases ListAsyncEvents ListFunctions ListLayerVersions ListLayers ListNamespaces ListTriggers ListVersionByFunction PublishLayerVersion PublishVersion PutProvisionedConcurrencyConfig PutReservedConcurrencyConfig PutTotalConcurrencyConfig TerminateAsyncEvent UpdateAlias UpdateFunction UpdateFunctionCode UpdateFunctionConfiguration UpdateFunctionEventInvokeConfig UpdateNamespace",
	"apigw": "BindEnvironment BindIPStrategy BindSecretIds BindSubDomain BuildAPIDoc CreateAPIDoc CreateApi CreateApiKey CreateIPStrategy CreateService CreateUsagePlan DeleteAPIDoc DeleteApi DeleteApiKey DeleteIPStrategy DeleteService DeleteServiceSubDomainMapping DeleteUsagePlan DemoteServiceUsagePlan DescribeAPIDocDetail DescribeAPIDocs DescribeApi DescribeApiEnvironmentStrategy DescribeApiKey DescribeApiKeysStatus DescribeApiUsagePlan DescribeApisStatus DescribeIPStrategy DescribeIPStrategyApisStatus DescribeIPStrategysStatus DescribeLogSearch DescribePlugins DescribeService DescribeServiceEnvironmentList DescribeServiceEnvironmentReleaseHistory DescribeServiceEnvironmentStrategy DescribeServiceReleaseVersion DescribeServiceSubDomainMappings DescribeServiceSubDomains DescribeServiceUsagePlan DescribeServicesStatus DescribeUsagePlan DescribeUsagePlanEnvironments DescribeUsagePlanSecretIds DescribeUsagePlansStatus DisableApiKey EnableApiKey GenerateApiDocument ModifyAPIDoc ModifyApi ModifyApiEnvironmentStrategy ModifyApiIncrement ModifyIPStrategy ModifyService ModifyServiceEnvironmentStrategy ModifySubDomain ModifyUsagePlan ReleaseService ResetAPIDocPassword UnBindEnvironment UnBindIPStrategy UnBindSecretIds UnBindSubDomain UnReleaseService UpdateApiKey UpdateService",
	"tag":   "AddResourceTag AttachResourcesTag CreateTag DeleteResourceTag DeleteTag DescribeResourceTags DescribeResourceTagsByResourceIds DescribeResourceTagsByResourceIdsSeq DescribeResourceTagsByTagKeys DescribeResourcesByTags DescribeResourcesByTagsUnion DescribeTagKeys DescribeTagValues DescribeTagValuesSeq DescribeTags DescribeTagsSeq DetachResourcesTag ModifyResourceTags ModifyResourcesTagValue UpdateResourceTagValue",
	"cam":   "AddUser AddUserToGroup AttachGroupPolicy AttachRolePolicy AttachUserPolicy ConsumeCustomMFAToken CreateGroup CreatePolicy CreatePolicyVersion CreateRole CreateSAMLProvider CreateServiceLinkedRole DeleteGroup DeletePolicy DeletePolicyVersion DeleteRole DeleteRolePermissionsBoundary DeleteSAMLProvider DeleteServiceLinkedRole DeleteUser DeleteUserPermissionsBoundary DescribeRoleList DescribeSafeAuthFlag DescribeSafeAuthFlagColl DescribeSubAccounts DetachGroupPolicy DetachRolePolicy DetachUserPolicy GetCustomMFATokenInfo GetGroup GetPolicy GetPolicyVersion GetRole GetSAMLProvider GetServiceLinkedRoleDeletionStatus GetUser ListAccessKeys ListAttachedGroupPolicies ListAttachedRolePolicies ListAttachedUserPolicies ListCollaborators ListEntitiesForPolicy ListGroups ListGroupsForUser ListPolicies ListPolicyVersions ListSAMLProviders ListUsers ListUsersForGroup ListWeChatWorkSubAccounts PassRole PutRolePermissionsBoundary PutUserPermissionsBoundary RemoveUserFromGroup SetDefaultPolicyVersion SetMfaFlag UpdateAssumeRolePolicy UpdateGroup UpdatePolicy UpdateRoleConsoleLogin UpdateRoleDescription UpdateSAMLProvider UpdateUser",
	"sts":   "AssumeRole AssumeRoleWithSAML GetFederationToken QueryApiKey",
})

// actionSet splits each product's names.
func actionSet(names map[string]string) map[string]map[string]bool {
	set := make(map[string]map[string]bool, len(names))
	for service, list := range names {
		set[service] = map[string]bool{}
		for _, a := range strings.Fields(list) {
			set[service][a] = true
		}
	}
	return set
}
