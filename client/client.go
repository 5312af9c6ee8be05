// Package client lets a backend talk to its scfws function: send to every
// connection, a group, a user or one connection, close connections, manage
// groups and list them, and follow a send the function handed off (Job).
// Each call is one backend command ({"scfws":{...}}) carried by a
// Transport: SCF's Invoke API through the official SDK (NewSCF), or the
// function's signed HTTP route (NewHTTP).
//
// A reply with a non-zero errNo is an *Error; anything that kept the
// command from getting a reply (network, Tencent Cloud API, HTTP status,
// the function failing) is a *TransportError wrapping the cause.
package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/scfws/scfws/proto"
)

// Transport carries one command to the function and returns its reply.
type Transport interface {
	Invoke(ctx context.Context, command []byte) (reply []byte, err error)
}

// Client sends backend commands through a Transport.
type Client struct {
	t Transport
}

// New returns a Client that uses t.
func New(t Transport) *Client { return &Client{t: t} }

// Operations of the backend API, as proto spells them for the function.
const (
	OpSendToAll        = proto.OpSendToAll
	OpSendToGroup      = proto.OpSendToGroup
	OpSendToUser       = proto.OpSendToUser
	OpSendToConnection = proto.OpSendToConnection
	OpCloseConnection  = proto.OpCloseConnection
	OpCloseUser        = proto.OpCloseUser
	OpAddToGroup       = proto.OpAddToGroup
	OpRemoveFromGroup  = proto.OpRemoveFromGroup
	OpListGroup        = proto.OpListGroup
	OpListUser         = proto.OpListUser
	OpHistory          = proto.OpHistory
	OpJob              = proto.OpJob
)

// Command is the body of a backend command: {"scfws": Command}, the one
// shape the function reads. The typed methods build it; Do sends any.
type Command = proto.Command

// Payload is the data of a send: text, JSON or binary.
type Payload struct {
	dataType string
	data     json.RawMessage
	err      error
}

// Data types.
const (
	DataText   = proto.DataText
	DataJSON   = proto.DataJSON
	DataBinary = proto.DataBinary
)

// Text sends s as a text frame. WebSocket text must be UTF-8; send other
// bytes with Binary.
func Text(s string) Payload {
	if !utf8.ValidString(s) {
		return Payload{err: errors.New("text is not valid UTF-8; send it as Binary")}
	}
	b, err := json.Marshal(s)
	return Payload{dataType: DataText, data: b, err: err}
}

// JSON sends v, marshalled, as a text frame of JSON.
func JSON(v any) Payload {
	b, err := json.Marshal(v)
	if err != nil {
		return Payload{err: fmt.Errorf("encode JSON payload: %w", err)}
	}
	return Payload{dataType: DataJSON, data: b}
}

// Binary sends b as a binary frame (base64 on the wire).
func Binary(b []byte) Payload {
	s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b)) // a string: cannot fail
	return Payload{dataType: DataBinary, data: s}
}

// Member is who joins or leaves a group: a user (all its connections) or
// one connection.
type Member struct {
	userID, connectionID string
}

// User is every connection of userID.
func User(userID string) Member { return Member{userID: userID} }

// Connection is one connection.
func Connection(connectionID string) Member { return Member{connectionID: connectionID} }

// SendResult is what a send or close did.
type SendResult struct {
	Recipients int // connections addressed
	Delivered  int // the gateway took the frame
	Pruned     int // the gateway no longer knew them: forgotten
	Failed     int // not delivered, kept
	Skipped    int // not attempted: the function's deadline was near
	Elapsed    time.Duration
	// ID is the message's id, the same on every push of it; Offset and
	// Epoch its place in the group's or user's stream, when the function
	// keeps history (HISTORY_SIZE).
	ID     string
	Offset uint64
	Epoch  string
	// Handoff is set when the function handed part of the send to
	// asynchronous invocations of itself (FANOUT): follow its Job with
	// Client.Job. The counts above are then what the first invoke did.
	// With Off set nothing was handed off, and Off says why.
	Handoff *Handoff
}

// Handoff is what a send handed off: its job, how many shards and how
// many recipients they have; or why it handed off nothing (Off).
type Handoff = proto.Handoff

// Job is a handed-off send's progress, over all its shards: State is
// JobRunning, JobDone or JobStalled (a shard was lost: it will not end).
type Job = proto.Job

// JobShards counts a job's shards: done, all, and lost (never invoked:
// their recipients got nothing).
type JobShards = proto.JobShards

// Job states.
const (
	JobRunning = proto.JobRunning
	JobDone    = proto.JobDone
	JobStalled = proto.JobStalled
)

// History is a stream's last messages, oldest first, and the stream's
// latest position (Offset 0 and Epoch "" when it has none, or history is
// off).
type History struct {
	Messages []Message
	Offset   uint64
	Epoch    string
}

// Message is a message as its recipients got it.
type Message = proto.Message

// GroupList is a group's members: its users, how many connections it has
// without a user (Anonymous), and whether the function listed only part of
// a large group (Truncated).
type GroupList = proto.GroupList

