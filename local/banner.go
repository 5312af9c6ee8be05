package local

import (
	"fmt"
	"strings"

	"github.com/scfws/scfws/config"
	"github.com/scfws/scfws/local/cloudapi"
	"github.com/scfws/scfws/local/emulator"
)

// banner says where everything is and how the function runs.
func banner(f localFlags, public bool, base, host, pushURL string, fn *emulator.Function, instances, perInstance int, env map[string]string) string {
	var b strings.Builder
	cleanup := "client closes only"
	switch {
	case f.dropCleanup:
		cleanup = "never (-drop-cleanup)"
	case f.idleCleanup && f.closingOnServerClose:
		cleanup = "client closes, idle timeouts and closing pushes"
	case f.idleCleanup:
		cleanup = "client closes and idle timeouts"
	case f.closingOnServerClose:
		cleanup = "client closes and closing pushes"
	}
	store := env["STORE"]
	if store == config.StoreMySQL {
		store += " " + env["DB_HOST"]
	}
	ids := strings.Trim(fmt.Sprint(fn.Pids()), "[]")
	scaling := fmt.Sprintf("1 instance (pid %s) taking %d invokes at once", ids, perInstance)
	if instances > 1 {
		scaling = fmt.Sprintf("%d instances (pids %s) taking %d invoke(s) at once each", instances, ids, perInstance)
	}
	frames := "one invoke at a time per client, in order"
	if f.concurrentFrames {
		frames = "concurrent invokes per client (-concurrent-frames)"
	}
	dashboard := "off (-metrics=false)"
	if f.metrics {
		dashboard = fmt.Sprintf("%s%s  (Prometheus: %s%s)", base, emulator.DashboardPath, base, emulator.MetricsPath)
	}
	fmt.Fprintf(&b, `scfws local: API Gateway + SCF emulator
  chat page     %s/
  dashboard     %s
  WebSocket     ws://%s%s
  reverse push  %s
  function      %s, %s, timeout %s, store %s
  frames        %s
  idle timeout  %s; closing sent on: %s
  history       %s
  events        %s
`, base, dashboard, host, f.path, push(pushURL, f.sendback), f.function, scaling, f.functionTimeout, store, frames, f.idleTimeout, cleanup, history(env),
		events(f, env))
	if !fn.Loopback() {
		fmt.Fprintf(&b, "  WARNING       %s\n", everyInterface(f.function))
	}
	if public {
		fmt.Fprintf(&b, "  WARNING       -public: listening on %s; anyone who reaches it can push to and close any client\n", f.addr)
	}
	return b.String()
}

// push names the push address, and the function's when -sendback moves it.
func push(pushURL, sendback string) string {
	if sendback != "" {
		return pushURL + "  (the function's SENDBACK_HOST is -sendback " + sendback + ")"
	}
	return pushURL + "  (the function's SENDBACK_HOST)"
}

// events says how Event invocations run, and whether the function has a
// run-role key to make them.
func events(f localFlags, env map[string]string) string {
	role := "no run-role key (-run-role=false)"
	if env["TENCENTCLOUD_SECRETID"] != "" {
		role = "the function has a run-role key and SCFWS_CLOUD_API=" + env[EnvCloudAPI]
	}
	return fmt.Sprintf("Event invokes queued, a failed one run again %d times %s apart (-async-retry-interval); %s",
		cloudapi.DefaultRetryNum, f.asyncRetryInterval, role)
}

// history says what each stream keeps, and how to try a recovery.
func history(env map[string]string) string {
	if env["HISTORY_SIZE"] == "" || env["HISTORY_SIZE"] == "0" {
		return "off (HISTORY_SIZE=0)"
	}
	return fmt.Sprintf("on: the last %s messages of each group and user, for %s after the last (HISTORY_SIZE, HISTORY_TTL); "+
		"drop a client once with POST /_scfws/connections/{id}/drop", env["HISTORY_SIZE"], env["HISTORY_TTL"])
}

// everyInterface warns that a function that is not scfws listens beyond
// this machine: only scfws serves the loopback listener the emulator hands
// it.
func everyInterface(function string) string {
	return fmt.Sprintf("%s is not scfws: its processes listen on every interface (0.0.0.0, as scf-go-lib binds), "+
		"where anyone who reaches this machine can invoke the function and read the settings each invoke carries", function)
}

// backendBanner says how backends reach the function locally, and how to
// get a token and run the probe.
func backendBanner(base, wsURL string, cred cloudapi.Credential, showKey, mintTokens bool, generated map[string]bool, env map[string]string, faults cloudapi.Faults) string {
	var b strings.Builder
	key := "the key in TENCENTCLOUD_SECRETID/SECRETKEY"
	if showKey {
		key = "a local key, below"
	}
	fmt.Fprintf(&b, "  Tencent API   %s  (SCF Invoke of function %q in SCF's regions, and what scfws deploy uses; %s)\n", base, localFunctionName, key)
	secret := "PUBLISH_SECRET from your environment"
	if generated["PUBLISH_SECRET"] {
		secret = "PUBLISH_SECRET=" + env["PUBLISH_SECRET"] + " for this session"
	}
	fmt.Fprintf(&b, "  signed route  POST %s%spublish  (%s)\n", base, routePath, secret)
	tokens := "AUTH_SECRET from your environment"
	if generated["AUTH_SECRET"] {
		tokens = "AUTH_SECRET made for this session"
	}
	if mintTokens {
		fmt.Fprintf(&b, "  tokens        scfws token -endpoint %s -sub NAME, or GET %s/_scfws/token?sub=NAME  (scfws.v1; %s)\n", base, base, tokens)
	} else {
		fmt.Fprintf(&b, "  tokens        off: -public with your own AUTH_SECRET would mint tokens for anyone who can reach %s\n", base)
	}
	if generated["PROBE_SECRET"] {
		fmt.Fprintf(&b, "  probe         PROBE_SECRET=%s scfws probe -url %s\n", env["PROBE_SECRET"], wsURL)
	} else {
		fmt.Fprintf(&b, "  probe         scfws probe -url %s  (with your PROBE_SECRET in its environment)\n", wsURL)
	}
	try := ""
	if showKey {
		try = fmt.Sprintf("TENCENTCLOUD_SECRETID=%s TENCENTCLOUD_SECRETKEY=%s ", cred.SecretID, cred.SecretKey)
	}
	fmt.Fprintf(&b, "  try           %sscfws publish -endpoint %s -region ap-guangzhou -function %s -all 'hello from the backend'\n",
		try, base, localFunctionName)
	fmt.Fprintf(&b, "  deploy        %sscfws deploy -endpoint %s -region ap-guangzhou -name chat -env STORE=memory\n", try, base)
	if len(faults) > 0 {
		fmt.Fprintf(&b, "  failing       %s  (-fail-action)\n", faults.String())
	}
	b.WriteString("Press Ctrl+C to stop.\n")
	return b.String()
}
