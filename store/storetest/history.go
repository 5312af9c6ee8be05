package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scfws/scfws/proto"
)

// keep is the retention the history contract runs with.
var keep = proto.Retention{Size: 5, TTL: time.Hour}

// history: each stream numbers its messages 1, 2, 3 ... in one epoch,
// whichever caller appends, keeps the last keep.Size, and starts a new
// epoch at 1 once it has been silent past keep.TTL.
func history(t *testing.T, newSubject func(t *testing.T) Subject) {
	if newSubject(t).History == nil {
		return
	}
	t.Run("offsets", func(t *testing.T) { historyOffsets(t, newSubject(t)) })
	t.Run("ranges", func(t *testing.T) { historyRanges(t, newSubject(t)) })
	t.Run("ring", func(t *testing.T) { historyRing(t, newSubject(t)) })
	t.Run("expiry", func(t *testing.T) { historyExpiry(t, newSubject(t)) })
	t.Run("concurrent appends", func(t *testing.T) { historyConcurrent(t, newSubject(t)) })
	t.Run("bad streams", func(t *testing.T) { historyBad(t, newSubject(t)) })
}

func (h h) pos(v proto.Position, err error) proto.Position { h.t.Helper(); h.no(err); return v }
func (h h) kept(v []proto.Kept, err error) []proto.Kept    { h.t.Helper(); h.no(err); return v }

// frame is the stored form of message i.
func frame(i int) []byte {
	return fmt.Appendf(nil, "{\"type\":\"message\",\"data\":\"m%d\",\"bytes\":\"\x00\xff\"}", i)
}

// offsets lists ks's offsets, and fails the test when a frame is not the
// one appended at its offset (frame(offset)).
func offsets(t *testing.T, ks []proto.Kept) []uint64 {
	t.Helper()
	var out []uint64
	for _, k := range ks {
		if want := frame(int(k.Offset)); string(k.Frame) != string(want) {
			t.Errorf("message %d is %q; want %q", k.Offset, k.Frame, want)
		}
		out = append(out, k.Offset)
	}
	return out
}

func historyOffsets(t *testing.T, s Subject) {
	streams := []proto.Stream{{Group: "lobby"}, {UserID: "lobby"}, {Group: "it's \"quoted\" 连接-🙂"}, {UserID: "'; DROP TABLE x; --"}}
	for _, st := range streams {
		if got := of(t).pos(s.History.Position(ctx, st, keep)); got != (proto.Position{}) {
			t.Errorf("Position(%+v) of a new stream = %+v; want zero", st, got)
		}
	}
	epochs := map[string]bool{}
	for i, st := range streams {
		var first proto.Position
		for n := 1; n <= 3+i; n++ {
			p := of(t).pos(s.History.Append(ctx, st, frame(n), keep))
			if n == 1 {
				first = p
			}
			if p.Offset != uint64(n) || p.Epoch != first.Epoch || p.Epoch == "" {
				t.Errorf("Append #%d to %+v = %+v; want offset %d in epoch %q", n, st, p, n, first.Epoch)
			}
		}
		epochs[first.Epoch] = true
		if got := of(t).pos(s.History.Position(ctx, st, keep)); got != (proto.Position{Offset: uint64(3 + i), Epoch: first.Epoch}) {
			t.Errorf("Position(%+v) = %+v; want offset %d, epoch %q", st, got, 3+i, first.Epoch)
		}
	}
	if len(epochs) != len(streams) {
		t.Errorf("%d epochs for %d streams; want one each", len(epochs), len(streams))
	}
}

func historyRanges(t *testing.T, s Subject) {
	st := proto.Stream{Group: "g"}
	var p proto.Position
	for n := 1; n <= 4; n++ {
		p = of(t).pos(s.History.Append(ctx, st, frame(n), keep))
	}
	tests := []struct {
		give proto.Range
		want []uint64
	}{
		{proto.Range{Limit: 10}, []uint64{1, 2, 3, 4}},
		{proto.Range{After: 2, Limit: 10}, []uint64{3, 4}},
		{proto.Range{After: 4, Limit: 10}, nil},
		{proto.Range{Limit: 2}, []uint64{1, 2}},
		{proto.Range{Limit: 2, Newest: true}, []uint64{3, 4}},
		{proto.Range{Before: 4, Limit: 2, Newest: true}, []uint64{2, 3}},
		{proto.Range{After: 1, Before: 3, Limit: 10}, []uint64{2}},
		{proto.Range{Limit: 0}, nil},
	}
	for _, tt := range tests {
		if got := offsets(t, of(t).kept(s.History.Messages(ctx, st, p.Epoch, tt.give))); !slices.Equal(got, tt.want) {
			t.Errorf("Messages(%+v) = %v; want %v", tt.give, got, tt.want)
		}
	}
	if got := of(t).kept(s.History.Messages(ctx, st, "another epoch", proto.Range{Limit: 10})); len(got) != 0 {
		t.Errorf("Messages of another epoch = %d messages; want none", len(got))
	}
}

