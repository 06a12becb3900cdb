package mysql

import (
	"testing"

	"github.com/httpstate/httpstate/store/internal/sqlstore"
	"github.com/httpstate/httpstate/store/internal/sqlstore/sqlstoretest"
)

func TestSchemaIsDocumented(t *testing.T) {
	sqlstoretest.TestSchemaIsDocumented(t, "doc.go", schema(sqlstore.DefaultTable))
}
