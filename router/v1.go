package router

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scfws/scfws/proto"
)

// refusal is a request the function declines; its message is safe to show
// the user.
type refusal struct {
	name  string // Forbidden, InvalidMessage, TooLarge, Internal
	msg   string
	cause error // for Internal: the log's
}

func (r *refusal) Error() string { return r.name + ": " + r.msg }

func (r *refusal) Unwrap() error { return r.cause }

func refuse(name, format string, args ...any) *refusal {
	return &refusal{name: name, msg: fmt.Sprintf(format, args...)}
}

// frame handles one frame of a scfws.v1 connection: a JSON request,
// answered by an ack when it has an ackId.
func (c *call) frame(conn proto.Conn, dataType, data string, reply *Reply) error {
	var req proto.Request
	var ref *refusal
	var a proto.Ack
	switch {
	case dataType != proto.DataText:
		ref = refuse(proto.RefusedInvalidMessage, "scfws.v1 frames are JSON text")
	case json.Unmarshal([]byte(data), &req) != nil:
		ref = refuse(proto.RefusedInvalidMessage, "not a JSON object")
	case misspelledRequest(data, &ref):
		// Acked when its ackId is spelled right: nothing else is used.
		if got, _ := misspelled([]byte(data), []string{"ackId"}); got != "" {
			req.AckID = nil
		}
		req = proto.Request{AckID: req.AckID}
	default:
		a, ref = c.request(conn, &req, reply.Summary)
	}
	var err error
	if ref != nil {
		if ref.name == proto.RefusedInternal {
			err = errRegistry(errors.Unwrap(ref))
		} else {
			reply.ErrNo, reply.ErrMsg = proto.CodeRefused, clip(ref.Error())
		}
		a = proto.Ack{Success: false, Error: &proto.AckError{Name: ref.name, Message: ref.msg}}
	}
	if req.AckID != nil {
		a.Type, a.AckID = proto.TypeAck, *req.AckID
		b, _ := frameJSON(a) // no channels or funcs: always encodes
		ackSum := c.push([]string{conn.ID}, proto.DataText, string(b))
		reply.Summary.Pruned += ackSum.Pruned
	}
	c.op = clip(req.Type)
	return err
}

// misspelledRequest refuses, in ref, a request with a member name in
// another case than documented ({"Type":...}).
func misspelledRequest(data string, ref **refusal) bool {
	got, want := misspelled([]byte(data), requestNames())
	if got == "" {
		got, want = misspelledInside([]byte(data))
	}
	if got == "" {
		return false
	}
	*ref = refuse(proto.RefusedInvalidMessage, "%q: names are case-sensitive, want %q", clip(got), want)
	return true
}

// tooLarge answers a scfws.v1 request over MAX_MESSAGE_BYTES with a
// TooLarge ack when it has an ackId; scfws probe's size requests get their
// result too, so that the gateway's limit can be told from the function's.
func (c *call) tooLarge(conn proto.Conn, data string, size, limit int) {
	var req proto.Request
	if json.Unmarshal([]byte(data), &req) != nil || req.AckID == nil {
		return
	}
	var b []byte
	if req.Type == proto.TypeProbe && req.Op == proto.ProbeSize && c.probeSecretOK(req.Secret) {
		b, _ = frameJSON(proto.ProbeResult{Type: proto.TypeProbeResult, Op: proto.ProbeSize, AckID: req.AckID, Bytes: size,
			Error: fmt.Sprintf("TooLarge: over MAX_MESSAGE_BYTES (%d)", limit)})
	} else {
		b, _ = frameJSON(proto.Ack{Type: proto.TypeAck, AckID: *req.AckID, Error: &proto.AckError{Name: proto.RefusedTooLarge,
			Message: fmt.Sprintf("message of %d bytes: at most %d", size, limit)}})
	}
	c.push([]string{conn.ID}, proto.DataText, string(b))
}

