package nova

import (
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

// TestAuthFromEnv reads the variables of the usual openrc files: Horizon's
// (project id, user domain name), devstack's (project name with project
// domain id), and an application credential's.
func TestAuthFromEnv(t *testing.T) {
	for name, tc := range map[string]struct {
		env     map[string]string
		want    gophercloud.AuthOptions
		region  string
		avail   gophercloud.Availability
		missing []string
	}{
		"horizon": {
			env: map[string]string{"OS_AUTH_URL": "https://keystone.example:5000/v3", "OS_PROJECT_ID": "p123", "OS_PROJECT_NAME": "demo",
				"OS_USER_DOMAIN_NAME": "Default", "OS_USERNAME": "alice", "OS_PASSWORD": "pw", "OS_REGION_NAME": "RegionTwo", "OS_INTERFACE": "public"},
			want: gophercloud.AuthOptions{IdentityEndpoint: "https://keystone.example:5000/v3", Username: "alice", Password: "pw", DomainName: "Default",
				Scope: &gophercloud.AuthScope{ProjectID: "p123"}},
			region: "RegionTwo", avail: gophercloud.AvailabilityPublic,
		},
		"devstack": {
			env: map[string]string{"OS_AUTH_URL": "http://10.0.0.1/identity", "OS_PROJECT_NAME": "demo", "OS_PROJECT_DOMAIN_ID": "default",
				"OS_USER_DOMAIN_ID": "default", "OS_USERNAME": "demo", "OS_PASSWORD": "pw", "OS_INTERFACE": "internal"},
			want: gophercloud.AuthOptions{IdentityEndpoint: "http://10.0.0.1/identity", Username: "demo", Password: "pw", DomainID: "default",
				Scope: &gophercloud.AuthScope{ProjectName: "demo", DomainID: "default"}},
			avail: gophercloud.AvailabilityInternal,
		},
		"one domain for both": {
			env: map[string]string{"OS_AUTH_URL": "http://k/v3", "OS_TENANT_NAME": "demo", "OS_DOMAIN_NAME": "Example", "OS_USERNAME": "bob", "OS_PASSWORD": "pw"},
			want: gophercloud.AuthOptions{IdentityEndpoint: "http://k/v3", Username: "bob", Password: "pw", DomainName: "Example",
				Scope: &gophercloud.AuthScope{ProjectName: "demo", DomainName: "Example"}},
			avail: gophercloud.AvailabilityPublic,
		},
		"application credential": {
			env:   map[string]string{"OS_AUTH_URL": "http://k/v3", "OS_APPLICATION_CREDENTIAL_ID": "ac1", "OS_APPLICATION_CREDENTIAL_SECRET": "s"},
			want:  gophercloud.AuthOptions{IdentityEndpoint: "http://k/v3", ApplicationCredentialID: "ac1", ApplicationCredentialSecret: "s"},
			avail: gophercloud.AvailabilityPublic,
		},
		"nothing": {
			env:     map[string]string{},
			missing: []string{"OS_AUTH_URL", "OS_USERNAME or OS_USER_ID", "OS_PROJECT_ID or OS_PROJECT_NAME"},
		},
		"no domains": {
			env:     map[string]string{"OS_AUTH_URL": "http://k/v3", "OS_PROJECT_NAME": "demo", "OS_USERNAME": "bob", "OS_PASSWORD": "pw"},
			missing: []string{"OS_USER_DOMAIN_NAME or OS_USER_DOMAIN_ID", "OS_PROJECT_DOMAIN_NAME or OS_PROJECT_DOMAIN_ID"},
		},
		"no password": {
			env:     map[string]string{"OS_AUTH_URL": "http://k/v3", "OS_PROJECT_ID": "p", "OS_USER_ID": "u"},
			missing: []string{"OS_PASSWORD"},
		},
		"secret missing": {
			env:     map[string]string{"OS_AUTH_URL": "http://k/v3", "OS_APPLICATION_CREDENTIAL_ID": "ac1"},
			missing: []string{"OS_APPLICATION_CREDENTIAL_SECRET"},
		},
	} {
		ao, eo, _, err := authFromEnv(func(k string) string { return tc.env[k] })
		if tc.missing != nil {
			if err == nil {
				t.Errorf("%s: no error, want one naming %v", name, tc.missing)
				continue
			}
			for _, m := range tc.missing {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%s: %v, want it to name %s", name, err, m)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ao.IdentityEndpoint != tc.want.IdentityEndpoint || ao.Username != tc.want.Username || ao.UserID != tc.want.UserID ||
			ao.Password != tc.want.Password || ao.DomainID != tc.want.DomainID || ao.DomainName != tc.want.DomainName ||
			ao.ApplicationCredentialID != tc.want.ApplicationCredentialID || ao.ApplicationCredentialSecret != tc.want.ApplicationCredentialSecret {
			t.Errorf("%s: %+v, want %+v", name, ao, tc.want)
		}
		if (ao.Scope == nil) != (tc.want.Scope == nil) || ao.Scope != nil && *ao.Scope != *tc.want.Scope {
			t.Errorf("%s: scope %+v, want %+v", name, ao.Scope, tc.want.Scope)
		}
		if eo.Region != tc.region || eo.Availability != tc.avail {
			t.Errorf("%s: endpoint %+v, want region %q, %s", name, eo, tc.region, tc.avail)
		}
	}
}
