// Command funcsize keeps production functions small: it reports every
// function whose cyclomatic complexity or length passes a bound, and exits 1
// when there is one. Tests, test support (internal/, e2e/, storetest) and
// generated files are not production code and are not checked.
//
//	go run ./tools/funcsize [-cyclo 20] [-lines 80] [-top 0] [dir]
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type fn struct {
	pos   token.Position
	name  string
	cyclo int
	lines int
}

func main() {
	maxCyclo := flag.Int("cyclo", 20, "largest cyclomatic complexity allowed")
	maxLines := flag.Int("lines", 80, "longest function allowed, in lines from func to its closing brace")
	top := flag.Int("top", 0, "also print the N most complex and N longest functions")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	fns, err := scan(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funcsize:", err)
		os.Exit(2)
	}
	bad := 0
	for _, f := range fns {
		if f.cyclo > *maxCyclo || f.lines > *maxLines {
			fmt.Printf("%s: %s: complexity %d, %d lines (bounds %d, %d)\n", f.pos, f.name, f.cyclo, f.lines, *maxCyclo, *maxLines)
			bad++
		}
	}
	if *top > 0 {
		report("most complex", fns, *top, func(a, b fn) bool { return a.cyclo > b.cyclo })
		report("longest", fns, *top, func(a, b fn) bool { return a.lines > b.lines })
	}
	if bad > 0 {
		fmt.Printf("funcsize: %d functions over the bounds: split them into named steps\n", bad)
		os.Exit(1)
	}
}

func report(title string, fns []fn, n int, less func(a, b fn) bool) {
	s := append([]fn(nil), fns...)
	sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
	fmt.Printf("%s:\n", title)
	for _, f := range s[:min(n, len(s))] {
		fmt.Printf("  %3d complexity %4d lines  %s (%s)\n", f.cyclo, f.lines, f.name, f.pos)
	}
}

// skip says whether path holds no production code.
func skip(path string) bool {
	slash := filepath.ToSlash(path)
	for _, part := range []string{"internal/", "e2e/", "storetest/", "testdata/", "node_modules/", ".git/"} {
		if strings.HasPrefix(slash, part) || strings.Contains(slash, "/"+part) {
			return true
		}
	}
	return strings.HasSuffix(slash, "_test.go")
}

func scan(root string) ([]fn, error) {
	var out []fn
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && skip(rel+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || skip(rel) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		for _, decl := range f.Decls {
			d, ok := decl.(*ast.FuncDecl)
			if !ok || d.Body == nil {
				continue
			}
			start, end := fset.Position(d.Pos()), fset.Position(d.End())
			out = append(out, fn{pos: start, name: f.Name.Name + "." + funcName(d), cyclo: cyclo(d), lines: end.Line - start.Line + 1})
		}
		return nil
	})
	return out, err
}

func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		return "(*" + typeName(s.X) + ")." + d.Name.Name
	}
	return "(" + typeName(t) + ")." + d.Name.Name
}

func typeName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return typeName(t.X)
	case *ast.IndexListExpr:
		return typeName(t.X)
	}
	return "?"
}

// cyclo counts as gocyclo does: 1, plus one for each if, for, range, case,
// comm clause and && or ||. Function literals count toward the function
// that holds them.
func cyclo(d *ast.FuncDecl) int {
	n := 1
	ast.Inspect(d, func(node ast.Node) bool {
		switch x := node.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			n++
		case *ast.CaseClause:
			if x.List != nil {
				n++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				n++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				n++
			}
		}
		return true
	})
	return n
}
