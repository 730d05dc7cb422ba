package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/autoscale"
)

// TestInstancesFromController: a web tier reads the instances of the
// controller's last look, with their providers; before the first look and
// once the last one is stale, it says it cannot see them.
func TestInstancesFromController(t *testing.T) {
	look := &lastLook{}
	mux := http.NewServeMux()
	mux.Handle("GET "+instancesPath, look)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	list, err := remoteInstances(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := list(t.Context()); imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE || !strings.Contains(err.Error(), "503") {
		t.Errorf("before the first look: %v, want EUNAVAILABLE", err)
	}
	want := []imgrec.Instance{
		{ID: "nova:1", State: imgrec.StateRunning, Provider: "nova", Since: time.Now().UTC().Truncate(time.Second)},
		{ID: "ec2:i-2", State: imgrec.StatePending, Provider: "ec2", Since: time.Now().UTC().Truncate(time.Second)},
	}
	look.Observe(autoscale.Observation{Time: time.Now(), Instances: want}, autoscale.Decision{})
	got, err := list(t.Context())
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("after a look: %+v, %v; want %+v", got, err, want)
	}
	look.Observe(autoscale.Observation{Time: time.Now().Add(-time.Minute), Instances: want}, autoscale.Decision{})
	if _, err := list(t.Context()); err == nil || !strings.Contains(err.Error(), "last look is 1m0s old") {
		t.Errorf("a stale look: %v", err)
	}
	if _, err := remoteInstances("127.0.0.1:9090"); err == nil || !strings.Contains(err.Error(), "want http://HOST:PORT") {
		t.Errorf("a URL without scheme: %v", err)
	}
}
