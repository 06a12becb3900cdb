package postgres

import (
	"os"
	"strings"
	"testing"
)

// The SQL in the package documentation is for people who create the table
// themselves; it must be exactly what New would run.
func TestDocumentedSchemaIsTheOneNewCreates(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	for line := range strings.Lines(string(src)) {
		if code, ok := strings.CutPrefix(line, "//\t"); ok {
			doc.WriteString(code)
		}
	}
	tbl, err := newTable("", DefaultTable)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc.String(), tbl.ddl()+"\n") {
		t.Fatalf("doc.go does not print the schema New creates; it should contain:\n%s", tbl.ddl())
	}
}
