package dynamojobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/dynamojobs"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/internal/moto"
)

var tableCount atomic.Int32

func newClient(t *testing.T) *dynamodb.Client { return dynamodb.NewFromConfig(moto.Shared(t).Config()) }

// newTable creates a table of the test's own, deleted when it ends.
func newTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("dynamojobs-test-%d-%d", time.Now().UnixNano()%1e6, tableCount.Add(1))
	if created, err := dynamojobs.CreateTable(moto.Context(t), client, name); err != nil || !created {
		t.Fatalf("CreateTable %s: %v, created %v", name, err, created)
	}
	t.Cleanup(func() {
		if _, err := dynamojobs.DeleteTable(context.Background(), client, name); err != nil {
			t.Errorf("DeleteTable: %v", err)
		}
	})
	return name
}

// TestConformance runs the JobStore suite on moto, one table per subtest.
// moto keeps expired items (it implements no TTL deletion), so Expiry proves
// the store's own filtering. Polling every 50 ms keeps the suite short.
func TestConformance(t *testing.T) {
	client := newClient(t)
	conformance.JobStore(t, conformance.JobStoreOptions{}, func(t *testing.T, ttl time.Duration) func(*testing.T) imgrec.JobStore {
		name := newTable(t, client)
		return func(t *testing.T) imgrec.JobStore {
			s, err := dynamojobs.Open(moto.Context(t), client, name, dynamojobs.Config{TTL: ttl, Poll: 50 * time.Millisecond})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}

func TestOpenMissingTable(t *testing.T) {
	t.Parallel()
	_, err := dynamojobs.Open(moto.Context(t), newClient(t), "never-created", dynamojobs.Config{})
	if imgrec.ErrorCode(err) != imgrec.ENOTFOUND || !strings.Contains(err.Error(), `"never-created"`) || !strings.Contains(err.Error(), "infra up") {
		t.Errorf("Open of a missing table: %v (code %q); want ENOTFOUND naming it and how to create it", err, imgrec.ErrorCode(err))
	}
}

// TestManage: CreateTable makes the table with its TTL on the expires
// attribute, again is no error; Describe sees it; DeleteTable removes it,
// again is no error.
func TestManage(t *testing.T) {
	t.Parallel()
	ctx := moto.Context(t)
	client := newClient(t)
	name := fmt.Sprintf("dynamojobs-manage-%d", time.Now().UnixNano()%1e6)
	if created, err := dynamojobs.CreateTable(ctx, client, name); err != nil || !created {
		t.Fatalf("CreateTable: %v, created %v", err, created)
	}
	if created, err := dynamojobs.CreateTable(ctx, client, name); err != nil || created {
		t.Fatalf("CreateTable again: %v, created %v; want no error, not created", err, created)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil || ttl.TimeToLiveDescription == nil || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "expires" ||
		ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Errorf("TTL: %+v, %v; want enabled on expires", ttl.TimeToLiveDescription, err)
	}
	s, err := dynamojobs.Open(ctx, client, name, dynamojobs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, imgrec.Job{ID: "j1", State: imgrec.JobQueued}); err != nil {
		t.Fatal(err)
	}
	info, err := dynamojobs.Describe(ctx, client, name)
	if err != nil || !info.Exists || !info.TTL || info.Items != 1 {
		t.Errorf("Describe: %+v, %v; want it there, TTL on, 1 item", info, err)
	}
	if deleted, err := dynamojobs.DeleteTable(ctx, client, name); err != nil || !deleted {
		t.Fatalf("DeleteTable: %v, deleted %v", err, deleted)
	}
	if deleted, err := dynamojobs.DeleteTable(ctx, client, name); err != nil || deleted {
		t.Fatalf("DeleteTable again: %v, deleted %v; want no error, nothing deleted", err, deleted)
	}
	if info, err := dynamojobs.Describe(ctx, client, name); err != nil || info.Exists {
		t.Errorf("Describe after DeleteTable: %+v, %v", info, err)
	}
}

// TestExpiredItemsStay shows why the store filters on read: moto, like
// DynamoDB within its deletion delay, still holds an item whose expires
// has passed, and the store treats it as gone (and may create over it).
func TestExpiredItemsStay(t *testing.T) {
	t.Parallel()
	ctx := moto.Context(t)
	client := newClient(t)
	name := newTable(t, client)
	s, err := dynamojobs.Open(ctx, client, name, dynamojobs.Config{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, imgrec.Job{ID: "old", Name: "old.jpg", State: imgrec.JobQueued}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for _, err := s.Get(ctx, "old"); imgrec.ErrorCode(err) != imgrec.ENOTFOUND; _, err = s.Get(ctx, "old") {
		if time.Now().After(deadline) {
			t.Fatalf("Get a minute after a TTL of 1s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	raw, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &name, Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "job#old"}}})
	if err != nil {
		t.Fatal(err)
	}
	if raw.Item == nil {
		t.Skip("this server deleted the expired item itself; nothing left to prove")
	}
	if j, err := s.Create(ctx, imgrec.Job{ID: "old", Name: "new.jpg", State: imgrec.JobQueued}); err != nil || j.Name != "new.jpg" {
		t.Errorf("Create over an expired item: %+v, %v", j, err)
	}
}
