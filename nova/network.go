package nova

import (
	"context"
	"net/http"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/imgrec/imgrec"
)

// The web tier's way in from outside, through Neutron (the networking
// service): a security group that lets clients reach its port, and a
// floating IP on an external network. `imgrec infra up --openstack` makes
// them when asked (--web-security-group, --web-floating-ip), down removes
// them. Both are marked with the cluster in their description, which is
// how status and down find them.
//
// Untested here: the local Nova has no Neutron, so none of these calls has
// been made against a real cloud by the tests (see docs/openstack.md, The
// cluster with `imgrec infra --openstack`).

// WebSecurityGroup is the name of the group that opens cluster's web tier.
func WebSecurityGroup(cluster string) string { return "imgrec-" + cluster + "-web" }

// webMark is the description of what the web tier's access is made of.
func webMark(cluster string) string {
	return imgrec.LabelCluster + "=" + cluster + " " + imgrec.LabelRole + "=" + imgrec.RoleWeb
}

// WebAccess is what opens a cluster's web tier.
type WebAccess struct {
	SecurityGroup string   `json:"security_group,omitempty"` // its name, if it exists
	FloatingIPs   []string `json:"floating_ips,omitempty"`
}

// network returns the networking client, or an error saying the cloud has
// none.
func (c *Cloud) network(op string) (*gophercloud.ServiceClient, error) {
	if c.Network == nil {
		return nil, imgrec.Errorf(imgrec.EUNAVAILABLE, "%s: the cloud's catalog has no network service (Neutron)", op)
	}
	return c.Network, nil
}

// EnsureWebSecurityGroup makes the group WebSecurityGroup(cluster), letting
// TCP to port in from cidr (IPv4), unless it exists; it reports whether it
// made it.
func EnsureWebSecurityGroup(ctx context.Context, cloud *Cloud, cluster string, port int, cidr string) (bool, error) {
	name := WebSecurityGroup(cluster)
	op := "security group " + name
	net, err := cloud.network(op)
	if err != nil {
		return false, err
	}
	if g, err := findWebGroup(ctx, net, cluster); err != nil || g != nil {
		return false, err
	}
	g, err := groups.Create(ctx, net, groups.CreateOpts{Name: name, Description: webMark(cluster)}).Extract()
	if err != nil {
		return false, apiError(err, "create %s", op)
	}
	_, err = rules.Create(ctx, net, rules.CreateOpts{
		Direction: rules.DirIngress, EtherType: rules.EtherType4, SecGroupID: g.ID,
		Protocol: rules.ProtocolTCP, PortRangeMin: port, PortRangeMax: port, RemoteIPPrefix: cidr,
		Description: "imgrec web tier",
	}).Extract()
	if err != nil {
		groups.Delete(ctx, net, g.ID)
		return false, apiError(err, "%s: allow TCP %d from %s", op, port, cidr)
	}
	return true, nil
}

func findWebGroup(ctx context.Context, net *gophercloud.ServiceClient, cluster string) (*groups.SecGroup, error) {
	pages, err := groups.List(net, groups.ListOpts{Name: WebSecurityGroup(cluster)}).AllPages(ctx)
	if err != nil {
		return nil, apiError(err, "list security group %s", WebSecurityGroup(cluster))
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, apiError(err, "list security group %s", WebSecurityGroup(cluster))
	}
	for _, g := range all {
		if g.Description == webMark(cluster) {
			return &g, nil
		}
	}
	return nil, nil
}

// AttachFloatingIP gives server (the cluster's web tier) a floating IP from
// the external network (by id or name), unless it has one of the
// cluster's, and returns the address.
func AttachFloatingIP(ctx context.Context, cloud *Cloud, cluster, server, network string) (string, error) {
	op := "floating IP for server " + server + " of cluster " + cluster
	net, err := cloud.network(op)
	if err != nil {
		return "", err
	}
	portPages, err := ports.List(net, ports.ListOpts{DeviceID: server}).AllPages(ctx)
	if err != nil {
		return "", apiError(err, "%s: its port", op)
	}
	serverPorts, err := ports.ExtractPorts(portPages)
	if err != nil || len(serverPorts) == 0 {
		return "", imgrec.WrapError(imgrec.EUNAVAILABLE, err, "%s: the server has no port", op)
	}
	port := serverPorts[0].ID
	existing, err := webFloatingIPs(ctx, net, cluster)
	if err != nil {
		return "", err
	}
	for _, f := range existing {
		if f.PortID == port {
			return f.FloatingIP, nil
		}
	}
	ext, err := resolveNetwork(ctx, net, network)
	if err != nil {
		return "", err
	}
	f, err := floatingips.Create(ctx, net, floatingips.CreateOpts{FloatingNetworkID: ext, PortID: port, Description: webMark(cluster)}).Extract()
	if err != nil {
		return "", apiError(err, "%s: on network %s", op, network)
	}
	return f.FloatingIP, nil
}

