package store

import (
	"context"
	"slices"
	"time"

	"github.com/scfws/scfws/proto"
)

// memStream is a stream of the in-process store: its epoch changes with
// every process, so a client resuming across a restart reloads.
type memStream struct {
	epoch  string
	last   uint64
	lastAt time.Time
	ring   []proto.Kept // message n in slot n mod len(ring)
}

// expired reports whether st had no message within ttl of now.
func (st *memStream) expired(now time.Time, ttl time.Duration) bool {
	return st.lastAt.Before(now.Add(-ttl))
}

// Append gives frame the next offset of s's stream and keeps it, starting
// a new epoch when the stream is new or expired.
func (m *Memory) Append(_ context.Context, s proto.Stream, frame []byte, keep proto.Retention) (proto.Position, error) {
	key, err := streamKey(s)
	if err != nil {
		return proto.Position{}, err
	}
	if err := checkKeep(keep); err != nil {
		return proto.Position{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	st := m.streams[key]
	if st == nil || st.expired(now, keep.TTL) {
		st = &memStream{epoch: newEpoch()}
		m.streams[key] = st
	}
	if len(st.ring) != keep.Size {
		st.ring = resized(st.ring, keep.Size)
	}
	st.last++
	st.lastAt = now
	st.ring[st.last%uint64(keep.Size)] = proto.Kept{Offset: st.last, Frame: slices.Clone(frame)}
	return proto.Position{Offset: st.last, Epoch: st.epoch}, nil
}

// resized moves a ring's messages into one of size slots.
func resized(ring []proto.Kept, size int) []proto.Kept {
	out := make([]proto.Kept, size)
	for _, k := range ring {
		if k.Offset != 0 {
			out[k.Offset%uint64(size)] = k
		}
	}
	return out
}

// Position is s's latest: offset 0 and epoch "" for a stream that has no
// messages, or has expired.
func (m *Memory) Position(_ context.Context, s proto.Stream, keep proto.Retention) (proto.Position, error) {
	key, err := streamKey(s)
	if err != nil {
		return proto.Position{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.streams[key]
	if st == nil || st.expired(m.now(), keep.TTL) {
		return proto.Position{}, nil
	}
	return proto.Position{Offset: st.last, Epoch: st.epoch}, nil
}

// Messages returns s's kept messages of epoch in r, oldest first.
func (m *Memory) Messages(_ context.Context, s proto.Stream, epoch string, r proto.Range) ([]proto.Kept, error) {
	key, err := streamKey(s)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.streams[key]
	if st == nil || st.epoch != epoch || r.Limit <= 0 {
		return nil, nil
	}
	var out []proto.Kept
	for _, k := range st.ring {
		if k.Offset > r.After && k.Offset < upper(r) {
			out = append(out, proto.Kept{Offset: k.Offset, Frame: slices.Clone(k.Frame)})
		}
	}
	slices.SortFunc(out, func(a, b proto.Kept) int { return compareOffsets(a.Offset, b.Offset) })
	if len(out) > r.Limit {
		if r.Newest {
			out = out[len(out)-r.Limit:]
		} else {
			out = out[:r.Limit]
		}
	}
	return out, nil
}

func compareOffsets(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SweepHistory forgets streams that had no message within keep.TTL, with
// their messages; at most sweepStreams of them.
func (m *Memory) SweepHistory(_ context.Context, keep proto.Retention) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var n int64
	for key, st := range m.streams {
		if n == sweepStreams {
			break
		}
		if st.expired(now, keep.TTL) {
			delete(m.streams, key)
			n++
		}
	}
	return n, nil
}

// AgeStream moves s's last message by into the past, for tests of expiry.
func (m *Memory) AgeStream(s proto.Stream, by time.Duration) {
	key, _ := streamKey(s)
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.streams[key]; st != nil {
		st.lastAt = st.lastAt.Add(-by)
	}
}

// Kept is how many messages the store holds, every stream's, for tests.
func (m *Memory) Kept() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, st := range m.streams {
		for _, k := range st.ring {
			if k.Offset != 0 {
				n++
			}
		}
	}
	return n
}
