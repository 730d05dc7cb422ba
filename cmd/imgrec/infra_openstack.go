package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/nova"
	"github.com/imgrec/imgrec/userdata"
)

// `imgrec infra --openstack`: the cluster's servers on OpenStack Nova. up
// launches the web tier as a server whose user data runs `imgrec web`
// against the cluster's queue and buckets (and, if asked, opens it to the
// world: a security group for its port, a floating IP); status lists the
// cluster's servers, the web tier and the workers the controller made;
// down deletes them all, and what opened the web tier.

// webTierFlagSet holds infra up's settings of the web tier's server.
type webTierFlagSet struct {
	port            int
	securityGroup   bool
	allow           string
	floatingNetwork string
	controllerURL   string
	wait            time.Duration
}

func webTierFlags(fs *flag.FlagSet, inf *infraFlagSet) *webTierFlagSet {
	w := &webTierFlagSet{}
	inf.nova.serverFlags(fs, imgrec.RoleWeb)
	fs.IntVar(&w.port, "web-port", 8080, "--openstack: the port the web tier listens on")
	fs.BoolVar(&w.securityGroup, "web-security-group", false, "--openstack: make the security group "+nova.WebSecurityGroup("NAME")+
		" that lets --web-allow reach --web-port, and put the web tier in it (Neutron)")
	fs.StringVar(&w.allow, "web-allow", "0.0.0.0/0", "--openstack: the IPv4 addresses (CIDR) --web-security-group lets in")
	fs.StringVar(&w.floatingNetwork, "web-floating-ip", "", "--openstack: give the web tier a floating IP from this external `network` (id or name; Neutron)")
	fs.StringVar(&w.controllerURL, "web-controller-url", "", "--openstack: the web tier's --controller-url (the controller's --metrics-addr, as http://HOST:PORT), for the instances on its page")
	fs.DurationVar(&w.wait, "wait", 5*time.Minute, "--openstack: how long to wait for the web tier's server to be ACTIVE")
	return w
}

// check reports a usage error in the web tier's flags.
func (w *webTierFlagSet) check(inf *infraFlagSet) error {
	if !inf.openstack {
		return nil // the server flags may come from IMGREC_* meant for the controller
	}
	if inf.nova.image == "" || inf.nova.flavor == "" {
		return usagef("--openstack needs --nova-image and --nova-flavor for the web tier's server")
	}
	if err := nova.CheckNetwork(inf.nova.network); err != nil {
		return usagef("--nova-network: %v", err)
	}
	if w.port < 1 || w.port > 65535 {
		return usagef("--web-port %d: want 1 to 65535", w.port)
	}
	if _, n, err := net.ParseCIDR(w.allow); err != nil || n.IP.To4() == nil {
		return usagef("--web-allow %q: want an IPv4 CIDR such as 0.0.0.0/0 or 203.0.113.0/24", w.allow)
	}
	if w.controllerURL != "" {
		if _, err := remoteInstances(w.controllerURL); err != nil {
			return usagef("--web-controller-url: %v", err)
		}
	}
	if w.wait <= 0 {
		return usagef("--wait %v: want a positive duration", w.wait)
	}
	return nil
}

// upWebTier launches the web tier's server (or finds it), opens it if
// asked, waits for its address and returns the exports that carry the
// OpenStack settings to status, down and the controller.
func upWebTier(ctx context.Context, stderr io.Writer, inf *infraFlagSet, w *webTierFlagSet, c infraCluster, cl infraClients, visibility time.Duration) ([][2]string, error) {
	cloud := cl.nova
	groups := splitList(inf.nova.securityGroups)
	if w.securityGroup {
		created, err := nova.EnsureWebSecurityGroup(ctx, cloud, c.name, w.port, w.allow)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "security group %s: %s (TCP %d from %s)\n", nova.WebSecurityGroup(c.name), existsOrCreated(!created), w.port, w.allow)
		if len(groups) == 0 {
			groups = []string{"default"} // egress and the project's own traffic, as without the flag
		}
		groups = append(groups, nova.WebSecurityGroup(c.name))
	}
	args := []string{"--addr", "0.0.0.0:" + strconv.Itoa(w.port), "--queue", "sqs://" + c.queue, "--blobs", "s3://" + c.bucketPrefix,
		"--visibility", visibility.String(), "--log-level", "info"}
	if w.controllerURL != "" {
		args = append(args, "--controller-url", w.controllerURL)
	}
	// The region and any endpoint as here; the keys come with the image
	// (userdata.WebEnvFile): OpenStack has no instance roles.
	env := awsEnv(cl.region, cl.endpoint)
	server, created, err := nova.LaunchWeb(ctx, cloud, nova.WebConfig{
		Cluster: c.name, Image: inf.nova.image, Flavor: inf.nova.flavor, Network: inf.nova.network,
		SecurityGroups: groups, KeyName: inf.nova.keyName, AvailabilityZone: inf.nova.zone, ConfigDrive: inf.nova.configDrive,
		Web: userdata.Web{Args: args, Env: env},
	})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, w.wait)
	defer cancel()
	if server, err = nova.WaitActive(wctx, cloud, c.name, server.ID, time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "server %s (web tier): %s, %s at %s\n", server.ID, existsOrCreated(!created), server.Status, strings.Join(server.Addresses, " "))
	ip := server.IPs()[0]
	if w.floatingNetwork != "" {
		if ip, err = nova.AttachFloatingIP(ctx, cloud, c.name, server.ID, w.floatingNetwork); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "floating IP %s: on the web tier\n", ip)
	}
	fmt.Fprintf(stderr, "the web tier: http://%s/ (once its image has booted and the unit %s runs)\n", net.JoinHostPort(ip, strconv.Itoa(w.port)), userdata.WebUnitName)

	exports := [][2]string{{"OPENSTACK", "true"}}
	if inf.nova.osCloud != "" {
		exports = append(exports, [2]string{"OS_CLOUD", inf.nova.osCloud})
	}
	exports = append(exports, [2]string{"NOVA_IMAGE", inf.nova.image}, [2]string{"NOVA_FLAVOR", inf.nova.flavor})
	if n := inf.nova.network; n != "" && n != "auto" {
		exports = append(exports, [2]string{"NOVA_NETWORK", n})
	}
	return exports, nil
}

