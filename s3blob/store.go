// Package s3blob implements imgrec.BlobStore on an Amazon S3 bucket (or an
// S3-compatible endpoint): one object per key. S3 writes are atomic, so
// readers see whole objects or none; PutNew is a conditional write
// (If-None-Match: *), which S3 decides atomically.
//
// CreateBuckets, DeleteBuckets and Describe manage the buckets for
// `imgrec infra`. Clients of an endpoint other than AWS usually need
// path-style addressing (s3.Options.UsePathStyle).
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/imgrec/imgrec"
)

var _ imgrec.BlobStore = (*Store)(nil)

// Store is one bucket.
type Store struct {
	client *s3.Client
	bucket string
}

// Open checks that bucket exists and can be reached (see CreateBuckets).
func Open(ctx context.Context, client *s3.Client, bucket string) (*Store, error) {
	_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
	switch status(err) {
	case 0:
		return &Store{client: client, bucket: bucket}, nil
	case http.StatusNotFound:
		return nil, imgrec.WrapError(imgrec.ENOTFOUND, err, "s3blob: bucket %q does not exist (run imgrec infra up)", bucket)
	case http.StatusForbidden:
		return nil, imgrec.WrapError(imgrec.EUNAVAILABLE, err, "s3blob: bucket %q: access denied (another account's, or missing permissions)", bucket)
	}
	return nil, wrapErr(err, "s3blob: open bucket %q", bucket)
}

var _ imgrec.Pinger = (*Store)(nil)

// Ping asks for the bucket's head, which needs only s3:ListBucket: the
// workers may not read the output bucket's objects.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return wrapErr(err, "s3blob: ping bucket %q", s.bucket)
	}
	return nil
}

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// Put stores data under key, replacing any previous object.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey("put", s.bucket, key); err != nil {
		return err
	}
	if err := s.put(ctx, key, data, nil); err != nil {
		return wrapErr(err, "s3blob: put %q in bucket %s", key, s.bucket)
	}
	return nil
}

// PutNew stores data under key unless key exists, in one conditional
// write. S3 answers 409 to a conditional write that races another one on
// the same key; it is tried again, and then one of them has won.
func (s *Store) PutNew(ctx context.Context, key string, data []byte) error {
	if err := checkKey("put-new", s.bucket, key); err != nil {
		return err
	}
	var err error
	for range 3 {
		err = s.put(ctx, key, data, aws.String("*"))
		if status(err) != http.StatusConflict {
			break
		}
	}
	if status(err) == http.StatusPreconditionFailed {
		return imgrec.Errorf(imgrec.ECONFLICT, "s3blob: put-new %q in bucket %s: already exists", key, s.bucket)
	}
	if err != nil {
		return wrapErr(err, "s3blob: put-new %q in bucket %s", key, s.bucket)
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, data []byte, ifNoneMatch *string) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch:   ifNoneMatch,
	})
	return err
}

// Get returns the object stored under key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey("get", s.bucket, key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if isNoSuchKey(err) {
		return nil, imgrec.Errorf(imgrec.ENOTFOUND, "s3blob: get %q from bucket %s: not found", key, s.bucket)
	}
	if err != nil {
		return nil, wrapErr(err, "s3blob: get %q from bucket %s", key, s.bucket)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, wrapErr(err, "s3blob: get %q from bucket %s", key, s.bucket)
	}
	return data, nil
}

// List returns up to limit objects whose keys start with prefix and sort
// after after, in byte order of the keys (S3 lists in UTF-8 binary order).
// Objects whose keys this package would refuse (put there by other tools)
// are skipped, as fsblob skips such files.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]imgrec.BlobInfo, error) {
	if limit < 1 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "s3blob: list bucket %s: limit %d: want at least 1", s.bucket, limit)
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, StartAfter: &after, MaxKeys: aws.Int32(int32(min(limit, 1000)))}
	var infos []imgrec.BlobInfo
	for pages := s3.NewListObjectsV2Paginator(s.client, in); pages.HasMorePages() && len(infos) < limit; {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrapErr(err, "s3blob: list bucket %s (prefix %q, after %q)", s.bucket, prefix, after)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if imgrec.CheckKey(key) != nil {
				continue
			}
			infos = append(infos, imgrec.BlobInfo{Key: key, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
			if len(infos) == limit {
				break
			}
		}
	}
	return infos, nil
}

// Delete removes key; a missing key is not an error (nor is it to S3).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", s.bucket, key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return wrapErr(err, "s3blob: delete %q from bucket %s", key, s.bucket)
	}
	return nil
}

// status is the HTTP status of a failed S3 call; 0 for success or no
// answer at all.
func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isNoSuchKey(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchKey"
}

// wrapErr says which operation failed, coded EUNAVAILABLE when S3 cannot be
// reached, fails, throttles, or the bucket has gone.
func wrapErr(err error, format string, args ...any) error {
	var apiErr smithy.APIError
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorFault() == smithy.FaultServer || apiErr.ErrorCode() == "SlowDown" || apiErr.ErrorCode() == "NoSuchBucket"),
		status(err) >= 500,
		errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded):
		return imgrec.WrapError(imgrec.EUNAVAILABLE, err, format, args...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
