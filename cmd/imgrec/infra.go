package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/nova"
)

func init() {
	register("infra", "create, inspect and delete a cluster's AWS queues, buckets and instances (up, status, down)", runInfra)
}

const infraUsage = `Usage: imgrec infra up|status|down --cluster NAME [flags]

The AWS resources of cluster NAME, in the region of the standard AWS chain
(or --region), reached at --endpoint-url if set:

  buckets    PREFIX-input and PREFIX-output; PREFIX is --bucket-prefix,
             default imgrec-NAME. S3 bucket names are global across all
             accounts, so in practice choose a prefix of your own.
  queues     imgrec-NAME-requests (the request queue), its dead-letter
             queue imgrec-NAME-requests-dlq, and the web tiers' response
             queues imgrec-NAME-requests-resp-<id>
  table      imgrec-NAME-jobs, the DynamoDB job store (jobs and the result
             cache), billed per request, items expiring by its TTL
  instances  those tagged ` + ec2.TagCluster + `=NAME, launched by
             'imgrec controller --provider ec2 --cluster NAME'

  up      create the buckets, queues and table (idempotent), print the tiers' settings
  status  list the buckets, queues, table and instances with their counts
  down    terminate the instances, delete the queues, the buckets (emptied
          first) and the table, after confirmation unless --yes

With --openstack the cluster's servers on OpenStack Nova count too: up
launches the web tier as a server (imgrec:role=web) running 'imgrec web'
against the queue and buckets, status lists it and the workers' servers,
and down deletes them all.

Run 'imgrec infra up -h' (status -h, down -h) for the flags of each.`

func runInfra(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, infraUsage)
		if len(args) == 0 {
			return usagef("missing subcommand (up, status or down)")
		}
		return nil
	}
	switch args[0] {
	case "up":
		return inCommand("infra up", runInfraUp(ctx, e, args[1:]))
	case "status":
		return inCommand("infra status", runInfraStatus(ctx, e, args[1:]))
	case "down":
		return inCommand("infra down", runInfraDown(ctx, e, args[1:]))
	}
	return usagef("unknown subcommand %q (want up, status or down)", args[0])
}

// infraFlagSet holds the flags that name a cluster's resources.
type infraFlagSet struct {
	cluster      string
	bucketPrefix string
	aws          *awsFlagSet
	openstack    bool         // the cluster's servers on OpenStack too (infra_openstack.go)
	nova         *novaFlagSet // --os-cloud; up adds the web tier's server settings
}

func infraFlags(fs *flag.FlagSet) *infraFlagSet {
	f := &infraFlagSet{nova: &novaFlagSet{}}
	fs.StringVar(&f.cluster, "cluster", "", "cluster name: 1 to 40 lowercase letters, digits and hyphens (required)")
	fs.StringVar(&f.bucketPrefix, "bucket-prefix", "", "the buckets are PREFIX-input and PREFIX-output (default imgrec-NAME); "+
		"S3 bucket names are global across all accounts, so choose your own, e.g. with your account id, and give the same to status and down")
	f.aws = awsFlags(fs)
	fs.BoolVar(&f.openstack, "openstack", false, "the cluster runs on OpenStack too: up launches the web tier as a Nova server, status lists the cluster's "+
		"servers (web tier and workers), down deletes them with the web tier's floating IP and security group (credentials: --os-cloud or the OS_* variables)")
	f.nova.cloudFlag(fs)
	return f
}

// infraCluster names one cluster's resources.
type infraCluster struct {
	name          string // the instances' tag imgrec:cluster
	queue         string // the request queue; sqsq derives the others from it
	bucketPrefix  string
	input, output string
	jobs          string // the job store's DynamoDB table
}

// bucketPrefixRule leaves room for "-output" in S3's 63 characters; no dots,
// which break virtual-hosted bucket addresses over HTTPS.
var bucketPrefixRule = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,55}$`)

// parse parses args into fs, checks the flags and names the cluster's
// resources. The request queue ends in "-requests" so that no cluster's
// queue can be another's dead-letter or response queue: a cluster "x-dlq"
// would otherwise own the dead-letter queue of "x".
func (f *infraFlagSet) parse(fs *flag.FlagSet, args []string) (infraCluster, error) {
	args, err := parseFlags(fs, args)
	if err != nil {
		return infraCluster{}, err
	}
	if len(args) > 0 {
		return infraCluster{}, usagef("unexpected argument %q", args[0])
	}
	if f.cluster == "" {
		return infraCluster{}, usagef("--cluster is required")
	}
	if err := imgrec.CheckCluster(f.cluster); err != nil {
		return infraCluster{}, usagef("--cluster: %v", err)
	}
	c := infraCluster{name: f.cluster, queue: "imgrec-" + f.cluster + "-requests", bucketPrefix: f.bucketPrefix}
	c.jobs = jobsTable(c.queue) // what the tiers derive from --queue
	if c.bucketPrefix == "" {
		c.bucketPrefix = "imgrec-" + f.cluster
	}
	if !bucketPrefixRule.MatchString(c.bucketPrefix) {
		return infraCluster{}, usagef("--bucket-prefix %q: want 1 to 56 lowercase letters, digits and hyphens, starting with a letter or digit", c.bucketPrefix)
	}
	c.input, c.output = s3BucketNames(c.bucketPrefix)
	return c, nil
}

// infraClients reach the cluster's services.
type infraClients struct {
	region   string
	endpoint string // empty: AWS itself
	s3       *s3.Client
	sqs      *sqs.Client
	ec2      *awsec2.Client
	dynamo   *dynamodb.Client
	nova     *nova.Cloud // with --openstack only
}

func (f *infraFlagSet) clients(ctx context.Context) (infraClients, error) {
	cfg, err := f.aws.config(ctx)
	if err != nil {
		return infraClients{}, err
	}
	cl := infraClients{
		region:   cfg.Region,
		endpoint: aws.ToString(cfg.BaseEndpoint),
		s3:       newS3Client(cfg),
		sqs:      sqs.NewFromConfig(cfg),
		ec2:      awsec2.NewFromConfig(cfg),
		dynamo:   dynamodb.NewFromConfig(cfg),
	}
	if f.openstack {
		if cl.nova, err = nova.Connect(ctx, f.nova.osCloud); err != nil {
			return cl, err
		}
	}
	return cl, nil
}
