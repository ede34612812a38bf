package depcheck

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestPackageDocs fails naming every library package of the module that
// has no package doc comment: a comment directly above one file's package
// clause that starts "Package <name>" (by convention in doc.go). Commands
// (package main) and test-only packages are not checked. Every directory
// is parsed whatever its build constraints, so a package built only on
// another OS is checked too.
func TestPackageDocs(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	missing, err := undocumented(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("%s: no package doc comment; add %s/doc.go starting \"// Package %s\" and saying what the package owns",
			m.dir, m.dir, m.name)
	}
}

// TestPackageDocsFindsMissing checks the walk itself on a module made on
// the spot: a package without a doc comment is reported, one whose doc
// sits in any file is not, and commands, tests, testdata and other modules
// are left out.
func TestPackageDocsFindsMissing(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n")
	write("good/a.go", "package good\n")
	write("good/doc.go", "// Package good is documented.\npackage good\n")
	write("bad/a.go", "// A comment that is not a package doc.\n\n// Package bad floats apart from the clause.\n\npackage bad\n")
	write("misnamed/a.go", "// Package other names another package.\npackage misnamed\n")
	write("cmd/tool/main.go", "package main\n")
	write("onlytests/a_test.go", "package onlytests\n")
	write("good/testdata/x/x.go", "package x\n")
	write("nested/go.mod", "module example.com/nested\n")
	write("nested/n.go", "package nested\n")
	got, err := undocumented(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range got {
		names = append(names, m.dir+":"+m.name)
	}
	if strings.Join(names, " ") != "bad:bad misnamed:misnamed" {
		t.Fatalf("undocumented = %q, want bad and misnamed only", names)
	}
}

// pkgDir is one undocumented package: its directory relative to the module
// root, and its name.
type pkgDir struct{ dir, name string }

// undocumented walks the module rooted at root and returns, sorted by
// directory, the non-main packages none of whose non-test files carries a
// package doc comment.
func undocumented(root string) ([]pkgDir, error) {
	var out []pkgDir
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root {
			if name == "testdata" || name == "vendor" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		pkg, documented, err := packageDoc(path)
		if err != nil {
			return err
		}
		if pkg == "" || pkg == "main" || documented {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		out = append(out, pkgDir{dir: filepath.ToSlash(rel), name: pkg})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].dir < out[j].dir })
	return out, err
}

// packageDoc parses the package clauses of dir's non-test Go files and
// returns the package name ("" when there are none) and whether one of
// them carries a doc comment starting "Package <name>".
func packageDoc(dir string) (pkg string, documented bool, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", false, err
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return "", false, err
		}
		pkg = af.Name.Name
		if af.Doc != nil {
			rest, ok := strings.CutPrefix(af.Doc.Text(), "Package "+pkg)
			if ok && (rest == "" || rest[0] == ' ' || rest[0] == '\n') {
				documented = true
			}
		}
	}
	return pkg, documented, nil
}
