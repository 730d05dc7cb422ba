package main

import (
	"context"
	"flag"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/ec2"
	"github.com/imgrec/imgrec/local"
	"github.com/imgrec/imgrec/nova"
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

	osCloud            string
	novaImage          string
	novaFlavor         string
	novaNetwork        string
	novaKeyName        string
	novaSecurityGroups string
	novaZone           string
	novaConfigDrive    bool
}

func providerFlags(fs *flag.FlagSet) *providerFlagSet {
	pf := &providerFlagSet{}
	fs.StringVar(&pf.name, "provider", "local", "where workers run: local (child processes of this controller), ec2 (instances of --cluster) or nova (OpenStack servers of --cluster)")
	fs.StringVar(&pf.model, "model", "", "local: weights the workers load; default $IMGREC_MODEL, then the cache of 'imgrec model pull' (ec2 and nova workers load "+userdata.Model+" from their image)")
	fs.StringVar(&pf.cluster, "cluster", "", "ec2, nova: cluster name; the controller acts only on instances tagged "+imgrec.LabelCluster+"=NAME and "+imgrec.LabelRole+"="+imgrec.RoleWorker+" (required with --provider ec2 or nova)")
	fs.StringVar(&pf.imageID, "ec2-image-id", "", "ec2: worker AMI, with imgrec at "+userdata.Binary+" and the weights at "+userdata.Model+" (required with --provider ec2)")
	fs.StringVar(&pf.instanceType, "ec2-instance-type", ec2.DefaultInstanceType, "ec2: instance type (2 vCPUs with AVX-512 and 4 GiB: room for two of the largest images at once)")
	fs.StringVar(&pf.subnetID, "ec2-subnet-id", "", "ec2: subnet of the workers (default: the default VPC's)")
	fs.StringVar(&pf.securityGroupIDs, "ec2-security-group-ids", "", "ec2: comma-separated security groups of the workers (default: the VPC's default group)")
	fs.StringVar(&pf.instanceProfile, "ec2-instance-profile", "", "ec2: IAM instance profile (name or ARN) giving the workers the queue and the buckets")
	fs.StringVar(&pf.keyName, "ec2-key-name", "", "ec2: SSH key pair on the workers (default none)")
	fs.StringVar(&pf.osCloud, "os-cloud", "", "nova: cloud of clouds.yaml to use (default $OS_CLOUD; with neither, the OS_* variables of an openrc file)")
	fs.StringVar(&pf.novaImage, "nova-image", "", "nova: worker image (id or name), with imgrec at "+userdata.Binary+" and the weights at "+userdata.Model+" (required with --provider nova)")
	fs.StringVar(&pf.novaFlavor, "nova-flavor", "", "nova: flavor of the workers (id or name; 2 vCPUs and 4 GiB suit one worker) (required with --provider nova)")
	fs.StringVar(&pf.novaNetwork, "nova-network", "auto", "nova: id of the workers' network (openstack network show NAME -f value -c id); auto: the project's only network")
	fs.StringVar(&pf.novaKeyName, "nova-key-name", "", "nova: SSH key pair on the workers (default none)")
	fs.StringVar(&pf.novaSecurityGroups, "nova-security-groups", "", "nova: comma-separated security groups of the workers (default: the project's default group)")
	fs.StringVar(&pf.novaZone, "nova-availability-zone", "", "nova: availability zone of the workers (default: Nova's choice)")
	fs.BoolVar(&pf.novaConfigDrive, "nova-config-drive", false, "nova: give the workers a config drive, for clouds without a metadata service")
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
	case "nova":
		if pf.cluster == "" || pf.novaImage == "" || pf.novaFlavor == "" {
			return usagef("--provider nova needs --cluster, --nova-image and --nova-flavor")
		}
		if err := nova.CheckNetwork(pf.novaNetwork); err != nil {
			return usagef("--nova-network: %v", err)
		}
	default:
		return usagef("--provider %q: want local, ec2 or nova", pf.name)
	}
	if err := imgrec.CheckCluster(pf.cluster); err != nil {
		return usagef("--cluster: %v", err)
	}
	return nil
}

