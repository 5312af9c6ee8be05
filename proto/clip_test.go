package proto_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scfws/scfws/proto"
)

func TestClip(t *testing.T) {
	tests := []struct {
		give string
		most int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven cha…"},
		{strings.Repeat("连", 30), 64, strings.Repeat("连", 21) + "…"}, // 64 is inside the 22nd
		{"é" + strings.Repeat("x", 10), 1, "…"},                      // the first rune does not fit
		{"🙂🙂", 5, "🙂…"},
		{"🙂🙂", 4, "🙂…"},
		{"abc", 0, "…"},
		{"abc", -1, "…"},
	}
	for _, tt := range tests {
		got := proto.Clip(tt.give, tt.most)
		if got != tt.want {
			t.Errorf("Clip(%q, %d) = %q; want %q", tt.give, tt.most, got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Clip(%q, %d) = %q: not UTF-8", tt.give, tt.most, got)
		}
	}
}

// TestTags pins the probe's tags and the route's signature to values
// computed apart from Go (openssl), so the function, scfws probe and any
// other client agree on them.
func TestTags(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		// printf '%s' "scfws probe: connection" | openssl dgst -sha256 -hmac s3cret (the first 32 hex digits)
		{"ProbeConnectionTag", proto.ProbeConnectionTag("s3cret"), "1507e88a27076074f671ec2ca2d272bb"},
		{"ProbeTag", proto.ProbeTag("s3cret"), "a169c8c862715530d0389ca3c1268203"},
		// printf '%s\n%s' 1700000000 "$body" | openssl dgst -sha256 -hmac "$secret"
		{"RouteSignature", proto.RouteSignature([]byte("test-publish-secret-0123456789"), "1700000000",
			[]byte(`{"scfws":{"op":"sendToAll","dataType":"text","data":"maintenance at 5"}}`)),
			"sha256=c1a62d7a068cd7cb7b0a112abebeaa852e09e9acefef283e2af2e8a80b6be39e"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q; want %q", tt.name, tt.got, tt.want)
		}
	}
}
