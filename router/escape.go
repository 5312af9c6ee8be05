package router

import (
	"fmt"
	"unicode/utf8"
)

// escapedLen is the length of s as a JSON string in a push body, quotes
// included: encoding/json's escapes without the HTML ones, as the push
// client writes it. Control characters other than \b \f \n \r \t grow to
// six bytes (\u0001), as does each invalid byte (\ufffd) and U+2028 and
// U+2029; " and \ to two.
func escapedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// escapeProblem says why a plain client's text frame may not be pushed, or
// "" when it may: escaped into a push body, it would grow by more than
// limit (MAX_MESSAGE_BYTES). The limit counts bytes as the client sent
// them, but a push carries them escaped, and a control character is six
// bytes there (\u0001): a frame of them cost each recipient six times the
// limit. Printable and JSON text at most doubles (" and \ are the only
// printable characters escaped, JSON's whitespace escapes to two bytes), so
// every such frame within the limit passes, and a push carries at most
// twice the limit. A scfws.v1 frame needs no check: it is JSON, so the
// message it makes grows by at most its own size.
func escapeProblem(s string, limit int) string {
	grown := escapedLen(s) - 2 - len(s)
	if grown <= limit {
		return ""
	}
	return fmt.Sprintf("message of %d bytes escapes to %d in a push: at most %d more (MAX_MESSAGE_BYTES)", len(s), len(s)+grown, limit)
}
