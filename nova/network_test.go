package nova

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

// fakeNeutron answers the few networking calls of the web tier's access
// the way the Neutron API reference says, keeping what was made, and
// records every request. It checks the requests' shapes only: no real
// Neutron runs here (the local Nova has none).
type fakeNeutron struct {
	mu       sync.Mutex
	requests []string // "METHOD path?query body"
	groups   []map[string]any
	fips     []map[string]any
}

func (f *fakeNeutron) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.requests = append(f.requests, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
	var in map[string]map[string]any
	json.Unmarshal(body, &in)
	answer := func(v any) { w.Header().Set("Content-Type", "application/json"); json.NewEncoder(w).Encode(v) }
	switch p := r.URL.Path; {
	case r.Method == "GET" && p == "/v2.0/security-groups":
		answer(map[string]any{"security_groups": f.groups})
	case r.Method == "POST" && p == "/v2.0/security-groups":
		g := in["security_group"]
		g["id"] = "sg-1"
		f.groups = append(f.groups, g)
		w.WriteHeader(http.StatusCreated)
		answer(map[string]any{"security_group": g})
	case r.Method == "POST" && p == "/v2.0/security-group-rules":
		w.WriteHeader(http.StatusCreated)
		answer(map[string]any{"security_group_rule": in["security_group_rule"]})
	case r.Method == "GET" && p == "/v2.0/ports":
		answer(map[string]any{"ports": []any{map[string]any{"id": "port-1", "device_id": r.URL.Query().Get("device_id")}}})
	case r.Method == "GET" && p == "/v2.0/networks/public":
		http.Error(w, `{"NeutronError": {"message": "Network public could not be found."}}`, http.StatusNotFound)
	case r.Method == "GET" && p == "/v2.0/networks":
		answer(map[string]any{"networks": []any{map[string]any{"id": "ext-1", "name": "public"}}})
	case r.Method == "GET" && p == "/v2.0/floatingips":
		answer(map[string]any{"floatingips": f.fips})
	case r.Method == "POST" && p == "/v2.0/floatingips":
		fip := in["floatingip"]
		fip["id"], fip["floating_ip_address"] = "fip-1", "203.0.113.7"
		f.fips = append(f.fips, fip)
		w.WriteHeader(http.StatusCreated)
		answer(map[string]any{"floatingip": fip})
	case r.Method == "DELETE" && (p == "/v2.0/floatingips/fip-1" || p == "/v2.0/security-groups/sg-1"):
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not in the fake", http.StatusNotImplemented)
	}
}

// TestWebAccessCalls: the security group allows TCP 8080 from anywhere and
// is made once; the floating IP comes from the external network named
// public, on the server's port, and is found again rather than made twice;
// down releases the IP and deletes the group.
func TestWebAccessCalls(t *testing.T) {
	fake := &fakeNeutron{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cloud := &Cloud{Network: &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: *srv.Client()},
		Endpoint: srv.URL + "/", ResourceBase: srv.URL + "/v2.0/"}}
	ctx := t.Context()
	if created, err := EnsureWebSecurityGroup(ctx, cloud, "demo", 8080, "0.0.0.0/0"); err != nil || !created {
		t.Fatalf("EnsureWebSecurityGroup: %v, %v", created, err)
	}
	if created, err := EnsureWebSecurityGroup(ctx, cloud, "demo", 8080, "0.0.0.0/0"); err != nil || created {
		t.Fatalf("EnsureWebSecurityGroup again: %v, %v; want it found", created, err)
	}
	ip, err := AttachFloatingIP(ctx, cloud, "demo", "server-1", "public")
	if err != nil || ip != "203.0.113.7" {
		t.Fatalf("AttachFloatingIP: %q, %v", ip, err)
	}
	if again, err := AttachFloatingIP(ctx, cloud, "demo", "server-1", "public"); err != nil || again != ip {
		t.Fatalf("AttachFloatingIP again: %q, %v", again, err)
	}
	a, err := ListWebAccess(ctx, cloud, "demo")
	if err != nil || a.SecurityGroup != "imgrec-demo-web" || len(a.FloatingIPs) != 1 {
		t.Fatalf("ListWebAccess: %+v, %v", a, err)
	}
	deleted, err := DeleteWebAccess(ctx, cloud, "demo")
	if err != nil || strings.Join(deleted, "; ") != "floating IP 203.0.113.7; security group imgrec-demo-web" {
		t.Fatalf("DeleteWebAccess: %v, %v", deleted, err)
	}
	log := strings.Join(fake.requests, "\n")
	for _, want := range []string{
		`POST /v2.0/security-groups {"security_group":{"description":"imgrec:cluster=demo imgrec:role=web","name":"imgrec-demo-web"}}`,
		`POST /v2.0/security-group-rules {"security_group_rule":{"description":"imgrec web tier","direction":"ingress","ethertype":"IPv4","port_range_max":8080,"port_range_min":8080,"protocol":"tcp","remote_ip_prefix":"0.0.0.0/0","security_group_id":"sg-1"}}`,
		`GET /v2.0/ports?device_id=server-1`,
		`GET /v2.0/networks?name=public`,
		`POST /v2.0/floatingips {"floatingip":{"description":"imgrec:cluster=demo imgrec:role=web","floating_network_id":"ext-1","port_id":"port-1"}}`,
		`DELETE /v2.0/floatingips/fip-1`, `DELETE /v2.0/security-groups/sg-1`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("no request %s among:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "POST /v2.0/floatingips"); n != 1 {
		t.Errorf("%d floating IPs made, want 1:\n%s", n, log)
	}
}