// resolveNetwork finds a network given by id or name.
func resolveNetwork(ctx context.Context, net *gophercloud.ServiceClient, ref string) (string, error) {
	if n, err := networks.Get(ctx, net, ref).Extract(); err == nil {
		return n.ID, nil
	} else if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return "", apiError(err, "network %q", ref)
	}
	pages, err := networks.List(net, networks.ListOpts{Name: ref}).AllPages(ctx)
	if err != nil {
		return "", apiError(err, "network %q", ref)
	}
	all, err := networks.ExtractNetworks(pages)
	if err != nil {
		return "", apiError(err, "network %q", ref)
	}
	var ids []string
	for _, n := range all {
		ids = append(ids, n.ID)
	}
	return pick("network", ref, ids, nil)
}

func webFloatingIPs(ctx context.Context, net *gophercloud.ServiceClient, cluster string) ([]floatingips.FloatingIP, error) {
	pages, err := floatingips.List(net, floatingips.ListOpts{Description: webMark(cluster)}).AllPages(ctx)
	if err != nil {
		return nil, apiError(err, "list the floating IPs of cluster %s", cluster)
	}
	all, err := floatingips.ExtractFloatingIPs(pages)
	if err != nil {
		return nil, apiError(err, "list the floating IPs of cluster %s", cluster)
	}
	var out []floatingips.FloatingIP
	for _, f := range all {
		if f.Description == webMark(cluster) { // in case the filter is ignored
			out = append(out, f)
		}
	}
	return out, nil
}

// ListWebAccess says what of the web tier's access exists; nil when the
// cloud has no network service.
func ListWebAccess(ctx context.Context, cloud *Cloud, cluster string) (*WebAccess, error) {
	if cloud.Network == nil {
		return nil, nil
	}
	a := &WebAccess{}
	g, err := findWebGroup(ctx, cloud.Network, cluster)
	if err != nil {
		return nil, err
	}
	if g != nil {
		a.SecurityGroup = g.Name
	}
	fips, err := webFloatingIPs(ctx, cloud.Network, cluster)
	if err != nil {
		return nil, err
	}
	for _, f := range fips {
		a.FloatingIPs = append(a.FloatingIPs, f.FloatingIP)
	}
	return a, nil
}

// DeleteWebAccess releases the cluster's floating IPs and deletes its web
// security group (once no server uses it: delete the servers first), and
// says what it deleted. Without a network service there is nothing to do.
func DeleteWebAccess(ctx context.Context, cloud *Cloud, cluster string) ([]string, error) {
	if cloud.Network == nil {
		return nil, nil
	}
	var deleted []string
	fips, err := webFloatingIPs(ctx, cloud.Network, cluster)
	if err != nil {
		return nil, err
	}
	for _, f := range fips {
		if err := floatingips.Delete(ctx, cloud.Network, f.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return deleted, apiError(err, "release floating IP %s of cluster %s", f.FloatingIP, cluster)
		}
		deleted = append(deleted, "floating IP "+f.FloatingIP)
	}
	g, err := findWebGroup(ctx, cloud.Network, cluster)
	if err != nil || g == nil {
		return deleted, err
	}
	if err := groups.Delete(ctx, cloud.Network, g.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		hint := ""
		if gophercloud.ResponseCodeIs(err, http.StatusConflict) {
			hint = " (still in use: a server of it is not deleted yet; run down again)"
		}
		return deleted, apiError(err, "delete security group %s%s", g.Name, hint)
	}
	return append(deleted, "security group "+g.Name), nil
}
