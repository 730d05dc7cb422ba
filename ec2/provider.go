// Package ec2 implements imgrec.Provider with Amazon EC2 instances, each
// running one `imgrec worker` (see package userdata for how it starts and
// drains).
//
// The provider owns exactly the instances tagged imgrec:cluster=<Cluster>
// and imgrec:role=worker; it tags them as it creates them (one RunInstances
// call, so no instance ever exists untagged) and looks up every id among
// them before acting, so an id of any other instance is ENOTFOUND and
// nothing else in the account is ever started, stopped or terminated. Its
// state lives in EC2: a restarted controller finds its instances again.
//
// Capacity: pending and running instances count toward Config.Max. A
// Launch or Start that would pass it fails with ECONFLICT — the call is
// valid, the cluster's current state forbids it — and does nothing at all,
// as EC2's own RunInstances (MinCount = MaxCount) launches all or none. The
// controller asks for no more than --max-instances anyway; the check guards
// against instances someone else started. One provider serialises its own
// checks with its launches; two controllers on one cluster could overshoot.
//
// EC2's API is eventually consistent: DescribeInstances may miss an instance
// for a few seconds after RunInstances returned it. List reports such an
// instance as pending for up to a minute, so the controller does not launch
// its replacement.
//
// EC2 cannot tell whether a worker is busy, so Busy is always false and the
// controller may stop an instance that holds a request; the worker's drain
// on shutdown (see UserData) finishes it first.
//
// Warm pool: Stop keeps an instance (its EBS volume, billed; not its
// compute) for Start, which boots it again without a new volume or
// cloud-init's first-boot work. The autoscale policy decides how many to
// keep (WarmPool) and restarts stopped instances before launching new ones.
package ec2

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/cloudfleet"
	"github.com/imgrec/imgrec/userdata"
)

var _ imgrec.Provider = (*Provider)(nil)

// Name is the provider's name, in Instance.Provider and --provider.
const Name = "ec2"

// Tags on every instance the provider launches; it acts on no other.
const (
	TagCluster = imgrec.LabelCluster
	TagRole    = imgrec.LabelRole
	RoleWorker = imgrec.RoleWorker
)

// Defaults.
const (
	DefaultMax = 20
	// DefaultInstanceType has 2 vCPUs with AVX-512, which the engine's
	// kernels use, and 4 GiB: the reference profile classifies at full
	// resolution, so the two 40 Mpx images a worker may hold at once (its
	// pixel budget, worker.DefaultMaxPixelsInHand) can need more than the
	// 2 GiB of a t3.small.
	// Burstable suits a tier that idles at zero between bursts.
	DefaultInstanceType = "t3.medium"
)

// words name the provider's machines in its messages.
var words = cloudfleet.Words{One: "an instance", Many: "instances", Marked: "tagged", Gone: "terminated"}

// describeGrace is how long a launched instance that DescribeInstances does
// not show yet still counts as pending.
const describeGrace = time.Minute

// Config describes the cluster's instances.
type Config struct {
	// Cluster names the instances (tag imgrec:cluster); see imgrec.CheckCluster.
	Cluster string
	// ImageID is the worker AMI (see userdata.Binary and Model). Required.
	ImageID      string
	InstanceType string // default DefaultInstanceType
	// SubnetID, if empty, is the default VPC's default subnet.
	SubnetID         string
	SecurityGroupIDs []string
	// InstanceProfile is the IAM instance profile (name or ARN) whose role
	// gives the worker its access to the queue and the buckets.
	InstanceProfile string
	// KeyName is an SSH key pair for debugging; empty for none.
	KeyName string
	// Worker is what each instance runs; UserData makes its boot script.
	Worker userdata.Worker
	// Max is the most pending + running instances (default DefaultMax).
	Max    int
	Logger *slog.Logger
}

// Provider launches and controls one cluster's worker instances. It is safe
// for concurrent use.
type Provider struct {
	api      *awsec2.Client
	cfg      Config
	fleet    cloudfleet.Fleet
	userData string // base64, as RunInstances takes it
	log      *slog.Logger

	capacity sync.Mutex // held from a capacity check to the launch or start it allowed

	mu sync.Mutex
	// changes are the provider's last action on each instance. They keep
	// List consistent with what the provider did before EC2 shows it: a
	// launched instance not yet described, and a Since no earlier than the
	// action (moto, unlike EC2, leaves LaunchTime alone on a start).
	changes cloudfleet.Changes
}

