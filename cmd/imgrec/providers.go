package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/local"
	"github.com/imgrec/imgrec/resnet"
	"github.com/imgrec/imgrec/userdata"
)

// providerFlagSet holds --provider and each provider's settings.
type providerFlagSet struct {
	name  string
	model string // local: the weights this machine's workers load

	cluster          string
	imageID          string
	instanceType     string
	subnetID         string
	securityGroupIDs string
	instanceProfile  string
	keyName          string
}

func providerFlags(fs *flag.FlagSet) *providerFlagSet {
	pf := &providerFlagSet{}
	fs.StringVar(&pf.name, "provider", "local", "where workers run: local (child processes of this controller) or ec2 (instances of --cluster)")
	fs.StringVar(&pf.model, "model", "", "local: weights the workers load; default $IMGREC_MODEL, then the cache of 'imgrec model pull' (ec2 workers load "+userdata.Model+" from their AMI)")
	fs.StringVar(&pf.cluster, "cluster", "", "ec2: cluster name; the controller acts only on instances tagged "+ec2.TagCluster+"=NAME (required with --provider ec2)")
	fs.StringVar(&pf.imageID, "ec2-image-id", "", "ec2: worker AMI, with imgrec at "+userdata.Binary+" and the weights at "+userdata.Model+" (required with --provider ec2)")
	fs.StringVar(&pf.instanceType, "ec2-instance-type", ec2.DefaultInstanceType, "ec2: instance type (2 vCPUs with AVX-512 and 4 GiB: room for two of the largest images at once)")
	fs.StringVar(&pf.subnetID, "ec2-subnet-id", "", "ec2: subnet of the workers (default: the default VPC's)")
	fs.StringVar(&pf.securityGroupIDs, "ec2-security-group-ids", "", "ec2: comma-separated security groups of the workers (default: the VPC's default group)")
	fs.StringVar(&pf.instanceProfile, "ec2-instance-profile", "", "ec2: IAM instance profile (name or ARN) giving the workers the queue and the buckets")
	fs.StringVar(&pf.keyName, "ec2-key-name", "", "ec2: SSH key pair on the workers (default none)")
	return pf
}

// check reports a usage error in the provider flags before anything starts.
func (pf *providerFlagSet) check() error {
	switch pf.name {
	case "local":
		return nil
	case "ec2":
		if pf.cluster == "" || pf.imageID == "" {
			return usagef("--provider ec2 needs --cluster and --ec2-image-id")
		}
		if err := imgrec.CheckCluster(pf.cluster); err != nil {
			return usagef("--cluster: %v", err)
		}
		return nil
	}
	return usagef("--provider %q: want local or ec2", pf.name)
}

// open starts the provider --provider names and returns it with the
// function that releases it. argv(exe, model) is the worker command line
// for the imgrec executable and the weights where the worker runs: here for
// local workers, on the AMI for ec2 ones.
func (pf *providerFlagSet) open(ctx context.Context, af *awsFlagSet, maxInstances int, log *slog.Logger, argv func(exe, model string) []string) (imgrec.Provider, func(), error) {
	if pf.name == "ec2" {
		p, err := pf.openEC2(ctx, af, maxInstances, log, argv)
		return p, func() {}, err
	}
	cache, err := resnet.CacheDir()
	if err != nil {
		return nil, nil, err
	}
	modelPath, err := packedModel(pf.model, cache)
	if err != nil {
		return nil, nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	p := local.New(local.Config{Command: argv(exe, modelPath), Logger: log})
	return p, func() {
		cctx, cancel := context.WithTimeout(context.Background(), local.DefaultDrainTimeout)
		defer cancel()
		p.Close(cctx)
	}, nil
}

func (pf *providerFlagSet) openEC2(ctx context.Context, af *awsFlagSet, maxInstances int, log *slog.Logger, argv func(exe, model string) []string) (*ec2.Provider, error) {
	cfg, err := af.config(ctx)
	if err != nil {
		return nil, err
	}
	// The workers find the region and any endpoint through the standard
	// chain, as this process did; their credentials come from the instance
	// profile.
	env := []string{"AWS_REGION=" + cfg.Region}
	if cfg.BaseEndpoint != nil {
		env = append(env, "AWS_ENDPOINT_URL="+aws.ToString(cfg.BaseEndpoint))
	}
	args := argv(userdata.Binary, userdata.Model)[2:] // after "imgrec worker"
	// journald keeps the worker's log on the instance: keep its decisions,
	// which local workers, sharing this process's terminal, leave out.
	if i := slices.Index(args, "--log-level"); i >= 0 && i+1 < len(args) {
		args[i+1] = "info"
	} else {
		args = append(args, "--log-level", "info")
	}
	if i := slices.Index(args, "--blobs"); i >= 0 && i+1 < len(args) && strings.HasPrefix(args[i+1], "file:") {
		log.Warn("ec2 workers cannot reach this machine's files", "blobs", args[i+1], "hint", "use s3:// buckets")
	}
	var groups []string
	for g := range strings.SplitSeq(pf.securityGroupIDs, ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	return ec2.New(awsec2.NewFromConfig(cfg), ec2.Config{
		Cluster:          pf.cluster,
		ImageID:          pf.imageID,
		InstanceType:     pf.instanceType,
		SubnetID:         pf.subnetID,
		SecurityGroupIDs: groups,
		InstanceProfile:  pf.instanceProfile,
		KeyName:          pf.keyName,
		Worker:           userdata.Worker{Args: args, Env: env},
		Max:              maxInstances,
		Logger:           log,
	})
}
