// Package nova implements imgrec.Provider with OpenStack Nova servers, each
// running one `imgrec worker` (package userdata writes the boot script that
// cloud-init runs; the worker image carries the binary and the weights).
//
// The provider owns exactly the servers that carry both the server tags
// imgrec:cluster=<Cluster> and imgrec:role=worker and the metadata
// imgrec:cluster: <Cluster> and imgrec:role: worker. It sets both in the
// create request itself, so no server of its own ever exists unmarked.
// Tags are what Nova can filter a listing by; metadata is what people see
// in `openstack server show` and what the server itself can read from the
// metadata service. A server is the cluster's only if both agree, and the
// provider looks up every id among those before acting: any other id is
// ENOTFOUND and nothing else in the project is ever started, stopped or
// deleted. Its state lives in Nova: a restarted controller finds its
// servers again.
//
// States: BUILD is pending; ACTIVE running; SHUTOFF stopped; a server
// being powered off (task powering-off) is stopping, one being powered on
// (powering-on) pending, one being deleted (deleting, soft-deleting)
// stopping; DELETED and SOFT_DELETED ones are terminated and not listed.
// ERROR is listed as stopping, and the provider deletes the server: a
// server in ERROR (a failed build, such as NoValidHost, or a broken
// hypervisor) runs no worker and cannot be started again, Nova does not
// remove it by itself as EC2 removes an instance that failed to launch, and
// kept it would hold quota and pile up if launches keep failing; its fault
// is logged. REBOOT, HARD_REBOOT, REBUILD, RESIZE and REVERT_RESIZE are
// pending (the OS is coming up); MIGRATING, PASSWORD and VERIFY_RESIZE
// running (it is up); PAUSED, SUSPENDED, SHELVED, SHELVED_OFFLOADED,
// RESCUE and UNKNOWN, which only someone else causes, stopping: neither
// counted nor started, left for the operator (Terminate still works).
//
// Stop is Nova's stop, a clean shutdown of the OS (ACPI) that Nova turns
// into a power-off after its shutdown_timeout (60 s by default; the image
// property os_shutdown_timeout overrides it): the shutdown stops the
// worker's unit with SIGTERM, its drain. Nova's delete, however, destroys a
// running server at once, so Terminate stops a running server first and
// deletes it once it is SHUTOFF, listing it as stopping meanwhile; the
// provider finishes that delete on its next look at the cluster (any call:
// the controller lists every second). A controller that exits in between
// leaves the server stopped, in the warm pool.
//
// Capacity: pending and running servers count toward Config.Max. A Launch
// or Start that would pass it fails with ECONFLICT and does nothing at all.
// Launch creates its n servers in one request (min_count = max_count = n),
// which Nova's quota check and scheduler take as all or nothing. One
// provider serialises its own checks with its launches; two controllers on
// one cluster could overshoot. Nova's own quota is the cap above that.
//
// Nova cannot tell whether a worker is busy, so Busy is always false; the
// worker's drain on shutdown finishes what it holds.
//
// Warm pool: Stop keeps a server (its disk and its quota; most clouds bill
// a SHUTOFF server less or not at all — check yours) for Start, which boots
// it again without a new disk or cloud-init's first-boot work.
package nova

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/cloudfleet"
	"github.com/imgrec/imgrec/userdata"
)

var _ imgrec.Provider = (*Provider)(nil)

// Name is the provider's name, in Instance.Provider and --provider.
const Name = "nova"

// Microversion is the compute API version the provider speaks: 2.52 is the
// first that takes tags in the create request (Queens, 2018).
const Microversion = "2.52"

// DefaultMax is the default of Config.Max.
const DefaultMax = 20

// faultGrace is how long a server in ERROR without a recorded fault is
// kept, so that its fault can be logged before it is deleted.
const faultGrace = 30 * time.Second

// maxUserData is Nova's limit on user data, base64-encoded.
const maxUserData = 65535

// words name the provider's machines in its messages.
var words = cloudfleet.Words{One: "a server", Many: "servers", Marked: "tagged and labelled", Gone: "deleted"}

