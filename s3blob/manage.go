package s3blob

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imgrec/imgrec"
)

// CreateBuckets creates the buckets in the client's region; buckets this
// account owns already are fine. Bucket names are global: one that another
// account owns is an ECONFLICT error.
func CreateBuckets(ctx context.Context, client *s3.Client, names ...string) error {
	region := client.Options().Region
	for _, name := range names {
		in := &s3.CreateBucketInput{Bucket: &name}
		// us-east-1 is the default location and refuses to be named.
		if region != "us-east-1" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
		}
		_, err := client.CreateBucket(ctx, in)
		var owned *types.BucketAlreadyOwnedByYou
		var taken *types.BucketAlreadyExists
		switch {
		case err == nil, errors.As(err, &owned):
		case errors.As(err, &taken):
			return imgrec.WrapError(imgrec.ECONFLICT, err, "s3blob: create bucket %s: the name is taken by another account (bucket names are global; choose another prefix)", name)
		default:
			return wrapErr(err, "s3blob: create bucket %s in %s", name, region)
		}
	}
	return nil
}

// DeleteBuckets empties and deletes the buckets, and returns the names of
// those it deleted; buckets that do not exist are no error.
func DeleteBuckets(ctx context.Context, client *s3.Client, names ...string) ([]string, error) {
	var deleted []string
	for _, name := range names {
		err := empty(ctx, client, name)
		if err == nil {
			_, err = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name})
		}
		if isNoSuchBucket(err) {
			continue
		}
		if err != nil {
			return deleted, wrapErr(err, "s3blob: delete bucket %s", name)
		}
		deleted = append(deleted, name)
	}
	return deleted, nil
}

// empty deletes every object of a bucket, a thousand per request.
func empty(ctx context.Context, client *s3.Client, bucket string) error {
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("%d objects not deleted, e.g. %q: %s", len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Message))
		}
	}
	return nil
}

// BucketInfo describes one bucket.
type BucketInfo struct {
	Name    string `json:"name"`
	Exists  bool   `json:"exists"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// Describe says which of the buckets exist, and counts their objects.
func Describe(ctx context.Context, client *s3.Client, names ...string) ([]BucketInfo, error) {
	infos := make([]BucketInfo, len(names))
	for i, name := range names {
		info := BucketInfo{Name: name, Exists: true}
		pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &name})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if isNoSuchBucket(err) {
				info.Exists = false
				break
			}
			if err != nil {
				return nil, wrapErr(err, "s3blob: describe bucket %s", name)
			}
			for _, o := range page.Contents {
				info.Objects++
				info.Bytes += aws.ToInt64(o.Size)
			}
		}
		infos[i] = info
	}
	return infos, nil
}

func isNoSuchBucket(err error) bool {
	var noBucket *types.NoSuchBucket
	return errors.As(err, &noBucket) || status(err) == http.StatusNotFound
}