// request does what req asks and returns the ack's success fields.
func (c *call) request(conn proto.Conn, req *proto.Request, s *proto.Summary) (proto.Ack, *refusal) {
	switch req.Type {
	case proto.TypePing:
		return proto.Ack{Success: true}, nil
	case proto.TypeJoinGroup, proto.TypeLeaveGroup:
		return c.requestJoinLeave(conn, req, s)
	case proto.TypeSendToGroup:
		return c.requestSendToGroup(conn, req, s)
	case proto.TypeSendToUser:
		return c.requestSendToUser(conn, req, s)
	case proto.TypeListGroup:
		return c.requestListGroup(conn, req)
	case proto.TypeResume:
		return c.requestResume(conn, req, s)
	case proto.TypeHistory:
		return c.requestHistory(conn, req)
	case proto.TypeProbe:
		return c.probe(conn, req)
	case "":
		return proto.Ack{}, refuse(proto.RefusedInvalidMessage, "no type")
	default:
		return proto.Ack{}, refuse(proto.RefusedInvalidMessage, "unknown type %q", clip(req.Type))
	}
}

// requestJoinLeave puts conn into req's group or takes it out, announcing its
// user's arrival or departure.
func (c *call) requestJoinLeave(conn proto.Conn, req *proto.Request, s *proto.Summary) (proto.Ack, *refusal) {
	o := c.d.Options
	if ref := checkGroup(req.Group); ref != nil {
		return proto.Ack{}, ref
	}
	if !allowed(o.DefaultRoles, conn.Roles, proto.PermJoinLeaveGroup, req.Group) {
		return proto.Ack{}, refuse(proto.RefusedForbidden, "no permission to join or leave %q", clip(req.Group))
	}
	if req.Type == proto.TypeLeaveGroup {
		last, err := c.d.Registry.Leave(c.ctx, conn.ID, req.Group)
		if err != nil {
			return proto.Ack{}, internal(err)
		}
		if last {
			c.announceLeft([]proto.Membership{{Group: req.Group, UserID: conn.UserID}})
		}
		return proto.Ack{Success: true}, nil
	}
	first, err := c.d.Registry.Join(c.ctx, conn.ID, req.Group, o.maxGroups())
	switch {
	case tooManyGroups(err):
		return proto.Ack{}, refuse(proto.RefusedForbidden, "in too many groups: at most %d", o.maxGroups())
	case err != nil:
		return proto.Ack{}, internal(err)
	}
	if first {
		c.announceJoined(req.Group, conn.UserID, conn.ID)
	}
	if req.Since == nil {
		return proto.Ack{Success: true}, nil
	}
	// After the join, so that what is sent meanwhile comes live, and what
	// came before, here.
	r := replay{c: c, conn: conn.ID, budget: proto.MaxResumeMessages, sum: s}
	state, err := r.recover(proto.Stream{Group: req.Group}, *req.Since)
	if err != nil {
		return proto.Ack{}, internal(err)
	}
	return proto.Ack{Success: true, Streams: &[]proto.StreamState{state}}, nil
}

// tooManyGroups reports whether err is the registry's refusal of a join
// past the group limit.
func tooManyGroups(err error) bool {
	var tm interface{ TooManyGroups() bool }
	return errors.As(err, &tm) && tm.TooManyGroups()
}

