package proto

import (
	"unicode"
	"unicode/utf8"
)

// Names (user IDs, groups) are shown to people, stored in 128-byte keys and
// written into logs and frames; roles are names too, with room for a
// permission prefix.
const (
	// MaxNameBytes bounds a user ID and a group name.
	MaxNameBytes = 128
	// MaxRoleBytes bounds a role: room for a permission prefix such as
	// "sendToGroup." followed by a group name of MaxNameBytes.
	MaxRoleBytes = 256
)

// ValidName reports whether s may name a user or a group: 1 to MaxNameBytes
// bytes of valid UTF-8, every character printable in the sense of
// unicode.IsPrint (letters, marks, numbers, punctuation, symbols and the
// ASCII space), and no space at either end. That rules out control
// characters, which would corrupt log lines and frames, invisible format
// characters (zero-width spaces, bidirectional overrides), which would let two
// names that look alike differ, and "lobby " beside "lobby". Tokens and
// frames are checked by this one rule, so both paths accept the same names.
func ValidName(s string) bool { return validName(s, MaxNameBytes) }

// ValidRole is ValidName for a role, up to MaxRoleBytes.
func ValidRole(s string) bool { return validName(s, MaxRoleBytes) }

func validName(s string, maxBytes int) bool {
	if s == "" || len(s) > maxBytes || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	if printableASCII(s) {
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

// printableASCII reports whether s is ASCII without control characters:
// most names, checked without decoding runes.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
