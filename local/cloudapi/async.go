package cloudapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// SCF's asynchronous invocation policy, as Tencent's "错误类型与重试策略"
// (error types and retry policy) page states it
// (https://cloud.tencent.com/document/product/583/41138): a function that
// fails while running (its code returns an error or panics, it times out, its
// process dies) is retried RetryNum times, "默认配置为2次" (2 by default),
// "固定间隔1分钟" (at a fixed one-minute interval); an event stays queued at
// most its retention, "默认配置为6小时" (6 hours by default), and the queue
// holds "最大长度支持10万条" (up to 100,000 events). Request errors (a
// function that does not exist, an event too large) are not retried.
const (
	DefaultRetryNum      = 2
	DefaultRetryInterval = time.Minute
	DefaultMsgTTL        = 6 * time.Hour
	DefaultMaxQueued     = 100000
	// DefaultMaxQueuedBytes is local's own bound, not SCF's: 100,000 events
	// of 128 KB would be 12.5 GB of this machine's memory.
	DefaultMaxQueuedBytes = 256 << 20
	defaultMaxAsync       = 64
	defaultAsyncTimeout   = 15 * time.Minute
)

// SCF serves SCF's Invoke action from Functions. An Event invocation is
// answered at once and queued; workers run the queue in order, at most
// MaxAsync events at a time, and apply SCF's retry policy. Set the fields
// before the first invocation; Close stops the workers.
type SCF struct {
	fns Functions
	// MaxAsync is how many events run at once (default 64); an event waits
	// in the queue for a worker, then for a free instance of its function.
	MaxAsync int
	// MaxQueued bounds the events accepted and not finished, retries
	// pending included (default DefaultMaxQueued, SCF's); MaxQueuedBytes
	// bounds their bytes (default DefaultMaxQueuedBytes). Over either an
	// Event invocation is refused with RequestLimitExceeded.
	MaxQueued      int
	MaxQueuedBytes int64
	// RetryNum is how many times an event whose function failed is run
	// again (default DefaultRetryNum; 0 turns retries off, as SCF allows),
	// RetryInterval the pause before each (default DefaultRetryInterval).
	RetryNum      int
	RetryInterval time.Duration
	// MsgTTL drops an event still queued this long after it was accepted
	// (default DefaultMsgTTL).
	MsgTTL time.Duration
	// AsyncTimeout bounds one run of an event (default 15m, SCF's longest
	// function timeout); Functions should apply the function's own.
	AsyncTimeout time.Duration
	// Log gets a line for each failed run and each event dropped, as SCF
	// logs them for the function (nobody waits for the result); nil logs
	// nothing.
	Log *zap.Logger

	start   sync.Once
	queue   chan *asyncEvent
	mu      sync.Mutex
	queued  int   // events accepted and not finished
	bytes   int64 // their size
	closed  bool
	retries map[*asyncEvent]*time.Timer // events waiting to run again
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// asyncEvent is one accepted Event invocation.
type asyncEvent struct {
	fns      Functions // of the call's region
	in       InvokeRequest
	event    []byte
	id       string // its FunctionRequestId
	accepted time.Time
	attempts int
}

// NewSCF serves fns with SCF's defaults. Register it on a Server, and Close
// it when done.
func NewSCF(fns Functions) *SCF {
	ctx, cancel := context.WithCancel(context.Background())
	return &SCF{fns: fns, MaxAsync: defaultMaxAsync, MaxQueued: DefaultMaxQueued, MaxQueuedBytes: DefaultMaxQueuedBytes,
		RetryNum: DefaultRetryNum, RetryInterval: DefaultRetryInterval, MsgTTL: DefaultMsgTTL, AsyncTimeout: defaultAsyncTimeout,
		retries: map[*asyncEvent]*time.Timer{}, ctx: ctx, cancel: cancel}
}

// Register makes srv answer scf's Invoke, in SCF's regions.
func (s *SCF) Register(srv *Server) {
	srv.Handle(SCFService, SCFVersion, "Invoke", regional(SCFService, s.Invoke))
}

// Close drops the events still queued or waiting to run again, cancels the
// ones running and waits for them.
func (s *SCF) Close() {
	s.mu.Lock()
	s.closed = true
	for ev, t := range s.retries {
		t.Stop()
		delete(s.retries, ev)
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Queued is how many Event invocations are accepted and not finished.
func (s *SCF) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued
}

// tooLarge refuses an event over the limit of its kind of invocation. An
// Event invocation over 128 KB is refused before it is queued: Invoke's
// error list (tencentcloud-sdk-go scf/v20180416/client.go) names no code of
// its own for it, so it is InvalidParameterValue, with the runtime's name
// for the condition, 406 RequestTooLarge (SCF's status code page), in the
// message.
func tooLarge(size, most int, kind string) *Error {
	if kind == InvocationAsync {
		return Errorf(CodeInvalidParameterValue, "RequestTooLarge: ClientContext is %d bytes, over the %d-byte (128 KB) limit of an Event invocation.", size, most)
	}
	return Errorf(CodeInvalidPayload, "ClientContext is %d bytes, over the %d-byte limit of a %s invocation.", size, most, kind)
}

// invokeAsync accepts an Event invocation: the function must exist, and
// the queue have room. It answers with the event's FunctionRequestId.
func (s *SCF) invokeAsync(ctx context.Context, fns Functions, in InvokeRequest, event []byte) (any, error) {
	if f, ok := fns.(Finder); ok {
		if err := notFound(f.Find(ctx, in.Namespace, in.FunctionName)); err != nil {
			return nil, err
		}
	}
	s.start.Do(s.startWorkers)
	ev := &asyncEvent{fns: fns, in: in, event: event, id: newRequestID(), accepted: time.Now()}
	if err := s.admit(ev); err != nil {
		return nil, err
	}
	s.queue <- ev // never blocks: the channel holds MaxQueued, admit counted it
	return invokeResponse{Result{FunctionRequestID: ev.id}}, nil
}

// admit counts ev against the queue's bounds.
func (s *SCF) admit(ev *asyncEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return Errorf(CodeRequestLimitExceeded, "scfws local is stopping and takes no more Event invocations.")
	case s.queued >= cap(s.queue):
		return Errorf(CodeRequestLimitExceeded, "%d Event invocations are already queued, the most the queue holds; retry later.", s.queued)
	case s.bytes+int64(len(ev.event)) > s.maxBytes():
		return Errorf(CodeRequestLimitExceeded, "The queued Event invocations hold %d bytes, and this one would take them over scfws local's %d; retry later.", s.bytes, s.maxBytes())
	}
	s.queued++
	s.bytes += int64(len(ev.event))
	return nil
}

func (s *SCF) maxBytes() int64 {
	if s.MaxQueuedBytes <= 0 {
		return DefaultMaxQueuedBytes
	}
	return s.MaxQueuedBytes
}

// startWorkers makes the queue and its workers, on the first Event
// invocation, once the fields are set.
func (s *SCF) startWorkers() {
	s.queue = make(chan *asyncEvent, max(s.MaxQueued, 1))
	for range max(s.MaxAsync, 1) {
		s.wg.Go(s.work)
	}
}

// work runs queued events until Close.
func (s *SCF) work() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case ev := <-s.queue:
			s.run(ev)
		}
	}
}

