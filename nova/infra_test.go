package nova_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/localnova"
	"github.com/imgrec/imgrec/nova"
	"github.com/imgrec/imgrec/userdata"
)

// TestWebTierServer: the web tier's server is marked as the cluster's web
// tier and runs `imgrec web`; launching it again finds it; the cluster's
// servers are it and the workers, not a neighbour's; they are deleted
// together. The local Nova has no Neutron: the web tier's access says so.
func TestWebTierServer(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	cfg := nova.WebConfig{
		Cluster: c.name, Image: localnova.Image, Flavor: "m1.tiny", Network: privateNetwork,
		Web: userdata.Web{Args: []string{"--addr", "0.0.0.0:8080", "--queue", "sqs://imgrec-x-requests", "--blobs", "s3://imgrec-x"}, Env: []string{"AWS_REGION=eu-west-3"}},
	}
	web, created, err := nova.LaunchWeb(ctx, c.cloud, cfg)
	if err != nil || !created || web.Role != imgrec.RoleWeb || web.Name != "imgrec-"+c.name+"-web" {
		t.Fatalf("LaunchWeb: %+v, created %v, %v", web, created, err)
	}
	t.Cleanup(func() { nova.DeleteServers(context.Background(), c.cloud, c.name, []nova.Server{web}) })
	wctx, cancel := context.WithTimeout(ctx, generous)
	defer cancel()
	up, err := nova.WaitActive(wctx, c.cloud, c.name, web.ID, 100*time.Millisecond)
	if err != nil || up.State != imgrec.StateRunning || len(up.IPs()) == 0 || !strings.HasPrefix(up.Addresses[0], "private=") {
		t.Fatalf("WaitActive: %+v, %v", up, err)
	}
	s, err := servers.Get(ctx, c.admin, web.ID).Extract() // an admin sees the user data
	if err != nil {
		t.Fatal(err)
	}
	if s.Metadata[imgrec.LabelRole] != imgrec.RoleWeb || !slices.Contains(*s.Tags, imgrec.LabelRole+"=web") {
		t.Errorf("web server marked %v %v", s.Metadata, *s.Tags)
	}
	script, _ := base64.StdEncoding.DecodeString(*s.Userdata)
	if !strings.Contains(string(script), "ExecStart=/usr/local/bin/imgrec web --addr 0.0.0.0:8080 --queue sqs://imgrec-x-requests --blobs s3://imgrec-x\n") ||
		!strings.Contains(string(script), "Environment=AWS_REGION=eu-west-3") {
		t.Errorf("user data:\n%s", script)
	}
	if again, created, err := nova.LaunchWeb(ctx, c.cloud, cfg); err != nil || created || again.ID != web.ID {
		t.Errorf("LaunchWeb again: %+v, created %v, %v; want the same server", again, created, err)
	}

	// A worker of the cluster, and a neighbour's web tier.
	p := c.provider(t, nova.Config{Network: privateNetwork})
	if _, err := p.Launch(ctx, 1); err != nil {
		t.Fatal(err)
	}
	other := c.create(t, "other-web", nova.WebTags(c.name+"-2"), nova.WebMetadata(c.name+"-2"))
	all, err := nova.ClusterServers(ctx, c.cloud, c.name)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != web.ID || all[1].Role != imgrec.RoleWorker {
		t.Fatalf("ClusterServers: %+v; want the web tier, then the worker", all)
	}
	deleted, err := nova.DeleteServers(ctx, c.cloud, c.name, all)
	if err != nil || len(deleted) != 2 {
		t.Fatalf("DeleteServers: %v, %v", deleted, err)
	}
	waitFor(t, "the cluster's servers gone", func() bool {
		left, err := nova.ClusterServers(ctx, c.cloud, c.name)
		return err == nil && len(left) == 0
	})
	if c.get(t, other) == nil {
		t.Errorf("the neighbour's web server %s was deleted", other)
	}

	if a, err := nova.ListWebAccess(ctx, c.cloud, c.name); a != nil || err != nil {
		t.Errorf("ListWebAccess without Neutron: %+v, %v; want nil, nil", a, err)
	}
	if _, err := nova.EnsureWebSecurityGroup(ctx, c.cloud, c.name, 8080, "0.0.0.0/0"); imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE ||
		!strings.Contains(err.Error(), "no network service (Neutron)") {
		t.Errorf("EnsureWebSecurityGroup without Neutron: %v", err)
	}
}
