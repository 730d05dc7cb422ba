package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imgrec/imgrec/autoscale"
)

// Flags that take one value or one per provider ("nova=4,ec2=16"), for a
// fleet over several providers (--provider nova,ec2). The simulator's
// --max and --price read the same forms.

// perProvider is a NAME=VALUE list in the order given.
type perProvider[T any] struct {
	names  []string
	values []T
}

func (p perProvider[T]) get(name string) (T, bool) {
	if i := slices.Index(p.names, name); i >= 0 {
		return p.values[i], true
	}
	var zero T
	return zero, false
}

// parsePerProvider reads "NAME=VALUE,NAME=VALUE" with parse for each value.
// A value may hold commas itself (nova=uniform:20s,40s): an item without
// "=" continues the value before it.
func parsePerProvider[T any](s string, parse func(string) (T, error)) (perProvider[T], error) {
	var names, raw []string
	for item := range strings.SplitSeq(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		switch {
		case !ok && len(raw) > 0:
			raw[len(raw)-1] += "," + item
			continue
		case !ok || name == "":
			return perProvider[T]{}, fmt.Errorf("%q: want NAME=VALUE", item)
		case slices.Contains(names, name):
			return perProvider[T]{}, fmt.Errorf("%s given twice", name)
		}
		names, raw = append(names, name), append(raw, v)
	}
	out := perProvider[T]{names: names}
	for i, v := range raw {
		x, err := parse(v)
		if err != nil {
			return perProvider[T]{}, fmt.Errorf("%s: %w", names[i], err)
		}
		out.values = append(out.values, x)
	}
	return out, nil
}

// capsFlag is --max-instances: a number (the whole fleet's cap) or a cap
// per provider, whose sum is the fleet's.
type capsFlag struct {
	total *int
	per   perProvider[int]
}

func (f *capsFlag) String() string {
	if f.total == nil {
		return ""
	}
	if len(f.per.names) > 0 {
		return joinPer(f.per, strconv.Itoa)
	}
	return strconv.Itoa(*f.total)
}

func (f *capsFlag) Set(s string) error {
	parseCap := func(v string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q: want a whole number >= 1", v)
		}
		return n, nil
	}
	if !strings.Contains(s, "=") {
		n, err := parseCap(s)
		if err != nil {
			return err
		}
		*f.total, f.per = n, perProvider[int]{}
		return nil
	}
	per, err := parsePerProvider(s, parseCap)
	if err != nil {
		return err
	}
	f.per, *f.total = per, 0
	for _, n := range per.values {
		*f.total += n
	}
	return nil
}

// priceFlag is --price: what an instance of each provider costs while it
// runs, e.g. "nova=0,ec2=0.0416/h"; stored per second.
type priceFlag struct{ per perProvider[float64] }

// defaultPrices order the providers when --price does not name them: a
// private cloud and this machine cost nothing extra, EC2 its on-demand
// price for the default instance type (t3.medium, us-east-1, Linux).
var defaultPrices = map[string]float64{"local": 0, "nova": 0, "ec2": 0.0416 / 3600}

func (f *priceFlag) String() string {
	return joinPer(f.per, func(v float64) string { return strconv.FormatFloat(v*3600, 'g', -1, 64) + "/h" })
}

func (f *priceFlag) Set(s string) error {
	per, err := parsePerProvider(s, parsePrice)
	f.per = per
	return err
}

// price is provider's price a second: --price's, else its default.
func (f *priceFlag) price(provider string) float64 {
	if v, ok := f.per.get(provider); ok {
		return v
	}
	return defaultPrices[provider]
}

// parsePrice reads a price: NUMBER/h, NUMBER/min or NUMBER/s, a plain
// number being per hour (as clouds list their prices); it returns it per
// second.
func parsePrice(s string) (float64, error) {
	s = strings.TrimSpace(s)
	num, unit, _ := strings.Cut(s, "/")
	per := map[string]float64{"": 3600, "h": 3600, "hour": 3600, "min": 60, "m": 60, "s": 1, "second": 1}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if per == 0 || err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("price %q: want a number >= 0, per hour (0.0416/h or 0.0416), minute (/min) or second (/s)", s)
	}
	return v / per, nil
}

// minBilledFlag is --min-billed: one duration, or one per provider; unset,
// each provider's own (EC2 bills a minute per start).
type minBilledFlag struct {
	all *time.Duration // set for one duration for every provider
	per perProvider[time.Duration]
}

func (f *minBilledFlag) String() string {
	switch {
	case f.all != nil:
		return f.all.String()
	case len(f.per.names) > 0:
		return joinPer(f.per, time.Duration.String)
	}
	return ""
}

func (f *minBilledFlag) Set(s string) error {
	parse := func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%q: want a duration >= 0", v)
		}
		return d, nil
	}
	if !strings.Contains(s, "=") {
		d, err := parse(s)
		f.all, f.per = &d, perProvider[time.Duration]{}
		return err
	}
	per, err := parsePerProvider(s, parse)
	f.all, f.per = nil, per
	return err
}

// of is the minimum billed per start of provider's instances.
func (f *minBilledFlag) of(provider string) time.Duration {
	if f.all != nil {
		return *f.all
	}
	if d, ok := f.per.get(provider); ok {
		return d
	}
	if provider == "ec2" {
		return autoscale.EC2MinBilled
	}
	return 0
}

func joinPer[T any](p perProvider[T], format func(T) string) string {
	parts := make([]string, len(p.names))
	for i, n := range p.names {
		parts[i] = n + "=" + format(p.values[i])
	}
	return strings.Join(parts, ",")
}

// describeParts says how a fleet is split, for the controller's first log line.
func describeParts(parts []autoscale.Part) string {
	var s []string
	for _, p := range parts {
		s = append(s, fmt.Sprintf("%s max %d at %g/h, %s billed per start", p.Name, p.Max, p.Price*3600, p.MinBilled))
	}
	return strings.Join(s, "; ")
}
