package nova

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"

	"github.com/imgrec/imgrec"
)

// Cloud is a session with an OpenStack cloud: its compute service and, for
// looking images up by name, its image service.
type Cloud struct {
	Compute *gophercloud.ServiceClient
	// Image is nil when the catalog has no image service; images are then
	// given by id.
	Image *gophercloud.ServiceClient
	// Network is nil when the catalog has no network service (Neutron),
	// as in the local Nova; only the web tier's access needs it.
	Network *gophercloud.ServiceClient
	// Source says where the credentials came from, for logs: "clouds.yaml
	// cloud NAME" or "OS_* environment".
	Source string
}

// compute returns the compute client at the provider's microversion.
func (c *Cloud) compute() *gophercloud.ServiceClient {
	sc := *c.Compute
	sc.Microversion = Microversion
	return &sc
}

// requestTimeout bounds each API request, so that a hung endpoint cannot
// stall the controller.
const requestTimeout = time.Minute

// Connect authenticates the way OpenStack's own clients do and returns the
// session. cloud names an entry of clouds.yaml (default $OS_CLOUD), which
// is looked for at $OS_CLIENT_CONFIG_FILE, else ./clouds.yaml,
// ~/.config/openstack/clouds.yaml and /etc/openstack/clouds.yaml (with
// secure.yaml beside it); $OS_REGION_NAME and $OS_INTERFACE override its
// region and interface. Without a cloud name, the OS_* variables an openrc
// file sets are read (see authFromEnv). Tokens are renewed as they expire.
func Connect(ctx context.Context, cloud string) (*Cloud, error) {
	if cloud == "" {
		cloud = os.Getenv("OS_CLOUD")
	}
	var (
		ao     gophercloud.AuthOptions
		eo     gophercloud.EndpointOpts
		tlsCfg *tls.Config
		err    error
		source string
	)
	if cloud != "" {
		source = "clouds.yaml cloud " + cloud
		ao, eo, tlsCfg, err = clouds.Parse(clouds.WithCloudName(cloud))
		if err != nil {
			return nil, imgrec.WrapError(imgrec.EINVALID, err, "OpenStack credentials: %s", source)
		}
	} else {
		source = "OS_* environment"
		ao, eo, tlsCfg, err = authFromEnv(os.Getenv)
		if err != nil {
			return nil, imgrec.WrapError(imgrec.EINVALID, err, "OpenStack credentials: no --os-cloud (or OS_CLOUD), so from the OS_* environment")
		}
	}
	ao.AllowReauth = true
	pc, err := config.NewProviderClient(ctx, ao, config.WithHTTPClient(http.Client{Timeout: requestTimeout}), config.WithTLSConfig(tlsCfg))
	if err != nil {
		code := imgrec.EUNAVAILABLE
		if gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) || gophercloud.ResponseCodeIs(err, http.StatusBadRequest) {
			code = imgrec.EINVALID
		}
		return nil, imgrec.WrapError(code, err, "OpenStack authentication at %s (%s)", ao.IdentityEndpoint, source)
	}
	compute, err := openstack.NewComputeV2(pc, eo)
	if err != nil {
		return nil, imgrec.WrapError(imgrec.EINVALID, err, "OpenStack compute service (%s, region %q)", source, eo.Region)
	}
	c := &Cloud{Compute: compute, Source: source}
	if image, err := openstack.NewImageV2(pc, eo); err == nil {
		c.Image = image
	}
	if network, err := openstack.NewNetworkV2(pc, eo); err == nil {
		c.Network = network
	}
	return c, nil
}

