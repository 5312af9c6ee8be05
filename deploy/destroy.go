package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	scf "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/scf/v20180416"
	tag "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/tag/v20180813"
)

// ErrNotConfirmed: the removals were not confirmed, so nothing was removed.
var ErrNotConfirmed = errors.New("not confirmed: nothing was removed")

// removal is one planned write of Destroy, and what it waits for once
// it is done and said (then may be nil).
type removal struct {
	step, detail string
	do, then     func(ctx context.Context) error
}

// Destroy removes what Deploy made for t, and only that: the WebSocket API
// it made, the service it made (unless other APIs live there), and the
// function it made (tagged scfws-deploy=<namespace>/<name>). The service
// is unreleased from the environments it is released in, its API deleted,
// its tag unbound (API Gateway refuses to delete a tagged service:
// UnsupportedOperation.TagsNotEmpty), then it is deleted. confirm, when
// not nil, is shown the removals first and must say yes.
func (d *Deployer) Destroy(ctx context.Context, t Target, confirm func(removals []string) (bool, error)) (Result, error) {
	if t.Region == "" || t.Name == "" {
		return Result{}, errors.New("destroy needs a region and a function name")
	}
	c, err := newCloud(d, t.Region, func(s string) string { return s })
	if err != nil {
		return Result{}, err
	}
	r := &run{d: d, cfg: Config{Target: t}, c: c, redact: c.redact,
		res: Result{FunctionName: t.Name, Namespace: t.namespace(), Changed: []string{}}}
	r.say("scfws destroy: %s in namespace %s of %s", t.Name, t.namespace(), t.Region)
	plan, err := r.destroyPlan(ctx)
	if err != nil {
		return r.res, err
	}
	if len(plan) == 0 {
		r.res.Notes = append(r.res.Notes, "nothing made by scfws deploy is left to remove")
		return r.res, nil
	}
	if confirm != nil {
		lines := make([]string, len(plan))
		for i, p := range plan {
			lines[i] = p.detail
		}
		ok, err := confirm(lines)
		if err != nil {
			return r.res, err
		}
		if !ok {
			return r.res, ErrNotConfirmed
		}
	}
	for _, p := range plan {
		if err := p.do(ctx); err != nil {
			return r.res, err
		}
		r.change(p.step, "%s", p.detail)
		if p.then == nil {
			continue
		}
		if err := p.then(ctx); err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

func (r *run) destroyPlan(ctx context.Context) ([]removal, error) {
	t := r.cfg.Target
	var plan []removal
	svc, err := r.findService(ctx)
	if err != nil {
		return nil, err
	}
	if svc != nil {
		if plan, err = r.servicePlan(ctx, svc); err != nil {
			return nil, err
		}
	}
	fn, err := r.getFunction(ctx)
	if err != nil {
		return nil, failed("read the function", "scf:GetFunction", err)
	}
	switch {
	case fn == nil:
	case fn.owned:
		plan = append(plan, r.deleteFunction())
	default:
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the function %s is left: scfws deploy did not make it (no tag %s=%s)", t.Name, OwnerTag, t.owner()))
	}
	if fn != nil && fn.role != "" && fn.role != t.RoleName() {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the run role %s is left: scfws deploy did not make it (a role given with -role is never removed)", fn.role))
	}
	roles, err := r.rolePlan(ctx, fn)
	return append(plan, roles...), err
}

// servicePlan is the removals of the service deploy made: all of it, or,
// when it holds APIs deploy did not make, deploy's API alone.
func (r *run) servicePlan(ctx context.Context, svc *serviceState) ([]removal, error) {
	r.res.ServiceID = svc.id
	envs, err := r.releasedIn(ctx, svc.id)
	if err != nil {
		return nil, err
	}
	ours, others, err := r.serviceAPIs(ctx, svc.id)
	if err != nil {
		return nil, err
	}
	if len(ours) > 0 {
		r.res.APIID = ours[0]
	}
	var plan []removal
	if len(others) > 0 {
		for _, id := range ours {
			plan = append(plan, r.deleteAPI(svc.id, id))
		}
		if len(ours) > 0 && contains(envs, Environment) {
			plan = append(plan, removal{step: StepReleaseService, detail: fmt.Sprintf("release the service %s again, without the API", svc.id),
				do: func(ctx context.Context) error { return r.releaseService(ctx, svc.id) }})
		}
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("the service %s is left: it has APIs scfws deploy did not make (%s)", svc.id, strings.Join(others, ", ")))
		return plan, nil
	}
	for _, env := range envs {
		plan = append(plan, r.unrelease(svc.id, env))
	}
	for _, id := range ours {
		plan = append(plan, r.deleteAPI(svc.id, id))
	}
	if svc.tagged {
		plan = append(plan, r.detachTag(svc.id))
	}
	return append(plan, r.deleteService(svc.id)), nil
}

// releasedIn lists the environments the service is released in: those
// DescribeServiceEnvironmentList gives Status 1 ("1 表示已发布").
func (r *run) releasedIn(ctx context.Context, serviceID string) ([]string, error) {
	req := apigw.NewDescribeServiceEnvironmentListRequest()
	req.ServiceId = common.StringPtr(serviceID)
	req.Limit = common.Uint64Ptr(100)
	var list *apigw.DescribeServiceEnvironmentListResponse
	if err := r.c.apigw(ctx, func(c *apigw.Client) (err error) { list, err = c.DescribeServiceEnvironmentList(req); return err }); err != nil {
		return nil, failed("list the service's environments", "apigw:DescribeServiceEnvironmentList", err)
	}
	var envs []string
	if list.Response.Result != nil {
		for _, env := range list.Response.Result.EnvironmentList {
			if env.Status != nil && *env.Status == 1 {
				envs = append(envs, str(env.EnvironmentName))
			}
		}
	}
	return envs, nil
}

// serviceAPIs sorts the service's APIs into deploy's (by name, confirmed
// by DescribeApi) and the others.
func (r *run) serviceAPIs(ctx context.Context, serviceID string) (ours, others []string, err error) {
	apis, err := r.listAPIs(ctx, serviceID)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range apis {
		id := str(a.ApiId)
		if str(a.ApiName) == APIName {
			info, err := r.describeAPI(ctx, serviceID, id)
			if err != nil {
				return nil, nil, err
			}
			if isOurs(info) {
				ours = append(ours, id)
				continue
			}
		}
		others = append(others, id)
	}
	return ours, others, nil
}

// listAPIs lists every API of the service.
func (r *run) listAPIs(ctx context.Context, serviceID string) ([]*apigw.DesApisStatus, error) {
	var apis []*apigw.DesApisStatus
	for offset := int64(0); ; {
		req := apigw.NewDescribeApisStatusRequest()
		req.ServiceId = common.StringPtr(serviceID)
		req.Offset, req.Limit = common.Int64Ptr(offset), common.Int64Ptr(100)
		var list *apigw.DescribeApisStatusResponse
		if err := r.c.apigw(ctx, func(c *apigw.Client) (err error) { list, err = c.DescribeApisStatus(req); return err }); err != nil {
			return nil, failed("list the service's APIs", "apigw:DescribeApisStatus", err)
		}
		if list.Response.Result == nil {
			break
		}
		apis = append(apis, list.Response.Result.ApiIdStatusSet...)
		offset += int64(len(list.Response.Result.ApiIdStatusSet))
		if len(list.Response.Result.ApiIdStatusSet) == 0 || offset >= num(list.Response.Result.TotalCount) {
			break
		}
	}
	return apis, nil
}

func (r *run) unrelease(serviceID, env string) removal {
	return removal{step: StepUnReleaseService, detail: fmt.Sprintf("unrelease the service %s from %s", serviceID, env), do: func(ctx context.Context) error {
		req := apigw.NewUnReleaseServiceRequest()
		req.ServiceId, req.EnvironmentName = common.StringPtr(serviceID), common.StringPtr(env)
		err := r.c.apigw(ctx, func(c *apigw.Client) error { _, err := c.UnReleaseService(req); return err })
		if err != nil && r.notReleased(ctx, err, serviceID, env) {
			r.say("    %s was no longer released in %s", serviceID, env)
			return nil
		}
		if err != nil {
			return failed("unrelease the service", "apigw:UnReleaseService", err)
		}
		return nil
	}}
}

// notReleased says whether a failed UnReleaseService failed because the
// service is not released in env (any more): the API has no documented
// code for that ("如果服务在一个环境中未发布，则不能下线", the console doc,
// only says it is refused), so the list is read again. A busy or CAM
// refusal is not that.
func (r *run) notReleased(ctx context.Context, err error, serviceID, env string) bool {
	var api *APIError
	if !errors.As(err, &api) || Busy(api.Code) || strings.Contains(api.Code, "Unauthorized") {
		return false
	}
	envs, listErr := r.releasedIn(ctx, serviceID)
	return listErr == nil && !contains(envs, env)
}

// detachTag unbinds deploy's tag from the service, which API Gateway
// requires before DeleteService. It uses the tag API's DetachResourcesTag,
// which names the service by its region and ID, with no account ID; a key
// already gone (a rerun) is done.
func (r *run) detachTag(serviceID string) removal {
	return removal{step: StepDetachTag, detail: fmt.Sprintf("unbind the tag %s from the service %s", OwnerTag, serviceID), do: func(ctx context.Context) error {
		req := tag.NewDetachResourcesTagRequest()
		req.ServiceType, req.ResourcePrefix = common.StringPtr("apigw"), common.StringPtr("service")
		req.ResourceIds = common.StringPtrs([]string{serviceID})
		req.ResourceRegion, req.TagKey = common.StringPtr(r.cfg.Region), common.StringPtr(OwnerTag)
		err := r.c.tag(ctx, func(c *tag.Client) error { _, err := c.DetachResourcesTag(req); return err })
		if err != nil && !isCode(err, "ResourceNotFound.AttachedTagKeyNotFound") {
			return failed("unbind the service's tag", "tag:DetachResourcesTag", err)
		}
		return nil
	}}
}

func (r *run) deleteAPI(serviceID, apiID string) removal {
	return removal{step: StepDeleteAPI, detail: fmt.Sprintf("delete the WebSocket API %s", apiID), do: func(ctx context.Context) error {
		req := apigw.NewDeleteApiRequest()
		req.ServiceId, req.ApiId = common.StringPtr(serviceID), common.StringPtr(apiID)
		if err := r.c.apigw(ctx, func(c *apigw.Client) error { _, err := c.DeleteApi(req); return err }); err != nil {
			return failed("delete the WebSocket API", "apigw:DeleteApi", err)
		}
		return nil
	}}
}

func (r *run) deleteService(serviceID string) removal {
	return removal{step: StepDeleteService, detail: fmt.Sprintf("delete the API Gateway service %s (%s)", serviceID, r.cfg.ServiceName()), do: func(ctx context.Context) error {
		req := apigw.NewDeleteServiceRequest()
		req.ServiceId = common.StringPtr(serviceID)
		if err := r.c.apigw(ctx, func(c *apigw.Client) error { _, err := c.DeleteService(req); return err }); err != nil {
			return failed("delete the API Gateway service", "apigw:DeleteService", err)
		}
		return nil
	}}
}

func (r *run) deleteFunction() removal {
	t := r.cfg.Target
	return removal{step: StepDeleteFunction, detail: fmt.Sprintf("delete the function %s", t.Name), do: func(ctx context.Context) error {
		req := scf.NewDeleteFunctionRequest()
		req.FunctionName, req.Namespace = common.StringPtr(t.Name), common.StringPtr(t.namespace())
		if err := r.c.scf(ctx, func(c *scf.Client) error { _, err := c.DeleteFunction(req); return err }); err != nil {
			return failed("delete the function", "scf:DeleteFunction", err)
		}
		return nil
	}, then: r.waitGone}
}

// waitGone polls GetFunction until the function no longer exists.
func (r *run) waitGone(ctx context.Context) error {
	interval, limit := r.d.polling()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for polls := 0; ; polls++ {
		select {
		case <-ctx.Done():
			return failed("wait for the function to go", "scf:GetFunction", fmt.Errorf("still there after %s: %w", time.Since(start).Round(time.Second), ctx.Err()))
		case <-timer.C:
		}
		fn, err := r.getFunction(ctx)
		if err != nil {
			return failed("wait for the function to go", "scf:GetFunction", err)
		}
		switch {
		case fn == nil:
			r.say("    %s is gone (%s)", r.cfg.Name, time.Since(start).Round(time.Millisecond))
			return nil
		case fn.status == "Deleting":
			timer.Reset(backoff(polls, interval))
		default:
			return &StepError{Step: "wait for the function to go", Action: "scf:GetFunction", Code: fn.status,
				Err:  fmt.Errorf("the function %s is %s: %s", r.cfg.Name, fn.status, orNone(fn.reasons)),
				Hint: "delete it in the SCF console"}
		}
	}
}
