package router

// Event is what API Gateway sends the function for each step of a WebSocket
// connection's life. The same type serves all three roles.
type Event struct {
	// RequestContext is present on connecting; the console's sample test
	// events omit it, so it is optional.
	RequestContext *RequestContext `json:"requestContext,omitempty"`
	WebSocket      *WebSocket      `json:"websocket,omitempty"`
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

// Data types of a frame.
const (
	DataText   = "text"
	DataBinary = "binary" // data is base64
)

// Reply is the function's answer. The gateway reads errNo and websocket on
// connecting, and only the invoke's success otherwise; the counts are for
// logs and for people running `scfws invoke`.
type Reply struct {
	ErrNo     int        `json:"errNo"`
	ErrMsg    string     `json:"errMsg"`
	WebSocket *Handshake `json:"websocket,omitempty"`
	*Summary
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

// Summary is what a transmit did.
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

// Reply codes. 0 accepts a handshake; anything else refuses it.
const (
	CodeOK = 0
	// CodeNoRequestContext is the templates' code for a missing
	// requestContext; scfws tolerates that and never sends it.
	CodeNoRequestContext = 101
	CodeNoWebSocket      = 102 // no websocket object (the templates' code)
	CodeBadConnectionID  = 103 // secConnectionID missing, too long or not text
	CodeUnknownAction    = 104
	CodeMalformedEvent   = 105 // not a JSON object
	CodeTooLarge         = 106 // a frame over MAX_MESSAGE_BYTES
	CodeBadData          = 107 // unknown dataType, or binary data not base64
	CodeInternal         = 500 // a bug: recovered panic
	CodeNotReady         = 501 // configuration missing or invalid, or the registry cannot be opened
	CodeRegistry         = 502 // the registry failed
)
