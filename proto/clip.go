package proto

import "unicode/utf8"

// Clip shortens s to at most most bytes and an ellipsis, never cutting a
// character in half: every side shortens hostile or long text this way
// before it goes into a log line, a reply or an error.
func Clip(s string, most int) string {
	if len(s) <= most {
		return s
	}
	cut := max(most, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
