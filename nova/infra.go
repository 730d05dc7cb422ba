package nova

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/userdata"
)

// What `imgrec infra --openstack` does with a cluster's servers: launch its
// web tier (one server, marked imgrec:role=web), list all its servers
// (web tier and workers), delete them.

// WebTags and WebMetadata mark cluster's web-tier server.
func WebTags(cluster string) []string {
	return []string{imgrec.LabelCluster + "=" + cluster, imgrec.LabelRole + "=" + imgrec.RoleWeb}
}

func WebMetadata(cluster string) map[string]string {
	return map[string]string{imgrec.LabelCluster: cluster, imgrec.LabelRole: imgrec.RoleWeb}
}

// WebConfig describes the web tier's server: as Config's fields, and what
// it runs.
type WebConfig struct {
	Cluster, Image, Flavor, Network string
	SecurityGroups                  []string
	KeyName, AvailabilityZone       string
	ConfigDrive                     bool
	Web                             userdata.Web
}

// Server is one of a cluster's servers, as `imgrec infra status` shows it.
type Server struct {
	ID     string               `json:"id"`
	Name   string               `json:"name"`
	Role   string               `json:"role"`   // imgrec.RoleWorker or imgrec.RoleWeb
	Status string               `json:"status"` // Nova's, with its task if any: "ACTIVE", "SHUTOFF/powering-on"
	State  imgrec.InstanceState `json:"state"`
	// Addresses are the server's fixed and floating IPs, by network:
	// "private=192.168.1.5".
	Addresses []string  `json:"addresses"`
	Created   time.Time `json:"created"`
	Fault     string    `json:"fault,omitempty"`
}

// IPs returns the addresses without their networks, floating ones first.
func (s Server) IPs() []string {
	var fixed, floating []string
	for _, a := range s.Addresses {
		_, ip, _ := strings.Cut(a, "=")
		if strings.HasSuffix(ip, " (floating)") {
			floating = append(floating, strings.TrimSuffix(ip, " (floating)"))
		} else {
			fixed = append(fixed, ip)
		}
	}
	return append(floating, fixed...)
}

// ClusterServers lists cluster's servers of every role that are not
// deleted: those tagged and labelled as its workers or its web tier.
func ClusterServers(ctx context.Context, cloud *Cloud, cluster string) ([]Server, error) {
	if err := imgrec.CheckCluster(cluster); err != nil {
		return nil, err
	}
	q := listQuery{Tags: imgrec.LabelCluster + "=" + cluster}
	pages, err := servers.List(cloud.compute(), q).AllPages(ctx)
	if err != nil {
		return nil, apiError(err, "list servers of cluster %s", cluster)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, apiError(err, "list servers of cluster %s", cluster)
	}
	var out []Server
	for _, s := range all {
		role := s.Metadata[imgrec.LabelRole]
		if s.Metadata[imgrec.LabelCluster] != cluster || (role != imgrec.RoleWorker && role != imgrec.RoleWeb) ||
			!slices.Contains(*s.Tags, imgrec.LabelRole+"="+role) || s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
			continue
		}
		out = append(out, describe(s, role))
	}
	slices.SortFunc(out, func(a, b Server) int {
		if a.Role != b.Role {
			return strings.Compare(a.Role, b.Role) // web before worker
		}
		return a.Created.Compare(b.Created)
	})
	return out, nil
}

func describe(s servers.Server, role string) Server {
	st := s.Status
	if s.TaskState != "" {
		st += "/" + s.TaskState
	}
	out := Server{ID: s.ID, Name: s.Name, Role: role, Status: st, State: convert(s, false).State, Created: s.Created, Addresses: []string{}}
	if s.Status == "ERROR" {
		out.Fault = faultText(s)
	}
	nets := make([]string, 0, len(s.Addresses))
	for n := range s.Addresses {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		list, _ := s.Addresses[n].([]any)
		for _, a := range list {
			m, _ := a.(map[string]any)
			ip, _ := m["addr"].(string)
			if ip == "" {
				continue
			}
			if t, _ := m["OS-EXT-IPS:type"].(string); t == "floating" {
				ip += " (floating)"
			}
			out.Addresses = append(out.Addresses, n+"="+ip)
		}
	}
	return out
}

