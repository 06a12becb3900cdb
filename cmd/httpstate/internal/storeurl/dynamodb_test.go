package storeurl_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/httpstate/httpstate/cmd/httpstate/internal/storeurl"
	"github.com/httpstate/httpstate/internal/testenv"
	"github.com/httpstate/httpstate/session"
)

// awsTestEnv gives the AWS SDK test credentials and nothing else to go
// on: no shared config files, no instance metadata service (which the SDK
// would otherwise ask for credentials, over the network), no region and
// no endpoint from the machine's environment.
func awsTestEnv(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             none,
		"AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_DYNAMODB":   "",
	} {
		t.Setenv(k, v)
	}
}

// dynamoTable returns a fresh table name on the test server and deletes
// the tables of that name and its namespaces when the test ends.
func dynamoTable(t *testing.T, namespaces ...string) string {
	t.Helper()
	c := awsdynamodb.New(awsdynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(testenv.DynamoDBURL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := c.ListTables(ctx, &awsdynamodb.ListTablesInput{Limit: aws.Int32(1)})
	testenv.Require(t, "dynamodb (dynalite at "+testenv.DynamoDBURL+")", err)
	var b [4]byte
	rand.Read(b[:])
	name := "storeurl_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, ns := range append(namespaces, "") {
			table := name
			if ns != "" {
				table += "_" + ns
			}
			c.DeleteTable(ctx, &awsdynamodb.DeleteTableInput{TableName: &table})
		}
	})
	return name
}

func TestParseDynamoDB(t *testing.T) {
	u := "dynamodb://httpstate_sessions?region=eu-west-1"
	loc, err := storeurl.Parse(u)
	if err != nil || loc.Kind != storeurl.DynamoDB || loc.Redacted != u {
		t.Fatalf("Parse(%q) = %q, %q, %v", u, loc.Kind, loc.Redacted, err)
	}
	if _, err := storeurl.Parse("dynamodb:httpstate_sessions"); !errors.Is(err, storeurl.ErrInvalid) {
		t.Fatalf("Parse without // = %v; want ErrInvalid", err)
	}
}

func TestOpenDynamoDB(t *testing.T) {
	awsTestEnv(t)
	table := dynamoTable(t, "tokens")
	u := "dynamodb://" + table + "?region=us-east-1&create_table=true&endpoint=" + testenv.DynamoDBURL
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	store, closer, err := storeurl.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	id := roundTrip(t, store)

	// The tokens namespace is a table of its own.
	tokens, c2, err := storeurl.Open(ctx, u, storeurl.Namespace("tokens"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := tokens.Load(ctx, id); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("namespaces share records: %v", err)
	}

	// Without create_table, the table must exist; the region may come
	// from the environment.
	t.Setenv("AWS_REGION", "us-east-1")
	again, c3, err := storeurl.Open(ctx, "dynamodb://"+table+"?endpoint="+testenv.DynamoDBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err := again.Load(ctx, id); err != nil {
		t.Fatalf("the record is missing when the table is opened again: %v", err)
	}
	_, _, err = storeurl.Open(ctx, "dynamodb://"+table+"_missing?endpoint="+testenv.DynamoDBURL)
	if !errors.Is(err, storeurl.ErrUnreachable) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open of a missing table = %v; want ErrUnreachable saying the table does not exist", err)
	}
}

func TestOpenDynamoDBRejectsURLsThatCanNeverWork(t *testing.T) {
	awsTestEnv(t)
	for u, why := range map[string]string{
		"dynamodb://sessions?region=us-east-1&tabel=x":                    "unknown parameter",
		"dynamodb://sessions?region=us-east-1&create_table=sure":          "create_table",
		"dynamodb://sessions?region=us-east-1&endpoint=127.0.0.1:4567":    "endpoint",
		"dynamodb://sessions:4567?region=us-east-1":                       "nothing else",
		"dynamodb://sessions/more?region=us-east-1":                       "nothing else",
		"dynamodb://key:secret@sessions?region=us-east-1":                 "nothing else",
		"dynamodb://ab?region=us-east-1":                                  "table name",
		"dynamodb://sessions":                                             "no region",
		"dynamodb://sessions?region=us-east-1&endpoint=ftp://example.com": "endpoint",
	} {
		_, _, err := storeurl.Open(t.Context(), u)
		if !errors.Is(err, storeurl.ErrInvalid) || !strings.Contains(err.Error(), why) {
			t.Errorf("Open(%q) = %v; want ErrInvalid saying %q", u, err, why)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error reveals the password: %v", u, err)
		}
	}
}

func TestOpenDynamoDBReportsAnUnreachableEndpoint(t *testing.T) {
	awsTestEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	u := "dynamodb://sessions?region=us-east-1&endpoint=http://" + closedPort(t)
	if _, _, err := storeurl.Open(ctx, u); !errors.Is(err, storeurl.ErrUnreachable) || errors.Is(err, storeurl.ErrInvalid) {
		t.Fatalf("Open(%q) = %v; want ErrUnreachable only", u, err)
	}
}
