package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec/autoscale"
)

func TestParsePrice(t *testing.T) {
	for in, want := range map[string]float64{
		"0": 0, "0.0416/h": 0.0416 / 3600, "0.0416": 0.0416 / 3600, "1.2/min": 0.02, "0.5/s": 0.5, " 3.6/hour ": 0.001,
	} {
		if got, err := parsePrice(in); err != nil || math.Abs(got-want) > 1e-15 {
			t.Errorf("parsePrice(%q) = %v, %v; want %v a second", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1/day", "x/h", "NaN", "Inf/s"} {
		if _, err := parsePrice(in); err == nil {
			t.Errorf("parsePrice(%q): no error", in)
		}
	}
}

// TestPlan: the fleet's parts from --provider, --max-instances, --price and
// --min-billed, cheapest first.
func TestPlan(t *testing.T) {
	total := 20
	caps := capsFlag{total: &total}
	var prices priceFlag
	var mb minBilledFlag
	pf := &providerFlagSet{name: "ec2,nova"}
	for flag, set := range map[string]func() error{
		"--max-instances": func() error { return caps.Set("ec2=16,nova=4") },
		"--min-billed":    func() error { return mb.Set("nova=10s") },
	} {
		if err := set(); err != nil {
			t.Fatalf("%s: %v", flag, err)
		}
	}
	parts, err := pf.plan(&caps, &prices, &mb)
	if err != nil {
		t.Fatal(err)
	}
	want := []autoscale.Part{
		{Name: "nova", Max: 4, Price: 0, MinBilled: 10 * time.Second},
		{Name: "ec2", Max: 16, Price: 0.0416 / 3600, MinBilled: time.Minute},
	}
	if len(parts) != 2 || parts[0] != want[0] || parts[1] != want[1] || total != 20 {
		t.Fatalf("plan: %+v (total %d); want %+v", parts, total, want)
	}
	if s := caps.String() + " " + prices.String(); s != "ec2=16,nova=4 " {
		t.Errorf("flags print %q", s)
	}
	// Prices set the order, not --provider's.
	if err := prices.Set("nova=0.1/h,ec2=0.05/h"); err != nil {
		t.Fatal(err)
	}
	if parts, _ := pf.plan(&caps, &prices, &mb); parts[0].Name != "ec2" || !strings.Contains(describeParts(parts), "ec2 max 16 at 0.05/h, 1m0s billed per start; nova max 4 at 0.1/h") {
		t.Errorf("with nova dearer: %+v (%s)", parts, describeParts(parts))
	}
	// One provider takes the whole cap; a single duration, every provider.
	if err := caps.Set("7"); err != nil || total != 7 {
		t.Fatalf("--max-instances 7: %v, total %d", err, total)
	}
	mb.Set("0s")
	one := &providerFlagSet{name: "ec2"}
	if parts, err := one.plan(&caps, &priceFlag{}, &mb); err != nil || len(parts) != 1 || parts[0].Max != 7 || parts[0].MinBilled != 0 {
		t.Errorf("one provider: %+v, %v", parts, err)
	}
}
