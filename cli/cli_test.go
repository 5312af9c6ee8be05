//go:build !scfws_function

package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// -h (and -help) prints the command's usage and flags to standard output
// and succeeds, for every command alike.
func TestHelpEveryCommand(t *testing.T) {
	for name := range commands() {
		for _, flag := range []string{"-h", "-help"} {
			t.Run(name+flag, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := Main([]string{name, flag}, strings.NewReader(""), &stdout, &stderr)
				if code != 0 || !strings.Contains(stdout.String(), "Usage") || !strings.Contains(stdout.String(), "scfws "+name) || stderr.Len() != 0 {
					t.Errorf("scfws %s %s = exit %d, stdout %q, stderr %q; want 0 and the usage on stdout only", name, flag, code, stdout.String(), stderr.String())
				}
			})
		}
	}
}

// A mistake in the command line exits 2 with the cause first, the
// command's synopsis and where to read more: a few lines, not the whole
// help.
func TestUsageErrorIsShort(t *testing.T) {
	tests := []struct {
		give      []string
		want      string // the cause, on the first line
		synopsis  string
		wantLines int // at most
	}{
		{give: []string{"publish", "-bogus"}, want: "flag provided but not defined: -bogus", synopsis: "scfws publish -function NAME", wantLines: 10},
		{give: []string{"deploy", "-region", "r"}, want: "deploy wants -name", synopsis: "scfws deploy -name NAME", wantLines: 8},
		{give: []string{"destroy", "-region", "r"}, want: "destroy wants -name", synopsis: "scfws destroy -name NAME", wantLines: 6},
		{give: []string{"token"}, want: "-sub is required", synopsis: "Usage: scfws token -sub USER", wantLines: 5},
		{give: []string{"probe"}, want: "probe wants -url", synopsis: "Usage: scfws probe -url", wantLines: 4},
		{give: []string{"invoke"}, want: "invoke wants one event file", synopsis: "Usage: scfws invoke", wantLines: 4},
		{give: []string{"invoke", "-timeout", "soon", "e.json"}, want: `invalid value "soon" for flag -timeout`, synopsis: "Usage: scfws invoke", wantLines: 4},
		{give: []string{"local", "-bogus"}, want: "flag provided but not defined: -bogus", synopsis: "Usage: scfws local", wantLines: 4},
		{give: []string{"local", "extra"}, want: "local takes no arguments", synopsis: "Usage: scfws local", wantLines: 4},
		{give: []string{"version", "extra"}, want: "version takes no arguments", synopsis: "Usage: scfws version", wantLines: 4},
		{give: []string{"publihs"}, want: `unknown command "publihs"`, synopsis: "Commands: deploy, destroy, invoke, local, probe, publish, token, version.", wantLines: 4},
		{give: nil, want: "no command", synopsis: "Commands: ", wantLines: 4},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.give, " "), func(t *testing.T) {
			t.Setenv(envRegion, "")
			var stdout, stderr bytes.Buffer
			code := Main(tt.give, strings.NewReader(""), &stdout, &stderr)
			out := stderr.String()
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			more := "Run scfws -h for more."
			if len(tt.give) > 0 && !strings.HasPrefix(tt.synopsis, "Commands") {
				more = "Run scfws " + tt.give[0] + " -h for more."
			}
			if code != 2 || !strings.HasPrefix(lines[0], "scfws: ") || !strings.Contains(lines[0], tt.want) ||
				!strings.Contains(out, tt.synopsis) || !slices.Contains(lines, more) || len(lines) > tt.wantLines || stdout.Len() != 0 {
				t.Errorf("scfws %q = exit %d, stderr (%d lines):\n%s\nwant exit 2, %q first, %q, %q, at most %d lines", tt.give, code, len(lines), out, tt.want, tt.synopsis, more, tt.wantLines)
			}
		})
	}
}
