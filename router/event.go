package router

import (
	"encoding/json"

	"github.com/scfws/scfws/proto"
)

// Event is anything the function is invoked with. Its shape says its kind:
// a websocket object is a step of a WebSocket connection (from API
// Gateway); a top-level scfws object is a backend command (the SCF Invoke
// API, another function), as is a timer trigger's Message; httpMethod with headers is a request on
// an API Gateway HTTP API (the signed route). A WebSocket client can never
// produce the other two: its frames arrive inside websocket.data.
type Event struct {
	// RequestContext is present on connecting and on HTTP requests; the
	// console's sample test events omit it, so it is optional.
	RequestContext *RequestContext `json:"requestContext,omitempty"`
	WebSocket      *WebSocket      `json:"websocket,omitempty"`
	Scfws          *proto.Command  `json:"scfws,omitempty"`

	// A timer trigger's fields: its Message, set on the trigger, may hold
	// a backend command as JSON text. Raw, and read only when nothing else
	// matched: the decoder matches keys in any case, and no other event
	// may fail on a "type" or "message" of its own.
	TriggerType json.RawMessage `json:"Type,omitempty"`
	Message     json.RawMessage `json:"Message,omitempty"`

	// The API Gateway HTTP trigger's fields.
	HTTPMethod      string            `json:"httpMethod,omitempty"`
	Path            string            `json:"path,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	Body            string            `json:"body,omitempty"`
	IsBase64Encoded bool              `json:"isBase64Encoded,omitempty"`
}

// RequestContext describes the API and the client's handshake request.
type RequestContext struct {
	ServiceID       string    `json:"serviceId,omitempty"`
	ServiceName     string    `json:"serviceName,omitempty"`
	Path            string    `json:"path,omitempty"`
	HTTPMethod      string    `json:"httpMethod,omitempty"`
	RequestID       string    `json:"requestId,omitempty"`
	Identity        *Identity `json:"identity,omitempty"`
	SourceIP        string    `json:"sourceIp,omitempty"`
	Stage           string    `json:"stage,omitempty"`
	WebsocketEnable bool      `json:"websocketEnable,omitempty"`
}

// Identity is the caller's API key, when the API requires one.
type Identity struct {
	SecretID string `json:"secretId,omitempty"`
}

// WebSocket is the connection-level part of an event. The handshake's two
// header fields are pointers because their presence matters: Tencent passes
// each only when the client's request had the header, and the reply must
// carry it only then.
type WebSocket struct {
	Action                 string  `json:"action"`
	SecConnectionID        string  `json:"secConnectionID"`
	SecWebSocketProtocol   *string `json:"secWebSocketProtocol,omitempty"`
	SecWebSocketExtensions *string `json:"secWebSocketExtensions,omitempty"`
	DataType               string  `json:"dataType,omitempty"`
	Data                   string  `json:"data,omitempty"`
}

// Actions.
const (
	ActionConnecting = "connecting"
	ActionDataSend   = "data send"
	ActionDataRecv   = "data recv" // the older docs' spelling of data send
	ActionClosing    = "closing"
)

// Reply is the function's answer. The gateway reads errNo and websocket on
// connecting, and only the invoke's success otherwise; the rest is for
// backends, logs and people running `scfws invoke`.
type Reply struct {
	ErrNo     int        `json:"errNo"`
	ErrMsg    string     `json:"errMsg"`
	WebSocket *Handshake `json:"websocket,omitempty"`
	*proto.Summary
	*proto.GroupList
	// UserID and Connections answer listUser (Connections is then the
	// user's connection IDs); Connections alone answers addToGroup and
	// removeFromGroup (how many connections joined or left).
	UserID      string `json:"userId,omitempty"`
	Connections any    `json:"connections,omitempty"`
	// Detail is the cause of a failure, given only to backends: they are
	// trusted callers (CAM or a signature), unlike the gateway's clients.
	Detail string `json:"detail,omitempty"`
	// Off answers status: the settings refused by turning a feature off.
	Off []string `json:"off,omitempty"`
	// ID is a sent message's; Offset and Epoch its place in its group's or
	// user's stream (history on), or, answering history, the stream's
	// latest, with its Messages.
	ID       string             `json:"id,omitempty"`
	Messages *[]json.RawMessage `json:"messages,omitempty"`
	Offset   *uint64            `json:"offset,omitempty"`
	Epoch    *string            `json:"epoch,omitempty"`
	// Handoff is what a send handed off (or why it handed off nothing
	// although it could not push everyone); Job answers the job op.
	Handoff *proto.Handoff `json:"handoff,omitempty"`
	Job     *proto.Job     `json:"job,omitempty"`
	*Counts
}

// Counts answer status beside connections: what the registry holds now.
type Counts struct {
	// Groups is how many groups have a live member.
	Groups int `json:"groups"`
	// JobsRunning is how many fan-out jobs are in progress (handed-off
	// sends whose shards still push); left out when the registry keeps
	// no jobs.
	JobsRunning *int `json:"jobsRunning,omitempty"`
}

// Handshake is the connecting reply's websocket object: it accepts the
// connection with at most one subprotocol and no extensions. Each header
// field is present only when the event had it, as in Tencent's template:
// an empty Sec-WebSocket-Protocol passed to a browser that offered none
// fails its handshake.
type Handshake struct {
	Action                 string  `json:"action"`
	SecConnectionID        string  `json:"secConnectionID"`
	SecWebSocketProtocol   *string `json:"secWebSocketProtocol,omitempty"`
	SecWebSocketExtensions *string `json:"secWebSocketExtensions,omitempty"`
}
