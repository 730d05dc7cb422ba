package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imgrec/imgrec"
)

// Result is what one policy did with one workload.
type Result struct {
	Policy     string
	Requests   int
	Unfinished int           // requests not answered by the end of the horizon
	Completion time.Duration // first arrival to last answer; -1 if some were not answered
	// Percentiles by nearest rank over answered requests, arrival to answer.
	P50, P95, P99, Max time.Duration
	InstanceSeconds    float64       // pending + running + stopping, unrounded
	BilledSeconds      float64       // running to the stop (+ pending with BillBoot), by the second, 60 s minimum per run
	Peak               int           // most instances pending or running at once
	BackToZero         time.Duration // last answer to no instance up or stopping; -1 if never within the horizon
	Launches, Starts   int
	// With Config.Providers: what the billed seconds cost, each provider's
	// share (cheapest first), and the launches and starts refused because
	// no provider (or the instance's own) had room.
	Cost      float64
	Providers []ProviderResult
	Refused   int

	Latencies []time.Duration // sorted
	Timeline  []Sample        // every change of instance counts or depth
}

// Sample is the state of the simulated system from At until the next Sample.
type Sample struct {
	At                         time.Duration
	Pending, Running, Stopping int
	Depth                      int // waiting + in flight
}

// Active is the number of instances pending or running.
func (s Sample) Active() int { return s.Pending + s.Running }

// sample records the state now if it changed.
func (s *sim) sample() {
	x := Sample{At: s.now, Depth: len(s.waiting) + s.inFlight}
	for _, in := range s.instances {
		switch in.state {
		case imgrec.StatePending:
			x.Pending++
		case imgrec.StateRunning:
			x.Running++
		case imgrec.StateStopping:
			x.Stopping++
		}
	}
	s.res.Peak = max(s.res.Peak, x.Active())
	if len(s.providers) > 1 || s.providers[0].Name != "" {
		for _, p := range s.providers {
			p.res.Peak = max(p.res.Peak, s.active(p))
		}
	}
	switch up := x.Active() + x.Stopping; {
	case up > 0:
		s.zeroAt = -1
	case s.zeroAt < 0:
		s.zeroAt = s.now
	}
	tl := s.res.Timeline
	if n := len(tl); n > 0 {
		last := tl[n-1]
		last.At = x.At
		if last == x {
			return
		}
		if tl[n-1].At == x.At {
			tl[n-1] = x
			return
		}
	}
	s.res.Timeline = append(tl, x)
}

func (s *sim) result() *Result {
	r := s.res
	for i, f := range s.finish {
		if f < 0 {
			r.Unfinished++
			continue
		}
		r.Latencies = append(r.Latencies, f-s.arrivals[i])
	}
	slices.Sort(r.Latencies)
	if n := len(r.Latencies); n > 0 {
		r.P50, r.P95, r.P99, r.Max = percentile(r.Latencies, 50), percentile(r.Latencies, 95), percentile(r.Latencies, 99), r.Latencies[n-1]
	}
	if len(s.cfg.Providers) > 0 {
		for _, p := range s.providers {
			r.Providers = append(r.Providers, p.res)
			r.Cost += p.res.Cost
		}
	}
	r.Completion, r.BackToZero = -1, -1
	if r.Unfinished == 0 {
		r.Completion = s.lastFinish - s.arrivals[0]
		if s.zeroAt >= 0 {
			r.BackToZero = s.zeroAt - s.lastFinish
		}
	}
	return &r
}

// percentile is the nearest-rank percentile of sorted ds, as loadgen computes it.
func percentile(ds []time.Duration, p int) time.Duration {
	return ds[max((p*len(ds)+99)/100-1, 0)]
}

