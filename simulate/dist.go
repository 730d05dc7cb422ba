package simulate

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/imgrec/imgrec"
)

// Dist is a distribution of durations: boot delays, service times.
type Dist interface {
	Sample(r *rand.Rand) time.Duration
	Mean() time.Duration
	String() string // the spec ParseDist reads back
}

// Constant is always the same duration.
type Constant time.Duration

func (c Constant) Sample(*rand.Rand) time.Duration { return time.Duration(c) }
func (c Constant) Mean() time.Duration             { return time.Duration(c) }
func (c Constant) String() string                  { return time.Duration(c).String() }

// Uniform is uniform between Lo and Hi.
type Uniform struct{ Lo, Hi time.Duration }

func (u Uniform) Sample(r *rand.Rand) time.Duration {
	return u.Lo + time.Duration(r.Float64()*float64(u.Hi-u.Lo))
}
func (u Uniform) Mean() time.Duration { return (u.Lo + u.Hi) / 2 }
func (u Uniform) String() string      { return fmt.Sprintf("uniform:%s,%s", u.Lo, u.Hi) }

// Exponential has mean M, as inter-arrival or service times of a memoryless
// process.
type Exponential struct{ M time.Duration }

func (e Exponential) Sample(r *rand.Rand) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(e.M))
}
func (e Exponential) Mean() time.Duration { return e.M }
func (e Exponential) String() string      { return "exp:" + e.M.String() }

// Empirical draws from measured values, each equally likely.
type Empirical struct {
	Values []time.Duration
	Source string // where they came from, for String
}

func (e Empirical) Sample(r *rand.Rand) time.Duration { return e.Values[r.IntN(len(e.Values))] }
func (e Empirical) Mean() time.Duration {
	var sum time.Duration
	for _, v := range e.Values {
		sum += v
	}
	return sum / time.Duration(len(e.Values))
}
func (e Empirical) String() string { return "csv:" + e.Source }

// DistSyntax documents what ParseDist accepts.
const DistSyntax = `DURATION (constant, e.g. 0.2s), uniform:LO,HI, exp:MEAN, or csv:FILE (measured seconds, first column)`

// ParseDist reads a distribution: "0.2s", "uniform:26s,40s", "exp:0.2s" or
// "csv:times.csv" (one value per line in the first column, in seconds or
// as a Go duration; a header line is skipped).
func ParseDist(spec string) (Dist, error) {
	kind, arg, hasKind := strings.Cut(spec, ":")
	if !hasKind {
		d, err := parseDuration(spec)
		if err != nil {
			return nil, invalidf("distribution %q: want %s", spec, DistSyntax)
		}
		return Constant(d), nil
	}
	switch kind {
	case "uniform":
		lo, hi, ok := strings.Cut(arg, ",")
		a, errA := parseDuration(lo)
		b, errB := parseDuration(hi)
		if !ok || errA != nil || errB != nil || b < a {
			return nil, invalidf("distribution %q: want uniform:LO,HI with durations LO <= HI, e.g. uniform:26s,40s", spec)
		}
		return Uniform{a, b}, nil
	case "exp":
		m, err := parseDuration(arg)
		if err != nil || m == 0 {
			return nil, invalidf("distribution %q: want exp:MEAN with a positive duration, e.g. exp:0.2s", spec)
		}
		return Exponential{m}, nil
	case "csv":
		values, err := readSecondsFile(arg)
		if err != nil {
			return nil, err
		}
		if len(values) == 0 {
			return nil, invalidf("distribution %q: %s holds no values", spec, arg)
		}
		return Empirical{values, arg}, nil
	}
	return nil, invalidf("distribution %q: unknown kind %q; want %s", spec, kind, DistSyntax)
}

// parseDuration reads a non-negative Go duration ("0.2s") or plain seconds ("0.2").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != f || f > 1e9 {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

func readSecondsFile(path string) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, imgrec.WrapError(imgrec.EINVALID, err, "reading %s", path)
	}
	defer f.Close()
	return ReadSeconds(f, path)
}

// ReadSeconds reads durations from the first column of CSV lines, in seconds
// ("0.25") or as Go durations ("250ms"). A first line that is not a number
// is taken as a header; blank lines are skipped. name is used in errors.
func ReadSeconds(r io.Reader, name string) ([]time.Duration, error) {
	var out []time.Duration
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		field, _, _ := strings.Cut(sc.Text(), ",")
		field = strings.Trim(strings.TrimSpace(field), `"`)
		if field == "" {
			continue
		}
		d, err := parseDuration(field)
		if err != nil {
			if n == 1 {
				continue // header
			}
			return nil, invalidf("%s line %d: %v", name, n, err)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}

func invalidf(format string, args ...any) error {
	return imgrec.Errorf(imgrec.EINVALID, format, args...)
}