// run runs ev once, and then finishes it or schedules it again.
func (s *SCF) run(ev *asyncEvent) {
	fn := ev.in.Namespace + "/" + ev.in.FunctionName
	if age := time.Since(ev.accepted); age > s.MsgTTL && s.MsgTTL > 0 {
		s.drop(ev, fmt.Sprintf("it was queued %s, over the retention of %s", age.Round(time.Second), s.MsgTTL))
		return
	}
	ev.attempts++
	timeout := s.AsyncTimeout
	if timeout <= 0 {
		timeout = defaultAsyncTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	_, err := ev.fns.Invoke(ctx, ev.in.Namespace, ev.in.FunctionName, ev.event)
	cancel()
	switch {
	case err == nil:
		s.finish(ev)
	case s.ctx.Err() != nil: // Close: not the function's failure
		s.finish(ev)
	case notFound(err) != nil:
		// The function went (or cannot run) after the event was accepted:
		// an invocation error, which SCF does not retry.
		s.drop(ev, err.Error())
	case ev.attempts > s.RetryNum:
		s.log("event invocation failed", fn, ev, zap.Error(err))
		s.drop(ev, fmt.Sprintf("it failed %d times (1 run and RetryNum %d retries)", ev.attempts, s.RetryNum))
	default:
		s.log("event invocation failed", fn, ev, zap.Error(err), zap.Duration("retryIn", s.RetryInterval))
		s.retryLater(ev)
	}
}

// retryLater queues ev again after RetryInterval; it keeps its place in
// the counts meanwhile, so the queue has room for it.
func (s *SCF) retryLater(ev *asyncEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.retries[ev] = time.AfterFunc(s.RetryInterval, func() {
		s.mu.Lock()
		_, waiting := s.retries[ev]
		delete(s.retries, ev)
		s.mu.Unlock()
		if waiting {
			s.queue <- ev
		}
	})
}

// drop gives ev up, saying why.
func (s *SCF) drop(ev *asyncEvent, why string) {
	s.log("event dropped", ev.in.Namespace+"/"+ev.in.FunctionName, ev, zap.String("why", why))
	s.finish(ev)
}

// finish takes ev out of the counts.
func (s *SCF) finish(ev *asyncEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued--
	s.bytes -= int64(len(ev.event))
}

func (s *SCF) log(msg, fn string, ev *asyncEvent, fields ...zap.Field) {
	if s.Log == nil {
		return
	}
	s.Log.Warn(msg, append([]zap.Field{zap.String("function", fn), zap.String("functionRequestId", ev.id),
		zap.Int("attempt", ev.attempts)}, fields...)...)
}
