package nova

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/imgrec/imgrec"
)

// resolveFlavor returns the id of the flavor ref names, by id or by name.
func resolveFlavor(ctx context.Context, compute *gophercloud.ServiceClient, ref string) (string, error) {
	f, err := flavors.Get(ctx, compute, ref).Extract()
	if err == nil {
		return f.ID, nil
	}
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return "", apiError(err, "flavor %q", ref)
	}
	pages, err := flavors.ListDetail(compute, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
	if err != nil {
		return "", apiError(err, "flavor %q: list flavors", ref)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return "", apiError(err, "flavor %q: list flavors", ref)
	}
	var ids, names []string
	for _, f := range all {
		if f.Name == ref {
			ids = append(ids, f.ID)
		}
		names = append(names, f.Name)
	}
	return pick("flavor", ref, ids, names)
}

// resolveImage returns the id of the image ref names, by id or by name
// (among active images). Without an image service, ref must be an id.
func resolveImage(ctx context.Context, image *gophercloud.ServiceClient, ref string) (string, error) {
	if image == nil {
		return ref, nil
	}
	if networkID.MatchString(ref) { // image ids are UUIDs too
		img, err := images.Get(ctx, image, ref).Extract()
		if err == nil {
			return img.ID, nil
		}
		if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return "", apiError(err, "image %q", ref)
		}
	}
	pages, err := images.List(image, images.ListOpts{Name: ref}).AllPages(ctx)
	if err != nil {
		return "", apiError(err, "image %q: list images", ref)
	}
	all, err := images.ExtractImages(pages)
	if err != nil {
		return "", apiError(err, "image %q: list images", ref)
	}
	var ids, names []string
	for _, img := range all {
		if img.Name == ref && img.Status == images.ImageStatusActive {
			ids = append(ids, img.ID)
		}
		names = append(names, img.Name)
	}
	return pick("image", ref, ids, names)
}

// pick returns the one id among ids, or says why there is none.
func pick(kind, ref string, ids, names []string) (string, error) {
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		slices.Sort(names)
		names = slices.Compact(names)
		if len(names) > 20 {
			names = append(names[:20], "…")
		}
		return "", imgrec.Errorf(imgrec.ENOTFOUND, "%s %q: no %s has that id or name (there are: %s)", kind, ref, kind, strings.Join(names, ", "))
	}
	return "", imgrec.Errorf(imgrec.EINVALID, "%s %q: %d %ss have that name (%s); give the id", kind, ref, len(ids), kind, strings.Join(ids, ", "))
}
