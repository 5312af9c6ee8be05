package emulator

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Event is one thing the emulator saw, for the dashboard's list of the
// last events (like Pusher's debug console). Fields are kept as they came
// (no formatting on the hot path); the page words them.
type Event struct {
	Seq  int64 `json:"seq"`
	Time int64 `json:"t"` // Unix milliseconds
	// Kind is handshake, frame, push, invoke or close.
	Kind string `json:"kind"`
	Conn string `json:"conn,omitempty"`
	// What happened: accepted or refused, in, a push outcome, an action.
	What   string  `json:"what"`
	Status int     `json:"status,omitempty"`
	Bytes  int     `json:"bytes,omitempty"`
	Ms     float64 `json:"ms,omitempty"`
	Detail string  `json:"detail,omitempty"`
}

// feed keeps the last events in a ring.
type feed struct {
	mu   sync.Mutex
	ring []Event
	next int64 // the next event's Seq, from 1
}

func newFeed(size int) *feed { return &feed{ring: make([]Event, size), next: 1} }

// add keeps e, stamped now unless its Time is set.
func (f *feed) add(e Event) {
	if e.Time == 0 {
		e.Time = time.Now().UnixMilli()
	}
	f.mu.Lock()
	e.Seq = f.next
	f.ring[f.next%int64(len(f.ring))] = e
	f.next++
	f.mu.Unlock()
}

// sinceLimit bounds one answer of since: the page keeps no more.
const sinceLimit = 1000

// since returns the events after seq still kept, oldest first, those of
// connections whose ID contains conn when it is set, at most the newest
// sinceLimit of them, and the last Seq given out (to ask from next time).
func (f *feed) since(seq int64, conn string) ([]Event, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := f.next - 1
	first := max(seq+1, f.next-int64(len(f.ring)), 1)
	var out []Event
	for s := last; s >= first && len(out) < sinceLimit; s-- {
		if e := f.ring[s%int64(len(f.ring))]; conn == "" || strings.Contains(e.Conn, conn) {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	if out == nil {
		out = []Event{}
	}
	return out, last
}
