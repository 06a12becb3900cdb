package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEverySecurityClaimNamesATestThatExists reads SECURITY.md and checks
// that each Test, Fuzz and Example function it names is defined in some
// _test.go file of the module, so a renamed or deleted test cannot leave
// a claim without its proof. (That the tests pass is what the rest of
// `go test ./...` checks.)
func TestEverySecurityClaimNamesATestThatExists(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	funcs := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Example)\w*)\(`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bench" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range funcs.FindAllSubmatch(src, -1) {
				defined[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Names such as TestRefresher{Memory,Postgres,Redis} expand to each.
	cited := regexp.MustCompile(`\b((?:Test|Fuzz|Example)\w*)(?:\{([\w,]+)\})?`)
	n := 0
	for _, m := range cited.FindAllStringSubmatch(string(doc), -1) {
		names := []string{m[1]}
		if m[2] != "" {
			names = nil
			for _, suffix := range strings.Split(m[2], ",") {
				names = append(names, m[1]+suffix)
			}
		}
		for _, name := range names {
			n++
			if !defined[name] {
				t.Errorf("SECURITY.md cites %s, which no _test.go file defines", name)
			}
		}
	}
	if n < 50 {
		t.Fatalf("found only %d test names in SECURITY.md; the pattern or the file is broken", n)
	}
}