// New returns a Provider for cfg's cluster, acting through client.
func New(client *awsec2.Client, cfg Config) (*Provider, error) {
	if err := imgrec.CheckCluster(cfg.Cluster); err != nil {
		return nil, fmt.Errorf("ec2 provider: %w", err)
	}
	if cfg.ImageID == "" {
		return nil, imgrec.Errorf(imgrec.EINVALID, "ec2 provider for cluster %s: no image id (the worker AMI)", cfg.Cluster)
	}
	if cfg.InstanceType == "" {
		cfg.InstanceType = DefaultInstanceType
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	script, err := UserData(cfg.Cluster, cfg.Worker)
	if err != nil {
		return nil, err
	}
	return &Provider{
		api:      client,
		cfg:      cfg,
		fleet:    cloudfleet.Fleet{Cluster: cfg.Cluster, Max: cfg.Max, Words: words},
		userData: base64.StdEncoding.EncodeToString([]byte(script)),
		log:      cfg.Logger,
		changes:  cloudfleet.Changes{},
	}, nil
}

// Launch creates n instances with the cluster's tags, or none if that would
// pass Max.
func (p *Provider) Launch(ctx context.Context, n int) ([]imgrec.Instance, error) {
	if n < 1 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "launch %d instances: want at least 1", n)
	}
	p.capacity.Lock()
	defer p.capacity.Unlock()
	op := fmt.Sprintf("launch %d instances in cluster %s", n, p.cfg.Cluster)
	all, err := p.instances(ctx, op)
	if err != nil {
		return nil, err
	}
	if err := p.fleet.CheckCapacity(op, all, n); err != nil {
		return nil, err
	}
	out, err := p.api.RunInstances(ctx, p.runInput(n))
	if err != nil {
		return nil, apiError(err, "%s", op)
	}
	var launched []imgrec.Instance
	for _, in := range out.Instances {
		inst, ok := convert(in)
		if !ok {
			continue // terminated at once, e.g. for want of capacity; not ours to count
		}
		launched = append(launched, inst)
	}
	p.mu.Lock()
	ids := p.changes.Launched(time.Now(), launched)
	p.mu.Unlock()
	p.log.Info("instances launched", "cluster", p.cfg.Cluster, "ids", ids, "type", p.cfg.InstanceType, "image", p.cfg.ImageID)
	return launched, nil
}

func (p *Provider) runInput(n int) *awsec2.RunInstancesInput {
	tags := []types.Tag{
		{Key: aws.String(TagCluster), Value: aws.String(p.cfg.Cluster)},
		{Key: aws.String(TagRole), Value: aws.String(RoleWorker)},
		{Key: aws.String("Name"), Value: aws.String("imgrec-" + p.cfg.Cluster + "-worker")},
	}
	in := &awsec2.RunInstancesInput{
		ImageId:      aws.String(p.cfg.ImageID),
		InstanceType: types.InstanceType(p.cfg.InstanceType),
		MinCount:     aws.Int32(int32(n)),
		MaxCount:     aws.Int32(int32(n)),
		UserData:     aws.String(p.userData),
		// The volumes carry the tags too, for cost reports and clean-up.
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: tags},
			{ResourceType: types.ResourceTypeVolume, Tags: tags},
		},
		// IMDSv2 only: the worker needs the metadata service for its role's
		// credentials, nothing that should be reachable by a plain GET.
		MetadataOptions: &types.InstanceMetadataOptionsRequest{
			HttpEndpoint: types.InstanceMetadataEndpointStateEnabled,
			HttpTokens:   types.HttpTokensStateRequired,
		},
		// RunInstances' ClientToken is filled in by the SDK, so its retries
		// never launch twice.
	}
	if p.cfg.SubnetID != "" {
		in.SubnetId = aws.String(p.cfg.SubnetID)
	}
	if len(p.cfg.SecurityGroupIDs) > 0 {
		in.SecurityGroupIds = p.cfg.SecurityGroupIDs
	}
	if p.cfg.KeyName != "" {
		in.KeyName = aws.String(p.cfg.KeyName)
	}
	if prof := p.cfg.InstanceProfile; prof != "" {
		if strings.HasPrefix(prof, "arn:") {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Arn: aws.String(prof)}
		} else {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(prof)}
		}
	}
	return in
}

