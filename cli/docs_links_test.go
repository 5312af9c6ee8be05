//go:build !scfws_function

package cli

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

var (
	fence      = regexp.MustCompile("(?ms)^ *```.*?^ *```[^\n]*$")
	codeSpan   = regexp.MustCompile("`[^`\n]*`")
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	atxHeading = regexp.MustCompile(`(?m)^#{1,6} +(.*?)(?: +#+)? *$`)
	inlineLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// prose is a Markdown text without its fenced code blocks, whose lines
// are neither links nor headings.
func prose(text string) string {
	return fence.ReplaceAllString(text, "")
}

// anchors are the ids GitHub gives a Markdown file's headings: the
// heading's text, lower case, without punctuation but - and _, spaces as
// hyphens; a repeated one gets -1, -2, ... (github-slugger).
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range atxHeading.FindAllStringSubmatch(prose(text), -1) {
		base := slug(inlineLink.ReplaceAllString(m[1], "$1"))
		id := base
		for n := 1; out[id]; n++ {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		out[id] = true
	}
	return out
}

func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.In(r, unicode.L, unicode.M, unicode.N):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every relative link in the README and docs/ reaches a file of this
// checkout, and an #anchor into a Markdown file one of its headings: what
// moved out of the README stays reachable.
func TestDocsLinks(t *testing.T) {
	all := docs(t)
	checked := 0
	for name, text := range all {
		for _, m := range mdLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(prose(text), "code"), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, anchor, _ := strings.Cut(target, "#")
			dest := name
			if file != "" {
				dest = path.Clean(path.Join(path.Dir(name), file))
			}
			if _, err := os.Stat(filepath.Join("..", dest)); err != nil || strings.HasPrefix(dest, "..") {
				t.Errorf("%s links to %s: no file %s", name, target, dest)
				continue
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			text, ok := all[dest]
			if !ok {
				b, err := os.ReadFile(filepath.Join("..", dest))
				if err != nil {
					t.Fatal(err)
				}
				text = string(b)
			}
			if !anchors(text)[anchor] {
				t.Errorf("%s links to %s: %s has no heading with the id %q (it has %v)", name, target, dest, anchor, slices.Sorted(maps.Keys(anchors(text))))
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked %d relative links; want many more (is the pattern stale?)", checked)
	}
}

// Every file in docs/ is linked from the README.
func TestDocsReachableFromREADME(t *testing.T) {
	all := docs(t)
	linked := map[string]bool{}
	for _, m := range mdLink.FindAllStringSubmatch(prose(all["README.md"]), -1) {
		file, _, _ := strings.Cut(m[1], "#")
		linked[path.Clean(file)] = true
	}
	for name := range all {
		if name != "README.md" && !linked[name] {
			t.Errorf("README.md does not link to %s", name)
		}
	}
}

func TestSlug(t *testing.T) {
	tests := []struct{ give, want string }{
		{"Quick start: everything on one machine", "quick-start-everything-on-one-machine"},
		{"Check your deployment: `scfws probe`", "check-your-deployment-scfws-probe"},
		{"Clients: identity, groups and presence (`scfws.v1`)", "clients-identity-groups-and-presence-scfwsv1"},
		{"What was verified, and what was not", "what-was-verified-and-what-was-not"},
		{"DB_TABLE and -fail-action", "db_table-and--fail-action"},
		{"权限管理 概述", "权限管理-概述"},
	}
	for _, tt := range tests {
		if got := slug(tt.give); got != tt.want {
			t.Errorf("slug(%q) = %q; want %q", tt.give, got, tt.want)
		}
	}
}

// Every benchmark the docs name exists, and docs/performance.md's
// commands run each one it names: go test -run X -bench PATTERN PACKAGES.
func TestDocsBenchmarks(t *testing.T) {
	defined := map[string]string{} // name -> package directory
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		for _, m := range regexp.MustCompile(`(?m)^func (Benchmark\w+)\(`).FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = "./" + filepath.ToSlash(filepath.Dir(strings.TrimPrefix(p, "../")))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	all := docs(t)
	named := regexp.MustCompile(`\bBenchmark[A-Z]\w*`)
	for name, text := range all {
		for _, b := range named.FindAllString(text, -1) {
			if _, ok := defined[b]; !ok {
				t.Errorf("%s names %s; no test file defines it", name, b)
			}
		}
	}
	perf := all["docs/performance.md"]
	commands := regexp.MustCompile("`go test -run X -bench ('[^']*'|\\S+)((?: \\.(?:/[a-z0-9/]+)?)+)`").FindAllStringSubmatch(perf, -1)
	if len(commands) == 0 {
		t.Fatal("docs/performance.md has no `go test -run X -bench ...` command")
	}
	for _, b := range slices.Compact(slices.Sorted(slices.Values(named.FindAllString(perf, -1)))) {
		ran := false
		for _, c := range commands {
			pattern := regexp.MustCompile(strings.Trim(c[1], "'"))
			ran = ran || pattern.MatchString(b) && slices.Contains(strings.Fields(c[2]), defined[b])
		}
		if !ran {
			t.Errorf("docs/performance.md names %s (in %s); none of its commands runs it", b, defined[b])
		}
	}
}
