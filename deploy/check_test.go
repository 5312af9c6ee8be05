package deploy

import (
	"strings"
	"testing"
)

// Deploy refuses what a variable you set would make the function refuse
// or turn off; a variable left out (DB_HOST for a try-out, which the
// notes mention) is not refused, nor what deploy sets itself.
func TestCheckEnv(t *testing.T) {
	long := strings.Repeat("k", 32)
	tests := []struct {
		give map[string]string
		want string // "" for accepted
	}{
		{nil, ""},
		{map[string]string{"STORE": "memory"}, ""},
		{map[string]string{"DB_HOST": "", "PUBLISH_SECRET": long, "PROBE_SECRET": long}, ""},
		{map[string]string{"DB_HOST": "10.0.0.5"}, ""}, // DB_USER left out: a note, not a refusal
		{map[string]string{"PUBLISH_SECRET": "short"}, "PUBLISH_SECRET: must be at least 32 bytes, not 5"},
		{map[string]string{"MAX_MESSAGE_BYTES": "lots"}, "MAX_MESSAGE_BYTES: "},
		{map[string]string{"STORE": "redis"}, `STORE: must be "mysql" or "memory"`},
	}
	for _, tt := range tests {
		err := checkEnv(tt.give)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("checkEnv(%v) = %v; want nil", tt.give, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("checkEnv(%v) = %v; want %q", tt.give, err, tt.want)
		}
	}
}