// open starts the provider --provider names and returns it with the
// function that releases it. argv(exe, model) is the worker command line
// for the imgrec executable and the weights where the worker runs: here for
// local workers, on the AMI for ec2 ones.
func (pf *providerFlagSet) open(ctx context.Context, af *awsFlagSet, maxInstances int, log *slog.Logger, argv func(exe, model string) []string) (imgrec.Provider, func(), error) {
	switch pf.name {
	case "ec2":
		p, err := pf.openEC2(ctx, af, maxInstances, log, argv)
		return p, func() {}, err
	case "nova":
		p, err := pf.openNova(ctx, af, maxInstances, log, argv)
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
	p := local.New(local.Config{Command: argv(exe, modelPath), Env: localWorkerEnv, Logger: log})
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
	args := cloudWorkerArgs("ec2", argv, log)
	return ec2.New(awsec2.NewFromConfig(cfg), ec2.Config{
		Cluster:          pf.cluster,
		ImageID:          pf.imageID,
		InstanceType:     pf.instanceType,
		SubnetID:         pf.subnetID,
		SecurityGroupIDs: splitList(pf.securityGroupIDs),
		InstanceProfile:  pf.instanceProfile,
		KeyName:          pf.keyName,
		Worker:           userdata.Worker{Args: args, Env: env},
		Max:              maxInstances,
		Logger:           log,
	})
}

func (pf *providerFlagSet) openNova(ctx context.Context, af *awsFlagSet, maxInstances int, log *slog.Logger, argv func(exe, model string) []string) (*nova.Provider, error) {
	cloud, err := nova.Connect(ctx, pf.osCloud)
	if err != nil {
		return nil, err
	}
	args := cloudWorkerArgs("nova", argv, log)
	// Workers of an SQS queue or S3 buckets find the region and any
	// endpoint as this process did; their keys must come with the image
	// (userdata.EnvFile), as OpenStack has no instance roles.
	var env []string
	if usesAWS(args) {
		cfg, err := af.config(ctx)
		if err != nil {
			return nil, err
		}
		env = append(env, "AWS_REGION="+cfg.Region)
		if cfg.BaseEndpoint != nil {
			env = append(env, "AWS_ENDPOINT_URL="+aws.ToString(cfg.BaseEndpoint))
		}
	}
	log.Info("openstack session", "credentials", cloud.Source, "compute", cloud.Compute.Endpoint)
	return nova.New(ctx, cloud, nova.Config{
		Cluster:          pf.cluster,
		Image:            pf.novaImage,
		Flavor:           pf.novaFlavor,
		Network:          pf.novaNetwork,
		SecurityGroups:   splitList(pf.novaSecurityGroups),
		KeyName:          pf.novaKeyName,
		AvailabilityZone: pf.novaZone,
		ConfigDrive:      pf.novaConfigDrive,
		Worker:           userdata.Worker{Args: args, Env: env},
		Max:              maxInstances,
		Logger:           log,
	})
}

// cloudWorkerArgs returns the arguments of `imgrec worker` on a cloud
// instance, whose image has the binary and the weights where package
// userdata says, and warns of backends the instance cannot reach.
func cloudWorkerArgs(provider string, argv func(exe, model string) []string, log *slog.Logger) []string {
	args := argv(userdata.Binary, userdata.Model)[2:] // after "imgrec worker"
	// journald keeps the worker's log on the instance: keep its decisions,
	// which local workers, sharing this process's terminal, leave out.
	if i := slices.Index(args, "--log-level"); i >= 0 && i+1 < len(args) {
		args[i+1] = "info"
	} else {
		args = append(args, "--log-level", "info")
	}
	if i := slices.Index(args, "--blobs"); i >= 0 && i+1 < len(args) && strings.HasPrefix(args[i+1], "file:") {
		log.Warn(provider+" workers cannot reach this machine's files", "blobs", args[i+1], "hint", "use s3:// buckets")
	}
	if i := slices.Index(args, "--queue"); i >= 0 && i+1 < len(args) {
		if u, err := url.Parse(args[i+1]); err == nil && (u.Hostname() == "localhost" || strings.HasPrefix(u.Hostname(), "127.")) {
			log.Warn(provider+" workers cannot reach this machine's loopback address", "queue", args[i+1], "hint", "give an address the instances can reach")
		}
	}
	return args
}

// usesAWS reports whether worker arguments name an SQS queue or S3 buckets.
func usesAWS(args []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if (args[i] == "--queue" && strings.HasPrefix(args[i+1], "sqs:")) || (args[i] == "--blobs" && strings.HasPrefix(args[i+1], "s3:")) {
			return true
		}
	}
	return false
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
