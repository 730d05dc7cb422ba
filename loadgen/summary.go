package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

const (
	maxExamples  = 5  // wrong answers kept as examples
	maxReasons   = 10 // distinct failure reasons kept; the rest are counted together
	otherReasons = "other reasons"
)

// Summary is the outcome of a run. It marshals to JSON with snake_case
// names and durations in seconds (see MarshalJSON).
type Summary struct {
	Planned       int  // requests asked for
	Requests      int  // requests completed: fewer than Planned if interrupted or some were dropped
	Concurrency   int  // the most requests allowed in flight
	OK            int  // 200 with the expected label, or any 200 without labels
	Wrong         int  // 200 with another label than expected
	Failed        int  // transport error, timeout or non-200 status
	LabelsChecked bool // whether answers were compared with expected labels
	Interrupted   bool // the run was stopped before Planned requests were sent

	// Open loop (Config.Arrivals) only.
	OpenLoop      bool          // requests were sent at their times, not as answers came
	Workload      string        // Config.Workload
	Dropped       int           // due while Concurrency requests were in flight: not sent
	Late          int           // sent more than Config.LateAfter behind their time
	MaxLate       time.Duration // the furthest behind its time a request was sent
	ScheduledRate float64       // requests a second the arrivals ask for, (n-1)/(last-first); 0 if all at once

	SendRate   float64       // requests a second sent, (n-1)/(last send-first send); 0 for fewer than 2
	Wall       time.Duration // from the start of the run to the last answer
	Throughput float64       // completed requests per second of Wall
	Latency    Latency       // over every completed request, failed ones included

	WrongExamples []Wrong   // the first few wrong answers
	Failures      []Failure // failures grouped by reason, most frequent first

	// Records has one entry per request sent or dropped, in the order they
	// were due; WriteCSV writes them. Not in the JSON.
	Records []Record
}

// Latency summarises request durations. Percentiles are exact, by nearest
// rank over all durations: Pn is the smallest duration that at least n% of
// requests did not exceed, sorted[ceil(n·count/100)-1].
type Latency struct {
	Min, Mean, P50, P95, P99, Max time.Duration
}

// Wrong is an answer that differs from the expected label.
type Wrong struct {
	File string `json:"file"`
	Got  string `json:"got"`
	Want string `json:"want"`
}

// Failure counts the failed requests that share a reason, such as
// "HTTP 503 Service Unavailable: queue full" or "timeout after 1m30s".
// Past the first few distinct reasons, failures are counted under
// "other reasons", so Counts always add up to Summary.Failed.
type Failure struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// MarshalJSON writes durations as seconds and names fields for scripts:
// requests, planned, concurrency, ok, wrong, failed, labels_checked,
// interrupted, mode (closed or open), workload (if described), dropped,
// late, max_late_seconds, scheduled_rate_rps, send_rate_rps, wall_seconds,
// throughput_rps,
// latency_seconds{min,mean,p50,p95,p99,max}, wrong_examples[{file,got,want}],
// failures[{reason,count}].
func (s Summary) MarshalJSON() ([]byte, error) {
	type latency struct {
		Min  float64 `json:"min"`
		Mean float64 `json:"mean"`
		P50  float64 `json:"p50"`
		P95  float64 `json:"p95"`
		P99  float64 `json:"p99"`
		Max  float64 `json:"max"`
	}
	l := s.Latency
	out := struct {
		Requests      int       `json:"requests"`
		Planned       int       `json:"planned"`
		Concurrency   int       `json:"concurrency"`
		OK            int       `json:"ok"`
		Wrong         int       `json:"wrong"`
		Failed        int       `json:"failed"`
		LabelsChecked bool      `json:"labels_checked"`
		Interrupted   bool      `json:"interrupted"`
		Mode          string    `json:"mode"`
		Workload      string    `json:"workload,omitempty"`
		Dropped       int       `json:"dropped"`
		Late          int       `json:"late"`
		MaxLate       float64   `json:"max_late_seconds"`
		ScheduledRate float64   `json:"scheduled_rate_rps"`
		SendRate      float64   `json:"send_rate_rps"`
		WallSeconds   float64   `json:"wall_seconds"`
		Throughput    float64   `json:"throughput_rps"`
		Latency       latency   `json:"latency_seconds"`
		WrongExamples []Wrong   `json:"wrong_examples"`
		Failures      []Failure `json:"failures"`
	}{
		s.Requests, s.Planned, s.Concurrency, s.OK, s.Wrong, s.Failed, s.LabelsChecked, s.Interrupted,
		s.Mode(), s.Workload, s.Dropped, s.Late, s.MaxLate.Seconds(), s.ScheduledRate, s.SendRate,
		s.Wall.Seconds(), s.Throughput,
		latency{l.Min.Seconds(), l.Mean.Seconds(), l.P50.Seconds(), l.P95.Seconds(), l.P99.Seconds(), l.Max.Seconds()},
		s.WrongExamples, s.Failures,
	}
	// Empty lists rather than null, so scripts can iterate without checks.
	if out.WrongExamples == nil {
		out.WrongExamples = []Wrong{}
	}
	if out.Failures == nil {
		out.Failures = []Failure{}
	}
	return json.Marshal(out)
}

// Mode is "open" for an open-loop run, "closed" otherwise.
func (s Summary) Mode() string {
	if s.OpenLoop {
		return "open"
	}
	return "closed"
}

