package simulate

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

func TestParseDist(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "times.csv")
	os.WriteFile(csv, []byte("seconds,worker\n0.25,w-1\n\n250ms,w-2\n0.5\n"), 0o644)
	r := rand.New(rand.NewPCG(1, 2))
	for spec, mean := range map[string]time.Duration{
		"0.2s":            200 * time.Millisecond,
		"0.2":             200 * time.Millisecond,
		"uniform:26s,40s": 33 * time.Second,
		"exp:1s":          time.Second,
		"csv:" + csv:      time.Second / 3,
	} {
		d, err := ParseDist(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if d.Mean() != mean {
			t.Errorf("%s: mean %s, want %s", spec, d.Mean(), mean)
		}
		if again, err := ParseDist(d.String()); err != nil || again.Mean() != mean {
			t.Errorf("%s: String() = %q does not parse back: %v", spec, d, err)
		}
		for range 100 {
			if v := d.Sample(r); v < 0 {
				t.Fatalf("%s: negative sample %s", spec, v)
			}
		}
	}
	u := Uniform{26 * time.Second, 40 * time.Second}
	for range 1000 {
		if v := u.Sample(r); v < u.Lo || v > u.Hi {
			t.Fatalf("uniform sample %s outside [%s, %s]", v, u.Lo, u.Hi)
		}
	}
}

func TestParseDistErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("seconds\n0.2\nfast\n"), 0o644)
	empty := filepath.Join(t.TempDir(), "empty.csv")
	os.WriteFile(empty, []byte("seconds\n"), 0o644)
	for spec, want := range map[string]string{
		"":                 `distribution ""`,
		"fast":             `distribution "fast": want DURATION`,
		"-1s":              `distribution "-1s"`,
		"uniform:40s,26s":  "LO <= HI",
		"uniform:26s":      "uniform:LO,HI",
		"exp:0s":           "positive",
		"normal:1s,1s":     `unknown kind "normal"`,
		"csv:/nonexistent": "/nonexistent",
		"csv:" + bad:       "bad.csv line 3",
		"csv:" + empty:     "holds no values",
	} {
		_, err := ParseDist(spec)
		if err == nil || !strings.Contains(err.Error(), want) || imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("ParseDist(%q) = %v, want an EINVALID error containing %q", spec, err, want)
		}
	}
}

func TestParseWorkload(t *testing.T) {
	replay := filepath.Join(t.TempDir(), "arrivals.csv")
	os.WriteFile(replay, []byte("at\n2.5\n0\n1s\n"), 0o644)
	for _, c := range []struct {
		spec     string
		n        int // exact count, or the expected count of a random workload within 20 %
		random   bool
		lastLess time.Duration
	}{
		{"burst:100", 100, false, time.Nanosecond},
		{"poisson:2,10m", 1200, true, 10 * time.Minute},
		{"ramp:0,10,10m", 3000, true, 10 * time.Minute},
		{"periodic:50,2m,3", 150, false, 4*time.Minute + time.Nanosecond},
		{"day:10,20m", 6000, true, 20 * time.Minute},
		{"replay:" + replay, 3, false, 2500*time.Millisecond + time.Nanosecond},
	} {
		w, err := ParseWorkload(c.spec, 1)
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		n := len(w.Arrivals)
		if (!c.random && n != c.n) || (c.random && (n < c.n*8/10 || n > c.n*12/10)) {
			t.Errorf("%s: %d arrivals, want %d", c.spec, n, c.n)
		}
		if !slices.IsSorted(w.Arrivals) || w.Arrivals[0] < 0 || w.Arrivals[n-1] >= c.lastLess {
			t.Errorf("%s: arrivals unsorted or out of range: first %s, last %s", c.spec, w.Arrivals[0], w.Arrivals[n-1])
		}
		again, _ := ParseWorkload(c.spec, 1)
		if !slices.Equal(w.Arrivals, again.Arrivals) {
			t.Errorf("%s: not deterministic for one seed", c.spec)
		}
	}
	// A ramp's arrivals crowd toward its high end.
	w, _ := ParseWorkload("ramp:0,10,10m", 1)
	firstHalf, _ := slices.BinarySearch(w.Arrivals, 5*time.Minute)
	if firstHalf*2 >= len(w.Arrivals)/2 {
		t.Errorf("ramp 0→10: %d of %d arrivals in the first half, want about a quarter", firstHalf, len(w.Arrivals))
	}
	// A day's arrivals crowd toward its middle: sin² puts 82 % of them in
	// its middle half.
	w, _ = ParseWorkload("day:10,20m", 1)
	q1, _ := slices.BinarySearch(w.Arrivals, 5*time.Minute)
	q3, _ := slices.BinarySearch(w.Arrivals, 15*time.Minute)
	if mid := float64(q3-q1) / float64(len(w.Arrivals)); mid < 0.78 || mid > 0.86 {
		t.Errorf("day: %.2f of the arrivals in the middle half, want about 0.82", mid)
	}
	a, _ := ParseWorkload("poisson:2,10m", 1)
	b, _ := ParseWorkload("poisson:2,10m", 2)
	if slices.Equal(a.Arrivals, b.Arrivals) {
		t.Error("poisson: seeds 1 and 2 gave the same arrivals")
	}
}

func TestParseWorkloadErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                    "want burst:N",
		"burst:0":             "burst:N with 1 <= N",
		"burst:many":          "burst:N",
		"burst:20000000":      "burst:N",
		"poisson:2":           "poisson:RATE,DURATION",
		"poisson:-1,1m":       "poisson:RATE,DURATION",
		"poisson:1e9,1h":      "poisson:RATE,DURATION",
		"poisson:0.001,1s":    "no request arrives",
		"ramp:0,0,1m":         "not both 0",
		"day:0,1h":            "day:PEAK,DURATION",
		"day:5":               "day:PEAK,DURATION",
		"periodic:10,0s,3":    "periodic:N,EVERY,COUNT",
		"replay:/nonexistent": "/nonexistent",
		"steady:5":            "want burst:N",
	} {
		_, err := ParseWorkload(spec, 1)
		if err == nil || !strings.Contains(err.Error(), want) || imgrec.ErrorCode(err) != imgrec.EINVALID {
			t.Errorf("ParseWorkload(%q) = %v, want an EINVALID error containing %q", spec, err, want)
		}
	}
}