// readServers adds the cluster's servers and the web tier's access to st.
func readServers(ctx context.Context, st *infraState, cl infraClients, cluster string) error {
	if cl.nova == nil {
		return nil
	}
	servers, err := nova.ClusterServers(ctx, cl.nova, cluster)
	if err != nil {
		return err
	}
	st.openstack, st.Servers = true, servers
	if st.Servers == nil {
		st.Servers = []nova.Server{}
	}
	st.WebAccess, err = nova.ListWebAccess(ctx, cl.nova, cluster)
	return err
}

// printServers writes the servers' section of status.
func (st *infraState) printServers(tw *tabwriter.Writer) {
	if !st.openstack {
		return
	}
	fmt.Fprintf(tw, "\nSERVERS (OpenStack)  web %d  worker %d\n",
		countRole(st.Servers, imgrec.RoleWeb), countRole(st.Servers, imgrec.RoleWorker))
	if len(st.Servers) > 0 {
		fmt.Fprintln(tw, "ID\tROLE\tSTATUS\tADDRESSES")
	}
	for _, s := range st.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Role, s.Status, strings.Join(s.Addresses, " "))
	}
	switch a := st.WebAccess; {
	case a == nil:
		fmt.Fprintln(tw, "(no network service in the catalog: no security group or floating IP of the web tier to list)")
	case a.SecurityGroup != "" || len(a.FloatingIPs) > 0:
		fmt.Fprintf(tw, "web tier's access: security group %q, floating IPs %v\n", a.SecurityGroup, a.FloatingIPs)
	}
}

func countRole(list []nova.Server, role string) int {
	n := 0
	for _, s := range list {
		if s.Role == role {
			n++
		}
	}
	return n
}

// deleteServers deletes the cluster's servers and waits, up to wait, until
// Nova lists none; servers that appear meanwhile (a controller still
// running) are deleted as well. Then it deletes the web tier's floating IPs
// and security group. It returns how many servers it deleted.
func deleteServers(ctx context.Context, w io.Writer, cloud *nova.Cloud, cluster string, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	asked := map[string]bool{}
	for {
		list, err := nova.ClusterServers(ctx, cloud, cluster)
		if err != nil {
			return len(asked), err
		}
		if len(list) == 0 {
			break
		}
		fresh := slices.DeleteFunc(slices.Clone(list), func(s nova.Server) bool { return asked[s.ID] })
		if len(fresh) > 0 {
			if len(asked) > 0 {
				fmt.Fprintf(w, "new servers appeared: is a controller of cluster %s still running?\n", cluster)
			}
			ids, err := nova.DeleteServers(ctx, cloud, cluster, fresh)
			var names []string
			for _, s := range fresh {
				if slices.Contains(ids, s.ID) {
					asked[s.ID] = true
					names = append(names, s.ID+" ("+s.Role+")")
				}
			}
			if len(names) > 0 {
				fmt.Fprintf(w, "deleting %d servers: %s\n", len(names), strings.Join(names, " "))
			}
			if err != nil {
				return len(asked), err
			}
		}
		if time.Now().After(deadline) {
			var left []string
			for _, s := range list {
				left = append(left, s.ID+" ("+s.Status+")")
			}
			return len(asked), imgrec.Errorf(imgrec.ETIMEOUT, "cluster %s: %d servers not deleted after %v: %s; the rest is kept for now, run 'imgrec infra down' again",
				cluster, len(left), wait, strings.Join(left, ", "))
		}
		select {
		case <-ctx.Done():
			return len(asked), ctx.Err()
		case <-time.After(terminatePoll):
		}
	}
	if len(asked) > 0 {
		fmt.Fprintln(w, "servers deleted")
	}
	deleted, err := nova.DeleteWebAccess(ctx, cloud, cluster)
	for _, d := range deleted {
		fmt.Fprintf(w, "deleted %s\n", d)
	}
	return len(asked), err
}