// WriteTable writes one line per result, aligned. Results over several
// providers also get their cost, each provider's billed seconds and peak,
// and the launches and starts refused for want of room.
func WriteTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fleet := slices.ContainsFunc(results, func(r *Result) bool { return len(r.Providers) > 0 })
	head := "policy\tcompletion\tp50\tp95\tp99\tinstance-s\tbilled-s\tpeak\tback to 0\tlaunches\tstarts\t"
	if fleet {
		head += "cost\tbilled-s (peak) by provider\trefused\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%d\t%s\t%d\t%d\t", r.Policy,
			seconds(r.Completion), seconds(r.P50), seconds(r.P95), seconds(r.P99),
			r.InstanceSeconds, r.BilledSeconds, r.Peak, seconds(r.BackToZero), r.Launches, r.Starts)
		if fleet {
			var by []string
			for _, p := range r.Providers {
				by = append(by, fmt.Sprintf("%s %.0f (%d)", p.Name, p.BilledSeconds, p.Peak))
			}
			fmt.Fprintf(tw, "%.4f\t%s\t%d\t", r.Cost, strings.Join(by, ", "), r.Refused)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.Unfinished > 0 {
			if _, err := fmt.Fprintf(w, "policy %s left %d of %d requests unanswered at the end of the horizon\n", r.Policy, r.Unfinished, r.Requests); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteSavings compares each policy's results over several providers
// (fleet) with its results on one provider alone (alone, same order), on the
// same requests: cost, billed seconds and p95 of each, and the share of the
// cost bursting saved.
func WriteSavings(w io.Writer, aloneName string, fleet, alone []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "policy\tcost %[1]s alone\tcost\tsaved\tbilled-s %[1]s alone\tbilled-s\tp95 %[1]s alone\tp95\t\n", aloneName)
	for i, r := range fleet {
		a := alone[i]
		saved := "–"
		if a.Cost > 0 {
			saved = fmt.Sprintf("%.0f %%", 100*(a.Cost-r.Cost)/a.Cost)
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%s\t%.0f\t%.0f\t%s\t%s\t\n", r.Policy, a.Cost, r.Cost, saved,
			a.BilledSeconds, r.BilledSeconds, seconds(a.P95), seconds(r.P95))
	}
	return tw.Flush()
}

// seconds formats d as seconds with one decimal, "never" for -1.
func seconds(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// MarshalJSON writes durations in seconds (null for never) and leaves out
// the latencies and timeline the plots draw.
func (r *Result) MarshalJSON() ([]byte, error) {
	sec := func(d time.Duration) *float64 {
		if d < 0 {
			return nil
		}
		f := d.Seconds()
		return &f
	}
	var cost *float64
	if len(r.Providers) > 0 {
		cost = &r.Cost
	}
	return json.Marshal(struct {
		Policy            string   `json:"policy"`
		Requests          int      `json:"requests"`
		Unfinished        int      `json:"unfinished"`
		CompletionSeconds *float64 `json:"completion_seconds"`
		Latency           struct {
			P50 float64 `json:"p50"`
			P95 float64 `json:"p95"`
			P99 float64 `json:"p99"`
			Max float64 `json:"max"`
		} `json:"latency_seconds"`
		InstanceSeconds   float64  `json:"instance_seconds"`
		BilledSeconds     float64  `json:"billed_instance_seconds"`
		Peak              int      `json:"peak_instances"`
		BackToZeroSeconds *float64 `json:"back_to_zero_seconds"`
		Launches          int      `json:"launches"`
		Starts            int      `json:"starts"`
		// Over several providers only.
		Cost      *float64         `json:"cost,omitempty"`
		Providers []ProviderResult `json:"providers,omitempty"`
		Refused   int              `json:"refused,omitempty"`
	}{
		Policy: r.Policy, Requests: r.Requests, Unfinished: r.Unfinished, CompletionSeconds: sec(r.Completion),
		Latency: struct {
			P50 float64 `json:"p50"`
			P95 float64 `json:"p95"`
			P99 float64 `json:"p99"`
			Max float64 `json:"max"`
		}{r.P50.Seconds(), r.P95.Seconds(), r.P99.Seconds(), r.Max.Seconds()},
		InstanceSeconds: r.InstanceSeconds, BilledSeconds: r.BilledSeconds, Peak: r.Peak,
		BackToZeroSeconds: sec(r.BackToZero), Launches: r.Launches, Starts: r.Starts,
		Cost: cost, Providers: r.Providers, Refused: r.Refused,
	})
}
