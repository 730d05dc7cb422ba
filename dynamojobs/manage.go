package dynamojobs

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/imgrec/imgrec"
)

// tableWait bounds how long CreateTable and DeleteTable wait for the table
// to become active or to be gone (AWS takes seconds; moto none).
const tableWait = 5 * time.Minute

// CreateTable creates the table, billed per request (no capacity to plan
// or pay for while idle), keyed by pk, waits until it is active, and turns
// on its TTL attribute. A table that exists is fine: its TTL is turned on if
// it is off. It reports whether it created the table.
func CreateTable(ctx context.Context, client *dynamodb.Client, name string) (created bool, err error) {
	_, err = client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &name,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrKey), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeHash}},
		Tags:                 []types.Tag{{Key: aws.String(imgrec.LabelRole), Value: aws.String("jobs")}},
	})
	var inUse *types.ResourceInUseException
	switch {
	case err == nil:
		created = true
	case errors.As(err, &inUse): // exists, or is being created
	default:
		return false, wrapErr(err, "dynamojobs: create table %s", name)
	}
	if err := dynamodb.NewTableExistsWaiter(client).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, tableWait); err != nil {
		return created, wrapErr(err, "dynamojobs: table %s not active", name)
	}
	on, err := ttlEnabled(ctx, client, name)
	if err != nil || on {
		return created, err
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               &name,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrExpires), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return created, wrapErr(err, "dynamojobs: turn on the TTL of table %s", name)
	}
	return created, nil
}

// ttlEnabled reports whether the table's TTL is on (or being turned on) on
// the attribute the store writes.
func ttlEnabled(ctx context.Context, client *dynamodb.Client, name string) (bool, error) {
	out, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		return false, wrapErr(err, "dynamojobs: TTL of table %s", name)
	}
	d := out.TimeToLiveDescription
	return d != nil && aws.ToString(d.AttributeName) == attrExpires &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling), nil
}

// DeleteTable deletes the table with everything in it and waits until it is
// gone; a table that does not exist is no error. It reports whether it
// deleted one.
func DeleteTable(ctx context.Context, client *dynamodb.Client, name string) (bool, error) {
	_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &name})
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return false, nil
	}
	if err != nil {
		return false, wrapErr(err, "dynamojobs: delete table %s", name)
	}
	if err := dynamodb.NewTableNotExistsWaiter(client).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, tableWait); err != nil {
		return true, wrapErr(err, "dynamojobs: table %s not gone", name)
	}
	return true, nil
}

// TableInfo describes the table.
type TableInfo struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	// Items is DynamoDB's count of items (jobs, cached results, the model),
	// which AWS updates about every six hours.
	Items int64 `json:"items"`
	TTL   bool  `json:"ttl"` // expired items are deleted
}

// Describe says whether the table exists, its item count and whether its
// TTL is on.
func Describe(ctx context.Context, client *dynamodb.Client, name string) (TableInfo, error) {
	info := TableInfo{Name: name}
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return info, nil
	}
	if err != nil {
		return info, wrapErr(err, "dynamojobs: describe table %s", name)
	}
	info.Exists = true
	info.Items = aws.ToInt64(out.Table.ItemCount)
	if info.TTL, err = ttlEnabled(ctx, client, name); err != nil {
		return info, err
	}
	return info, nil
}

// Check refuses a name DynamoDB would: 3 to 255 letters, digits, '_', '-' and '.'.
func Check(name string) error {
	ok := len(name) >= 3 && len(name) <= 255
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			ok = false
		}
	}
	if !ok {
		return imgrec.Errorf(imgrec.EINVALID, "dynamojobs: table name %q: want 3 to 255 letters, digits, '_', '-' and '.'", name)
	}
	return nil
}
