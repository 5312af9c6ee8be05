package cloudapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// SCF's API: service, version, and the limits of Invoke
// (https://www.tencentcloud.com/document/api/583/17243: ClientContext up to
// 6 MB for a synchronous invocation, 128 KB for an asynchronous one; the
// quota page 583/11637 says the same: "异步请求事件大小 | 128KB").
const (
	SCFService         = "scf"
	SCFVersion         = "2018-04-16"
	MaxSyncEventBytes  = 6 << 20
	MaxAsyncEventBytes = 128 << 10
	DefaultNamespace   = "default"
	InvocationSync     = "RequestResponse"
	InvocationAsync    = "Event"
)

// SCF's own error codes used by Invoke (tencentcloud-sdk-go
// scf/v20180416/errors.go); the messages are the ones the API answers.
const (
	CodeFunctionNotFound   = "ResourceNotFound.Function"
	CodeNamespaceNotFound  = "ResourceNotFound.Namespace"
	CodeQualifierNotFound  = "ResourceNotFound.Qualifier"
	CodeInvalidInvokeType  = "InvalidParameterValue.InvokeType"
	CodeInvalidParam       = "InvalidParameterValue.Param"
	CodeInvalidPayload     = "InvalidParameter.Payload"
	CodeInvalidFunctionArg = "InvalidParameter.FunctionName"

	msgFunctionNotFound  = "未找到指定的Function，请创建后再试。"
	msgNamespaceNotFound = "未找到指定的Namespace，请创建后再试。"
)

// Functions runs functions by name: the emulator's SCF runtime.
type Functions interface {
	// Invoke runs the function with event and returns its reply. It
	// returns ErrFunctionNotFound or ErrNamespaceNotFound (wrapped or not)
	// for a name it does not have; any other error is the function's
	// failure (a *FunctionError says which).
	Invoke(ctx context.Context, namespace, name string, event []byte) (reply []byte, err error)
}

// Regional is optionally implemented by Functions that keep functions per
// region, as the Cloud does: Invoke then runs the Functions of the call's
// region (X-TC-Region).
type Regional interface {
	InRegion(region string) Functions
}

// Finder is optionally implemented by Functions so that an Event
// invocation of a missing function is refused at once, as by SCF, rather
// than accepted and lost.
type Finder interface {
	Find(ctx context.Context, namespace, name string) error
}

// Errors Functions returns for names it does not know.
var (
	ErrFunctionNotFound  = errors.New("function not found")
	ErrNamespaceNotFound = errors.New("namespace not found")
)

// FunctionError is a failed invocation: the function ran and failed, with
// one of SCF's function status codes (https://www.tencentcloud.com/document/product/583/42611):
// 430 user code exception, 433 time limit reached, 434 memory limit,
// 439 process exited while running. Invoke still answers the API call
// successfully; the failure is in its Result.
type FunctionError struct {
	Status  int
	Message string
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function status %d: %s", e.Status, e.Message)
}

// Status codes of failed invocations.
const (
	StatusUserCodeException = 430
	StatusTimeLimitReached  = 433
	StatusProcessExited     = 439
)

// Result is Invoke's Result, shaped as the SDK's scf/v20180416.Result.
// Every field but FunctionRequestId is null for an Event invocation.
// InvokeResult is never set: the current SDK marks it "no longer
// maintained" (该参数不再维护), so callers must not depend on it; ErrMsg
// says whether the function failed.
type Result struct {
	Log               *string  `json:"Log,omitempty"`
	RetMsg            *string  `json:"RetMsg,omitempty"`
	ErrMsg            *string  `json:"ErrMsg,omitempty"`
	MemUsage          *int64   `json:"MemUsage,omitempty"`
	Duration          *float64 `json:"Duration,omitempty"`
	BillDuration      *int64   `json:"BillDuration,omitempty"`
	FunctionRequestID string   `json:"FunctionRequestId"`
	InvokeResult      *int64   `json:"InvokeResult,omitempty"`
}

// invokeResponse is Invoke's Response fields.
type invokeResponse struct {
	Result Result `json:"Result"`
}

// InvokeRequest is Invoke's parameters (the SDK's InvokeRequest).
type InvokeRequest struct {
	FunctionName   string
	InvocationType string
	Qualifier      string
	ClientContext  *string
	LogType        string
	Namespace      string
	RoutingKey     string
}