// requestSendToGroup sends req's data to the group's members, the sender too
// unless it asked for noEcho.
func (c *call) requestSendToGroup(conn proto.Conn, req *proto.Request, s *proto.Summary) (proto.Ack, *refusal) {
	if ref := checkGroup(req.Group); ref != nil {
		return proto.Ack{}, ref
	}
	if !allowed(c.d.Options.DefaultRoles, conn.Roles, proto.PermSendToGroup, req.Group) {
		return proto.Ack{}, refuse(proto.RefusedForbidden, "no permission to send to %q", clip(req.Group))
	}
	m, ref := envelope(proto.Message{From: proto.FromGroup, Group: req.Group, FromUserID: conn.UserID}, req.DataType, req.Data)
	if ref != nil {
		return proto.Ack{}, ref
	}
	if err := c.record(proto.Stream{Group: req.Group}, &m); err != nil {
		return proto.Ack{}, internal(err)
	}
	except := ""
	if req.NoEcho {
		except = conn.ID
	}
	job, ref := c.sendFrame(proto.Target{Kind: proto.TargetGroup, Group: req.Group}, m.frame, except, s)
	if ref != nil {
		return proto.Ack{}, ref
	}
	// The sender learns its message's place: with noEcho it gets no push
	// that would tell it, and would take the offset for a gap.
	a := proto.Ack{Success: true, Delivered: &s.Delivered, ID: m.id, Job: job}
	if m.pos != nil {
		a.Offset, a.Epoch = &m.pos.Offset, &m.pos.Epoch
	}
	return a, nil
}

// requestSendToUser sends req's data to every connection of a user.
func (c *call) requestSendToUser(conn proto.Conn, req *proto.Request, s *proto.Summary) (proto.Ack, *refusal) {
	if ref := checkName("userId", req.UserID); ref != nil {
		return proto.Ack{}, ref
	}
	if !allowed(c.d.Options.DefaultRoles, conn.Roles, proto.PermSendToUser, "") {
		return proto.Ack{}, refuse(proto.RefusedForbidden, "no permission to send to users")
	}
	m, ref := envelope(proto.Message{From: proto.FromUser, FromUserID: conn.UserID}, req.DataType, req.Data)
	if ref != nil {
		return proto.Ack{}, ref
	}
	if err := c.record(proto.Stream{UserID: req.UserID}, &m); err != nil {
		return proto.Ack{}, internal(err)
	}
	job, ref := c.sendFrame(proto.Target{Kind: proto.TargetUser, UserID: req.UserID}, m.frame, "", s)
	if ref != nil {
		return proto.Ack{}, ref
	}
	// The id only: the offset is in the recipient's stream, not the sender's.
	return proto.Ack{Success: true, Delivered: &s.Delivered, ID: m.id, Job: job}, nil
}

// sendFrame pushes a client's message frame to a group's or a user's
// connections but except, handing off what will not be pushed in time;
// job names the hand-off's job.
func (c *call) sendFrame(t proto.Target, frame, except string, s *proto.Summary) (job string, ref *refusal) {
	why := c.fanoutOff()
	if why == "" {
		sum, h, err := c.fan([]*part{{target: t, frame: proto.Frame{DataType: proto.DataText, Data: frame}, except: except}})
		*s = sum
		if err != nil {
			return "", internal(errors.Unwrap(err))
		}
		if h != nil {
			job = h.Job
		}
		return job, nil
	}
	var conns []string
	var err error
	if t.Kind == proto.TargetGroup {
		conns, err = c.d.Registry.GroupConns(c.ctx, t.Group)
	} else {
		conns, err = c.d.Registry.UserConns(c.ctx, t.UserID)
	}
	if err != nil {
		return "", internal(err)
	}
	*s = c.push(without(conns, except), proto.DataText, frame)
	if s.Skipped > 0 {
		c.handoff = &proto.Handoff{Off: why}
	}
	return "", nil
}

// requestListGroup answers who is in a group, to its members only.
func (c *call) requestListGroup(conn proto.Conn, req *proto.Request) (proto.Ack, *refusal) {
	if ref := checkGroup(req.Group); ref != nil {
		return proto.Ack{}, ref
	}
	in, err := c.d.Registry.IsMember(c.ctx, conn.ID, req.Group)
	if err != nil {
		return proto.Ack{}, internal(err)
	}
	if !in {
		return proto.Ack{}, refuse(proto.RefusedForbidden, "not a member of %q", clip(req.Group))
	}
	users, anonymous, truncated, err := c.d.Registry.GroupUsers(c.ctx, req.Group, c.d.Options.listLimit())
	if err != nil {
		return proto.Ack{}, internal(err)
	}
	if users == nil {
		users = []proto.UserCount{}
	}
	return proto.Ack{Success: true, Group: req.Group, Users: &users, Anonymous: &anonymous, Truncated: &truncated}, nil
}

