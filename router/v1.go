package router

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Permissions a scfws.v1 connection may hold (from DEFAULT_ROLES or its
// token), as in Azure Web PubSub: the plain form for any group, the form
// with ".<group>" for one.
const (
	PermJoinLeaveGroup = "joinLeaveGroup"
	PermSendToGroup    = "sendToGroup"
	PermSendToUser     = "sendToUser"
)

// request is a frame a scfws.v1 client sends.
type request struct {
	Type     string          `json:"type"`
	Group    string          `json:"group"`
	UserID   string          `json:"userId"`
	DataType string          `json:"dataType"`
	Data     json.RawMessage `json:"data"`
	NoEcho   bool            `json:"noEcho"`
	AckID    *uint64         `json:"ackId"`

	// probe: see probe.go.
	Secret string          `json:"secret"`
	Op     string          `json:"op"`
	Args   json.RawMessage `json:"args"`
}

// ack answers a request that had an ackId.
type ack struct {
	Type      string       `json:"type"`
	AckID     uint64       `json:"ackId"`
	Success   bool         `json:"success"`
	Delivered *int         `json:"delivered,omitempty"`
	Group     string       `json:"group,omitempty"`
	Users     *[]UserCount `json:"users,omitempty"` // a pointer: [] is an answer`
	Anonymous *int         `json:"anonymous,omitempty"`
	Truncated *bool        `json:"truncated,omitempty"`
	Error     *ackError    `json:"error,omitempty"`
}

type ackError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

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

// message is what a recipient gets.
type message struct {
	Type       string          `json:"type"`
	From       string          `json:"from"`
	Group      string          `json:"group,omitempty"`
	FromUserID string          `json:"fromUserId,omitempty"`
	DataType   string          `json:"dataType"`
	Data       json.RawMessage `json:"data"`
}

// frame handles one frame of a scfws.v1 connection: a JSON request,
// answered by an ack when it has an ackId.
func (c *call) frame(conn Conn, dataType, data string, reply *Reply) error {
	var req request
	var ref *refusal
	var a ack
	switch {
	case dataType != DataText:
		ref = refuse("InvalidMessage", "scfws.v1 frames are JSON text")
	case json.Unmarshal([]byte(data), &req) != nil:
		ref = refuse("InvalidMessage", "not a JSON object")
	default:
		a, ref = c.request(conn, &req, reply.Summary)
	}
	var err error
	if ref != nil {
		if ref.name == "Internal" {
			err = fail(CodeRegistry, errors.Unwrap(ref), "registry unavailable")
		} else {
			reply.ErrNo, reply.ErrMsg = CodeRefused, clip(ref.Error())
		}
		a = ack{Success: false, Error: &ackError{Name: ref.name, Message: ref.msg}}
	}
	if req.AckID != nil {
		a.Type, a.AckID = "ack", *req.AckID
		b, _ := frameJSON(a) // no channels or funcs: always encodes
		ackSum := c.push([]string{conn.ID}, DataText, string(b))
		reply.Summary.Pruned += ackSum.Pruned
	}
	c.op = clip(req.Type)
	return err
}

// tooLarge answers a scfws.v1 request over MAX_MESSAGE_BYTES with a
// TooLarge ack when it has an ackId; scfws probe's size requests get their
// result too, so that the gateway's limit can be told from the function's.
func (c *call) tooLarge(conn Conn, data string, size, limit int) {
	var req struct {
		Type   string  `json:"type"`
		Secret string  `json:"secret"`
		Op     string  `json:"op"`
		AckID  *uint64 `json:"ackId"`
	}
	if json.Unmarshal([]byte(data), &req) != nil || req.AckID == nil {
		return
	}
	var b []byte
	secret := c.d.Options.ProbeSecret
	if req.Type == "probe" && req.Op == "size" && secret != "" && subtle.ConstantTimeCompare([]byte(req.Secret), []byte(secret)) == 1 {
		b, _ = frameJSON(probeResult{Type: "probeResult", Op: "size", AckID: req.AckID, Bytes: size,
			Error: fmt.Sprintf("TooLarge: over MAX_MESSAGE_BYTES (%d)", limit)})
	} else {
		b, _ = frameJSON(ack{Type: "ack", AckID: *req.AckID, Error: &ackError{Name: "TooLarge",
			Message: fmt.Sprintf("message of %d bytes: at most %d", size, limit)}})
	}
	c.push([]string{conn.ID}, DataText, string(b))
}

// request does what req asks and returns the ack's success fields.
func (c *call) request(conn Conn, req *request, s *Summary) (ack, *refusal) {
	o := c.d.Options
	switch req.Type {
	case "ping":
		return ack{Success: true}, nil
	case "joinGroup", "leaveGroup":
		if ref := checkGroup(req.Group); ref != nil {
			return ack{}, ref
		}
		if !allowed(o.DefaultRoles, conn.Roles, PermJoinLeaveGroup, req.Group) {
			return ack{}, refuse("Forbidden", "no permission to join or leave %q", clip(req.Group))
		}
		if req.Type == "joinGroup" {
			first, err := c.d.Registry.Join(c.ctx, conn.ID, req.Group, o.maxGroups())
			var tm interface{ TooManyGroups() bool }
			switch {
			case errors.As(err, &tm) && tm.TooManyGroups():
				return ack{}, refuse("Forbidden", "in too many groups: at most %d", o.maxGroups())
			case err != nil:
				return ack{}, internal(err)
			}
			if first {
				c.announceJoined(req.Group, conn.UserID, conn.ID)
			}
			return ack{Success: true}, nil
		}
		last, err := c.d.Registry.Leave(c.ctx, conn.ID, req.Group)
		if err != nil {
			return ack{}, internal(err)
		}
		if last {
			c.announceLeft([]Membership{{Group: req.Group, UserID: conn.UserID}})
		}
		return ack{Success: true}, nil
	case "sendToGroup":
		if ref := checkGroup(req.Group); ref != nil {
			return ack{}, ref
		}
		if !allowed(o.DefaultRoles, conn.Roles, PermSendToGroup, req.Group) {
			return ack{}, refuse("Forbidden", "no permission to send to %q", clip(req.Group))
		}
		payload, ref := envelope(message{From: "group", Group: req.Group, FromUserID: conn.UserID}, req.DataType, req.Data)
		if ref != nil {
			return ack{}, ref
		}
		members, err := c.d.Registry.GroupConns(c.ctx, req.Group)
		if err != nil {
			return ack{}, internal(err)
		}
		if req.NoEcho {
			members = without(members, conn.ID)
		}
		*s = c.push(members, DataText, payload)
		return ack{Success: true, Delivered: &s.Delivered}, nil
	case "sendToUser":
		if ref := checkName("userId", req.UserID); ref != nil {
			return ack{}, ref
		}
		if !allowed(o.DefaultRoles, conn.Roles, PermSendToUser, "") {
			return ack{}, refuse("Forbidden", "no permission to send to users")
		}
		payload, ref := envelope(message{From: "user", FromUserID: conn.UserID}, req.DataType, req.Data)
		if ref != nil {
			return ack{}, ref
		}
		conns, err := c.d.Registry.UserConns(c.ctx, req.UserID)
		if err != nil {
			return ack{}, internal(err)
		}
		*s = c.push(conns, DataText, payload)
		return ack{Success: true, Delivered: &s.Delivered}, nil
	case "listGroup":
		if ref := checkGroup(req.Group); ref != nil {
			return ack{}, ref
		}
		// Who is in a room is for those in it.
		in, err := c.d.Registry.IsMember(c.ctx, conn.ID, req.Group)
		if err != nil {
			return ack{}, internal(err)
		}
		if !in {
			return ack{}, refuse("Forbidden", "not a member of %q", clip(req.Group))
		}
		users, anonymous, truncated, err := c.d.Registry.GroupUsers(c.ctx, req.Group, o.listLimit())
		if err != nil {
			return ack{}, internal(err)
		}
		if users == nil {
			users = []UserCount{}
		}
		return ack{Success: true, Group: req.Group, Users: &users, Anonymous: &anonymous, Truncated: &truncated}, nil
	case "probe":
		return c.probe(conn, req)
	case "":
		return ack{}, refuse("InvalidMessage", "no type")
	default:
		return ack{}, refuse("InvalidMessage", "unknown type %q", clip(req.Type))
	}
}

func internal(err error) *refusal {
	return &refusal{name: "Internal", msg: "the registry failed; try again", cause: err}
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

// Names (groups, user IDs) are 1-128 bytes of printable UTF-8 with no
// space at either end: shown to people, stored in a 128-byte key, never
// able to smuggle control characters into a log or a page. The auth
// package checks token claims by the same rule (a test holds them equal).
const maxNameBytes = 128

// ValidName reports whether s is a valid group name or user ID.
func ValidName(s string) bool {
	if s == "" || len(s) > maxNameBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return !strings.HasPrefix(s, " ") && !strings.HasSuffix(s, " ")
}

func checkGroup(g string) *refusal { return checkName("group", g) }

func checkName(what, s string) *refusal {
	if s == "" {
		return refuse("InvalidMessage", "missing %s", what)
	}
	if !ValidName(s) {
		return refuse("InvalidMessage", "%s must be 1-%d bytes of printable UTF-8", what, maxNameBytes)
	}
	return nil
}

// envelope encodes a message with data of dataType: text (a JSON string),
// json (any JSON value) or binary (a base64 JSON string).
// jsonString decodes a JSON string; null, which Unmarshal takes as "", is
// not one.
func jsonString(d []byte) (string, bool) {
	var s string
	if len(d) == 0 || d[0] != '"' || json.Unmarshal(d, &s) != nil {
		return "", false
	}
	return s, true
}

func envelope(m message, dataType string, data json.RawMessage) (string, *refusal) {
	if dataType == "" {
		dataType = DataText
	}
	data = bytes.TrimSpace(data)
	switch dataType {
	case DataText:
		if _, ok := jsonString(data); !ok {
			return "", refuse("InvalidMessage", "text data must be a JSON string")
		}
	case DataJSON:
		if len(data) == 0 || !json.Valid(data) {
			return "", refuse("InvalidMessage", "json data must be a JSON value")
		}
	case DataBinary:
		s, ok := jsonString(data)
		if !ok {
			return "", refuse("InvalidMessage", "binary data must be a base64 JSON string")
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return "", refuse("InvalidMessage", "binary data is not base64")
		}
	default:
		return "", refuse("InvalidMessage", "unknown dataType %q: want text, json or binary", clip(dataType))
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return "", refuse("InvalidMessage", "data is not JSON")
	}
	m.Type, m.DataType, m.Data = "message", dataType, b.Bytes()
	out, err := frameJSON(m)
	if err != nil {
		return "", refuse("InvalidMessage", "data is not JSON")
	}
	return string(out), nil
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
