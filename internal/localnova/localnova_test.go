package localnova

import (
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
)

func TestSharedServerAnswers(t *testing.T) {
	s := Shared(t)
	c := s.ComputeClient(t, "demo", "localnova-test", "2.52")
	pages, err := flavors.ListDetail(c, nil).AllPages(t.Context())
	if err != nil {
		t.Fatalf("list flavors: %v\n%s", err, s.Logs())
	}
	fl, err := flavors.ExtractFlavors(pages)
	if err != nil || len(fl) == 0 {
		t.Fatalf("flavors: %v, %v", fl, err)
	}
	for _, f := range fl {
		if f.ID == Flavor {
			return
		}
	}
	t.Errorf("no flavor %s among %+v", Flavor, fl)
}
