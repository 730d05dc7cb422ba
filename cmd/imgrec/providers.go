package main

import (
	"cmp"
	"context"
	"flag"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
	"github.com/imgrec/imgrec/burst"
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

	nova *novaFlagSet
}

// novaFlagSet holds the session and the settings of Nova servers: the
// controller's workers, or the web tier that `infra up --openstack`
// launches (from the same image, so that its exports serve the
// controller).
type novaFlagSet struct {
	osCloud        string
	image          string
	flavor         string
	network        string
	keyName        string
	securityGroups string
	zone           string
	configDrive    bool
}

// novaFlags adds the flags for servers of role (imgrec.RoleWorker or
// imgrec.RoleWeb).
func novaFlags(fs *flag.FlagSet, role string) *novaFlagSet {
	nf := &novaFlagSet{}
	nf.cloudFlag(fs)
	nf.serverFlags(fs, role)
	return nf
}

// cloudFlag adds --os-cloud.
func (nf *novaFlagSet) cloudFlag(fs *flag.FlagSet) {
	fs.StringVar(&nf.osCloud, "os-cloud", "", "nova: cloud of clouds.yaml to use (default $OS_CLOUD; with neither, the OS_* variables of an openrc file)")
}

// serverFlags adds the settings of the servers of role.
func (nf *novaFlagSet) serverFlags(fs *flag.FlagSet, role string) {
	whose, image, required := "the workers'", "worker image (id or name), with imgrec at "+userdata.Binary+" and the weights at "+userdata.Model, " (required with --provider nova)"
	if role == imgrec.RoleWeb {
		whose, image, required = "the web tier's", "image of the web tier's server (id or name), with imgrec at "+userdata.Binary+": the workers' image does", " (required with --openstack)"
	}
	fs.StringVar(&nf.image, "nova-image", "", "nova: "+image+required)
	fs.StringVar(&nf.flavor, "nova-flavor", "", "nova: flavor of "+whose+" servers (id or name; 2 vCPUs and 4 GiB suit one worker)"+required)
	fs.StringVar(&nf.network, "nova-network", "auto", "nova: id of "+whose+" network (openstack network show NAME -f value -c id); auto: the project's only network")
	fs.StringVar(&nf.keyName, "nova-key-name", "", "nova: SSH key pair on "+whose+" servers (default none)")
	fs.StringVar(&nf.securityGroups, "nova-security-groups", "", "nova: comma-separated security groups of "+whose+" servers (default: the project's default group)")
	fs.StringVar(&nf.zone, "nova-availability-zone", "", "nova: availability zone of "+whose+" servers (default: Nova's choice)")
	fs.BoolVar(&nf.configDrive, "nova-config-drive", false, "nova: give "+whose+" servers a config drive, for clouds without a metadata service")
}

func providerFlags(fs *flag.FlagSet) *providerFlagSet {
	pf := &providerFlagSet{}
	fs.StringVar(&pf.name, "provider", "local", "where workers run: local (child processes of this controller), ec2 (instances of --cluster) or nova (OpenStack servers of --cluster); "+
		"several, comma-separated (nova,ec2), make one fleet that fills the cheapest first (see --price) up to each one's cap (--max-instances nova=4,ec2=16)")
	fs.StringVar(&pf.model, "model", "", "local: weights the workers load; default $IMGREC_MODEL, then the cache of 'imgrec model pull' (ec2 and nova workers load "+userdata.Model+" from their image)")
	fs.StringVar(&pf.cluster, "cluster", "", "ec2, nova: cluster name; the controller acts only on instances tagged "+imgrec.LabelCluster+"=NAME and "+imgrec.LabelRole+"="+imgrec.RoleWorker+" (required with --provider ec2 or nova)")
	fs.StringVar(&pf.imageID, "ec2-image-id", "", "ec2: worker AMI, with imgrec at "+userdata.Binary+" and the weights at "+userdata.Model+" (required with --provider ec2)")
	fs.StringVar(&pf.instanceType, "ec2-instance-type", ec2.DefaultInstanceType, "ec2: instance type (2 vCPUs with AVX-512 and 4 GiB: room for two of the largest images at once)")
	fs.StringVar(&pf.subnetID, "ec2-subnet-id", "", "ec2: subnet of the workers (default: the default VPC's)")
	fs.StringVar(&pf.securityGroupIDs, "ec2-security-group-ids", "", "ec2: comma-separated security groups of the workers (default: the VPC's default group)")
	fs.StringVar(&pf.instanceProfile, "ec2-instance-profile", "", "ec2: IAM instance profile (name or ARN) giving the workers the queue and the buckets")
	fs.StringVar(&pf.keyName, "ec2-key-name", "", "ec2: SSH key pair on the workers (default none)")
	pf.nova = novaFlags(fs, imgrec.RoleWorker)
	return pf
}

// names are the providers --provider names, in its order.
func (pf *providerFlagSet) names() []string { return splitList(pf.name) }

