package loadgen

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func TestLatencyNearestRank(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		ds := make([]time.Duration, len(ns))
		for i, n := range ns {
			ds[i] = time.Duration(n) * time.Millisecond
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	rand.Shuffle(len(hundred), func(i, j int) { hundred[i], hundred[j] = hundred[j], hundred[i] })
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"empty", nil, Latency{}},
		{"one", ms(7), Latency{Min: 7e6, Mean: 7e6, P50: 7e6, P95: 7e6, P99: 7e6, Max: 7e6}},
		// ranks: p50 ceil(2)=2, p95 ceil(3.8)=4, p99 ceil(3.96)=4
		{"four", ms(40, 10, 30, 20), Latency{Min: 10e6, Mean: 25e6, P50: 20e6, P95: 40e6, P99: 40e6, Max: 40e6}},
		// 1..100 ms shuffled: the n-th percentile is n ms exactly
		{"1..100", ms(hundred...), Latency{Min: 1e6, Mean: 50500 * time.Microsecond, P50: 50e6, P95: 95e6, P99: 99e6, Max: 100e6}},
		// p99 of 1000 is the 990th: one slow outlier in a thousand does not move it
		{"outlier", append(ms(make([]int, 999)...), time.Second), Latency{Mean: time.Millisecond, Max: time.Second}},
	} {
		if got := newLatency(tc.in); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestSummaryJSON(t *testing.T) {
	s := Summary{
		Planned: 10, Requests: 8, Concurrency: 2, OK: 5, Wrong: 1, Failed: 2, LabelsChecked: true, Interrupted: true,
		OpenLoop: true, Dropped: 1, Late: 3, MaxLate: 20 * time.Millisecond, ScheduledRate: 10, SendRate: 9.5,
		Wall: 1500 * time.Millisecond, Throughput: 8 / 1.5,
		Records:       []Record{{Name: "not in the JSON"}},
		Latency:       Latency{Min: time.Millisecond, Mean: 2 * time.Millisecond, P50: 3 * time.Millisecond, P95: 250 * time.Millisecond, P99: time.Second, Max: 2 * time.Second},
		WrongExamples: []Wrong{{"test_1.JPEG", "tabby", "tiger cat"}},
		Failures:      []Failure{{"timeout after 1s", 2}},
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	lat, _ := got["latency_seconds"].(map[string]any)
	wrong, _ := got["wrong_examples"].([]any)
	fails, _ := got["failures"].([]any)
	for key, pair := range map[string][2]any{
		"requests":           {got["requests"], 8.0},
		"planned":            {got["planned"], 10.0},
		"ok":                 {got["ok"], 5.0},
		"wrong":              {got["wrong"], 1.0},
		"failed":             {got["failed"], 2.0},
		"interrupted":        {got["interrupted"], true},
		"labels_checked":     {got["labels_checked"], true},
		"mode":               {got["mode"], "open"},
		"dropped":            {got["dropped"], 1.0},
		"late":               {got["late"], 3.0},
		"max_late_seconds":   {got["max_late_seconds"], 0.02},
		"scheduled_rate_rps": {got["scheduled_rate_rps"], 10.0},
		"send_rate_rps":      {got["send_rate_rps"], 9.5},
		"wall_seconds":       {got["wall_seconds"], 1.5},
		"throughput_rps":     {got["throughput_rps"], 8 / 1.5},
		"latency.p95":        {lat["p95"], 0.25},
		"latency.max":        {lat["max"], 2.0},
		"latency.min":        {lat["min"], 0.001},
		"wrong[0]":           {wrong[0], map[string]any{"file": "test_1.JPEG", "got": "tabby", "want": "tiger cat"}},
		"failures[0]":        {fails[0], map[string]any{"reason": "timeout after 1s", "count": 2.0}},
	} {
		if g, w := pair[0], pair[1]; fmtAny(g) != fmtAny(w) {
			t.Errorf("%s = %v, want %v (json %s)", key, g, w, b)
		}
	}

	if bytes.Contains(b, []byte("not in the JSON")) {
		t.Errorf("records marshalled: %s", b)
	}

	// Lists are never null, so scripts can iterate without checks.
	b, _ = json.Marshal(Summary{})
	clear(got)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["mode"] != "closed" {
		t.Errorf("mode of a closed-loop run: %s", b)
	}
	if _, ok := got["wrong_examples"].([]any); !ok {
		t.Errorf("empty wrong_examples marshalled as %s", b)
	}
	if _, ok := got["failures"].([]any); !ok {
		t.Errorf("empty failures marshalled as %s", b)
	}
}

func fmtAny(v any) string { b, _ := json.Marshal(v); return string(b) }
