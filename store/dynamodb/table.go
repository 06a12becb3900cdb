package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// tableDefinition is the table WithCreateTable creates, which the package
// documentation spells out as AWS CLI commands.
func tableDefinition(name string) *ddb.CreateTableInput {
	return &ddb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeB},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeB},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
	}
}

// tableWait bounds how long New waits for a table it created to become
// ACTIVE when ctx has no earlier deadline. DynamoDB usually takes a few
// seconds.
const tableWait = 5 * time.Minute

func (s *Store) createTable(ctx context.Context) error {
	def := tableDefinition(s.table)
	_, err := s.client.CreateTable(ctx, def)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return s.fail(ctx, "create table", err)
	}
	// Created now, or by someone else (perhaps a moment ago, by another
	// instance starting at the same time): wait until it is usable.
	waiter := ddb.NewTableExistsWaiter(s.client, func(o *ddb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	wait := tableWait
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	desc, err := waiter.WaitForOutput(ctx, &ddb.DescribeTableInput{TableName: &s.table}, wait)
	if err != nil {
		return s.fail(ctx, "create table: waiting for it to become active", err)
	}
	if !sameKeys(desc.Table, def) {
		return fmt.Errorf("dynamodb: table %s exists with another key schema; the store needs the one in the package documentation (pk and sk, both binary)", s.table)
	}
	return s.enableTTL(ctx)
}

// sameKeys reports whether t has the key schema of def, attribute types
// included.
func sameKeys(t *types.TableDescription, def *ddb.CreateTableInput) bool {
	if t == nil || len(t.KeySchema) != len(def.KeySchema) {
		return false
	}
	for i, k := range def.KeySchema {
		if aws.ToString(t.KeySchema[i].AttributeName) != aws.ToString(k.AttributeName) || t.KeySchema[i].KeyType != k.KeyType {
			return false
		}
	}
	for _, a := range def.AttributeDefinitions {
		if !slices.ContainsFunc(t.AttributeDefinitions, func(b types.AttributeDefinition) bool {
			return aws.ToString(b.AttributeName) == aws.ToString(a.AttributeName) && b.AttributeType == a.AttributeType
		}) {
			return false
		}
	}
	return true
}

// enableTTL turns on TTL on expires_at unless it is on already.
func (s *Store) enableTTL(ctx context.Context) error {
	desc, err := s.client.DescribeTimeToLive(ctx, &ddb.DescribeTimeToLiveInput{TableName: &s.table})
	if err != nil {
		return s.fail(ctx, "create table: describing its TTL", err)
	}
	if d := desc.TimeToLiveDescription; d != nil {
		switch d.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if attr := aws.ToString(d.AttributeName); attr != attrTTL {
				return fmt.Errorf("dynamodb: table %s has TTL on %q; the store needs it on %q", s.table, attr, attrTTL)
			}
			return nil
		}
	}
	_, err = s.client.UpdateTimeToLive(ctx, &ddb.UpdateTimeToLiveInput{
		TableName: &s.table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrTTL),
			Enabled:       aws.Bool(true),
		},
	})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "UnknownOperationException" {
		// An emulator without TTL (dynalite): see WithCreateTable.
		return nil
	}
	if err != nil {
		return s.fail(ctx, "create table: enabling TTL", err)
	}
	return nil
}
