package autoscale

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imgrec/imgrec"
)

// Metrics exports what the controller sees and does.
type Metrics struct {
	instances *prometheus.GaugeVec
	desired   prometheus.Gauge
	actions   *prometheus.CounterVec
}

// NewMetrics registers imgrec_instances{state}, imgrec_desired_instances and
// imgrec_scaling_actions_total{action} with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imgrec_instances", Help: "Worker instances by state.",
		}, []string{"state"}),
		desired: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "imgrec_desired_instances", Help: "Instances the controller wants running.",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imgrec_scaling_actions_total", Help: "Instances started, launched, stopped and terminated by the controller.",
		}, []string{"action"}),
	}
	for _, s := range imgrec.InstanceStates[:4] {
		m.instances.WithLabelValues(string(s))
	}
	for _, a := range []string{"start", "launch", "stop", "terminate"} {
		m.actions.WithLabelValues(a)
	}
	reg.MustRegister(m.instances, m.desired, m.actions)
	return m
}

// Observe records one controller step; use it as Controller.Observed.
func (m *Metrics) Observe(o Observation, d Decision) {
	for _, s := range imgrec.InstanceStates[:4] {
		m.instances.WithLabelValues(string(s)).Set(float64(d.Counts[string(s)]))
	}
	m.desired.Set(float64(d.Desired))
	m.actions.WithLabelValues("start").Add(float64(len(d.Start)))
	m.actions.WithLabelValues("launch").Add(float64(d.Launch))
	m.actions.WithLabelValues("stop").Add(float64(len(d.Stop)))
	m.actions.WithLabelValues("terminate").Add(float64(len(d.Terminate)))
}