// GroupUser is one user in a group and how many of its connections are.
type GroupUser = proto.UserCount

// UserConnections is a user's live connections.
type UserConnections struct {
	UserID      string
	Connections []string
}

// Error numbers a function answers backend commands with.
const (
	ErrNoTooLarge      = proto.CodeTooLarge
	ErrNoUnknownOp     = proto.CodeUnknownOp
	ErrNoBadArgument   = proto.CodeBadArgument
	ErrNoInternal      = proto.CodeInternal
	ErrNoNotConfigured = proto.CodeNotReady
	ErrNoRegistry      = proto.CodeRegistry
)

// Error is the function's refusal: a reply whose errNo is not 0.
type Error struct {
	ErrNo int
	Msg   string
}

func (e *Error) Error() string { return fmt.Sprintf("scfws: errNo %d: %s", e.ErrNo, e.Msg) }

// TransportError is a command that got no reply from the function. Err is
// the cause: a *CloudError, *FunctionError, *HTTPError, a context error or
// a network error.
type TransportError struct {
	Via string // "scf" or "http"
	Err error
}

func (e *TransportError) Error() string { return "scfws " + e.Via + ": " + e.Err.Error() }

func (e *TransportError) Unwrap() error { return e.Err }

// reply is every field any reply has.
type reply struct {
	ErrNo  *int   `json:"errNo"`
	ErrMsg string `json:"errMsg"`
	proto.Summary
	proto.GroupList
	Connections json.RawMessage `json:"connections"` // a count, or listUser's IDs
	UserID      string          `json:"userId"`
	ID          string          `json:"id"`
	Messages    []Message       `json:"messages"`
	Offset      uint64          `json:"offset"`
	Epoch       string          `json:"epoch"`
	Handoff     *Handoff        `json:"handoff"`
	Job         *Job            `json:"job"`
}

// Do sends cmd and returns the function's reply as it came. A reply with a
// non-zero errNo is returned together with an *Error.
func (c *Client) Do(ctx context.Context, cmd Command) (json.RawMessage, error) {
	raw, _, err := c.do(ctx, cmd)
	return raw, err
}

func (c *Client) do(ctx context.Context, cmd Command) (json.RawMessage, *reply, error) {
	if cmd.Op == "" {
		return nil, nil, errors.New("scfws: the command has no op")
	}
	body, err := json.Marshal(struct {
		Scfws Command `json:"scfws"`
	}{cmd})
	if err != nil {
		return nil, nil, fmt.Errorf("scfws %s: encode: %w", cmd.Op, err)
	}
	raw, err := c.t.Invoke(ctx, body)
	if err != nil {
		return nil, nil, err
	}
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, nil, fmt.Errorf("scfws %s: the reply is not a JSON object: %w", cmd.Op, err)
	}
	if r.ErrNo == nil {
		return nil, nil, fmt.Errorf("scfws %s: the reply has no errNo (is the function scfws with the backend API?): %.200s", cmd.Op, raw)
	}
	if *r.ErrNo != 0 {
		return raw, &r, &Error{ErrNo: *r.ErrNo, Msg: r.ErrMsg}
	}
	return raw, &r, nil
}

// Encode is p's wire form, a Command's DataType and Data, or why p cannot
// be sent.
func (p Payload) Encode() (dataType string, data json.RawMessage, err error) {
	if p.err != nil {
		return "", nil, p.err
	}
	if p.dataType == "" {
		return "", nil, errors.New("empty Payload; make one with Text, JSON or Binary")
	}
	return p.dataType, p.data, nil
}

func (c *Client) send(ctx context.Context, cmd Command, p *Payload) (SendResult, error) {
	if p != nil {
		var err error
		if cmd.DataType, cmd.Data, err = p.Encode(); err != nil {
			return SendResult{}, fmt.Errorf("scfws %s: %w", cmd.Op, err)
		}
	}
	_, r, err := c.do(ctx, cmd)
	if r == nil {
		return SendResult{}, err
	}
	return SendResult{
		Recipients: r.Recipients, Delivered: r.Delivered, Pruned: r.Pruned, Failed: r.Failed, Skipped: r.Skipped,
		Elapsed: time.Duration(r.ElapsedMs) * time.Millisecond, ID: r.ID, Offset: r.Offset, Epoch: r.Epoch,
		Handoff: r.Handoff,
	}, err
}

// need checks that an argument the op requires was given.
func need(op, what, v string) error {
	if v == "" {
		return fmt.Errorf("scfws %s: %s is empty", op, what)
	}
	return nil
}

// SendToAll sends p to every live connection.
func (c *Client) SendToAll(ctx context.Context, p Payload) (SendResult, error) {
	return c.send(ctx, Command{Op: OpSendToAll}, &p)
}

// SendToGroup sends p to every connection in group.
func (c *Client) SendToGroup(ctx context.Context, group string, p Payload) (SendResult, error) {
	if err := need(OpSendToGroup, "group", group); err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, Command{Op: OpSendToGroup, Group: group}, &p)
}

