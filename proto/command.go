package proto

import "encoding/json"

// Command is a backend command: {"scfws":{"op":"sendToGroup",...}}. The
// client builds it, the router runs it; fields go out in this order.
type Command struct {
	Op           string          `json:"op"`
	ConnectionID string          `json:"connectionId,omitempty"`
	UserID       string          `json:"userId,omitempty"`
	Group        string          `json:"group,omitempty"`
	DataType     string          `json:"dataType,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	// history's: at most Limit messages (default 50), older than Before
	// (0: the latest), of Group's stream or UserID's.
	Limit  int    `json:"limit,omitempty"`
	Before uint64 `json:"before,omitempty"`
	// job's and shard's: the job, and a shard's part of it (fanout.go).
	Job   string `json:"job,omitempty"`
	Shard *Shard `json:"shard,omitempty"`
}

// Operations of the backend API. OpStatus is the health check scfws local
// asks at start.
const (
	OpSendToAll        = "sendToAll"
	OpSendToGroup      = "sendToGroup"
	OpSendToUser       = "sendToUser"
	OpSendToConnection = "sendToConnection"
	OpCloseConnection  = "closeConnection"
	OpCloseUser        = "closeUser"
	OpAddToGroup       = "addToGroup"
	OpRemoveFromGroup  = "removeFromGroup"
	OpListGroup        = "listGroup"
	OpListUser         = "listUser"
	OpHistory          = "history"
	OpStatus           = "status"
)

// Data types of a frame. JSON exists only in scfws.v1 and backend
// commands: any JSON value, sent to plain connections as text.
const (
	DataText   = "text"
	DataBinary = "binary" // data is base64
	DataJSON   = "json"
)

// Summary is what a send did.
type Summary struct {
	// Recipients is how many connections the frame was for.
	Recipients int `json:"recipients"`
	Delivered  int `json:"delivered"`
	// Pruned connections were gone by the gateway's word and are forgotten.
	Pruned int `json:"pruned"`
	// Failed pushes got no usable answer; their connections are kept.
	Failed int `json:"failed"`
	// Skipped pushes were not started because the deadline was near.
	Skipped int `json:"skipped"`
	// Swept rows had been idle past the idle timeout.
	Swept     int64 `json:"swept"`
	ElapsedMs int64 `json:"elapsedMs"`
}

// GroupList answers listGroup: the group's users with their connection
// counts, by user ID, capped (truncated says there are more), and its
// anonymous connections.
type GroupList struct {
	Group     string      `json:"group"`
	Users     []UserCount `json:"users"`
	Anonymous int         `json:"anonymous"`
	Truncated bool        `json:"truncated"`
}

// Reply codes (errNo). 0 accepts a handshake; anything else refuses it.
const (
	CodeOK = 0
	// CodeNoRequestContext is the templates' code for a missing
	// requestContext; scfws tolerates that and never sends it.
	CodeNoRequestContext = 101
	CodeNoWebSocket      = 102 // no websocket object, nor any other kind of event
	CodeBadConnectionID  = 103 // secConnectionID missing, too long or not text
	CodeUnknownAction    = 104
	CodeMalformedEvent   = 105 // not a JSON object
	CodeTooLarge         = 106 // a frame over MAX_MESSAGE_BYTES
	CodeBadData          = 107 // unknown dataType, or data not base64 / JSON
	CodeUnknownOp        = 108 // a backend command with an unknown op
	CodeBadArgument      = 109 // a backend command with a missing or invalid argument
	CodeRefused          = 110 // a scfws.v1 request refused (the ack says why)
	CodeUnauthorized     = 401 // a handshake without a valid token where one is needed
	CodeInternal         = 500 // a bug: recovered panic
	CodeNotReady         = 501 // configuration missing or invalid
	CodeRegistry         = 502 // the registry failed
)