func historyRing(t *testing.T, s Subject) {
	st := proto.Stream{UserID: "bob"}
	var p proto.Position
	for n := 1; n <= 3*keep.Size+2; n++ {
		p = of(t).pos(s.History.Append(ctx, st, frame(n), keep))
	}
	got := offsets(t, of(t).kept(s.History.Messages(ctx, st, p.Epoch, proto.Range{Limit: 100})))
	want := []uint64{13, 14, 15, 16, 17}
	if !slices.Equal(got, want) {
		t.Errorf("kept after 17 appends to a ring of %d: %v; want %v", keep.Size, got, want)
	}
	if n := s.Kept(t); n != keep.Size {
		t.Errorf("%d messages stored; want %d: a stream holds at most its size", n, keep.Size)
	}
}

func historyExpiry(t *testing.T, s Subject) {
	old, other := proto.Stream{Group: "old"}, proto.Stream{Group: "live"}
	var p proto.Position
	for n := 1; n <= 3; n++ {
		p = of(t).pos(s.History.Append(ctx, old, frame(n), keep))
	}
	of(t).pos(s.History.Append(ctx, other, frame(1), keep))
	s.AgeStream(t, old, keep.TTL+time.Minute)
	if got := of(t).pos(s.History.Position(ctx, old, keep)); got != (proto.Position{}) {
		t.Errorf("Position of an expired stream = %+v; want zero", got)
	}
	// The next message starts a new epoch at 1; the old one's are gone.
	q := of(t).pos(s.History.Append(ctx, old, frame(1), keep))
	if q.Offset != 1 || q.Epoch == p.Epoch {
		t.Errorf("Append to an expired stream = %+v; want offset 1 in a new epoch (was %q)", q, p.Epoch)
	}
	if got := of(t).kept(s.History.Messages(ctx, old, p.Epoch, proto.Range{Limit: 10})); len(got) != 0 {
		t.Errorf("the expired epoch still has %d messages", len(got))
	}
	if n := s.Kept(t); n != 2 {
		t.Errorf("%d messages stored; want 2 (one per live stream)", n)
	}
	// The sweep forgets an expired stream with its messages, and leaves
	// the live ones.
	s.AgeStream(t, old, keep.TTL+time.Minute)
	if n := of(t).n(s.History.SweepHistory(ctx, keep)); n != 1 {
		t.Errorf("SweepHistory() = %d; want 1", n)
	}
	if n := s.Kept(t); n != 1 {
		t.Errorf("%d messages stored after the sweep; want 1", n)
	}
	if got := of(t).pos(s.History.Position(ctx, other, keep)); got.Offset != 1 {
		t.Errorf("the live stream is at %+v after the sweep; want offset 1", got)
	}
}

func (h h) n(v int64, err error) int64 { h.t.Helper(); h.no(err); return v }

func historyConcurrent(t *testing.T, s Subject) {
	const senders, each = 8, 25
	st := proto.Stream{Group: "busy"}
	big := proto.Retention{Size: senders * each, TTL: time.Hour}
	got := make(chan proto.Position, senders*each)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			for j := range each {
				p, err := s.History.Append(ctx, st, frame(i*each+j), big)
				if err != nil {
					t.Error(err)
					return
				}
				got <- p
			}
		})
	}
	wg.Wait()
	close(got)
	seen := map[uint64]bool{}
	epochs := map[string]bool{}
	for p := range got {
		if seen[p.Offset] {
			t.Errorf("offset %d given twice", p.Offset)
		}
		seen[p.Offset] = true
		epochs[p.Epoch] = true
	}
	for n := uint64(1); n <= senders*each; n++ {
		if !seen[n] {
			t.Errorf("offset %d never given: a gap", n)
		}
	}
	if len(epochs) != 1 {
		t.Errorf("%d epochs; want 1", len(epochs))
	}
}

func historyBad(t *testing.T, s Subject) {
	for _, st := range []proto.Stream{{}, {Group: "g", UserID: "u"}, {Group: string(make([]byte, 129))}} {
		if _, err := s.History.Append(ctx, st, frame(1), keep); err == nil {
			t.Errorf("Append(%+v) = nil error; want refused", st)
		}
	}
	if _, err := s.History.Append(ctx, proto.Stream{Group: "g"}, frame(1), proto.Retention{}); err == nil {
		t.Errorf("Append with no retention = nil error; want refused")
	}
}
