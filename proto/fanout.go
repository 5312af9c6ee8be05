package proto

import "time"

// Fan-out (FANOUT=auto, docs/fanout.md): a send with more recipients than
// its invoke can push before its deadline pushes what fits and hands the
// rest to asynchronous invocations of the same function, its shards. A
// shard is a backend command whose event the function makes itself:
//
//	{"scfws":{"op":"shard","job":"01J...","shard":{"n":3,"kind":"plain","after":"abc","upTo":"def","frame":{...}}}}
//
// Its recipients are a range of the registry's key order, (after, upTo]
// (empty after: from the first; empty upTo: to the last), of one Target.
// The send's progress is a job:
//
//	{"scfws":{"op":"job","job":"01J..."}}

// Ops of fan-out.
const (
	OpShard = "shard" // one asynchronous invocation's part of a send
	OpJob   = "job"   // a handed-off send's progress
)

// Kinds of Target.
const (
	TargetPlain = "plain" // the plain connections, by ConnectionID
	TargetV1    = "v1"    // every scfws.v1 connection, by ID
	TargetGroup = "group" // a group's members, by ConnectionID
	TargetUser  = "user"  // a user's connections, by ID
)

// Target is whose connections a range of keys covers.
type Target struct {
	Kind   string `json:"kind"`
	Group  string `json:"group,omitempty"`
	UserID string `json:"userId,omitempty"`
}

// KeyRange is the keys in (After, UpTo]: "" After is from the first, ""
// UpTo to the last. Connection IDs are never empty.
type KeyRange struct {
	After string `json:"after,omitempty"`
	UpTo  string `json:"upTo,omitempty"`
}

// Frame is what a shard pushes, as its recipients get it.
type Frame struct {
	DataType string `json:"dataType"`
	Data     string `json:"data"`
}

// MaxShardEventBytes bounds a shard's event. SCF takes at most 128 KB in
// an asynchronous invocation (the docs do not say whether K is 1000 or
// 1024 bytes, nor how escapes count); a frame that would make the event
// larger is stored once with its job, and the event carries its number.
const MaxShardEventBytes = 120_000

// Shard is a shard's part of a send, in its event.
type Shard struct {
	// N is the shard's number in its job; 0 is the invoke that began it.
	N int `json:"n"`
	Target
	KeyRange
	// Except is a connection that gets no push: the sender of a plain
	// broadcast, or of a group message with noEcho.
	Except string `json:"except,omitempty"`
	// Sent are connections in the range that got their push already: the
	// ones answered after the first that a deadline kept from its push or
	// cut in flight, in a page the deadline cut short (at most the pushes
	// in flight at once), and those its parent passed down past its cut.
	Sent []string `json:"sent,omitempty"`
	// Frame is the push, or nil when it is stored with the job: then
	// Stored is its number there (from 1).
	Frame  *Frame `json:"frame,omitempty"`
	Stored int    `json:"stored,omitempty"`
	// Lanes bounds the shards that may push at once in this shard's range
	// (PUSH_RATE: more would only wait for the budget); 0 is no bound.
	Lanes int `json:"lanes,omitempty"`
}

// Handoff is what a send's reply says of its fan-out: the job, how many
// shards it started and how many recipients they have; or, when nothing
// was handed off although the send could not push everyone in time, why.
type Handoff struct {
	Job        string `json:"job,omitempty"`
	Shards     int    `json:"shards,omitempty"`
	Recipients int    `json:"recipients,omitempty"`
	Off        string `json:"off,omitempty"`
}

// Job states.
const (
	JobRunning = "running"
	JobDone    = "done"
	// JobStalled: no shard has made progress for longer than SCF's
	// retries of a shard can take; some shard was lost (its instance died
	// with no retry left, or the invoke that began the job died).
	JobStalled = "stalled"
)

// Job answers the job op: a handed-off send's progress, over every shard
// and the invoke that began it.
type Job struct {
	Job        string     `json:"job"`
	State      string     `json:"state"`
	Recipients int        `json:"recipients"`
	Delivered  int        `json:"delivered"`
	Pruned     int        `json:"pruned"`
	Failed     int        `json:"failed"`
	Shards     JobShards  `json:"shards"`
	Started    time.Time  `json:"started"`
	Finished   *time.Time `json:"finished,omitempty"`
}

// JobShards counts a job's shards, the invoke that began it included.
// Lost ones could not be invoked: their recipients got nothing.
type JobShards struct {
	Done  int `json:"done"`
	Total int `json:"total"`
	Lost  int `json:"lost,omitempty"`
}

// NewJob is a job as the invoke that begins it stores it.
type NewJob struct {
	ID         string
	Recipients int
	// Frames are the frames too large for a shard's event, stored once
	// (Shard.Stored numbers them from 1); nil when none is.
	Frames []Frame
	// StallAfter is how long without progress makes the job stalled; TTL
	// how long it is kept.
	StallAfter, TTL time.Duration
}

// States of a shard.
const (
	ShardHanded  = 0 // recorded by its parent, its invoke not yet confirmed
	ShardRunning = 1
	ShardDone    = 2
	ShardLost    = 3 // its invoke failed: its recipients got nothing
)

// ShardState is a shard as its job keeps it: its parent, its range with
// the committed cursor (Range.After moves past each page pushed), and its
// counts.
type ShardState struct {
	N, Parent, State int
	Range            KeyRange
	// Sent is the Sent its parent handed it (Shard.Sent): a retried
	// parent invokes it again with them, not with its own event's.
	Sent []string
	Counts
}

// Counts are what a shard's pushes did.
type Counts struct {
	Delivered, Pruned, Failed int
}
