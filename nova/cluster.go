package nova

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/cloudfleet"
)

// cluster is one look at the cluster's servers.
type cluster struct {
	list []imgrec.Instance         // sorted by id
	raw  map[string]servers.Server // by id
}

// look lists the cluster's servers, finishes the deletions that wait for
// them (see reap) and merges in the provider's own recent changes.
func (p *Provider) look(ctx context.Context, op string) (cluster, error) {
	listed := time.Now()
	all, err := p.servers(ctx, "")
	if err != nil {
		return cluster{}, apiError(err, "%s", op)
	}
	c := cluster{raw: map[string]servers.Server{}}
	for _, s := range all {
		c.raw[s.ID] = s
	}
	p.reap(ctx, c.raw)

	p.mu.Lock()
	defer p.mu.Unlock()
	for id, s := range c.raw {
		if s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			continue
		}
		in := convert(s, p.terminating[id])
		p.changes.Merge(&in)
		c.list = append(c.list, in)
	}
	gone := func(id string) bool { _, ok := c.raw[id]; return !ok }
	// (not what a concurrent call did since the listing)
	maps.DeleteFunc(p.changes, func(id string, ch cloudfleet.Change) bool { return gone(id) && ch.At.Before(listed) })
	maps.DeleteFunc(p.terminating, func(id string, _ bool) bool { return gone(id) })
	maps.DeleteFunc(p.reaped, func(id string, _ bool) bool { return gone(id) })
	slices.SortFunc(c.list, func(a, b imgrec.Instance) int { return strings.Compare(a.ID, b.ID) })
	return c, nil
}

// reap deletes what must go: servers in ERROR (see the package comment)
// and servers Terminate stopped that are now SHUTOFF. Failures are logged,
// not returned: the next look tries again, and a listing must not fail
// because a clean-up did. Nova's answers update raw.
func (p *Provider) reap(ctx context.Context, raw map[string]servers.Server) {
	for _, id := range slices.Sorted(maps.Keys(raw)) {
		s := raw[id]
		if deleting(s) || s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			continue
		}
		p.mu.Lock()
		terminating, reaped := p.terminating[id], p.reaped[id]
		p.mu.Unlock()
		switch {
		case s.Status == "ERROR" && !reaped:
			// A listing may lack the fault (Nova 26 leaves out those of
			// servers that never reached a cell), and Nova records it just
			// after the state: ask for the server, and wait a little.
			if s.Fault.Message == "" {
				if got, err := servers.Get(ctx, p.compute, id).Extract(); err == nil && got.Fault.Message != "" {
					s.Fault = got.Fault
					raw[id] = s
				} else if time.Since(s.Updated) < faultGrace {
					continue
				}
			}
			p.log.Warn("server in ERROR: deleting it", "cluster", p.cfg.Cluster, "id", id, "fault", faultText(s))
			if err := p.delete(ctx, id); err != nil {
				p.log.Error("delete server in ERROR", "cluster", p.cfg.Cluster, "id", id, "err", apiError(err, "delete %s", id))
				continue
			}
			p.mu.Lock()
			p.reaped[id] = true
			p.mu.Unlock()
		case terminating && s.Status == "SHUTOFF" && s.TaskState == "":
			if err := p.delete(ctx, id); err != nil {
				p.log.Error("delete stopped server", "cluster", p.cfg.Cluster, "id", id, "err", apiError(err, "delete %s", id))
				continue
			}
			p.log.Info("instance deleted after its drain", "cluster", p.cfg.Cluster, "id", id)
		case terminating && s.Status == "ACTIVE" && s.TaskState == "":
			// The stop did not take (or someone started it again): ask again.
			if err := servers.Stop(ctx, p.compute, id).ExtractErr(); err != nil {
				p.log.Error("stop server before deleting it", "cluster", p.cfg.Cluster, "id", id, "err", apiError(err, "stop %s", id))
			}
			continue
		default:
			continue
		}
		s.TaskState = "deleting"
		raw[id] = s
	}
}

// servers lists the cluster's servers (those of one reservation, if
// reservation is not empty): tagged as the cluster's by Nova's filter, and
// with its metadata too.
func (p *Provider) servers(ctx context.Context, reservation string) ([]servers.Server, error) {
	q := listQuery{Tags: strings.Join(Tags(p.cfg.Cluster), ","), ReservationID: reservation}
	pages, err := servers.List(p.compute, q).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, err
	}
	want := Metadata(p.cfg.Cluster)
	return slices.DeleteFunc(all, func(s servers.Server) bool {
		for k, v := range want {
			if s.Metadata[k] != v {
				return true
			}
		}
		return false
	}), nil
}

// listQuery filters a server listing; gophercloud's ListOpts has no
// reservation_id.
type listQuery struct {
	Tags          string `q:"tags"`
	ReservationID string `q:"reservation_id"`
}

func (q listQuery) ToServerListQuery() (string, error) {
	u, err := gophercloud.BuildQueryString(q)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}
