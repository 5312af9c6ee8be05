package deploy

import (
	"strings"
	"testing"
)

// LimitExceeded.RequestLimitExceeded is a rate limit (请求频率超限制，请稍等
// 再试: API Gateway's errors.go), not a quota: it is retried and hinted as
// busy, as the other rate limits are.
func TestHints(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{"LimitExceeded.RequestLimitExceeded", "still said busy"},
		{"RequestLimitExceeded", "still said busy"},
		{"RequestLimitExceeded.FrequentRequest", "still said busy"},
		{"FailedOperation.ServiceInOperation", "still said busy"},
		{"FailedOperation.FunctionStatusError", "still said busy"},
		{"LimitExceeded.Function", "an account quota is used up"},
		{"LimitExceeded.ServiceCountLimitExceeded", "an account quota is used up"},
		{"LimitExceeded.Eip", "fixed public egress IP"},
		{"UnsupportedOperation.TagsNotEmpty", "tags other than scfws-deploy"},
		{"UnsupportedOperation.Region", "check -region"},
		{"InvalidParameterValue.InvalidRegion", "check -region"},
		{"AuthFailure.UnauthorizedOperation", "may not call apigw:CreateApi"},
		{"UnauthorizedOperation.CAM", "may not call apigw:CreateApi"},
	}
	for _, tt := range tests {
		if got := hint(tt.give, "apigw:CreateApi"); !strings.Contains(got, tt.want) {
			t.Errorf("hint(%q) = %q; want %q in it", tt.give, got, tt.want)
		}
	}
}

func TestBusy(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"FailedOperation.ServiceInOperation", true},
		{"FailedOperation.ApiInOperation", true},
		{"LimitExceeded.RequestLimitExceeded", true},
		{"RequestLimitExceeded.UinLimitExceeded", true},
		{"ResourceInUse", true},
		{"FailedOperation.UpdateFunctionCode", true},
		{"UnauthorizedOperation.FunctionStatus", true},
		// SCF's ResourceInUse.* mean "already exists".
		{"ResourceInUse.Function", false},
		{"LimitExceeded.Function", false},
		{"AuthFailure.UnauthorizedOperation", false},
		{"FailedOperation.ServiceError", false},
	}
	for _, tt := range tests {
		if got := Busy(tt.give); got != tt.want {
			t.Errorf("Busy(%q) = %v; want %v", tt.give, got, tt.want)
		}
	}
}