// LaunchWeb creates cluster's web-tier server, whose user data
// (userdata.WebScript) runs `imgrec web`, unless the cluster has one
// already (not being deleted): then it returns that one and false.
func LaunchWeb(ctx context.Context, cloud *Cloud, cfg WebConfig) (Server, bool, error) {
	op := "launch the web tier of cluster " + cfg.Cluster
	if err := CheckNetwork(cfg.Network); err != nil {
		return Server{}, false, fmt.Errorf("%s: %w", op, err)
	}
	existing, err := ClusterServers(ctx, cloud, cfg.Cluster)
	if err != nil {
		return Server{}, false, err
	}
	for _, s := range existing {
		if s.Role == imgrec.RoleWeb && !strings.Contains(s.Status, "deleting") {
			return s, false, nil
		}
	}
	script, err := userdata.WebScript(Name, cfg.Cluster, cfg.Web)
	if err != nil {
		return Server{}, false, err
	}
	ud := base64.StdEncoding.EncodeToString([]byte(script))
	if len(ud) > maxUserData {
		return Server{}, false, imgrec.Errorf(imgrec.ETOOLARGE, "%s: user data of %d bytes in base64, Nova takes at most %d", op, len(ud), maxUserData)
	}
	compute := cloud.compute()
	flavor, err := resolveFlavor(ctx, compute, cfg.Flavor)
	if err != nil {
		return Server{}, false, err
	}
	image, err := resolveImage(ctx, cloud.Image, cfg.Image)
	if err != nil {
		return Server{}, false, err
	}
	opts := servers.CreateOpts{
		Name:             "imgrec-" + cfg.Cluster + "-web",
		ImageRef:         image,
		FlavorRef:        flavor,
		SecurityGroups:   cfg.SecurityGroups,
		UserData:         []byte(ud),
		AvailabilityZone: cfg.AvailabilityZone,
		Networks:         "auto",
		Metadata:         WebMetadata(cfg.Cluster),
		Tags:             WebTags(cfg.Cluster),
	}
	if cfg.Network != "" && cfg.Network != "auto" {
		opts.Networks = []servers.Network{{UUID: cfg.Network}}
	}
	if cfg.ConfigDrive {
		opts.ConfigDrive = &cfg.ConfigDrive
	}
	s, err := servers.Create(ctx, compute, createRequest{CreateOpts: opts, keyName: cfg.KeyName, one: true}, nil).Extract()
	if err != nil {
		return Server{}, false, apiError(err, "%s", op)
	}
	return Server{ID: s.ID, Name: opts.Name, Role: imgrec.RoleWeb, Status: "BUILD", State: imgrec.StatePending, Addresses: []string{}}, true, nil
}

// WaitActive waits until server id of cluster is ACTIVE and has an
// address, and returns it; a server in ERROR fails with its fault.
func WaitActive(ctx context.Context, cloud *Cloud, cluster, id string, poll time.Duration) (Server, error) {
	for {
		all, err := ClusterServers(ctx, cloud, cluster)
		if err != nil {
			return Server{}, err
		}
		i := slices.IndexFunc(all, func(s Server) bool { return s.ID == id })
		switch {
		case i < 0:
			// Just created: listed a moment later.
		case all[i].Status == "ERROR":
			return all[i], imgrec.Errorf(imgrec.EUNAVAILABLE, "server %s of cluster %s is in ERROR: %s", id, cluster, all[i].Fault)
		case all[i].Status == "ACTIVE" && len(all[i].Addresses) > 0:
			return all[i], nil
		}
		select {
		case <-ctx.Done():
			return Server{}, fmt.Errorf("wait for server %s of cluster %s to be ACTIVE: %w", id, cluster, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// DeleteServers deletes the given servers of cluster (those that are not
// being deleted already) and returns the ids it asked Nova to delete. A
// server already gone is no error. Nova's delete does not shut a server
// down first: stop the controller and the web tier's clients first.
func DeleteServers(ctx context.Context, cloud *Cloud, cluster string, list []Server) ([]string, error) {
	var deleted []string
	for _, s := range list {
		if strings.Contains(s.Status, "deleting") {
			continue
		}
		if err := servers.Delete(ctx, cloud.compute(), s.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return deleted, apiError(err, "delete server %s (%s) of cluster %s", s.ID, s.Role, cluster)
		}
		deleted = append(deleted, s.ID)
	}
	return deleted, nil
}
