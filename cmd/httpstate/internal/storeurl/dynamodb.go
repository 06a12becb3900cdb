package storeurl

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/httpstate/httpstate/session"
	"github.com/httpstate/httpstate/store/dynamodb"
)

// openDynamoDB takes dynamodb://TABLE with optional region, endpoint and
// create_table parameters. Credentials, and the region when the URL has
// none, come from the AWS SDK's usual sources: the environment
// (AWS_REGION, AWS_ACCESS_KEY_ID...), the shared config files, and the
// role of the Lambda function, ECS task or EC2 instance.
func openDynamoDB(ctx context.Context, loc Location, o options) (session.Store, io.Closer, error) {
	q, _, err := loc.query([]string{"region", "endpoint", "create_table"}, false)
	if err != nil {
		return nil, nil, err
	}
	if loc.raw.User != nil || loc.raw.Port() != "" || (loc.raw.Path != "" && loc.raw.Path != "/") {
		return nil, nil, invalid(loc.Redacted, "dynamodb URLs name a table and nothing else: dynamodb://TABLE?region=REGION")
	}
	table := loc.raw.Hostname()
	if o.namespace != "" {
		table += "_" + o.namespace
	}
	create := false
	if v := q.Get("create_table"); v != "" {
		if create, err = strconv.ParseBool(v); err != nil {
			return nil, nil, invalid(loc.Redacted, "create_table must be true or false")
		}
	}
	endpoint := q.Get("endpoint")
	if endpoint != "" {
		if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, invalid(loc.Redacted, "endpoint must be an http:// or https:// URL, such as http://127.0.0.1:4567 for dynalite")
		}
	}
	var load []func(*config.LoadOptions) error
	if r := q.Get("region"); r != "" {
		load = append(load, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Region == "" {
		return nil, nil, invalid(loc.Redacted, "no region: add ?region=REGION or set AWS_REGION")
	}
	// The SDK builds its HTTP client lazily (applying AWS_CA_BUNDLE and
	// the like); freezing it now gives the client whose idle connections
	// the Closer releases.
	hc := &http.Client{}
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		if frozen, ok := b.Freeze().(*http.Client); ok {
			hc = frozen
			cfg.HTTPClient = hc
		}
	}
	client := awsdynamodb.NewFromConfig(cfg, func(o *awsdynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	// Without options New only checks the table name.
	s, err := dynamodb.New(ctx, client, table)
	if err != nil {
		return nil, nil, invalid(loc.Redacted, err.Error())
	}
	if create {
		if s, err = dynamodb.New(ctx, client, table, dynamodb.WithCreateTable()); err != nil {
			hc.CloseIdleConnections()
			return nil, nil, err
		}
	}
	return s, closerFunc(hc.CloseIdleConnections), nil
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }
