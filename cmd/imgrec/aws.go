package main

import (
	"context"
	"flag"
	"net/url"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgrec/imgrec"
)

// loadAWSConfig loads the standard AWS configuration chain (environment,
// shared config and profile, instance role). endpointURL, when set, sends
// every service to an S3/SQS/EC2-compatible endpoint (the SDK also reads
// AWS_ENDPOINT_URL itself); region, when set, wins over the chain's.
func loadAWSConfig(ctx context.Context, endpointURL, region string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if endpointURL != "" {
		u, err := url.Parse(endpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return aws.Config{}, usagef("--endpoint-url %q: want http(s)://HOST[:PORT]", endpointURL)
		}
		opts = append(opts, config.WithBaseEndpoint(endpointURL))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, imgrec.WrapError(imgrec.EINVALID, err, "AWS configuration")
	}
	if cfg.Region == "" {
		return aws.Config{}, imgrec.Errorf(imgrec.EINVALID, "no AWS region: set AWS_REGION, --region or a profile")
	}
	return cfg, nil
}

// newS3Client addresses buckets path-style when an endpoint is set:
// compatible servers (moto, MinIO) rarely resolve bucket host names.
func newS3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.BaseEndpoint != nil
	})
}

// awsFlagSet holds the AWS flags shared by every command that talks to AWS;
// the configuration is loaded once, on first use, so commands that use no
// AWS backend need no region.
type awsFlagSet struct {
	endpointURL string
	region      string

	once sync.Once
	cfg  aws.Config
	err  error
}

func awsFlags(fs *flag.FlagSet) *awsFlagSet {
	af := &awsFlagSet{}
	fs.StringVar(&af.endpointURL, "endpoint-url", "", "S3/SQS/DynamoDB/EC2-compatible endpoint, e.g. http://127.0.0.1:5000 (default $AWS_ENDPOINT_URL, else AWS itself)")
	fs.StringVar(&af.region, "region", "", "AWS region (default $AWS_REGION, else the profile's)")
	return af
}

// config returns the AWS configuration, loading it on the first call.
func (af *awsFlagSet) config(ctx context.Context) (aws.Config, error) {
	af.once.Do(func() { af.cfg, af.err = loadAWSConfig(ctx, af.endpointURL, af.region) })
	return af.cfg, af.err
}

// args passes the flags that were set on to a child process (a worker).
func (af *awsFlagSet) args() []string {
	var argv []string
	if af.endpointURL != "" {
		argv = append(argv, "--endpoint-url", af.endpointURL)
	}
	if af.region != "" {
		argv = append(argv, "--region", af.region)
	}
	return argv
}