// check reports a usage error in the provider flags before anything starts.
func (pf *providerFlagSet) check() error {
	names := pf.names()
	if len(names) == 0 {
		return usagef("--provider %q: want local, ec2, nova or several of them, comma-separated (nova,ec2)", pf.name)
	}
	cloud := false
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			return usagef("--provider %q: %s given twice", pf.name, name)
		}
		switch name {
		case "local":
		case "ec2":
			cloud = true
			if pf.cluster == "" || pf.imageID == "" {
				return usagef("--provider ec2 needs --cluster and --ec2-image-id")
			}
		case "nova":
			cloud = true
			if pf.cluster == "" || pf.nova.image == "" || pf.nova.flavor == "" {
				return usagef("--provider nova needs --cluster, --nova-image and --nova-flavor")
			}
			if err := nova.CheckNetwork(pf.nova.network); err != nil {
				return usagef("--nova-network: %v", err)
			}
		default:
			return usagef("--provider %q: want local, ec2, nova or several of them, comma-separated (nova,ec2)", pf.name)
		}
	}
	if !cloud {
		return nil
	}
	if err := imgrec.CheckCluster(pf.cluster); err != nil {
		return usagef("--cluster: %v", err)
	}
	return nil
}

// checkPerProvider refuses a cap, price or billing minimum for a provider
// not in names, and with several providers, a cap missing for one; list is
// --provider as given, capFlag the caps' flag.
func checkPerProvider(names []string, list, capFlag string, caps *capsFlag, prices *priceFlag, minBilled *minBilledFlag) error {
	for flag, given := range map[string][]string{capFlag: caps.per.names, "--price": prices.per.names, "--min-billed": minBilled.per.names} {
		for _, n := range given {
			if !slices.Contains(names, n) {
				return usagef("%s names %s, which --provider %s does not", flag, n, list)
			}
		}
	}
	if len(names) > 1 && len(caps.per.names) != len(names) {
		return usagef("--provider %s: give each provider its cap, e.g. %s %s", list, capFlag, exampleCaps(names))
	}
	return nil
}

// plan checks the caps, prices and billing minima against --provider and
// returns each provider's, cheapest first (in --provider's order among
// equal prices). One provider takes the whole of --max-instances; several
// need a cap each.
func (pf *providerFlagSet) plan(caps *capsFlag, prices *priceFlag, minBilled *minBilledFlag) ([]autoscale.Part, error) {
	names := pf.names()
	if err := checkPerProvider(names, pf.name, "--max-instances", caps, prices, minBilled); err != nil {
		return nil, err
	}
	var parts []autoscale.Part
	for _, n := range names {
		max, ok := caps.per.get(n)
		if !ok {
			max = *caps.total
		}
		parts = append(parts, autoscale.Part{Name: n, Max: max, Price: prices.price(n), MinBilled: minBilled.of(n)})
	}
	slices.SortStableFunc(parts, func(a, b autoscale.Part) int { return cmp.Compare(a.Price, b.Price) })
	return parts, nil
}

func exampleCaps(names []string) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = n + "=" + strconv.Itoa(4*(i+1))
	}
	return strings.Join(s, ",")
}

// open starts the providers of parts and returns them as one (a
// burst.Provider over several), with the function that releases them.
// argv(exe, model) is the worker command line for the imgrec executable and
// the weights where the worker runs: here for local workers, on the image
// for ec2 and nova ones.
func (pf *providerFlagSet) open(ctx context.Context, af *awsFlagSet, parts []autoscale.Part, log *slog.Logger, argv func(exe, model string) []string) (imgrec.Provider, func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	var bparts []burst.Part
	for _, part := range parts {
		p, closeOne, err := pf.openOne(ctx, part.Name, af, part.Max, log, argv)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, closeOne)
		bparts = append(bparts, burst.Part{Name: part.Name, Provider: p, Max: part.Max, Price: part.Price})
	}
	if len(bparts) == 1 {
		return bparts[0].Provider, closeAll, nil
	}
	fleet, err := burst.New(bparts, log)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return fleet, closeAll, nil
}

// openOne starts provider name with a cap of maxInstances.
func (pf *providerFlagSet) openOne(ctx context.Context, name string, af *awsFlagSet, maxInstances int, log *slog.Logger, argv func(exe, model string) []string) (imgrec.Provider, func(), error) {
	switch name {
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
	env := awsEnv(cfg.Region, aws.ToString(cfg.BaseEndpoint))
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
	cloud, err := nova.Connect(ctx, pf.nova.osCloud)
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
		env = awsEnv(cfg.Region, aws.ToString(cfg.BaseEndpoint))
	}
	log.Info("openstack session", "credentials", cloud.Source, "compute", cloud.Compute.Endpoint)
	return nova.New(ctx, cloud, nova.Config{
		Cluster:          pf.cluster,
		Image:            pf.nova.image,
		Flavor:           pf.nova.flavor,
		Network:          pf.nova.network,
		SecurityGroups:   splitList(pf.nova.securityGroups),
		KeyName:          pf.nova.keyName,
		AvailabilityZone: pf.nova.zone,
		ConfigDrive:      pf.nova.configDrive,
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

// awsEnv is the environment that points a tier on another machine at the
// region and any endpoint this process uses ("" for AWS's own).
func awsEnv(region, endpoint string) []string {
	env := []string{"AWS_REGION=" + region}
	if endpoint != "" {
		env = append(env, "AWS_ENDPOINT_URL="+endpoint)
	}
	return env
}