// newLatency computes the statistics of ds, which it sorts.
func newLatency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{
		Min:  ds[0],
		Mean: sum / time.Duration(len(ds)),
		P50:  percentile(ds, 50),
		P95:  percentile(ds, 95),
		P99:  percentile(ds, 99),
		Max:  ds[len(ds)-1],
	}
}

// percentile returns the nearest-rank p-th percentile of sorted, a non-empty
// ascending slice. Integer arithmetic keeps ranks exact (no 0.95*100 drift).
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p·n/100)
	return sorted[max(rank, 1)-1]
}

// recorder accumulates results from concurrent workers.
type recorder struct {
	mu        sync.Mutex
	cfg       Config
	start     time.Time
	snap      Snapshot
	latencies []time.Duration
	records   []Record
	taken     []bool // records[i] is filled
	late      int
	maxLate   time.Duration
	wrong     []Wrong
	failures  []Failure
	byReason  map[string]int // index into failures
}

func newRecorder(cfg Config) *recorder {
	return &recorder{
		cfg:       cfg,
		start:     time.Now(),
		snap:      Snapshot{Total: cfg.Requests},
		latencies: make([]time.Duration, 0, cfg.Requests),
		records:   make([]Record, cfg.Requests),
		taken:     make([]bool, cfg.Requests),
		byReason:  map[string]int{},
	}
}

// add records request i, due at due from the start (-1 in a closed loop),
// sent at sent and completed d later: the label got, or the error.
func (r *recorder) add(i int, name string, due time.Duration, sent time.Time, d time.Duration, got string, status int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := Record{Sent: sent.Sub(r.start), Name: name, Status: status, Latency: d, Label: got}
	if due >= 0 {
		late := rec.Sent - due
		r.maxLate = max(r.maxLate, late)
		if late > cmp.Or(r.cfg.LateAfter, DefaultLateAfter) {
			r.late++
		}
	}
	r.latencies = append(r.latencies, d)
	r.snap.Done++
	want, checked := r.cfg.Expected[name]
	switch {
	case err != nil:
		r.snap.Failed++
		rec.Outcome, rec.Error = OutcomeFailed, reason(err, r.cfg.Timeout)
		r.fail(rec.Error)
	case checked && got != want:
		r.snap.Wrong++
		rec.Outcome = OutcomeWrong
		if len(r.wrong) < maxExamples {
			r.wrong = append(r.wrong, Wrong{File: name, Got: got, Want: want})
		}
	default:
		r.snap.OK++
		rec.Outcome = OutcomeOK
	}
	r.records[i], r.taken[i] = rec, true
	r.progress()
}

// drop records that request i, due at due, found every slot taken.
func (r *recorder) drop(i int, name string, due time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap.Dropped++
	r.records[i] = Record{Sent: due, Name: name, Outcome: OutcomeDropped,
		Error: fmt.Sprintf("not sent: %d requests in flight", r.cfg.Concurrency)}
	r.taken[i] = true
	r.progress()
}

func (r *recorder) progress() {
	if r.cfg.Progress != nil {
		s := r.snap
		s.Elapsed = time.Since(r.start)
		r.cfg.Progress(s)
	}
}

func (r *recorder) fail(why string) {
	i, ok := r.byReason[why]
	if !ok {
		if len(r.failures) >= maxReasons {
			why = otherReasons
		}
		if i, ok = r.byReason[why]; !ok {
			i = len(r.failures)
			r.byReason[why] = i
			r.failures = append(r.failures, Failure{Reason: why})
		}
	}
	r.failures[i].Count++
}

func (r *recorder) summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	wall := time.Since(r.start)
	s := Summary{
		Planned:       r.cfg.Requests,
		Requests:      r.snap.Done,
		Concurrency:   r.cfg.Concurrency,
		OK:            r.snap.OK,
		Wrong:         r.snap.Wrong,
		Failed:        r.snap.Failed,
		LabelsChecked: r.cfg.Expected != nil,
		OpenLoop:      r.cfg.Arrivals != nil,
		Workload:      r.cfg.Workload,
		Dropped:       r.snap.Dropped,
		Late:          r.late,
		MaxLate:       r.maxLate,
		ScheduledRate: rate(r.cfg.Arrivals),
		Wall:          wall,
		Latency:       newLatency(r.latencies),
		WrongExamples: r.wrong,
		Failures:      slices.Clone(r.failures),
	}
	var sent []time.Duration
	for i, rec := range r.records {
		if !r.taken[i] {
			continue // never due: the run was interrupted
		}
		s.Records = append(s.Records, rec)
		if rec.Outcome != OutcomeDropped {
			sent = append(sent, rec.Sent)
		}
	}
	slices.Sort(sent) // closed-loop workers may overtake each other
	s.SendRate = rate(sent)
	if wall > 0 {
		s.Throughput = float64(s.Requests) / wall.Seconds()
	}
	// Most frequent first; the catch-all stays last whatever its count.
	slices.SortStableFunc(s.Failures, func(a, b Failure) int {
		if (a.Reason == otherReasons) != (b.Reason == otherReasons) {
			if a.Reason == otherReasons {
				return 1
			}
			return -1
		}
		return b.Count - a.Count
	})
	return s
}

// rate is the requests a second of sorted times: (n-1) over the span from
// the first to the last; 0 for fewer than two or all at once.
func rate(at []time.Duration) float64 {
	if len(at) < 2 || at[len(at)-1] == at[0] {
		return 0
	}
	return float64(len(at)-1) / (at[len(at)-1] - at[0]).Seconds()
}
