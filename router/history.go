package router

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/scfws/scfws/proto"
)

// History keeps each group's and each user's last messages with their
// offsets (HISTORY_SIZE > 0), for resume and history requests; see
// proto/history.go.
type History interface {
	// Append gives frame, a message without offset and epoch, the next
	// offset of s's stream and keeps it; it returns that offset with the
	// stream's epoch.
	Append(ctx context.Context, s proto.Stream, frame []byte, keep proto.Retention) (proto.Position, error)
	// Position is s's latest message: offset 0 and epoch "" when it has
	// none or has expired.
	Position(ctx context.Context, s proto.Stream, keep proto.Retention) (proto.Position, error)
	// Messages returns s's kept messages of epoch in r, oldest first.
	Messages(ctx context.Context, s proto.Stream, epoch string, r proto.Range) ([]proto.Kept, error)
	// SweepHistory forgets some of the streams silent past keep.TTL.
	SweepHistory(ctx context.Context, keep proto.Retention) (int64, error)
}

// outgoing is a message the function accepted: its id, its frame, and,
// once recorded in its stream, its place there.
type outgoing struct {
	id    string
	frame string
	pos   *proto.Position
}

// record appends m to stream s when history is on, and gives it its offset
// and epoch: once, before any push, so that every push of it carries the
// same.
func (c *call) record(s proto.Stream, m *outgoing) error {
	if c.d.History == nil {
		return nil
	}
	pos, err := c.d.History.Append(c.ctx, s, []byte(m.frame), c.d.Options.History)
	if err != nil {
		return err
	}
	m.frame, m.pos = positioned([]byte(m.frame), pos.Offset, pos.Epoch), &pos
	return nil
}

// positioned is a message frame, as kept, with its offset and its stream's
// epoch: the frame ends with its closing brace, and the two members follow
// the id as proto.Message orders them.
func positioned(frame []byte, offset uint64, epoch string) string {
	e, _ := json.Marshal(epoch) // a string: cannot fail
	var b strings.Builder
	b.Grow(len(frame) + len(e) + 32)
	b.Write(bytes.TrimSuffix(frame, []byte("}")))
	b.WriteString(`,"offset":`)
	b.WriteString(strconv.FormatUint(offset, 10))
	b.WriteString(`,"epoch":`)
	b.Write(e)
	b.WriteByte('}')
	return b.String()
}

// newMessageID is a message's id: 26 characters of Crockford's base32 over
// 6 bytes of Unix milliseconds and 10 random ones, so ids sort roughly by
// when the function accepted them.
func newMessageID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand)
	return crockford.EncodeToString(b[:])
}

var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// streamOf is the stream a resume or history request names: a group, or
// the connection's own user. Only a member may read a group's, and only
// its user's connections a user's.
func (c *call) streamOf(conn proto.Conn, group string, user bool) (proto.Stream, *refusal) {
	switch {
	case user && group != "":
		return proto.Stream{}, refuse(proto.RefusedInvalidMessage, "a stream is a group or the user, not both")
	case user && conn.UserID == "":
		return proto.Stream{}, refuse(proto.RefusedForbidden, "an anonymous connection has no user stream")
	case user:
		return proto.Stream{UserID: conn.UserID}, nil
	}
	if ref := checkGroup(group); ref != nil {
		return proto.Stream{}, ref
	}
	in, err := c.d.Registry.IsMember(c.ctx, conn.ID, group)
	if err != nil {
		return proto.Stream{}, internal(err)
	}
	if !in {
		return proto.Stream{}, refuse(proto.RefusedForbidden, "not a member of %q", clip(group))
	}
	return proto.Stream{Group: group}, nil
}

// requestResume pushes conn what it missed in each stream it names, one
// message at a time in offset order, and answers each stream's state.
func (c *call) requestResume(conn proto.Conn, req *proto.Request, sum *proto.Summary) (proto.Ack, *refusal) {
	switch n := len(req.Streams); {
	case n == 0:
		return proto.Ack{}, refuse(proto.RefusedInvalidMessage, "no streams")
	case n > proto.MaxResumeStreams:
		return proto.Ack{}, refuse(proto.RefusedInvalidMessage, "%d streams: at most %d per resume", n, proto.MaxResumeStreams)
	}
	streams := make([]proto.Stream, len(req.Streams))
	for i, sp := range req.Streams {
		var ref *refusal
		if streams[i], ref = c.streamOf(conn, sp.Group, sp.User); ref != nil {
			return proto.Ack{}, ref
		}
	}
	r := replay{c: c, conn: conn.ID, budget: proto.MaxResumeMessages, sum: sum}
	states := make([]proto.StreamState, len(streams))
	for i, s := range streams {
		var err error
		if states[i], err = r.recover(s, proto.Position{Offset: req.Streams[i].Offset, Epoch: req.Streams[i].Epoch}); err != nil {
			return proto.Ack{}, internal(err)
		}
	}
	return proto.Ack{Success: true, Streams: &states}, nil
}

// replay pushes one connection the messages it missed, within one
// request's bound.
type replay struct {
	c      *call
	conn   string
	budget int            // messages this request may still push
	dead   bool           // a push failed: push no more
	sum    *proto.Summary // the reply's, counting the pushes
}

