package proto

import (
	"encoding/json"
	"strings"
)

// Subprotocol is the protocol name of scfws.v1 connections; a client offers
// its connect token beside it as the entry TokenPrefix + token.
const (
	Subprotocol = "scfws.v1"
	TokenPrefix = "bearer."
)

// Permissions a scfws.v1 connection may hold (from DEFAULT_ROLES or its
// token), as in Azure Web PubSub: the plain form for any group, the form
// with ".<group>" for one.
const (
	PermJoinLeaveGroup = "joinLeaveGroup"
	PermSendToGroup    = "sendToGroup"
	PermSendToUser     = "sendToUser"
)

// ValidPermission reports whether r names a permission: one of the Perm*,
// or PermJoinLeaveGroup or PermSendToGroup scoped to a group
// ("sendToGroup.lobby"), as the router reads roles.
func ValidPermission(r string) bool {
	switch r {
	case PermJoinLeaveGroup, PermSendToGroup, PermSendToUser:
		return true
	}
	for _, p := range []string{PermJoinLeaveGroup + ".", PermSendToGroup + "."} {
		if g, ok := strings.CutPrefix(r, p); ok && g != "" && len(g) <= MaxNameBytes {
			return true
		}
	}
	return false
}

// Types of the requests a scfws.v1 client sends.
const (
	TypePing        = "ping"
	TypeJoinGroup   = "joinGroup"
	TypeLeaveGroup  = "leaveGroup"
	TypeSendToGroup = "sendToGroup"
	TypeSendToUser  = "sendToUser"
	TypeListGroup   = "listGroup"
	TypeResume      = "resume"  // see history.go
	TypeHistory     = "history" // see history.go
	TypeProbe       = "probe"   // scfws probe's; see probe.go
)

// Types of the frames a scfws.v1 client gets.
const (
	TypeAck         = "ack"
	TypeMessage     = "message"
	TypeSystem      = "system"
	TypeProbeResult = "probeResult"
	TypeProbeBurst  = "probeBurst" // {"type":"probeBurst","i":n}: one of a probe's burst of pushes
)

// Request is a frame a scfws.v1 client sends.
type Request struct {
	Type     string          `json:"type"`
	Group    string          `json:"group,omitempty"`
	UserID   string          `json:"userId,omitempty"`
	DataType string          `json:"dataType,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	NoEcho   bool            `json:"noEcho,omitempty"`
	AckID    *uint64         `json:"ackId,omitempty"`

	// History (see history.go): joinGroup's since; resume's streams;
	// history's user (the connection's own stream, instead of a group),
	// limit and before.
	Since   *Position        `json:"since,omitempty"`
	Streams []StreamPosition `json:"streams,omitempty"`
	User    bool             `json:"user,omitempty"`
	Limit   int              `json:"limit,omitempty"`
	Before  uint64           `json:"before,omitempty"`

	// scfws probe's: see probe.go.
	Secret string          `json:"secret,omitempty"`
	Op     string          `json:"op,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
}

// Ack answers a request that had an ackId.
type Ack struct {
	Type      string       `json:"type"`
	AckID     uint64       `json:"ackId"`
	Success   bool         `json:"success"`
	Delivered *int         `json:"delivered,omitempty"`
	Group     string       `json:"group,omitempty"`
	Users     *[]UserCount `json:"users,omitempty"` // a pointer: [] is an answer
	Anonymous *int         `json:"anonymous,omitempty"`
	Truncated *bool        `json:"truncated,omitempty"`
	Error     *AckError    `json:"error,omitempty"`

	// ID is a sent message's; Offset and Epoch its place in its group's
	// stream (history on), or, for a history request, the stream's
	// latest. Messages answer history, Streams resume and joinGroup's
	// since.
	ID       string             `json:"id,omitempty"`
	Messages *[]json.RawMessage `json:"messages,omitempty"` // a pointer: [] is an answer
	Offset   *uint64            `json:"offset,omitempty"`
	Epoch    *string            `json:"epoch,omitempty"`
	Streams  *[]StreamState     `json:"streams,omitempty"`
	// Job names the job a send handed its rest to (docs/fanout.md):
	// Delivered then counts only what its own invoke pushed.
	Job string `json:"job,omitempty"`
}

// AckError says why a request was refused; Name is one of the Refused*.
type AckError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Names of refusals.
const (
	RefusedForbidden      = "Forbidden"
	RefusedInvalidMessage = "InvalidMessage"
	RefusedTooLarge       = "TooLarge"
	RefusedInternal       = "Internal"
)

// Message is what a recipient of a send gets; From is one of the From*.
// ID is given once, when the function accepts the message, and every push
// of it carries the same; with history on, a message to a group or a user
// also carries its Offset in that stream and the stream's Epoch.
type Message struct {
	Type       string          `json:"type"`
	From       string          `json:"from"`
	Group      string          `json:"group,omitempty"`
	FromUserID string          `json:"fromUserId,omitempty"`
	DataType   string          `json:"dataType"`
	Data       json.RawMessage `json:"data"`
	ID         string          `json:"id"`
	Offset     uint64          `json:"offset,omitempty"`
	Epoch      string          `json:"epoch,omitempty"`
}

// Senders of a Message.
const (
	FromServer = "server" // a backend command
	FromGroup  = "group"  // a member's sendToGroup
	FromUser   = "user"   // a sendToUser
)

// System is an event the function tells a connection: a user joined or
// left one of its groups, or why it is being closed.
type System struct {
	Type    string `json:"type"`
	Event   string `json:"event"`
	Group   string `json:"group,omitempty"`
	UserID  string `json:"userId,omitempty"`
	Message string `json:"message,omitempty"`
}

// Events of a System frame.
const (
	EventJoined       = "joined"
	EventLeft         = "left"
	EventDisconnected = "disconnected"
)
