package web

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imgrec/imgrec"
)

// The web tier samples the system once a second and keeps the last three
// minutes, so a page opened mid-run draws what led up to it.
const (
	historyInterval = time.Second
	historyLength   = 180
)

// sample is the system at one moment, as the page's charts draw it.
type sample struct {
	Seq         int64          `json:"seq"`
	Time        time.Time      `json:"time"`
	Depth       int            `json:"depth"`
	DeadLetters int            `json:"dead_letters"`
	Instances   map[string]int `json:"instances,omitempty"` // by state; absent when this tier cannot list them
	// Providers counts the instances by provider, then state (every live
	// state present), for the providers that have instances.
	Providers map[string]map[string]int `json:"providers,omitempty"`
	Answered  int64                     `json:"answered"` // answers this tier received since the previous sample
}

// history is a window of the latest samples.
type history struct {
	answered atomic.Int64 // answers since the last sample was taken

	mu      sync.Mutex
	seq     int64
	samples []sample // oldest first, at most historyLength
}

func (h *history) add(smp sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	smp.Seq = h.seq
	if len(h.samples) == historyLength {
		h.samples = append(h.samples[:0], h.samples[1:]...)
	}
	h.samples = append(h.samples, smp)
}

// since returns the samples after seq, oldest first; all of them when seq
// is from before a restart (the numbers went back), so a page starts over.
func (h *history) since(seq int64) []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq > h.seq {
		seq = 0
	}
	out := []sample{}
	for _, smp := range h.samples {
		if smp.Seq > seq {
			out = append(out, smp)
		}
	}
	return out
}

// sampleHistory takes a sample every historyInterval until Close.
func (s *Server) sampleHistory() {
	defer close(s.samplingDone)
	tick := time.NewTicker(historyInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.closing:
			return
		case now := <-tick.C:
			if smp, err := s.sample(now); err != nil {
				// A gap in the charts says it; one line a second would drown the log.
				s.log.Debug("history sample skipped", "err", err)
			} else {
				s.history.add(smp)
			}
		}
	}
}

func (s *Server) sample(now time.Time) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), historyInterval)
	defer cancel()
	st, err := s.queueStats(ctx)
	if err != nil {
		return sample{}, err
	}
	smp := sample{Time: now, Depth: st.Depth(), DeadLetters: st.DeadLetters}
	if s.cfg.Instances != nil {
		list, err := s.cfg.Instances(ctx)
		if err != nil {
			return sample{}, err
		}
		smp.Instances = countInstances(list)
		smp.Providers = countByProvider(list)
	}
	// Taken last, so a skipped sample's answers count in the next one.
	smp.Answered = s.history.answered.Swap(0)
	return smp, nil
}

// countInstances counts instances by state, every live state present.
func countInstances(list []imgrec.Instance) map[string]int {
	counts := map[string]int{}
	for _, state := range imgrec.InstanceStates[:4] {
		counts[string(state)] = 0
	}
	for _, in := range list {
		counts[string(in.State)]++
	}
	return counts
}

// countByProvider counts instances by provider, then state; nil for none.
func countByProvider(list []imgrec.Instance) map[string]map[string]int {
	var out map[string]map[string]int
	for _, in := range list {
		if out == nil {
			out = map[string]map[string]int{}
		}
		if out[in.Provider] == nil {
			out[in.Provider] = countInstances(nil)
		}
		out[in.Provider][string(in.State)]++
	}
	return out
}

// handleHistory serves the samples after ?after=SEQ (all kept ones without it).
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	var after int64
	if a := r.URL.Query().Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			s.jsonError(w, r, imgrec.Errorf(imgrec.EINVALID, "after=%q: want a sample number", a))
			return
		}
		after = n
	}
	writeJSON(w, http.StatusOK, struct {
		IntervalSeconds float64  `json:"interval_seconds"`
		WindowSeconds   float64  `json:"window_seconds"` // how far back samples are kept
		Samples         []sample `json:"samples"`
	}{historyInterval.Seconds(), historyLength * historyInterval.Seconds(), s.history.since(after)})
}
