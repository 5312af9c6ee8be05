package proto_test

import (
	"strings"
	"testing"

	_ "github.com/scfws/scfws/internal/testkit" // for go test ./... -update
	"github.com/scfws/scfws/proto"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"lobby", true},
		{"room 2", true},
		{"sendToGroup.lobby", true},
		{"用户-7", true},
		{"café ☕", true},
		{strings.Repeat("a", proto.MaxNameBytes), true},
		{"", false},
		{strings.Repeat("a", proto.MaxNameBytes+1), false},
		{strings.Repeat("é", proto.MaxNameBytes/2+1), false}, // 130 bytes
		{" lobby", false},
		{"lobby ", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"a\x7fb", false},
		{"a\u0085b", false}, // NEL, a C1 control
		{"a\u200bb", false}, // zero-width space
		{"a\u202eb", false}, // right-to-left override
		{"a\u00a0b", false}, // no-break space
		{"a\u2028b", false}, // line separator
		{"a\xffb", false},   // not UTF-8
		{"\xc3", false},     // cut UTF-8
		{"a\ufffdb", true},  // the replacement character itself is printable
		{"组-🙂", true},
		{"a b", true},
		{"bell\a", false},
	}
	for _, tt := range tests {
		if got := proto.ValidName(tt.give); got != tt.want {
			t.Errorf("ValidName(%q) = %v; want %v", tt.give, got, tt.want)
		}
	}
}

func TestValidRole(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"sendToGroup." + strings.Repeat("g", proto.MaxNameBytes), true},
		{strings.Repeat("r", proto.MaxRoleBytes), true},
		{strings.Repeat("r", proto.MaxRoleBytes+1), false},
		{"joinLeaveGroup\n", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := proto.ValidRole(tt.give); got != tt.want {
			t.Errorf("ValidRole(%q) = %v; want %v", tt.give, got, tt.want)
		}
	}
}

func TestValidPermission(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{proto.PermJoinLeaveGroup, true},
		{proto.PermSendToGroup, true},
		{proto.PermSendToUser, true},
		{"sendToGroup.lobby", true},
		{"joinLeaveGroup." + strings.Repeat("g", proto.MaxNameBytes), true},
		{"joinLeaveGroup." + strings.Repeat("g", proto.MaxNameBytes+1), false},
		{"sendToGroup.", false},
		{"sendToUser.bob", false}, // not scoped
		{"admin", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := proto.ValidPermission(tt.give); got != tt.want {
			t.Errorf("ValidPermission(%q) = %v; want %v", tt.give, got, tt.want)
		}
	}
}