// Start boots stopped instances of the cluster, or none if one is not
// stopped, not the cluster's, or more than Max would be active.
func (p *Provider) Start(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	p.capacity.Lock()
	defer p.capacity.Unlock()
	op := p.fleet.Op("start", ids)
	all, err := p.instances(ctx, op)
	if err != nil {
		return err
	}
	ids, err = p.fleet.Owned(op, all, ids, imgrec.StateStopped)
	if err != nil {
		return err
	}
	if err := p.fleet.CheckCapacity(op, all, len(ids)); err != nil {
		return err
	}
	if _, err := p.api.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: ids}); err != nil {
		return apiError(err, "%s", op)
	}
	p.record(ids)
	p.log.Info("instances started", "cluster", p.cfg.Cluster, "ids", ids)
	return nil
}

// Stop shuts running instances of the cluster down and keeps them; their
// workers drain first (see UserData). It does nothing if one id is not a
// running instance of the cluster.
func (p *Provider) Stop(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	op := p.fleet.Op("stop", ids)
	all, err := p.instances(ctx, op)
	if err != nil {
		return err
	}
	if ids, err = p.fleet.Owned(op, all, ids, imgrec.StateRunning); err != nil {
		return err
	}
	if _, err := p.api.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: ids}); err != nil {
		return apiError(err, "%s", op)
	}
	p.record(ids)
	p.log.Info("instances stopped", "cluster", p.cfg.Cluster, "ids", ids)
	return nil
}

// Terminate removes instances of the cluster in any state; running ones
// drain first, as for Stop. It does nothing if one id is not the cluster's.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	op := p.fleet.Op("terminate", ids)
	all, err := p.instances(ctx, op)
	if err != nil {
		return err
	}
	if ids, err = p.fleet.Owned(op, all, ids); err != nil {
		return err
	}
	return p.terminate(ctx, op, ids)
}

func (p *Provider) terminate(ctx context.Context, op string, ids []string) error {
	if _, err := p.api.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		return apiError(err, "%s", op)
	}
	p.mu.Lock()
	for _, id := range ids {
		delete(p.changes, id)
	}
	p.mu.Unlock()
	p.log.Info("instances terminated", "cluster", p.cfg.Cluster, "ids", ids)
	return nil
}

// ListCluster lists cluster's instances that are not terminated, as List
// does, for commands that launch nothing (`imgrec infra status`).
func ListCluster(ctx context.Context, client *awsec2.Client, cluster string) ([]imgrec.Instance, error) {
	p, err := bare(client, cluster, nil)
	if err != nil {
		return nil, err
	}
	return p.List(ctx)
}

// TerminateCluster terminates every instance of cluster that is not
// terminated yet, whatever its state, and returns their ids: the clean-up of
// `imgrec infra down`, which knows no image or worker settings. EC2 takes a
// while to finish the terminations (awsec2.NewInstanceTerminatedWaiter
// waits for them).
func TerminateCluster(ctx context.Context, client *awsec2.Client, cluster string, log *slog.Logger) ([]string, error) {
	p, err := bare(client, cluster, log)
	if err != nil {
		return nil, err
	}
	op := "terminate all instances of cluster " + cluster
	all, err := p.instances(ctx, op)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(all))
	for i, in := range all {
		ids[i] = in.ID
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, p.terminate(ctx, op, ids)
}

// bare is a Provider that can list and terminate, not launch.
func bare(client *awsec2.Client, cluster string, log *slog.Logger) (*Provider, error) {
	if err := imgrec.CheckCluster(cluster); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Provider{api: client, cfg: Config{Cluster: cluster}, fleet: cloudfleet.Fleet{Cluster: cluster, Words: words}, log: log, changes: cloudfleet.Changes{}}, nil
}

// List returns the cluster's instances that are not terminated, by id.
// Shutting-down instances (being terminated) are listed as stopping.
func (p *Provider) List(ctx context.Context) ([]imgrec.Instance, error) {
	return p.instances(ctx, "list instances of cluster "+p.cfg.Cluster)
}

