package proto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// scfws probe: with PROBE_SECRET set, a scfws.v1 frame
//
//	{"type":"probe","secret":"...","op":"...","args":{...},"ackId":1}
//
// (a Request) makes the function do one measured action and push a
// ProbeResult back to the sender. The handshake entries below, derived from
// the secret so that nobody else can send them, mark what the probe asks of
// the register function.

// Subprotocol entry prefixes that carry ProbeTag and ProbeConnectionTag.
// Neither is ever selected as a subprotocol.
const (
	ProbeEmptyReply = "scfws.probe-empty-reply."
	ProbeConnection = "scfws.probe-connection."
)

// ProbeTag is what a handshake offers, as ProbeEmptyReply + tag, to ask the
// register function to answer an empty secWebSocketProtocol: the only way to
// learn whether the gateway passes an empty header to the client (which
// breaks browsers).
func ProbeTag(secret string) string { return probeTag(secret, "empty secWebSocketProtocol") }

// ProbeConnectionTag is what each scfws probe connection offers, as
// ProbeConnection + tag: register keeps its handshake's key names (the
// handshake op), and marks it as one the probe's pushes may target.
func ProbeConnectionTag(secret string) string { return probeTag(secret, "connection") }

func probeTag(secret, purpose string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("scfws probe: " + purpose))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// Ops of a probe request.
const (
	ProbeWhoami    = "whoami"
	ProbeHandshake = "handshake"
	ProbeLookup    = "lookup"
	ProbePush      = "push"
	ProbeSeq       = "seq"
	ProbeSize      = "size"
	ProbeBurst     = "burst"
)

// Kinds of push a probe asks for (ProbeArgs.Kind).
const (
	PushData      = "data"
	PushClosing   = "closing"
	PushMalformed = "malformed"
)

// ProbeArgs are a probe request's arguments.
type ProbeArgs struct {
	ConnectionID string `json:"connectionId,omitempty"`
	Kind         string `json:"kind,omitempty"` // push: one of the Push*
	N            int    `json:"n,omitempty"`
	HoldMs       int    `json:"holdMs,omitempty"`
	Count        int    `json:"count,omitempty"`
}

// ProbeSettings are the function's own settings, as whoami reports them.
type ProbeSettings struct {
	IdleTimeoutMs   int64 `json:"idleTimeoutMs"`
	MaxMessageBytes int   `json:"maxMessageBytes"`
	PushRate        int   `json:"pushRate"`
	Heartbeat       bool  `json:"heartbeat"`
}

// ProbeResult is pushed back to the prober.
type ProbeResult struct {
	Type  string  `json:"type"`
	Op    string  `json:"op"`
	AckID *uint64 `json:"ackId,omitempty"`
	Error string  `json:"error,omitempty"`

	// whoami
	ConnectionID string         `json:"connectionId,omitempty"`
	Instance     string         `json:"instance,omitempty"`
	Config       *ProbeSettings `json:"config,omitempty"`
	// handshake
	Handshake json.RawMessage `json:"handshake,omitempty"`
	// lookup
	Known *bool `json:"known,omitempty"`
	// push
	Status int    `json:"status,omitempty"`
	Answer string `json:"answer,omitempty"`
	// seq
	N        int   `json:"n,omitempty"`
	StartMs  int64 `json:"startMs,omitempty"`
	EndMs    int64 `json:"endMs,omitempty"`
	Inflight int64 `json:"inflight,omitempty"`
	// size
	Bytes int `json:"bytes,omitempty"`
	// burst
	Count     int            `json:"count,omitempty"`
	Statuses  map[string]int `json:"statuses,omitempty"`
	ElapsedMs int64          `json:"elapsedMs,omitempty"`
}