func internal(err error) *refusal {
	return &refusal{name: proto.RefusedInternal, msg: "the registry failed; try again", cause: err}
}

// allowed reports whether the roles grant perm, for group when given.
func allowed(defaults, roles []string, perm, group string) bool {
	for _, set := range [][]string{defaults, roles} {
		for _, r := range set {
			if r == perm || (group != "" && r == perm+"."+group) {
				return true
			}
		}
	}
	return false
}

func checkGroup(g string) *refusal { return checkName("group", g) }

func checkName(what, s string) *refusal {
	if s == "" {
		return refuse(proto.RefusedInvalidMessage, "missing %s", what)
	}
	if !proto.ValidName(s) {
		return refuse(proto.RefusedInvalidMessage, "%s must be 1-%d bytes of printable UTF-8", what, proto.MaxNameBytes)
	}
	return nil
}

// jsonString decodes a JSON string; null, which Unmarshal takes as "", is
// not one.
func jsonString(d []byte) (string, bool) {
	var s string
	if len(d) == 0 || d[0] != '"' || json.Unmarshal(d, &s) != nil {
		return "", false
	}
	return s, true
}

// checkData checks data against dataType ("" is text): text is a JSON
// string, json any JSON value, binary a base64 JSON string. It returns the
// frame a plain connection gets (json as compact text), with its type and
// its size as the client sees it; problem, when not "", says what is wrong.
func checkData(dataType string, data json.RawMessage) (frameType, frame string, size int, problem string) {
	d := bytes.TrimSpace(data)
	switch dataType {
	case proto.DataText, "":
		s, ok := jsonString(d)
		if !ok {
			return "", "", 0, "text data must be a JSON string"
		}
		return proto.DataText, s, len(s), ""
	case proto.DataJSON:
		var b bytes.Buffer
		if len(d) == 0 || json.Compact(&b, d) != nil {
			return "", "", 0, "json data must be a JSON value"
		}
		return proto.DataText, b.String(), b.Len(), ""
	case proto.DataBinary:
		s, ok := jsonString(d)
		if !ok {
			return "", "", 0, "binary data must be a base64 JSON string"
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", "", 0, "binary data is not base64"
		}
		return proto.DataBinary, s, len(b), ""
	default:
		return "", "", 0, fmt.Sprintf("unknown dataType %q: want text, json or binary", clip(dataType))
	}
}

// envelope accepts a message with data of dataType (see checkData): it
// gets its id, and its frame without offset and epoch.
func envelope(m proto.Message, dataType string, data json.RawMessage) (outgoing, *refusal) {
	if _, _, _, problem := checkData(dataType, data); problem != "" {
		return outgoing{}, refuse(proto.RefusedInvalidMessage, "%s", problem)
	}
	if dataType == "" {
		dataType = proto.DataText
	}
	var b bytes.Buffer
	if err := json.Compact(&b, bytes.TrimSpace(data)); err != nil {
		return outgoing{}, refuse(proto.RefusedInvalidMessage, "data is not JSON")
	}
	m.Type, m.DataType, m.Data = proto.TypeMessage, dataType, b.Bytes()
	m.ID, m.Offset, m.Epoch = newMessageID(time.Now()), 0, ""
	out, err := frameJSON(m)
	if err != nil {
		return outgoing{}, refuse(proto.RefusedInvalidMessage, "data is not JSON")
	}
	return outgoing{id: m.ID, frame: string(out)}, nil
}

// frameJSON encodes a frame for a client: JSON as it reads, without the
// HTML escapes (\u003c) that json.Marshal adds for web pages.
func frameJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
