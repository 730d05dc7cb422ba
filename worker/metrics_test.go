package worker

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetrics: queue wait and decode are observed for each request,
// inference and batch size for each forward pass, failures counted by
// reason.
func TestMetrics(t *testing.T) {
	r := newRig(t, noRedelivery)
	reg := prometheus.NewRegistry()
	cfg := r.cfg
	cfg.Registry = reg
	stop := r.run(t, cfg)
	r.send(t, "a", "test_0.JPEG", course(t, "test_0.JPEG"))
	r.send(t, "b", "test_1.JPEG", course(t, "test_1.JPEG"))
	r.send(t, "c", "junk.jpg", []byte("\xff\xd8\xff not a JPEG after all"))
	r.send(t, "d", "gone.jpg", nil) // never stored
	for range 4 {
		r.reply(t)
	}
	stop()
	m := gather(t, reg)
	for name, want := range map[string]float64{
		"imgrec_worker_queue_wait_seconds_count":               4, // every pick-up
		"imgrec_worker_decode_seconds_count":                   3, // every image fetched, the junk one too
		"imgrec_worker_batch_size_sum":                         2, // the two good images
		`imgrec_worker_failures_total{reason="decode"}`:        1,
		`imgrec_worker_failures_total{reason="missing_input"}`: 1,
		`imgrec_worker_failures_total{reason="fetch"}`:         0,
		`imgrec_worker_failures_total{reason="store"}`:         0,
		"imgrec_worker_requests_in_hand":                       0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v); want %v", name, got, ok, want)
		}
	}
	// In one or two passes.
	if n := m["imgrec_worker_batch_inference_seconds_count"]; n < 1 || n > 2 || m["imgrec_worker_batch_size_count"] != n {
		t.Errorf("inference observed %v times, batch size %v; want the same, 1 or 2", n, m["imgrec_worker_batch_size_count"])
	}
}

// gather reads reg into name{label="value"} → value, histograms as their
// _count and _sum.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			if len(m.GetLabel()) > 0 {
				name += "{"
				for i, l := range m.GetLabel() {
					if i > 0 {
						name += ","
					}
					name += l.GetName() + `="` + l.GetValue() + `"`
				}
				name += "}"
			}
			switch {
			case m.GetHistogram() != nil:
				out[mf.GetName()+"_count"] = float64(m.GetHistogram().GetSampleCount())
				out[mf.GetName()+"_sum"] = m.GetHistogram().GetSampleSum()
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
