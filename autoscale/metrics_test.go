package autoscale

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgrec/imgrec"
)

// gauges returns imgrec_instances by "provider/state".
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "imgrec_instances" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["provider"]+"/"+labels["state"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestMetricsByProvider: imgrec_instances counts by provider and state,
// the named providers at 0 from the start, and a provider seen once keeps
// its series (at 0) when its instances are gone.
func TestMetricsByProvider(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, "nova", "ec2")
	zero := func(providers ...string) map[string]float64 {
		out := map[string]float64{}
		for _, p := range providers {
			for _, s := range imgrec.InstanceStates[:4] {
				out[p+"/"+string(s)] = 0
			}
		}
		return out
	}
	if got, want := gauges(t, reg), zero("nova", "ec2"); !maps.Equal(got, want) {
		t.Errorf("before a look: %v, want %v", got, want)
	}
	m.Observe(obs(0, 10, 0,
		on("nova", instances(imgrec.StateRunning, 2, true)), on("ec2", instances(imgrec.StatePending, 1, false)),
		[]imgrec.Instance{{ID: "x", State: imgrec.StateStopped, Provider: "local"}}), Decision{})
	want := zero("nova", "ec2", "local")
	want["nova/running"], want["ec2/pending"], want["local/stopped"] = 2, 1, 1
	if got := gauges(t, reg); !maps.Equal(got, want) {
		t.Errorf("a look: %v, want %v", got, want)
	}
	m.Observe(obs(1, 0, 0), Decision{})
	if got, want := gauges(t, reg), zero("nova", "ec2", "local"); !maps.Equal(got, want) {
		t.Errorf("all gone: %v, want %v", got, want)
	}
}
