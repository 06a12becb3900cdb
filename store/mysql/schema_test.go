package mysql

import (
	"testing"

	"github.com/httpstate/httpstate/store/internal/sqlstore"
	"github.com/httpstate/httpstate/store/internal/sqltest"
)

func TestSchemaIsDocumented(t *testing.T) {
	sqltest.TestSchemaIsDocumented(t, "doc.go", schema(sqlstore.DefaultTable))
}