// SendToUser sends p to every connection of userID.
func (c *Client) SendToUser(ctx context.Context, userID string, p Payload) (SendResult, error) {
	if err := need(OpSendToUser, "userId", userID); err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, Command{Op: OpSendToUser, UserID: userID}, &p)
}

// SendToConnection sends p to one connection.
func (c *Client) SendToConnection(ctx context.Context, connectionID string, p Payload) (SendResult, error) {
	if err := need(OpSendToConnection, "connectionId", connectionID); err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, Command{Op: OpSendToConnection, ConnectionID: connectionID}, &p)
}

// CloseConnection closes one connection; reason may be empty.
func (c *Client) CloseConnection(ctx context.Context, connectionID, reason string) (SendResult, error) {
	if err := need(OpCloseConnection, "connectionId", connectionID); err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, Command{Op: OpCloseConnection, ConnectionID: connectionID, Reason: reason}, nil)
}

// CloseUser closes every connection of userID.
func (c *Client) CloseUser(ctx context.Context, userID string) (SendResult, error) {
	if err := need(OpCloseUser, "userId", userID); err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, Command{Op: OpCloseUser, UserID: userID}, nil)
}

// AddToGroup puts m into group and returns how many connections that
// affected.
func (c *Client) AddToGroup(ctx context.Context, group string, m Member) (int, error) {
	return c.membership(ctx, OpAddToGroup, group, m)
}

// RemoveFromGroup takes m out of group and returns how many connections
// that affected.
func (c *Client) RemoveFromGroup(ctx context.Context, group string, m Member) (int, error) {
	return c.membership(ctx, OpRemoveFromGroup, group, m)
}

func (c *Client) membership(ctx context.Context, op, group string, m Member) (int, error) {
	if err := need(op, "group", group); err != nil {
		return 0, err
	}
	if m.userID == "" && m.connectionID == "" {
		return 0, fmt.Errorf("scfws %s: no member; make one with User or Connection", op)
	}
	_, r, err := c.do(ctx, Command{Op: op, UserID: m.userID, ConnectionID: m.connectionID, Group: group})
	if err != nil {
		return 0, err
	}
	var n int
	if len(r.Connections) > 0 {
		if err := json.Unmarshal(r.Connections, &n); err != nil {
			return 0, fmt.Errorf("scfws %s: connections is not a count: %w", op, err)
		}
	}
	return n, nil
}

// ListGroup lists the users in group.
func (c *Client) ListGroup(ctx context.Context, group string) (*GroupList, error) {
	if err := need(OpListGroup, "group", group); err != nil {
		return nil, err
	}
	_, r, err := c.do(ctx, Command{Op: OpListGroup, Group: group})
	if err != nil {
		return nil, err
	}
	return &r.GroupList, nil
}

// ListUser lists the live connections of userID.
func (c *Client) ListUser(ctx context.Context, userID string) (*UserConnections, error) {
	if err := need(OpListUser, "userId", userID); err != nil {
		return nil, err
	}
	_, r, err := c.do(ctx, Command{Op: OpListUser, UserID: userID})
	if err != nil {
		return nil, err
	}
	u := &UserConnections{UserID: r.UserID}
	if len(r.Connections) > 0 {
		if err := json.Unmarshal(r.Connections, &u.Connections); err != nil {
			return nil, fmt.Errorf("scfws %s: connections is not a list of IDs: %w", OpListUser, err)
		}
	}
	return u, nil
}

// GroupHistory returns group's last messages: at most limit (0: 50), with
// offsets before before (0: up to the latest).
func (c *Client) GroupHistory(ctx context.Context, group string, limit int, before uint64) (*History, error) {
	if err := need(OpHistory, "group", group); err != nil {
		return nil, err
	}
	return c.history(ctx, Command{Op: OpHistory, Group: group, Limit: limit, Before: before})
}

// UserHistory returns the last messages sent to userID, as GroupHistory.
func (c *Client) UserHistory(ctx context.Context, userID string, limit int, before uint64) (*History, error) {
	if err := need(OpHistory, "userId", userID); err != nil {
		return nil, err
	}
	return c.history(ctx, Command{Op: OpHistory, UserID: userID, Limit: limit, Before: before})
}

func (c *Client) history(ctx context.Context, cmd Command) (*History, error) {
	_, r, err := c.do(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return &History{Messages: r.Messages, Offset: r.Offset, Epoch: r.Epoch}, nil
}

// Job returns the progress of job, a send's Handoff.Job. Jobs are kept a
// day; one unknown or expired is an *Error (ErrNoBadArgument).
func (c *Client) Job(ctx context.Context, job string) (*Job, error) {
	if err := need(OpJob, "job", job); err != nil {
		return nil, err
	}
	_, r, err := c.do(ctx, Command{Op: OpJob, Job: job})
	if err != nil {
		return nil, err
	}
	if r.Job == nil {
		return nil, fmt.Errorf("scfws %s: the reply has no job", OpJob)
	}
	return r.Job, nil
}
