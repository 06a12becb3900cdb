package bench

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/dynamodb"
)

// httpstateDynamoDB is store/dynamodb on a table of its own, deleted when
// b ends, on the DynamoDB-compatible server of testenv.DynamoDBURL. In CI
// and on development machines that is dynalite, a single-threaded Node.js
// emulator: its figures measure the store's requests against dynalite,
// not what DynamoDB itself would answer.
func httpstateDynamoDB(b *testing.B) session.Store {
	b.Helper()
	client := awsdynamodb.New(awsdynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(testenv.DynamoDBURL),
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		// One idle connection per concurrent caller, as for the other
		// network stores.
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = 2 * callers
		}),
	})
	table := uniqueName("bench_httpstate")
	ctx := setupContext(b)
	store, err := dynamodb.New(ctx, client, table, dynamodb.WithCreateTable())
	testenv.Require(b, "dynamodb (dynalite at "+testenv.DynamoDBURL+")", err)
	b.Cleanup(func() {
		ctx := setupContext(b)
		if _, err := client.DeleteTable(ctx, &awsdynamodb.DeleteTableInput{TableName: &table}); err != nil {
			b.Errorf("deleting the benchmark table: %v", err)
		}
	})
	return store
}