// recover pushes what came after since in s, when all of it is kept, and
// says whether it did (recovered) with the stream's latest position.
func (r *replay) recover(s proto.Stream, since proto.Position) (proto.StreamState, error) {
	state := proto.StreamState{Group: s.Group, User: s.UserID != ""}
	h, keep := r.c.d.History, r.c.d.Options.History
	if h == nil {
		return state, nil
	}
	pos, err := h.Position(r.c.ctx, s, keep)
	if err != nil {
		return state, err
	}
	state.Offset, state.Epoch = pos.Offset, pos.Epoch
	missed, ok := gap(since, pos)
	switch {
	case !ok || missed > uint64(keep.Size) || missed > uint64(r.budget) || r.dead:
		return state, nil
	case missed == 0:
		state.Recovered = true
		return state, nil
	}
	kept, err := h.Messages(r.c.ctx, s, pos.Epoch, proto.Range{After: since.Offset, Before: pos.Offset + 1, Limit: int(missed)})
	if err != nil {
		return state, err
	}
	if uint64(len(kept)) != missed {
		return state, nil // some were overwritten or expired meanwhile
	}
	r.budget -= len(kept)
	state.Recovered = r.push(kept, pos.Epoch)
	return state, nil
}

// gap is how many messages a client at since missed of a stream at pos;
// ok is false when since is not in pos's past (another epoch, or ahead).
// A client that has seen nothing of a stream (offset 0, epoch "") missed
// all of it.
func gap(since, pos proto.Position) (missed uint64, ok bool) {
	switch {
	case since.Epoch == "" && since.Offset == 0:
		return pos.Offset, true
	case since.Epoch != pos.Epoch || since.Offset > pos.Offset:
		return 0, false
	}
	return pos.Offset - since.Offset, true
}

// push sends kept to the connection one at a time, in offset order: the
// gateway keeps a connection's pushes in order only when each waits for
// the one before. false when one did not arrive.
func (r *replay) push(kept []proto.Kept, epoch string) bool {
	for _, k := range kept {
		s := r.c.push([]string{r.conn}, proto.DataText, positioned(k.Frame, k.Offset, epoch))
		addSummary(r.sum, s)
		if s.Delivered != 1 {
			r.dead = true
			return false
		}
	}
	return true
}

// maxHistoryBytes bounds the messages of one history answer, beyond the
// newest one: the rest are left to a request with an earlier before.
const maxHistoryBytes = 1 << 20

// page is the newest kept messages of s before before (0: the latest), at
// most limit (0: proto.DefaultHistoryLimit), oldest first, as frames; and
// the stream's latest position.
func (c *call) page(s proto.Stream, limit int, before uint64) ([]json.RawMessage, proto.Position, error) {
	out := []json.RawMessage{}
	h, keep := c.d.History, c.d.Options.History
	if h == nil {
		return out, proto.Position{}, nil
	}
	pos, err := h.Position(c.ctx, s, keep)
	if err != nil || pos.Epoch == "" {
		return out, pos, err
	}
	if limit <= 0 {
		limit = proto.DefaultHistoryLimit
	}
	r := proto.Range{Before: pos.Offset + 1, Limit: min(limit, keep.Size), Newest: true}
	if pos.Offset > uint64(keep.Size) {
		r.After = pos.Offset - uint64(keep.Size) // older slots hold newer messages
	}
	if before != 0 && before < r.Before {
		r.Before = before
	}
	kept, err := h.Messages(c.ctx, s, pos.Epoch, r)
	if err != nil {
		return out, pos, err
	}
	size := 0
	for i := len(kept) - 1; i >= 0; i-- {
		if size += len(kept[i].Frame); size > maxHistoryBytes && i < len(kept)-1 {
			kept = kept[i+1:]
			break
		}
	}
	for _, k := range kept {
		out = append(out, json.RawMessage(positioned(k.Frame, k.Offset, pos.Epoch)))
	}
	return out, pos, nil
}

// requestHistory answers a group's or the user's last messages.
func (c *call) requestHistory(conn proto.Conn, req *proto.Request) (proto.Ack, *refusal) {
	s, ref := c.streamOf(conn, req.Group, req.User)
	if ref != nil {
		return proto.Ack{}, ref
	}
	if req.Limit < 0 {
		return proto.Ack{}, refuse(proto.RefusedInvalidMessage, "limit must be positive")
	}
	msgs, pos, err := c.page(s, req.Limit, req.Before)
	if err != nil {
		return proto.Ack{}, internal(err)
	}
	return proto.Ack{Success: true, Group: s.Group, Messages: &msgs, Offset: &pos.Offset, Epoch: &pos.Epoch}, nil
}

// history answers the backend's history command.
func (c *call) history(cmd *proto.Command) (Reply, error) {
	var s proto.Stream
	var err error
	switch {
	case cmd.Group != "" && cmd.UserID != "":
		err = fail(proto.CodeBadArgument, nil, "give group or userId, not both")
	case cmd.Group != "":
		s.Group, err = cmd.Group, argName("group", cmd.Group)
	case cmd.UserID != "":
		s.UserID, err = cmd.UserID, argName("userId", cmd.UserID)
	default:
		err = fail(proto.CodeBadArgument, nil, "missing group or userId")
	}
	if err != nil {
		return Reply{}, err
	}
	if cmd.Limit < 0 {
		return Reply{}, fail(proto.CodeBadArgument, nil, "limit must be positive")
	}
	msgs, pos, err := c.page(s, cmd.Limit, cmd.Before)
	if err != nil {
		return Reply{}, errRegistry(err)
	}
	reply := Reply{Messages: &msgs, Offset: &pos.Offset, Epoch: &pos.Epoch}
	if c.d.History == nil {
		reply.ErrMsg = "ok, but history is off (HISTORY_SIZE=0)"
	}
	return reply, nil
}
