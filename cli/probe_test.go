//go:build !scfws_function

package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/scfws/scfws/config"
)

// probe warns where the secret could leak, and refuses one the function
// would refuse, before it connects anywhere.
func TestProbeCommandGuardsTheSecret(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		warns []string
		err   string
	}{
		{"short, from the environment", []string{"-url", "wss://example.invalid/ws"}, map[string]string{"PROBE_SECRET": "short"}, nil, "PROBE_SECRET is 5 bytes"},
		{"on the command line, over ws://", []string{"-url", "ws://example.invalid/ws", "-secret", "x"}, nil,
			[]string{"-secret shows PROBE_SECRET", "ws:// sends PROBE_SECRET in clear text"}, "PROBE_SECRET is 1 bytes"},
		{"ws:// to this machine", []string{"-url", "ws://127.0.0.1:1/ws"}, map[string]string{"PROBE_SECRET": "x"}, nil, "PROBE_SECRET is 1 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runProbe(tt.args, config.FromMap(tt.env), &stdout, &stderr)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("probe = %v; want a usage error %q", err, tt.err)
			}
			for _, w := range tt.warns {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if len(tt.warns) == 0 && strings.Contains(stderr.String(), "warning") {
				t.Errorf("unwarranted warning:\n%s", stderr.String())
			}
			if strings.Contains(err.Error()+stderr.String(), "short") {
				t.Errorf("the secret was printed")
			}
		})
	}
}