// authFromEnv reads the OS_* variables of an openrc file through getenv:
// OS_AUTH_URL; OS_USERNAME (with OS_USER_DOMAIN_NAME or _ID) or OS_USER_ID,
// and OS_PASSWORD; or OS_APPLICATION_CREDENTIAL_ID (or _NAME with a user)
// and _SECRET; the project as OS_PROJECT_ID, or OS_PROJECT_NAME with
// OS_PROJECT_DOMAIN_NAME or _ID (OS_DOMAIN_NAME and _ID stand in for either
// domain, OS_TENANT_* for the project); OS_REGION_NAME, OS_INTERFACE and
// OS_CACERT. gophercloud's openstack.AuthOptionsFromEnv reads neither
// OS_USER_DOMAIN_* nor OS_PROJECT_DOMAIN_*, which most openrc files use.
func authFromEnv(getenv func(string) string) (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, error) {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	ao := gophercloud.AuthOptions{
		IdentityEndpoint:            getenv("OS_AUTH_URL"),
		Username:                    getenv("OS_USERNAME"),
		UserID:                      first("OS_USER_ID", "OS_USERID"),
		Password:                    getenv("OS_PASSWORD"),
		DomainID:                    first("OS_USER_DOMAIN_ID", "OS_DOMAIN_ID"),
		DomainName:                  first("OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME"),
		ApplicationCredentialID:     getenv("OS_APPLICATION_CREDENTIAL_ID"),
		ApplicationCredentialName:   getenv("OS_APPLICATION_CREDENTIAL_NAME"),
		ApplicationCredentialSecret: getenv("OS_APPLICATION_CREDENTIAL_SECRET"),
	}
	eo := gophercloud.EndpointOpts{Region: getenv("OS_REGION_NAME"), Availability: gophercloud.AvailabilityPublic}
	switch getenv("OS_INTERFACE") {
	case "internal", "internalURL":
		eo.Availability = gophercloud.AvailabilityInternal
	case "admin", "adminURL":
		eo.Availability = gophercloud.AvailabilityAdmin
	}
	var missing []string
	if ao.IdentityEndpoint == "" {
		missing = append(missing, "OS_AUTH_URL")
	}
	appCred := ao.ApplicationCredentialID != "" || ao.ApplicationCredentialName != ""
	switch {
	case appCred:
		if ao.ApplicationCredentialSecret == "" {
			missing = append(missing, "OS_APPLICATION_CREDENTIAL_SECRET")
		}
		if ao.ApplicationCredentialID == "" && ao.Username == "" && ao.UserID == "" {
			missing = append(missing, "OS_USERNAME or OS_USER_ID (for OS_APPLICATION_CREDENTIAL_NAME)")
		}
	case ao.Username == "" && ao.UserID == "":
		missing = append(missing, "OS_USERNAME or OS_USER_ID")
	case ao.Password == "":
		missing = append(missing, "OS_PASSWORD")
	}
	if ao.Username != "" && ao.UserID == "" && ao.DomainID == "" && ao.DomainName == "" && (!appCred || ao.ApplicationCredentialID == "") {
		missing = append(missing, "OS_USER_DOMAIN_NAME or OS_USER_DOMAIN_ID (for OS_USERNAME)")
	}
	if !appCred { // an application credential carries its project
		if id := first("OS_PROJECT_ID", "OS_TENANT_ID"); id != "" {
			ao.Scope = &gophercloud.AuthScope{ProjectID: id}
		} else if name := first("OS_PROJECT_NAME", "OS_TENANT_NAME"); name != "" {
			ao.Scope = &gophercloud.AuthScope{
				ProjectName: name,
				DomainID:    first("OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_ID"),
				DomainName:  first("OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME"),
			}
			if ao.Scope.DomainID == "" && ao.Scope.DomainName == "" {
				missing = append(missing, "OS_PROJECT_DOMAIN_NAME or OS_PROJECT_DOMAIN_ID (for OS_PROJECT_NAME)")
			}
		} else {
			missing = append(missing, "OS_PROJECT_ID or OS_PROJECT_NAME")
		}
	}
	if len(missing) > 0 {
		return ao, eo, nil, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	var tlsCfg *tls.Config
	if path := getenv("OS_CACERT"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return ao, eo, nil, fmt.Errorf("OS_CACERT: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return ao, eo, nil, errors.New("OS_CACERT " + path + ": no PEM certificate in it")
		}
		tlsCfg = &tls.Config{RootCAs: pool}
	}
	return ao, eo, tlsCfg, nil
}
