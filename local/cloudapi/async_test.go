package cloudapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scfws/scfws/internal/testkit"
	"github.com/scfws/scfws/local/cloudapi"
)

// eventEnv is an env whose Event invocations retry every interval and log
// to logs.
func eventEnv(t testing.TB, retryNum int, interval time.Duration) (*env, *observer.ObservedLogs) {
	t.Helper()
	e := newEnv(t)
	core, logs := observer.New(zap.InfoLevel)
	e.scf.Log = zap.New(core)
	e.scf.RetryNum, e.scf.RetryInterval = retryNum, interval
	return e, logs
}

// sendEvent makes an Event invocation of name and returns its
// FunctionRequestId.
func sendEvent(t testing.TB, e *env, name, event string) string {
	t.Helper()
	req := invokeRequest(name, event)
	req.InvocationType = common.StringPtr("Event")
	resp, err := e.client(t, common.NewCredential(testID, testKey)).Invoke(req)
	if err != nil {
		t.Fatalf("Invoke(%s, Event) = %v", name, err)
	}
	return *resp.Response.Result.FunctionRequestId
}

// A function that fails runs 1 + RetryNum times, RetryInterval apart, and
// the event is then dropped, as SCF's async policy says; one that fails
// once and then succeeds runs twice; a function gone after the event was
// accepted is not retried (an invocation error).
func TestEventRetryPolicy(t *testing.T) {
	const interval = 30 * time.Millisecond
	tests := []struct {
		name      string
		give      string // the function
		retryNum  int
		wantCalls int
		wantDrop  string // in the drop line's why; "" for none
	}{
		{"fails, default retries", "fail", 2, 3, "it failed 3 times (1 run and RetryNum 2 retries)"},
		{"fails, one retry", "fail", 1, 2, "it failed 2 times (1 run and RetryNum 1 retries)"},
		{"fails, retries off", "fail", 0, 1, "it failed 1 times (1 run and RetryNum 0 retries)"},
		{"fails once", "flaky", 2, 2, ""},
		{"gone when run", "vanish", 2, 1, "function vanish: function not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, logs := eventEnv(t, tt.retryNum, interval)
			id := sendEvent(t, e, tt.give, `{"n":1}`)
			testkit.Eventually(t, 10*time.Second, "the event finished", func() bool { return e.scf.Queued() == 0 })
			times := e.fns.Times()
			if len(times) != tt.wantCalls {
				t.Errorf("the function ran %d times; want %d", len(times), tt.wantCalls)
			}
			for i := 1; i < len(times); i++ {
				if gap := times[i].Sub(times[i-1]); gap < interval {
					t.Errorf("run %d came %s after the one before; want at least the interval, %s", i+1, gap, interval)
				}
			}
			dropped := logs.FilterMessage("event dropped").All()
			switch {
			case tt.wantDrop == "" && len(dropped) > 0:
				t.Errorf("dropped: %v", dropped[0].ContextMap())
			case tt.wantDrop != "" && (len(dropped) != 1 || !strings.Contains(dropped[0].ContextMap()["why"].(string), tt.wantDrop)):
				t.Errorf("drop lines %v; want one saying %q", dropped, tt.wantDrop)
			case tt.wantDrop != "" && dropped[0].ContextMap()["functionRequestId"] != id:
				t.Errorf("drop line %v; want functionRequestId %s", dropped[0].ContextMap(), id)
			}
		})
	}
}

// An event still queued past its retention (MsgTTL) is dropped rather than
// run again.
func TestEventRetentionDropsRetries(t *testing.T) {
	e, logs := eventEnv(t, 2, 50*time.Millisecond)
	e.scf.MsgTTL = 10 * time.Millisecond
	sendEvent(t, e, "fail", `{}`)
	testkit.Eventually(t, 10*time.Second, "the event finished", func() bool { return e.scf.Queued() == 0 })
	if n := len(e.fns.Times()); n != 1 {
		t.Errorf("the function ran %d times; want 1 (the retry came after the retention)", n)
	}
	if d := logs.FilterMessage("event dropped").All(); len(d) != 1 || !strings.Contains(d[0].ContextMap()["why"].(string), "over the retention") {
		t.Errorf("drop lines %v; want one for the retention", d)
	}
}

// Events run in the order they were accepted, MaxAsync at a time.
func TestEventsRunInOrder(t *testing.T) {
	e := newEnv(t)
	e.scf.MaxAsync = 1
	for i := range 5 {
		sendEvent(t, e, "echo", `{"n":`+string(rune('0'+i))+`}`)
	}
	testkit.Eventually(t, 10*time.Second, "the events finished", func() bool { return e.scf.Queued() == 0 })
	want := []string{`default/echo {"n":0}`, `default/echo {"n":1}`, `default/echo {"n":2}`, `default/echo {"n":3}`, `default/echo {"n":4}`}
	if got := e.fns.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls %q; want %q", got, want)
	}
}

// The queue's bytes are bounded too: this machine's memory, not SCF's.
func TestEventQueueBytesAreBounded(t *testing.T) {
	e := newEnv(t)
	e.scf.MaxAsync, e.scf.MaxQueuedBytes = 1, 100
	c := e.client(t, common.NewCredential(testID, testKey))
	event := `"` + strings.Repeat("x", 60) + `"`
	req := invokeRequest("gate", event)
	req.InvocationType = common.StringPtr("Event")
	if _, err := c.Invoke(req); err != nil {
		t.Fatalf("Invoke = %v", err)
	}
	_, err := c.Invoke(req)
	if got := sdkCode(t, err); got != cloudapi.CodeRequestLimitExceeded {
		t.Errorf("second Invoke = %v; want RequestLimitExceeded", err)
	}
	close(e.fns.release)
	<-e.fns.done
}

// Close drops the events waiting to run again, without waiting for them.
func TestCloseDropsPendingRetries(t *testing.T) {
	e, _ := eventEnv(t, 2, time.Hour)
	sendEvent(t, e, "fail", `{}`)
	testkit.Eventually(t, 10*time.Second, "the first run", func() bool { return len(e.fns.Times()) == 1 })
	done := make(chan struct{})
	go func() {
		e.scf.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a retry an hour away")
	}
}
