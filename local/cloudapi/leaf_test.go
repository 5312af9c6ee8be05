package cloudapi_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// assertLeaf fails when a package's non-test files import another package
// of this module than proto, the data-only leaf: cloudapi and client must
// stay leaves (client shares proto's shapes with the function).
func assertLeaf(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path := strings.Trim(imp.Path.Value, `"`); strings.HasPrefix(path, "github.com/scfws/scfws") && path != "github.com/scfws/scfws/proto" {
				t.Errorf("%s imports %s", name, imp.Path.Value)
			}
		}
	}
}

func TestLeafPackages(t *testing.T) {
	assertLeaf(t, ".")
	assertLeaf(t, "../../client")
}
