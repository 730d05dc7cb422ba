package imgrec

import (
	"context"
	"regexp"
	"time"
)

// InstanceState follows EC2's lifecycle names.
type InstanceState string

const (
	StatePending    InstanceState = "pending"
	StateRunning    InstanceState = "running"
	StateStopping   InstanceState = "stopping"
	StateStopped    InstanceState = "stopped"
	StateTerminated InstanceState = "terminated"
)

// Active reports whether an instance in state s counts against a cap:
// pending or running.
func (s InstanceState) Active() bool { return s == StatePending || s == StateRunning }

// CountActive counts the instances pending or running.
func CountActive(insts []Instance) int {
	n := 0
	for _, in := range insts {
		if in.State.Active() {
			n++
		}
	}
	return n
}

// InstanceStates lists the states in lifecycle order (for metrics and UIs).
var InstanceStates = []InstanceState{StatePending, StateRunning, StateStopping, StateStopped, StateTerminated}

// Instance is one app-tier worker machine or process.
type Instance struct {
	ID     string        `json:"id"`
	State  InstanceState `json:"state"`
	Since  time.Time     `json:"since"` // when it entered State
	Busy   bool          `json:"busy"`  // working on a request, where the provider can tell
	Detail string        `json:"detail,omitempty"`
	// Provider names where the instance runs ("local", "ec2", "nova"): in a
	// fleet of several providers (package burst), the part it belongs to.
	Provider string `json:"provider,omitempty"`
}

// Provider creates and controls worker instances. Stop is a drain: the
// worker finishes the request in hand, acknowledges it and exits; an
// instance is never killed mid-request. Stopped instances are kept so Start
// can bring them back faster than Launch.
type Provider interface {
	// Launch creates n new instances (pending, then running).
	Launch(ctx context.Context, n int) ([]Instance, error)
	// Start restarts stopped instances.
	Start(ctx context.Context, ids []string) error
	// Stop drains and stops running instances, keeping them for Start.
	Stop(ctx context.Context, ids []string) error
	// Terminate drains and removes instances for good.
	Terminate(ctx context.Context, ids []string) error
	// List returns this cluster's instances that are not terminated.
	List(ctx context.Context) ([]Instance, error)
}

// Every cloud provider marks the workers it creates with these labels (EC2
// tags; Nova server tags and metadata) and acts on no instance without them,
// so a cluster's controller never touches anything else in the account.
const (
	LabelCluster = "imgrec:cluster" // the cluster's name, see CheckCluster
	LabelRole    = "imgrec:role"    // RoleWorker or RoleWeb
	RoleWorker   = "worker"
	RoleWeb      = "web" // a web-tier server `imgrec infra up --openstack` launches
)

var clusterName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// CheckCluster returns an EINVALID error unless name is a valid cluster
// name: 1 to 40 lowercase letters, digits and hyphens, not starting with a
// hyphen, so that it can also be part of S3 bucket and SQS queue names and
// of a Nova server tag.
func CheckCluster(name string) error {
	if !clusterName.MatchString(name) {
		return Errorf(EINVALID, "cluster name %q: want 1 to 40 lowercase letters, digits and hyphens, starting with a letter or digit", name)
	}
	return nil
}