// Invoke is the Invoke action.
func (s *SCF) Invoke(ctx context.Context, req *Request) (any, error) {
	var in InvokeRequest
	if err := json.Unmarshal(req.Params, &in); err != nil {
		return nil, Errorf(CodeInvalidParameter, "The parameters of Invoke are malformed: %v.", err)
	}
	if req.Region == "" {
		return nil, Errorf(CodeMissingParameter, "The request is missing a required parameter `Region` (X-TC-Region).")
	}
	if in.FunctionName == "" {
		return nil, Errorf(CodeMissingParameter, "The request is missing a required parameter `FunctionName`.")
	}
	if in.Namespace == "" {
		in.Namespace = DefaultNamespace
	}
	switch in.Qualifier {
	case "", "$LATEST", "$DEFAULT":
	default:
		return nil, Errorf(CodeQualifierNotFound, "The version or alias %q does not exist (scfws local runs $LATEST only).", clip(in.Qualifier))
	}
	switch in.LogType {
	case "", "None", "Tail":
	default:
		return nil, Errorf(CodeInvalidParameterValue, "LogType %q is not None or Tail.", clip(in.LogType))
	}
	event := []byte("{}")
	if in.ClientContext != nil && *in.ClientContext != "" {
		event = []byte(*in.ClientContext)
	}
	async := false
	switch in.InvocationType {
	case "", InvocationSync:
	case InvocationAsync:
		async = true
	default:
		return nil, Errorf(CodeInvalidInvokeType, "InvocationType %q is not RequestResponse or Event.", clip(in.InvocationType))
	}
	most, kind := MaxSyncEventBytes, InvocationSync
	if async {
		most, kind = MaxAsyncEventBytes, InvocationAsync
	}
	if len(event) > most {
		return nil, tooLarge(len(event), most, kind)
	}
	if !json.Valid(event) {
		return nil, Errorf(CodeInvalidParam, "ClientContext is not valid JSON.")
	}
	fns := s.fns
	if r, ok := fns.(Regional); ok {
		fns = r.InRegion(req.Region)
	}
	if async {
		return s.invokeAsync(ctx, fns, in, event)
	}
	start := time.Now()
	reply, err := fns.Invoke(ctx, in.Namespace, in.FunctionName, event)
	if err := notFound(err); err != nil {
		return nil, err
	}
	return invokeResponse{result(reply, err, time.Since(start))}, nil
}

// notFound turns the Functions' not-found errors into the API's; an
// *Error (a function that cannot be invoked in its state) is answered as is.
func notFound(err error) error {
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.Is(err, ErrNamespaceNotFound):
		return &Error{Code: CodeNamespaceNotFound, Message: msgNamespaceNotFound}
	case errors.Is(err, ErrFunctionNotFound):
		return &Error{Code: CodeFunctionNotFound, Message: msgFunctionNotFound}
	}
	return nil
}

// result is a synchronous invocation's Result. A failed function still
// makes a successful API call: RetMsg is empty, ErrMsg says why in the
// shape SCF reports a failure, with the function status code as its
// statusCode.
func result(reply []byte, err error, took time.Duration) Result {
	ms := float64(took.Microseconds()) / 1000
	bill := int64(math.Ceil(ms))
	if bill < 1 {
		bill = 1
	}
	var mem int64
	r := Result{
		Log:               ptr(""),
		MemUsage:          &mem,
		Duration:          &ms,
		BillDuration:      &bill,
		FunctionRequestID: newRequestID(),
	}
	if err == nil {
		r.RetMsg, r.ErrMsg = ptr(string(reply)), ptr("")
		return r
	}
	var fe *FunctionError
	trace := ""
	switch {
	case errors.As(err, &fe):
	case errors.Is(err, context.DeadlineExceeded):
		fe = &FunctionError{Status: StatusTimeLimitReached, Message: "TimeLimitReached"}
	default:
		fe = &FunctionError{Status: StatusUserCodeException, Message: "user code exception caught"}
		trace = err.Error()
	}
	msg, mErr := json.Marshal(struct {
		ErrorCode    int    `json:"errorCode"`
		ErrorMessage string `json:"errorMessage"`
		StackTrace   string `json:"stackTrace,omitempty"`
		StatusCode   int    `json:"statusCode"`
	}{-1, fe.Message, trace, fe.Status})
	if mErr != nil { // strings and ints: cannot fail
		panic(mErr)
	}
	r.RetMsg, r.ErrMsg = ptr(""), ptr(string(msg))
	return r
}

func ptr[T any](v T) *T { return &v }
