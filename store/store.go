// Package store keeps the registry of live WebSocket connections: one row per
// secConnectionID with the time its client last sent a frame. A row older than
// the idle timeout belongs to a connection the gateway has certainly dropped,
// so it is never a recipient and is swept.
//
// Two implementations share these semantics: MySQL (TencentDB in production)
// and Memory (local runs and tests). Neither logs; errors are wrapped and
// returned.
package store

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Memory is an in-process registry. It is lost when the process ends, which is
// what local runs want and what SCF, with many short-lived instances, cannot
// use: main never chooses it unless STORE=memory.
type Memory struct {
	idle time.Duration
	now  func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time
}

// NewMemory returns an empty registry. now may be nil (time.Now).
func NewMemory(idle time.Duration, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{idle: idle, now: now, seen: make(map[string]time.Time)}
}

// Touch registers id, or refreshes its last-seen time.
func (m *Memory) Touch(_ context.Context, id string) error {
	m.mu.Lock()
	m.seen[id] = m.now()
	m.mu.Unlock()
	return nil
}

// TouchAt registers id as last seen at t; tests use it to plant old rows.
func (m *Memory) TouchAt(id string, t time.Time) {
	m.mu.Lock()
	m.seen[id] = t
	m.mu.Unlock()
}

// Remove deletes ids; unknown ids are not an error.
func (m *Memory) Remove(_ context.Context, ids ...string) error {
	m.mu.Lock()
	for _, id := range ids {
		delete(m.seen, id)
	}
	m.mu.Unlock()
	return nil
}

// Live returns the ids seen within the idle timeout, sorted.
func (m *Memory) Live(_ context.Context) ([]string, error) {
	cutoff := m.now().Add(-m.idle)
	m.mu.Lock()
	ids := make([]string, 0, len(m.seen))
	for id, t := range m.seen {
		if !t.Before(cutoff) {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	sort.Strings(ids)
	return ids, nil
}

// Sweep deletes the rows older than the idle timeout and says how many.
func (m *Memory) Sweep(_ context.Context) (int64, error) {
	cutoff := m.now().Add(-m.idle)
	var n int64
	m.mu.Lock()
	for id, t := range m.seen {
		if t.Before(cutoff) {
			delete(m.seen, id)
			n++
		}
	}
	m.mu.Unlock()
	return n, nil
}

// All returns every id, live or not, sorted: what a look at the table shows.
func (m *Memory) All() []string {
	m.mu.Lock()
	ids := make([]string, 0, len(m.seen))
	for id := range m.seen {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	sort.Strings(ids)
	return ids
}
