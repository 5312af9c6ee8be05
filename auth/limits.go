package auth

// Limits on what a token may carry (names and roles are bounded by
// proto.MaxNameBytes and proto.MaxRoleBytes). A token travels in the
// Sec-WebSocket-Protocol header of the handshake and its identity ends up in
// frames, logs and the registry, so each part is bounded.
const (
	// MaxTokenBytes bounds a token. Proxies commonly cap one header at 8 KiB;
	// half of that leaves room for "bearer." and the other subprotocols, and
	// is far more than a token with full lists of groups and roles needs.
	MaxTokenBytes = 4096
	// MaxGroups and MaxRoles bound the lists in one token: joining groups
	// costs registry writes at connect time.
	MaxGroups = 32
	MaxRoles  = 32
)