// instances describes the cluster's instances and merges in the provider's
// own recent changes.
func (p *Provider) instances(ctx context.Context, op string) ([]imgrec.Instance, error) {
	in := &awsec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + TagCluster), Values: []string{p.cfg.Cluster}},
		{Name: aws.String("tag:" + TagRole), Values: []string{RoleWorker}},
	}}
	described := map[string]bool{} // terminated ones too: they are no longer "not yet described"
	var out []imgrec.Instance
	for pages := awsec2.NewDescribeInstancesPaginator(p.api, in); pages.HasMorePages(); {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, apiError(err, "%s", op)
		}
		for _, r := range page.Reservations {
			for _, ec := range r.Instances {
				described[aws.ToString(ec.InstanceId)] = true
				if inst, ok := convert(ec); ok {
					out = append(out, inst)
				}
			}
		}
	}

	now := time.Now()
	p.mu.Lock()
	for i := range out {
		p.changes.Merge(&out[i])
	}
	for id, c := range p.changes {
		switch {
		case described[id]:
			if !slices.ContainsFunc(out, func(in imgrec.Instance) bool { return in.ID == id }) {
				delete(p.changes, id) // terminated
			}
		case c.Launched && now.Sub(c.At) < describeGrace:
			out = append(out, imgrec.Instance{ID: id, State: imgrec.StatePending, Since: c.At, Detail: "launched; not yet described by EC2", Provider: Name})
		default:
			delete(p.changes, id)
		}
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b imgrec.Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// record notes that the provider has just changed the state of ids.
func (p *Provider) record(ids []string) {
	now := time.Now()
	p.mu.Lock()
	p.changes.Record(now, ids...)
	p.mu.Unlock()
}

// convert maps an EC2 instance to an imgrec.Instance; false for a
// terminated one.
func convert(ec types.Instance) (imgrec.Instance, bool) {
	in := imgrec.Instance{ID: aws.ToString(ec.InstanceId), Since: aws.ToTime(ec.LaunchTime), Provider: Name}
	var name types.InstanceStateName
	if ec.State != nil {
		name = ec.State.Name
	}
	switch name {
	case types.InstanceStateNamePending:
		in.State = imgrec.StatePending
	case types.InstanceStateNameRunning:
		in.State = imgrec.StateRunning
	case types.InstanceStateNameStopping, types.InstanceStateNameStopped, types.InstanceStateNameShuttingDown:
		in.State = imgrec.StateStopping
		if name == types.InstanceStateNameStopped {
			in.State = imgrec.StateStopped
		}
		// LaunchTime is the last start; the stop's time is only in the reason.
		in.Since = cloudfleet.Later(in.Since, transitionTime(aws.ToString(ec.StateTransitionReason)))
		if ec.StateReason != nil {
			in.Detail = aws.ToString(ec.StateReason.Message)
		}
		if name == types.InstanceStateNameShuttingDown {
			in.Detail = strings.TrimSuffix("shutting-down (terminating); "+in.Detail, "; ")
		}
	default: // terminated, or a state EC2 may add: nothing to act on
		return imgrec.Instance{}, false
	}
	return in, true
}

// transitionReasonTime is the time in a StateTransitionReason such as
// "User initiated (2026-01-02 15:04:05 GMT)".
var transitionReasonTime = regexp.MustCompile(`\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?:GMT|UTC)\)`)

// transitionTime returns the time in reason, or the zero time.
func transitionTime(reason string) time.Time {
	m := transitionReasonTime.FindStringSubmatch(reason)
	if m == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.DateTime, m[1])
	if err != nil {
		return time.Time{}
	}
	return t
}

// apiError gives an EC2 failure an imgrec code and says which operation
// failed: the caller's mistakes (bad ids, parameters, wrong states) are
// EINVALID, everything else — permissions, limits, capacity, throttling,
// the network — EUNAVAILABLE.
func apiError(err error, format string, args ...any) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	code := imgrec.EUNAVAILABLE
	var ae smithy.APIError
	if errors.As(err, &ae) {
		c := ae.ErrorCode()
		if strings.HasPrefix(c, "Invalid") || strings.HasPrefix(c, "Missing") || c == "IncorrectInstanceState" || c == "UnsupportedOperation" {
			code = imgrec.EINVALID
		}
	}
	return imgrec.WrapError(code, err, format, args...)
}
