package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Budget is a push budget that every instance draws from, kept where all
// of them see it (the registry's database).
type Budget interface {
	// TakePushes takes up to want pushes from window's budget of limit
	// and returns how many it got: 0 when the window is spent. Windows are
	// numbered by their start, in units of their length, on each caller's
	// clock.
	TakePushes(ctx context.Context, window int64, want, limit int) (int, error)
}

// waiter hands out one push's permission, or fails when ctx ends first.
type waiter interface {
	Wait(ctx context.Context) error
}

// shared is Rate drawn from a Budget. Time is cut in windows (100ms, or 1s
// under 10 pushes a second), each worth Rate's share; the process takes a
// part of the current window's share at a time (a quarter, at most what
// its fan-outs still need), hands it out, and when the window is spent
// waits for the next. Pushes left over at a window's end are dropped:
// they belonged to that window. The error this allows is in
// docs/fanout.md: windows on clocks a few milliseconds apart, and a
// window's pushes all at its start. Pushes get their permission in the
// order they asked, as from a rate.Limiter: when a deadline cuts a
// broadcast short, the pushes it skipped are its last.
type shared struct {
	budget Budget
	window time.Duration
	limit  int           // pushes per window
	chunk  int           // the most taken at once
	own    waiter        // the process's own limiter, while the budget fails
	demand *atomic.Int64 // pushes of fan-outs in progress not yet begun

	line   chan struct{} // held by the first in line: a FIFO lock
	mu     sync.Mutex
	win    int64 // the window of tokens
	tokens int
	spent  bool // win gave all it had
	failed atomic.Bool
}

func newShared(b Budget, perSecond int, own waiter, demand *atomic.Int64) *shared {
	window := 100 * time.Millisecond
	if perSecond < 10 {
		window = time.Second
	}
	limit := max(1, int(int64(perSecond)*int64(window)/int64(time.Second)))
	return &shared{budget: b, window: window, limit: limit, chunk: max(1, limit/4), own: own, demand: demand, line: make(chan struct{}, 1)}
}

// Wait gives one push's permission from the budget; while the budget
// fails (its database does), from the process's own limiter. Callers
// wait in line: blocked senders on a channel are served in order.
func (s *shared) Wait(ctx context.Context) error {
	select {
	case s.line <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.line }()
	for {
		wait, err := s.try(ctx)
		switch {
		case err != nil:
			s.failed.Store(true)
			return s.own.Wait(ctx)
		case wait == 0:
			s.failed.Store(false)
			return nil
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return context.DeadlineExceeded // the next window comes too late
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// try takes a token, asking the budget for more when none is left; wait
// is how long until the next window when this one is spent.
func (s *shared) try(ctx context.Context) (wait time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UnixNano()
	w := now / int64(s.window)
	if w != s.win {
		s.win, s.tokens, s.spent = w, 0, false
	}
	if s.tokens == 0 && !s.spent {
		want := min(s.chunk, max(1, int(s.demand.Load())+1))
		got, err := s.budget.TakePushes(ctx, w, want, s.limit)
		if err != nil {
			return 0, err
		}
		s.tokens, s.spent = got, got < want
	}
	if s.tokens > 0 {
		s.tokens--
		return 0, nil
	}
	return time.Duration((w+1)*int64(s.window) - now), nil
}

// BudgetFailing reports whether the shared budget failed the last time it
// was asked: the Client then holds Rate alone.
func (c *Client) BudgetFailing() bool {
	s, ok := c.limit.(*shared)
	return ok && s.failed.Load()
}
