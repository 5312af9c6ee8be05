package router

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// jsonLen is what escapedLen must equal: the push client's encoding.
func jsonLen(s string) int {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return b.Len() - 1 // the encoder's newline
}

func TestEscapedLen(t *testing.T) {
	tests := []struct {
		give string
		want int
	}{
		{"", 2},
		{"hi", 4},
		{"\x01", 8},
		{"\b\f\n\r\t", 12},
		{`"\`, 6},
		{"<&>", 5},
		{"\x7f", 3},
		{"\u2028\u2029", 14},
		{"\xff", 8},
		{"é中😀", 11},
		{"\xe4\xb8", 14}, // a cut rune: two invalid bytes
	}
	for _, tt := range tests {
		if got := escapedLen(tt.give); got != tt.want || got != jsonLen(tt.give) {
			t.Errorf("escapedLen(%q) = %d; want %d (encoding/json: %d)", tt.give, got, tt.want, jsonLen(tt.give))
		}
	}
}

func FuzzEscapedLen(f *testing.F) {
	for _, s := range []string{"", "hi", "\x01\x1f", "\u2028", "\xff\xfe", `"\`, "\t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := escapedLen(s), jsonLen(s); got != want {
			t.Errorf("escapedLen(%q) = %d; encoding/json writes %d", s, got, want)
		}
	})
}

// A plain frame may grow by at most MAX_MESSAGE_BYTES when escaped for its
// pushes: every printable or JSON text within the limit passes, and a
// frame of control characters (six bytes each escaped) is refused.
func TestEscapeProblem(t *testing.T) {
	const limit = 262144
	tests := []struct {
		name string
		give string
		want bool // refused
	}{
		{"letters at the limit", strings.Repeat("a", limit), false},
		{"quotes at the limit", strings.Repeat(`"`, limit), false},
		{"JSON with newlines", strings.Repeat("{\"a\":\n\t\"b\"}", limit/12), false},
		{"262,000 control characters", strings.Repeat("\x01", 262000), true},
		{"a fifth of the limit in control characters", strings.Repeat("\x01", limit/5), false},
		{"just past a fifth", strings.Repeat("\x01", limit/5+1), true},
	}
	for _, tt := range tests {
		if got := escapeProblem(tt.give, limit); (got != "") != tt.want {
			t.Errorf("escapeProblem(%s) = %q; want refused %v", tt.name, got, tt.want)
		}
	}
}
