//go:build !scfws_function

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs are the README and docs/*.md, by name.
func docs(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob("../docs/*.md")
	if err != nil || len(names) == 0 {
		t.Fatalf("docs/*.md: %v %v", names, err)
	}
	out := map[string]string{}
	for _, name := range append(names, "../README.md") {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(name, "../")] = string(b)
	}
	return out
}

// commandFlags are the flags scfws CMD -h lists.
func commandFlags(t *testing.T, cmd string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{cmd, "-h"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("scfws %s -h = exit %d: %s", cmd, code, stderr.String())
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  (-[a-z-]+)`).FindAllStringSubmatch(stdout.String(), -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// scfwsCommand is a command line the docs show: scfws, a command, and
// what follows up to the end of the code span, a comment or a pipe.
var scfwsCommand = regexp.MustCompile("scfws (local|invoke|publish|token|probe|deploy|destroy|version)((?: [^`\n#|;&)]*)?)")

// Every flag a command line in the README or docs/ gives is one the
// command has: a renamed flag cannot leave a stale example behind.
func TestDocsCommandFlagsExist(t *testing.T) {
	flags := map[string][]string{}
	seen := 0
	for name, text := range docs(t) {
		for _, m := range scfwsCommand.FindAllStringSubmatch(text, -1) {
			cmd := m[1]
			if flags[cmd] == nil {
				flags[cmd] = commandFlags(t, cmd)
			}
			for _, word := range strings.Fields(m[2]) {
				flag, _, _ := strings.Cut(word, "=")
				if !regexp.MustCompile(`^-[a-z][a-z-]*$`).MatchString(flag) || flag == "-h" {
					continue
				}
				seen++
				if !slices.Contains(flags[cmd], flag) {
					t.Errorf("%s shows scfws %s %s; scfws %s has no such flag (%v)", name, cmd, flag, cmd, flags[cmd])
				}
			}
		}
	}
	if seen < 50 {
		t.Errorf("found %d flags in the docs' scfws command lines; want many more (is the pattern stale?)", seen)
	}
}

// The README's command table names every command, and only those.
func TestREADMECommandTable(t *testing.T) {
	readme := docs(t)["README.md"]
	_, table, _ := strings.Cut(readme, "| Command | Does |")
	table, _, _ = strings.Cut(table, "\n\n")
	var named []string
	for _, m := range regexp.MustCompile("`scfws ([a-z]+)").FindAllStringSubmatch(table, -1) {
		named = append(named, m[1])
	}
	for cmd := range commands() {
		if cmd != "version" && !slices.Contains(named, cmd) {
			t.Errorf("README's command table lacks scfws %s", cmd)
		}
	}
	for _, cmd := range named {
		if _, ok := commands()[cmd]; !ok {
			t.Errorf("README's command table names scfws %s, which is not a command", cmd)
		}
	}
}

// The fuzz targets the README and docs/ name exist.
func TestDocsFuzzTargets(t *testing.T) {
	defined := testSources(t)
	found := 0
	for name, text := range docs(t) {
		for _, m := range regexp.MustCompile("`(Fuzz[A-Za-z0-9]+)`").FindAllStringSubmatch(text, -1) {
			found++
			if !bytes.Contains(defined, []byte("func "+m[1]+"(")) {
				t.Errorf("%s names %s; no test file defines it", name, m[1])
			}
		}
	}
	if found < 3 {
		t.Errorf("the docs name %d fuzz targets; want their list", found)
	}
}

// testSources are every _test.go file of the module, concatenated.
func testSources(t *testing.T) []byte {
	t.Helper()
	var defined []byte
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			defined = append(defined, b...)
			return err
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return defined
}

// A duration the README or docs/ give for a build or a deploy is a
// measurement: its paragraph says when it was taken (it is recorded, not
// asserted).
func TestDocsTimingsAreDated(t *testing.T) {
	duration := regexp.MustCompile(`\b[0-9]+(\.[0-9]+)?(-[0-9]+)? s\b`)
	dated := regexp.MustCompile(`measured 20[0-9]{2}-[0-9]{2}-[0-9]{2}`)
	found := 0
	for name, text := range docs(t) {
		for _, para := range strings.Split(text, "\n\n") {
			if !strings.Contains(para, "compiles") && !strings.Contains(para, "deploy to the first chat") || !duration.MatchString(para) {
				continue
			}
			found++
			if !dated.MatchString(para) {
				t.Errorf("%s gives a build or deploy time without the date it was measured:\n%s", name, para)
			}
		}
	}
	if found < 2 {
		t.Errorf("found %d paragraphs with build or deploy times in the docs; want the quick start's and deploy's", found)
	}
}
