package postgres

import (
	"testing"

	"github.com/httpstate/httpstate/store/internal/sqltest"
)

// The SQL in the package documentation is for people who create the table
// themselves; it must be exactly what New would run.
func TestDocumentedSchemaIsTheOneNewCreates(t *testing.T) {
	tbl, err := newTable("", DefaultTable)
	if err != nil {
		t.Fatal(err)
	}
	sqltest.TestSchemaIsDocumented(t, "doc.go", tbl.ddl())
}
