package router_test

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/scfws/scfws"

// functionPackages are what ships to SCF as the function.
var functionPackages = []string{"router", "store", "gateway", "selfinvoke", "config", "auth", "proto"}

// TestNeverArrows holds the layout's "never" arrows over the non-test files
// of each package (its folder, not the folders below it: store/storetest is
// test support and checks registries against router.Registry). Data flows
// event -> router -> (store | gateway | selfinvoke); proto, config and auth
// are leaves.
func TestNeverArrows(t *testing.T) {
	tests := []struct {
		pkg   string
		never []string // packages of ours it may not import (and those below them)
		leaf  bool     // imports nothing of ours but allowed
		allow []string
	}{
		{pkg: "router", never: []string{"store", "gateway", "selfinvoke"}},
		{pkg: "store", never: []string{"router", "gateway", "selfinvoke"}},
		{pkg: "gateway", never: []string{"router", "store", "selfinvoke"}},
		{pkg: "selfinvoke", never: []string{"router", "store", "gateway"}},
		{pkg: "config", leaf: true, allow: []string{"proto"}},
		{pkg: "auth", leaf: true, allow: []string{"proto"}},
		{pkg: "proto", leaf: true},
	}
	for _, tt := range tests {
		for _, imp := range ourImports(t, tt.pkg) {
			switch {
			case tt.leaf && !slices.Contains(tt.allow, imp):
				t.Errorf("%s imports %s; it may import nothing of ours but %v", tt.pkg, imp, tt.allow)
			case slices.ContainsFunc(tt.never, func(p string) bool { return under(imp, p) }):
				t.Errorf("%s imports %s; never %v", tt.pkg, imp, tt.never)
			}
		}
	}
}

// TestFunctionNeverImportsTheTools: the function never carries scfws local,
// deploy or the client sides (the Go client, scfws probe).
func TestFunctionNeverImportsTheTools(t *testing.T) {
	tools := []string{"local", "deploy", "client", "probe"}
	for _, pkg := range functionPackages {
		for _, imp := range ourImports(t, pkg) {
			if slices.ContainsFunc(tools, func(p string) bool { return under(imp, p) }) {
				t.Errorf("%s imports %s; the function's packages never import %v", pkg, imp, tools)
			}
		}
	}
}

// under reports whether imp, a package path below the module, is p or a
// package below p.
func under(imp, p string) bool { return imp == p || strings.HasPrefix(imp, p+"/") }

// ourImports lists the module's packages (relative to its root) that the
// non-test files in the folder pkg import. A folder without Go files fails:
// a moved package must not make the test pass by checking nothing.
func ourImports(t *testing.T, pkg string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", pkg, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	read := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		read++
		for _, imp := range f.Imports {
			if p, ok := strings.CutPrefix(strings.Trim(imp.Path.Value, `"`), module+"/"); ok {
				out = append(out, p)
			}
		}
	}
	if read == 0 {
		t.Fatalf("no Go files in %s", pkg)
	}
	return out
}

// TestFunctionNeverLinksPrometheus: client_golang is scfws local's (its
// metrics); neither the function's packages nor the function-only build
// (-tags scfws_function) may carry it, even through a dependency.
func TestFunctionNeverLinksPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	pkgs := []string{"-tags", "scfws_function", ".."}
	for _, p := range append(functionPackages, "function") {
		pkgs = append(pkgs, "../"+p)
	}
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.Lines(string(out)) {
		if strings.Contains(dep, "github.com/prometheus/") {
			t.Errorf("the function depends on %s; only scfws local may", strings.TrimSpace(dep))
		}
	}
}
