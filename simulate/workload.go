package simulate

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Workload is when requests arrive, as offsets from the start.
type Workload struct {
	Spec     string
	Arrivals []time.Duration // sorted
}

// WorkloadSyntax documents what ParseWorkload accepts.
const WorkloadSyntax = `burst:N (N requests at once), poisson:RATE,DURATION (RATE a second), ` +
	`ramp:FROM,TO,DURATION (Poisson, rate going from FROM to TO a second), ` +
	`periodic:N,EVERY,COUNT (COUNT bursts of N, EVERY apart), day:PEAK,DURATION (Poisson, a day compressed into DURATION: ` +
	`the rate rises from 0 to PEAK a second at its middle and falls back, as sin²), replay:FILE (arrival seconds, first CSV column)`

// maxRequests bounds a workload so a typo cannot exhaust memory.
const maxRequests = 10_000_000

// ParseWorkload builds the arrivals of a workload spec (see WorkloadSyntax);
// random workloads draw from seed.
func ParseWorkload(spec string, seed uint64) (Workload, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	args := strings.Split(arg, ",")
	bad := func(want string) (Workload, error) {
		return Workload{}, invalidf("workload %q: want %s", spec, want)
	}
	r := rand.New(rand.NewPCG(seed, streamWorkload))
	var at []time.Duration
	switch kind {
	case "burst":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > maxRequests {
			return bad("burst:N with 1 <= N <= 10000000, e.g. burst:100")
		}
		at = make([]time.Duration, n)
	case "poisson":
		rate, errR := parseRate(args[0])
		dur, errD := parseDuration(arg1(args, 1))
		if len(args) != 2 || errR != nil || errD != nil || rate == 0 || dur == 0 || rate*dur.Seconds() > maxRequests {
			return bad("poisson:RATE,DURATION with a positive rate a second and duration, e.g. poisson:2,10m")
		}
		at = poisson(r, func(time.Duration) float64 { return rate }, rate, dur)
	case "ramp":
		from, errF := parseRate(args[0])
		to, errT := parseRate(arg1(args, 1))
		dur, errD := parseDuration(arg1(args, 2))
		if len(args) != 3 || errF != nil || errT != nil || errD != nil || dur == 0 || max(from, to) == 0 ||
			(from+to)/2*dur.Seconds() > maxRequests {
			return bad("ramp:FROM,TO,DURATION with rates a second, not both 0, e.g. ramp:0,10,10m")
		}
		rate := func(t time.Duration) float64 { return from + (to-from)*t.Seconds()/dur.Seconds() }
		at = poisson(r, rate, max(from, to), dur)
	case "day":
		peak, errP := parseRate(args[0])
		dur, errD := parseDuration(arg1(args, 1))
		if len(args) != 2 || errP != nil || errD != nil || peak == 0 || dur == 0 || peak/2*dur.Seconds() > maxRequests {
			return bad("day:PEAK,DURATION with a positive peak rate a second and duration, e.g. day:20,2h")
		}
		rate := func(t time.Duration) float64 {
			s := math.Sin(math.Pi * t.Seconds() / dur.Seconds())
			return peak * s * s
		}
		at = poisson(r, rate, peak, dur)
	case "periodic":
		n, errN := strconv.Atoi(args[0])
		every, errE := parseDuration(arg1(args, 1))
		count, errC := strconv.Atoi(arg1(args, 2))
		if len(args) != 3 || errN != nil || errE != nil || errC != nil || n < 1 || count < 1 || every == 0 || n*count > maxRequests {
			return bad("periodic:N,EVERY,COUNT, e.g. periodic:100,2m,5")
		}
		for i := range count {
			for range n {
				at = append(at, time.Duration(i)*every)
			}
		}
	case "replay":
		var err error
		if at, err = readSecondsFile(arg); err != nil {
			return Workload{}, err
		}
		if len(at) == 0 {
			return Workload{}, invalidf("workload %q: %s holds no arrival times", spec, arg)
		}
		slices.Sort(at)
	default:
		return bad(WorkloadSyntax)
	}
	if len(at) == 0 {
		return Workload{}, invalidf("workload %q: no request arrives; raise the rate or the duration", spec)
	}
	return Workload{Spec: spec, Arrivals: at}, nil
}

func arg1(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

func parseRate(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, invalidf("rate %q: want a number >= 0", s)
	}
	return f, nil
}

// poisson draws arrivals in [0, dur) of a Poisson process of the given rate,
// by thinning one of rate peak.
func poisson(r *rand.Rand, rate func(time.Duration) float64, peak float64, dur time.Duration) []time.Duration {
	var at []time.Duration
	for t := 0.0; ; {
		t += r.ExpFloat64() / peak
		d := time.Duration(t * float64(time.Second))
		if d >= dur {
			return at
		}
		if r.Float64()*peak < rate(d) {
			at = append(at, d)
		}
	}
}
