package dynamodb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/store/dynamodb"
)

var (
	reachOnce sync.Once
	reachErr  error
)

// newClient returns a client of the test server (dynalite in CI). hc, if
// not nil, carries its requests.
func newClient(hc aws.HTTPClient) *ddb.Client {
	return ddb.New(ddb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(testenv.DynamoDBURL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   hc,
	})
}

// sharedClient keeps enough idle connections for the conformance suite's
// concurrent writers: with the SDK's default of 10 per host, each request
// beyond the tenth would open a new connection and leave it in TIME_WAIT.
var sharedClient = newClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
	tr.MaxIdleConnsPerHost = 256
}))

// client returns the shared client, after checking once that the server
// answers.
func client(t testing.TB) *ddb.Client {
	t.Helper()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, reachErr = sharedClient.ListTables(ctx, &ddb.ListTablesInput{Limit: aws.Int32(1)})
	})
	testenv.Require(t, "dynamodb (dynalite at "+testenv.DynamoDBURL+")", reachErr)
	return sharedClient
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// tableName returns a fresh table name and deletes that table, if
// anything created it, when the test ends.
func tableName(t testing.TB) string {
	t.Helper()
	c := client(t)
	var b [6]byte
	rand.Read(b[:])
	name := "httpstate_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: &name})
	})
	return name
}

// newStore returns a Store on a table of its own, created for it.
func newStore(t testing.TB, opts ...dynamodb.Option) (*dynamodb.Store, string) {
	t.Helper()
	name := tableName(t)
	s, err := dynamodb.New(testCtx(t), client(t), name, append([]dynamodb.Option{dynamodb.WithCreateTable()}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, name
}
