package proto

import "time"

// History (HISTORY_SIZE > 0): every message to a group, and every message
// to a user, is kept in that group's or user's stream with the stream's
// next offset (1, 2, 3 ... with no gaps, whichever instance sent it), until
// HISTORY_SIZE newer ones follow or the stream has had no message for
// HISTORY_TTL. The stream's epoch names its current past: it changes when
// that past is lost (the stream expired, the tables were recreated, the
// memory store restarted), and offsets then start again from 1. A client
// that keeps the highest offset it saw per stream, with the epoch, can ask
// for what it missed:
//
//	{"type":"resume","streams":[{"group":"lobby","offset":41,"epoch":"..."},{"user":true,"offset":7,"epoch":"..."}],"ackId":9}
//	{"type":"joinGroup","group":"lobby","since":{"offset":41,"epoch":"..."},"ackId":1}
//	{"type":"history","group":"lobby","limit":50,"before":41,"ackId":2}
//
// A message's id is given when the function accepts it: 26 characters of
// Crockford's base32 (a ULID: 48 bits of milliseconds, then 80 random
// bits), the same on every push of it. Clients treat it as opaque.

// Stream names a group's stream or a user's: exactly one is set.
type Stream struct {
	Group  string
	UserID string
}

// Position is a place in a stream: the offset of a message (0 before the
// first) in the stream's epoch. A stream without messages is at offset 0
// with epoch "".
type Position struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// StreamPosition is one stream of a resume request and where its client
// is: a group's, or (User) its own user's.
type StreamPosition struct {
	Group  string `json:"group,omitempty"`
	User   bool   `json:"user,omitempty"`
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// StreamState answers a StreamPosition: whether everything after the
// client's offset was pushed to it (Recovered), and the stream's latest
// position. Recovered false: nothing was pushed for the stream, and the
// client must load it afresh (a history request).
type StreamState struct {
	Group     string `json:"group,omitempty"`
	User      bool   `json:"user,omitempty"`
	Recovered bool   `json:"recovered"`
	Offset    uint64 `json:"offset"`
	Epoch     string `json:"epoch"`
}

// Kept is a kept message: its offset, and its message frame without
// offset and epoch (those are added when it is pushed).
type Kept struct {
	Offset uint64
	Frame  []byte
}

// Bounds on what history requests ask for.
const (
	// DefaultHistoryLimit is a history request's limit when it gives none.
	DefaultHistoryLimit = 50
	// MaxResumeStreams bounds the streams of one resume request.
	MaxResumeStreams = 64
	// MaxResumeMessages bounds the messages one resume request (or one
	// joinGroup's since) pushes in all: a stream that would take it past
	// the bound is answered recovered false, as is one the invoke's
	// deadline cut short.
	MaxResumeMessages = 1000
)

// Retention is what each stream keeps: its last Size messages, until it
// has had no message for TTL (HISTORY_SIZE, HISTORY_TTL).
type Retention struct {
	Size int
	TTL  time.Duration
}

// Range selects a stream's kept messages: offsets after After and before
// Before (0: no bound), at most Limit, the oldest of them or (Newest) the
// newest; either way oldest first.
type Range struct {
	After, Before uint64
	Limit         int
	Newest        bool
}
