package dynamodb

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The AWS CLI commands in the package documentation are for people who
// create the table themselves; they must describe exactly the table
// WithCreateTable creates.
func TestDocumentedTableIsTheOneWithCreateTableMakes(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	for line := range strings.Lines(string(src)) {
		if code, ok := strings.CutPrefix(line, "//\t"); ok {
			doc.WriteString(strings.TrimLeft(code, "\t"))
		}
	}
	def := tableDefinition(DefaultTable)
	var attrs, keys []string
	for _, a := range def.AttributeDefinitions {
		attrs = append(attrs, fmt.Sprintf("AttributeName=%s,AttributeType=%s", aws.ToString(a.AttributeName), a.AttributeType))
	}
	for _, k := range def.KeySchema {
		keys = append(keys, fmt.Sprintf("AttributeName=%s,KeyType=%s", aws.ToString(k.AttributeName), k.KeyType))
	}
	want := fmt.Sprintf(`aws dynamodb create-table --table-name %s \
--attribute-definitions %s \
--key-schema %s \
--billing-mode %s
aws dynamodb update-time-to-live --table-name %s \
--time-to-live-specification Enabled=true,AttributeName=%s
`, aws.ToString(def.TableName), strings.Join(attrs, " "), strings.Join(keys, " "), def.BillingMode, DefaultTable, attrTTL)
	if len(def.GlobalSecondaryIndexes)+len(def.LocalSecondaryIndexes) != 0 {
		t.Fatal("the table definition has a secondary index; the documentation says it has none")
	}
	if !strings.Contains(doc.String(), want) {
		t.Fatalf("doc.go does not show the table WithCreateTable creates; it should contain:\n%s", want)
	}
}
