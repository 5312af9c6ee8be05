//go:build !scfws_function

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"
	tag "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/tag/v20180813"

	"github.com/scfws/scfws/local/cloudapi"
)

// Tests of deploy and destroy against scfws local's cloud where it is as
// strict as Tencent Cloud (issue 18): each fails with the deploy of before.

func testProfile(c *testCloud) *profile.ClientProfile {
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = strings.TrimPrefix(c.url, "http://"), "HTTP"
	return prof
}

func apigwClient(t testing.TB, c *testCloud) *apigw.Client {
	t.Helper()
	cl, err := apigw.NewClient(common.NewCredential(depID, depKey), depRegion, testProfile(c))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func tagClient(t testing.TB, c *testCloud) *tag.Client {
	t.Helper()
	cl, err := tag.NewClient(common.NewCredential(depID, depKey), depRegion, testProfile(c))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// deployedService is the ID of the one service in the test cloud.
func deployedService(t testing.TB, c *testCloud) string {
	t.Helper()
	resp, err := apigwClient(t, c).DescribeServicesStatus(apigw.NewDescribeServicesStatusRequest())
	if err != nil || len(resp.Response.Result.ServiceSet) != 1 {
		t.Fatalf("DescribeServicesStatus = %v, %v; want one service", resp, err)
	}
	return *resp.Response.Result.ServiceSet[0].ServiceId
}

// Point 1: a destroy stopped after it unbound the service's tag still
// finds the service on the next run (by its description) and finishes.
func TestDestroyAfterTheTagIsGone(t *testing.T) {
	c := newTestCloud(t)
	mustDeploy(t, c, testHooks(t))
	sid := deployedService(t, c)
	unrel := apigw.NewUnReleaseServiceRequest()
	unrel.ServiceId, unrel.EnvironmentName = common.StringPtr(sid), common.StringPtr("release")
	if _, err := apigwClient(t, c).UnReleaseService(unrel); err != nil {
		t.Fatal(err)
	}
	req := tag.NewDetachResourcesTagRequest()
	req.ServiceType, req.ResourcePrefix, req.TagKey = common.StringPtr("apigw"), common.StringPtr("service"), common.StringPtr("scfws-deploy")
	req.ResourceIds, req.ResourceRegion = common.StringPtrs([]string{sid}), common.StringPtr(depRegion)
	if _, err := tagClient(t, c).DetachResourcesTag(req); err != nil {
		t.Fatal(err)
	}
	c.Calls()
	stdout, _, err := runDestroyT(t, c, "", "-yes")
	if err != nil {
		t.Fatalf("destroy = %v", err)
	}
	want := map[string]int{"apigw:DeleteApi": 1, "apigw:DeleteService": 1, "scf:DeleteFunction": 1,
		"cam:DetachRolePolicy": 1, "cam:DeletePolicy": 1, "cam:DeleteRole": 1}
	if got := writes(c.Calls()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("destroy wrote %v; want %v (nothing to unrelease or unbind)\n%s", got, want, stdout)
	}
}

// Point 3: busy refusals are retried with backoff; -fail-action's :N makes
// only the first N calls fail.
func TestDeployRetriesBusyErrors(t *testing.T) {
	tests := []struct {
		name      string
		give      cloudapi.Fault
		wantErr   []string // none: deploy succeeds
		wantCalls int      // of the action
	}{
		{name: "release busy twice", give: cloudapi.Fault{Service: "apigateway", Action: "ReleaseService", Code: "FailedOperation.ServiceInOperation", Count: 2},
			wantCalls: 3},
		{name: "rate limited once", give: cloudapi.Fault{Service: "apigateway", Action: "CreateApi", Code: "LimitExceeded.RequestLimitExceeded", Count: 1},
			wantCalls: 2},
		{name: "function busy", give: cloudapi.Fault{Service: "scf", Action: "UpdateFunctionConfiguration", Code: "FailedOperation.UpdateFunctionConfiguration", Count: 3},
			wantCalls: 4},
		{name: "busy for good", give: cloudapi.Fault{Service: "apigateway", Action: "ReleaseService", Code: "FailedOperation.ServiceInOperation"},
			wantErr:   []string{"release the service (apigw:ReleaseService): FailedOperation.ServiceInOperation", "(6 tries)", "still said busy", "run the same command again"},
			wantCalls: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCloud(t)
			c.srv.Fail(tt.give)
			_, stderr, err := runDeployT(t, c, testHooks(t))
			switch {
			case len(tt.wantErr) == 0 && err != nil:
				t.Fatalf("deploy = %v\n%s", err, stderr)
			case len(tt.wantErr) > 0 && err == nil:
				t.Fatal("deploy succeeded; want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			action := map[string]string{"apigateway": "apigw", "scf": "scf"}[tt.give.Service] + ":" + tt.give.Action
			if got := writes(c.Calls())[action]; got != tt.wantCalls {
				t.Errorf("%s called %d times; want %d", action, got, tt.wantCalls)
			}
			if !strings.Contains(stderr, tt.give.Code+": trying again in") {
				t.Errorf("progress does not say it tries again:\n%s", stderr)
			}
		})
	}
}

// Point 7: with -vpc, the function keeps public access (the push address
// is a public domain), which in a VPC comes with a fixed egress IP.
func TestDeployVPCKeepsPublicAccess(t *testing.T) {
	c := newTestCloud(t)
	mustDeploy(t, c, testHooks(t), "-vpc", "vpc-1", "-subnet", "subnet-1")
	create := bodies(c.Calls(), "scf:CreateFunction")[0]
	if got := fmt.Sprint(create["PublicNetConfig"]); got != "map[EipConfig:map[EipStatus:ENABLE] PublicNetStatus:ENABLE]" {
		t.Errorf("CreateFunction PublicNetConfig = %s", got)
	}
	req := scf.NewGetFunctionRequest()
	req.FunctionName = common.StringPtr("chat")
	got, err := scfClient(t, c).GetFunction(req)
	if err != nil {
		t.Fatal(err)
	}
	if net := got.Response.PublicNetConfig; net == nil || *net.PublicNetStatus != "ENABLE" || *net.EipConfig.EipStatus != "ENABLE" {
		t.Errorf("GetFunction PublicNetConfig = %s; want public access with a fixed IP", got.ToJsonString())
	}
	mustDeploy(t, c, testHooks(t), "-vpc", "vpc-1", "-subnet", "subnet-1")
	if w := writes(c.Calls()); len(w) != 0 {
		t.Errorf("deploy again wrote %v; want nothing", w)
	}
}

// Point 8: an environment unreleased meanwhile (the console, another
// destroy) makes UnReleaseService fail; destroy reads the list again and
// takes it as done.
func TestDestroyTreatsNotReleasedAsDone(t *testing.T) {
	c := newTestCloud(t)
	mustDeploy(t, c, testHooks(t))
	sid := deployedService(t, c)
	var first atomic.Bool // the unrelease below comes through here too
	c.mu.Lock()
	c.before = func(action string) {
		if action != "apigw:UnReleaseService" || first.Swap(true) {
			return
		}
		req := apigw.NewUnReleaseServiceRequest()
		req.ServiceId, req.EnvironmentName = common.StringPtr(sid), common.StringPtr("release")
		if _, err := apigwClient(t, c).UnReleaseService(req); err != nil {
			t.Errorf("the concurrent unrelease = %v", err)
		}
	}
	c.mu.Unlock()
	stdout, stderr, err := runDestroyT(t, c, "", "-yes")
	if err != nil {
		t.Fatalf("destroy = %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "was no longer released in release") || !strings.Contains(stdout, "deleteFunction") {
		t.Errorf("destroy said:\n%s%s", stderr, stdout)
	}
}

// Point 9: a region SCF does not serve is refused by the API; deploy says
// to check -region.
func TestDeployUnknownRegion(t *testing.T) {
	c := newTestCloud(t)
	_, _, err := runDeployT(t, c, testHooks(t), "-region", "ap-nowhere")
	for _, want := range []string{"read the function (scf:GetFunction): UnsupportedOperation.Region", "check -region"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("deploy -region ap-nowhere = %v; want %q", err, want)
		}
	}
}

// Points 2 and 5: what the API would refuse is refused before any call.
func TestDeployRefusesWhatTheAPIWould(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want string
	}{
		{name: "idle timeout over 1800s", give: []string{"-idle-timeout", "1801s"}, want: "-idle-timeout 30m1s: whole seconds, 1s to 30m0s"},
		{name: "empty value", give: []string{"-env", "DB_HOST="}, want: "-env number 1: DB_HOST has an empty value"},
		{name: "reserved prefix", give: []string{"-env", "SCF_RUNTIME=Go1"}, want: "names starting with SCF_ are reserved"},
		{name: "reserved TENCENTCLOUD_", give: []string{"-env", "TENCENTCLOUD_SECRETKEY=" + depKey}, want: "names starting with TENCENTCLOUD_ are reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCloud(t)
			var out, errOut bytes.Buffer
			err := runDeploy(append([]string{"-region", depRegion, "-name", "chat", "-endpoint", c.url}, tt.give...), nil, &out, &errOut, testHooks(t))
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("deploy %q = %v; want a usage error with %q", tt.give, err, tt.want)
			}
			assertNoSecrets(t, fmt.Sprint(err))
			if calls := c.Calls(); len(calls) != 0 {
				t.Errorf("deploy made %d calls; want none", len(calls))
			}
		})
	}
}