// Tags returns the server tags that mark cluster's workers.
func Tags(cluster string) []string {
	return []string{imgrec.LabelCluster + "=" + cluster, imgrec.LabelRole + "=" + imgrec.RoleWorker}
}

// Metadata returns the server metadata that marks cluster's workers.
func Metadata(cluster string) map[string]string {
	return map[string]string{imgrec.LabelCluster: cluster, imgrec.LabelRole: imgrec.RoleWorker}
}

// Config describes the cluster's servers.
type Config struct {
	// Cluster names the servers (tags and metadata); see imgrec.CheckCluster.
	Cluster string
	// Image is the worker image, by id or name (see userdata.Binary and
	// Model). Required.
	Image string
	// Flavor is the servers' flavor, by id or name. Required.
	Flavor string
	// Network is the id of the network the servers' port is on; empty or
	// "auto" lets Nova choose the project's network (networks: auto).
	Network string
	// SecurityGroups of the servers' port, by name; empty: the project's
	// default group.
	SecurityGroups []string
	// KeyName is a key pair for SSH, for debugging; empty for none.
	KeyName string
	// AvailabilityZone of the servers; empty: Nova's choice.
	AvailabilityZone string
	// ConfigDrive gives the servers a config drive, for clouds without a
	// metadata service (cloud-init reads the user data from either).
	ConfigDrive bool
	// Worker is what each server runs; userdata.Script makes its boot script.
	Worker userdata.Worker
	// Max is the most pending + running servers (default DefaultMax).
	Max    int
	Logger *slog.Logger
}

// Provider launches and controls one cluster's worker servers. It is safe
// for concurrent use.
type Provider struct {
	compute  *gophercloud.ServiceClient
	cfg      Config
	fleet    cloudfleet.Fleet
	image    string // id
	flavor   string // id
	userData string // base64
	log      *slog.Logger

	capacity sync.Mutex // held from a capacity check to the launch or start it allowed

	mu          sync.Mutex
	changes     cloudfleet.Changes // the provider's last action on a server
	terminating map[string]bool    // running servers being stopped on their way to deletion
	reaped      map[string]bool    // servers in ERROR the provider asked Nova to delete
}

