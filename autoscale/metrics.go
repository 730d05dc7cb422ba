package autoscale

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgrec/imgrec"
)

// Metrics exports what the controller sees and does.
type Metrics struct {
	instances *prometheus.GaugeVec
	desired   prometheus.Gauge
	actions   *prometheus.CounterVec
	providers []string // every provider seen or named, in that order
}

// NewMetrics registers imgrec_instances{provider,state},
// imgrec_desired_instances and imgrec_scaling_actions_total{action} with
// reg; the named providers (Instance.Provider) have their series from the
// start, at 0.
func NewMetrics(reg prometheus.Registerer, providers ...string) *Metrics {
	m := &Metrics{
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imgrec_instances", Help: "Worker instances by provider (local, ec2, nova) and state.",
		}, []string{"provider", "state"}),
		desired: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "imgrec_desired_instances", Help: "Instances the controller wants running.",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imgrec_scaling_actions_total", Help: "Instances started, launched, stopped and terminated by the controller.",
		}, []string{"action"}),
	}
	for _, p := range providers {
		m.provider(p)
	}
	for _, a := range []string{"start", "launch", "stop", "terminate"} {
		m.actions.WithLabelValues(a)
	}
	reg.MustRegister(m.instances, m.desired, m.actions)
	return m
}

// Observe records one controller step; use it as Controller.Observed.
func (m *Metrics) Observe(o Observation, d Decision) {
	counts := map[[2]string]int{}
	for _, in := range o.Instances {
		m.provider(in.Provider)
		counts[[2]string{in.Provider, string(in.State)}]++
	}
	for _, p := range m.providers {
		for _, s := range imgrec.InstanceStates[:4] {
			m.instances.WithLabelValues(p, string(s)).Set(float64(counts[[2]string{p, string(s)}]))
		}
	}
	m.desired.Set(float64(d.Desired))
	m.actions.WithLabelValues("start").Add(float64(len(d.Start)))
	m.actions.WithLabelValues("launch").Add(float64(d.Launch))
	m.actions.WithLabelValues("stop").Add(float64(len(d.Stop)))
	m.actions.WithLabelValues("terminate").Add(float64(len(d.Terminate)))
}

// provider adds p's series, at 0, the first time it is seen. Observe is
// called by one controller loop, so m.providers needs no lock.
func (m *Metrics) provider(p string) {
	if slices.Contains(m.providers, p) {
		return
	}
	m.providers = append(m.providers, p)
	for _, s := range imgrec.InstanceStates[:4] {
		m.instances.WithLabelValues(p, string(s))
	}
}
