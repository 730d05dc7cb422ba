package s3blob_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/internal/moto"
	"github.com/imgrec/imgrec/s3blob"
)

var bucketCount atomic.Int32

// newClient is an S3 client of the shared moto server in region.
func newClient(t *testing.T, region string) *s3.Client {
	cfg := moto.Shared(t).Config()
	cfg.Region = region
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

func newBucketName() string { return fmt.Sprintf("s3blob-test-%d", bucketCount.Add(1)) }

// TestConformance runs the BlobStore suite on moto, one bucket per subtest.
// moto 5.2.1 honours PutNew's If-None-Match: *, but checks and writes in two
// steps that only Python's thread switching keeps together, where AWS
// decides atomically: ConcurrentPutNew passed 30 runs in a row here, and
// would fail against an S3 that ignored the condition.
func TestConformance(t *testing.T) {
	client := newClient(t, moto.Region)
	conformance.BlobStore(t, func(t *testing.T) imgrec.BlobStore {
		ctx := moto.Context(t)
		name := newBucketName()
		if err := s3blob.CreateBuckets(ctx, client, name); err != nil {
			t.Fatalf("CreateBuckets: %v", err)
		}
		t.Cleanup(func() {
			if _, err := s3blob.DeleteBuckets(context.Background(), client, name); err != nil {
				t.Errorf("DeleteBuckets: %v", err)
			}
		})
		s, err := s3blob.Open(ctx, client, name)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestOpenMissingBucket(t *testing.T) {
	t.Parallel()
	_, err := s3blob.Open(moto.Context(t), newClient(t, moto.Region), "never-created")
	if imgrec.ErrorCode(err) != imgrec.ENOTFOUND || !strings.Contains(err.Error(), `"never-created"`) || !strings.Contains(err.Error(), "infra up") {
		t.Errorf("Open of a missing bucket: %v (code %q); want ENOTFOUND naming it and how to create it", err, imgrec.ErrorCode(err))
	}
}

// TestKeysAsFsblob refuses what fsblob refuses, naming bucket and key.
func TestKeysAsFsblob(t *testing.T) {
	t.Parallel()
	ctx := moto.Context(t)
	client := newClient(t, moto.Region)
	name := newBucketName()
	if err := s3blob.CreateBuckets(ctx, client, name); err != nil {
		t.Fatal(err)
	}
	defer s3blob.DeleteBuckets(context.Background(), client, name)
	s, err := s3blob.Open(ctx, client, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "a/b.jpg", `a\b.jpg`, ".hidden", "tab\there", "bad\xffutf8", strings.Repeat("k", 256)} {
		err := s.Put(ctx, key, []byte("x"))
		if imgrec.ErrorCode(err) != imgrec.EINVALID || !strings.Contains(err.Error(), name) {
			t.Errorf("Put(%q): %v; want EINVALID naming the bucket", key, err)
		}
		if _, err := s.Get(ctx, key); imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("Get(%q): %v; want EINVALID", key, err)
		}
	}
}

// TestCreateDescribeDelete manages buckets in a region other than
// us-east-1, where a bucket must be created with a location constraint.
func TestCreateDescribeDelete(t *testing.T) {
	t.Parallel()
	ctx := moto.Context(t)
	client := newClient(t, "eu-west-1")
	full, unused := newBucketName(), newBucketName()
	for range 2 { // idempotent
		if err := s3blob.CreateBuckets(ctx, client, full, unused); err != nil {
			t.Fatalf("CreateBuckets: %v", err)
		}
	}
	loc, err := client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &full})
	if err != nil || loc.LocationConstraint != "eu-west-1" {
		t.Errorf("bucket location: %v, %v; want eu-west-1", loc, err)
	}
	s, err := s3blob.Open(ctx, client, full)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Put(ctx, fmt.Sprintf("k%d", i), []byte("1234")); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := s3blob.Describe(ctx, client, full, unused, "never-created")
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := []s3blob.BucketInfo{{full, true, 3, 12}, {unused, true, 0, 0}, {"never-created", false, 0, 0}}
	if fmt.Sprint(infos) != fmt.Sprint(want) {
		t.Errorf("Describe: %+v, want %+v", infos, want)
	}

	deleted, err := s3blob.DeleteBuckets(ctx, client, full, unused, "never-created")
	if err != nil || fmt.Sprint(deleted) != fmt.Sprint([]string{full, unused}) {
		t.Errorf("DeleteBuckets: %q, %v; want the two that existed", deleted, err)
	}
	if infos, err := s3blob.Describe(ctx, client, full, unused); err != nil || infos[0].Exists || infos[1].Exists {
		t.Errorf("Describe after DeleteBuckets: %+v, %v; want neither", infos, err)
	}
	if _, err := s.Get(ctx, "k0"); imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE || !strings.Contains(err.Error(), full) {
		t.Errorf("Get from a deleted bucket: %v; want EUNAVAILABLE naming the bucket", err)
	}
}

// TestPing: a bucket that exists answers; one deleted since does not.
func TestPing(t *testing.T) {
	t.Parallel()
	ctx := moto.Context(t)
	client := newClient(t, moto.Region)
	name := newBucketName()
	if err := s3blob.CreateBuckets(ctx, client, name); err != nil {
		t.Fatal(err)
	}
	s, err := s3blob.Open(ctx, client, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := s3blob.DeleteBuckets(ctx, client, name); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("Ping of a deleted bucket: %v; want an error naming it", err)
	}
}