var networkID = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// New returns a Provider for cfg's cluster, acting through cloud. It looks
// the image and the flavor up, so a name that names nothing fails here.
func New(ctx context.Context, cloud *Cloud, cfg Config) (*Provider, error) {
	if err := imgrec.CheckCluster(cfg.Cluster); err != nil {
		return nil, fmt.Errorf("nova provider: %w", err)
	}
	if cfg.Image == "" || cfg.Flavor == "" {
		return nil, imgrec.Errorf(imgrec.EINVALID, "nova provider for cluster %s: want an image and a flavor", cfg.Cluster)
	}
	if err := CheckNetwork(cfg.Network); err != nil {
		return nil, fmt.Errorf("nova provider for cluster %s: %w", cfg.Cluster, err)
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	script, err := userdata.Script("nova", cfg.Cluster, cfg.Worker)
	if err != nil {
		return nil, err
	}
	ud := base64.StdEncoding.EncodeToString([]byte(script))
	if len(ud) > maxUserData {
		return nil, imgrec.Errorf(imgrec.ETOOLARGE, "user data for cluster %s: %d bytes in base64, Nova takes at most %d", cfg.Cluster, len(ud), maxUserData)
	}
	compute := cloud.compute()
	flavor, err := resolveFlavor(ctx, compute, cfg.Flavor)
	if err != nil {
		return nil, err
	}
	image, err := resolveImage(ctx, cloud.Image, cfg.Image)
	if err != nil {
		return nil, err
	}
	return &Provider{
		compute:     compute,
		cfg:         cfg,
		fleet:       cloudfleet.Fleet{Cluster: cfg.Cluster, Max: cfg.Max, Words: words},
		image:       image,
		flavor:      flavor,
		userData:    ud,
		log:         cfg.Logger,
		changes:     cloudfleet.Changes{},
		terminating: map[string]bool{},
		reaped:      map[string]bool{},
	}, nil
}

// Launch creates n servers with the cluster's tags and metadata, or none if
// that would pass Max.
func (p *Provider) Launch(ctx context.Context, n int) ([]imgrec.Instance, error) {
	if n < 1 {
		return nil, imgrec.Errorf(imgrec.EINVALID, "launch %d servers: want at least 1", n)
	}
	p.capacity.Lock()
	defer p.capacity.Unlock()
	op := fmt.Sprintf("launch %d servers in cluster %s", n, p.cfg.Cluster)
	c, err := p.look(ctx, op)
	if err != nil {
		return nil, err
	}
	if err := p.fleet.CheckCapacity(op, c.list, n); err != nil {
		return nil, err
	}
	r := servers.Create(ctx, p.compute, p.createOpts(n), nil)
	if r.Err != nil {
		return nil, apiError(r.Err, "%s", op)
	}
	var created struct {
		ReservationID string `json:"reservation_id"`
	}
	if err := r.Result.ExtractInto(&created); err != nil || created.ReservationID == "" {
		return nil, imgrec.WrapError(imgrec.EINTERNAL, err, "%s: no reservation id in Nova's answer", op)
	}
	// Nova answers a multiple create with the reservation only; its
	// servers are listed at once (as build requests while they wait for a
	// cell).
	all, err := p.servers(ctx, created.ReservationID)
	if err != nil {
		return nil, apiError(err, "%s: list reservation %s", op, created.ReservationID)
	}
	var launched []imgrec.Instance
	for _, s := range all {
		launched = append(launched, convert(s, false))
	}
	p.mu.Lock()
	ids := p.changes.Launched(time.Now(), launched)
	p.mu.Unlock()
	if len(launched) != n {
		p.log.Warn("servers launched, but not all listed", "cluster", p.cfg.Cluster, "want", n, "listed", len(launched), "reservation", created.ReservationID)
	}
	p.log.Info("instances launched", "cluster", p.cfg.Cluster, "ids", ids, "flavor", p.flavor, "image", p.image, "reservation", created.ReservationID)
	return launched, nil
}

// createOpts is the create request of n servers.
func (p *Provider) createOpts(n int) createRequest {
	opts := servers.CreateOpts{
		Name:             "imgrec-" + p.cfg.Cluster + "-worker",
		ImageRef:         p.image,
		FlavorRef:        p.flavor,
		SecurityGroups:   p.cfg.SecurityGroups,
		UserData:         []byte(p.userData), // already base64: gophercloud passes it as is
		AvailabilityZone: p.cfg.AvailabilityZone,
		Networks:         "auto",
		Metadata:         Metadata(p.cfg.Cluster),
		Tags:             Tags(p.cfg.Cluster),
		Min:              n,
		Max:              n,
	}
	if net := p.cfg.Network; net != "" && net != "auto" {
		opts.Networks = []servers.Network{{UUID: net}}
	}
	if p.cfg.ConfigDrive {
		opts.ConfigDrive = &p.cfg.ConfigDrive
	}
	return createRequest{CreateOpts: opts, keyName: p.cfg.KeyName}
}

// createRequest adds to gophercloud's create request the key pair and
// return_reservation_id, so that a multiple create says which servers it
// made.
type createRequest struct {
	servers.CreateOpts
	keyName string
	one     bool // a single server: Nova answers with it, not a reservation
}

func (r createRequest) ToServerCreateMap() (map[string]any, error) {
	m, err := r.CreateOpts.ToServerCreateMap()
	if err != nil {
		return nil, err
	}
	s := m["server"].(map[string]any)
	if r.keyName != "" {
		s["key_name"] = r.keyName
	}
	if !r.one {
		s["return_reservation_id"] = true
	}
	return m, nil
}

// Start boots stopped servers of the cluster, or none if one is not
// stopped, not the cluster's, or more than Max would be active.
func (p *Provider) Start(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	p.capacity.Lock()
	defer p.capacity.Unlock()
	op := p.fleet.Op("start", ids)
	c, err := p.look(ctx, op)
	if err != nil {
		return err
	}
	if ids, err = p.fleet.Owned(op, c.list, ids, imgrec.StateStopped); err != nil {
		return err
	}
	if err := p.fleet.CheckCapacity(op, c.list, len(ids)); err != nil {
		return err
	}
	for i, id := range ids {
		if err := servers.Start(ctx, p.compute, id).ExtractErr(); err != nil {
			p.record(ids[:i])
			return apiError(err, "%s: start %s", op, id)
		}
	}
	p.record(ids)
	p.log.Info("instances started", "cluster", p.cfg.Cluster, "ids", ids)
	return nil
}

// Stop shuts running servers of the cluster down and keeps them; their
// workers drain first. It does nothing if one id is not a running server of
// the cluster.
func (p *Provider) Stop(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	op := p.fleet.Op("stop", ids)
	c, err := p.look(ctx, op)
	if err != nil {
		return err
	}
	if ids, err = p.fleet.Owned(op, c.list, ids, imgrec.StateRunning); err != nil {
		return err
	}
	for i, id := range ids {
		if err := servers.Stop(ctx, p.compute, id).ExtractErr(); err != nil {
			p.record(ids[:i])
			return apiError(err, "%s: stop %s", op, id)
		}
	}
	p.record(ids)
	p.log.Info("instances stopped", "cluster", p.cfg.Cluster, "ids", ids)
	return nil
}

// Terminate removes servers of the cluster in any state: stopped, pending
// and failed ones at once; running ones are stopped first, so that their
// workers drain, and deleted once they are SHUTOFF. It does nothing if one
// id is not the cluster's.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	op := p.fleet.Op("terminate", ids)
	c, err := p.look(ctx, op)
	if err != nil {
		return err
	}
	if ids, err = p.fleet.Owned(op, c.list, ids); err != nil {
		return err
	}
	var deleted, draining []string
	for _, id := range ids {
		s := c.raw[id]
		switch {
		case deleting(s):
			// already on its way
		case s.Status == "ACTIVE" && s.TaskState == "":
			if err := servers.Stop(ctx, p.compute, id).ExtractErr(); err != nil {
				return apiError(err, "%s: stop %s before deleting it", op, id)
			}
			p.mark(id)
			draining = append(draining, id)
		case s.TaskState == "powering-off":
			p.mark(id)
			draining = append(draining, id)
		default:
			if err := p.delete(ctx, id); err != nil {
				return apiError(err, "%s: delete %s", op, id)
			}
			deleted = append(deleted, id)
		}
	}
	p.log.Info("instances terminated", "cluster", p.cfg.Cluster, "ids", ids, "deleted", deleted, "stopping_first", draining)
	return nil
}

