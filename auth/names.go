package auth

import (
	"unicode"
	"unicode/utf8"
)

// Limits on what a token may carry. A token travels in the
// Sec-WebSocket-Protocol header of the handshake and its identity ends up in
// frames, logs and the registry, so each part is bounded.
const (
	// MaxTokenBytes bounds a token. Proxies commonly cap one header at 8 KiB;
	// half of that leaves room for "bearer." and the other subprotocols, and
	// is far more than a token with full lists of groups and roles needs.
	MaxTokenBytes = 4096
	// MaxNameBytes bounds a user ID (sub) and a group name.
	MaxNameBytes = 128
	// MaxRoleBytes bounds a role: room for a permission prefix such as
	// "sendToGroup." followed by a group name of MaxNameBytes.
	MaxRoleBytes = 256
	// MaxGroups and MaxRoles bound the lists in one token: joining groups
	// costs registry writes at connect time.
	MaxGroups = 32
	MaxRoles  = 32
)

// ValidName reports whether s may name a user or a group: 1 to MaxNameBytes
// bytes of valid UTF-8, every character printable in the sense of
// unicode.IsPrint (letters, marks, numbers, punctuation, symbols and the
// ASCII space), and no space at either end. That rules out control
// characters, which would corrupt log lines and frames, invisible format
// characters (zero-width spaces, bidirectional overrides), which would let two
// names that look alike differ, and "lobby " beside "lobby". The router checks
// group names sent in frames with it too, so both paths accept the same names.
func ValidName(s string) bool { return validName(s, MaxNameBytes) }

func validName(s string, maxBytes int) bool {
	if s == "" || len(s) > maxBytes || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	if ascii {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