// mark notes that id is to be deleted once it is SHUTOFF.
func (p *Provider) mark(id string) {
	p.mu.Lock()
	p.terminating[id] = true
	p.changes.Record(time.Now(), id)
	p.mu.Unlock()
}

func (p *Provider) delete(ctx context.Context, id string) error {
	if err := servers.Delete(ctx, p.compute, id).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
		return err
	}
	p.mu.Lock()
	delete(p.terminating, id)
	p.changes.Record(time.Now(), id)
	p.mu.Unlock()
	return nil
}

// List returns the cluster's servers that are not deleted, by id.
func (p *Provider) List(ctx context.Context) ([]imgrec.Instance, error) {
	c, err := p.look(ctx, "list servers of cluster "+p.cfg.Cluster)
	if err != nil {
		return nil, err
	}
	return c.list, nil
}

// record notes that the provider has just changed the state of ids.
func (p *Provider) record(ids []string) {
	now := time.Now()
	p.mu.Lock()
	p.changes.Record(now, ids...)
	p.mu.Unlock()
}

// CheckNetwork returns an EINVALID error unless network is a network id or
// empty or "auto" (Config.Network).
func CheckNetwork(network string) error {
	if network != "" && network != "auto" && !networkID.MatchString(network) {
		return imgrec.Errorf(imgrec.EINVALID, "network %q: want a network id (`openstack network show NAME -f value -c id`) or auto", network)
	}
	return nil
}
