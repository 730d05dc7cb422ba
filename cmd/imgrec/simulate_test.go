package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimulateTableAndPlots(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plots")
	code, out, errOut := runImgrec(t, "simulate", "--workload", "burst:40", "--boot", "ec2", "--service", "0.2s", "--max", "10", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "burst:40, boot ec2, service 200ms, max 10, seed 1\n") {
		t.Errorf("title: %q", out)
	}
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		if !strings.Contains(out, "\n       "+p+" ") {
			t.Errorf("table lacks policy %s:\n%s", p, out)
		}
	}
	for _, f := range []string{"instances.svg", "depth.svg", "latency-cdf.svg", "cost-latency.svg"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || !bytes.HasPrefix(b, []byte("<svg ")) {
			t.Errorf("%s: %v", f, err)
		}
	}
	// One seed, one run.
	if _, again, _ := runImgrec(t, "simulate", "--workload", "burst:40", "--service", "0.2s", "--max", "10"); again != out {
		t.Errorf("a second run differs:\n%s\n%s", out, again)
	}
}

func TestSimulateJSON(t *testing.T) {
	code, out, errOut := runImgrec(t, "simulate", "--policy", "d,e", "--workload", "poisson:2,2m", "--boot", "uniform:1s,2s", "--restart", "0.5s", "--stop", "1s", "--service", "exp:0.3s", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Boot, Restart, Stop, Service string
		Results                      []struct {
			Policy   string
			Requests int
			Billed   float64 `json:"billed_instance_seconds"`
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Boot != "uniform:1s,2s" || got.Restart != "500ms" || got.Stop != "1s" || got.Service != "exp:300ms" {
		t.Errorf("world: %+v", got)
	}
	if len(got.Results) != 2 || got.Results[0].Policy != "d" || got.Results[1].Policy != "e" || got.Results[1].Requests == 0 || got.Results[1].Billed < 60 {
		t.Errorf("results: %+v", got.Results)
	}
}

func TestSimulateUsage(t *testing.T) {
	code, _, help := runImgrec(t, "simulate", "-h")
	for _, want := range []string{"burst:N", "poisson:RATE,DURATION", "replay:FILE", "uniform:LO,HI", "csv:FILE", "KEDA", "-bill-boot"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	for _, c := range []struct{ args, want string }{
		{"--policy a,f", `--policy: unknown policy "f"`},
		{"--workload burst", `--workload: workload "burst"`},
		{"--workload poisson:5", "poisson:RATE,DURATION"},
		{"--boot fast", "--boot: want ec2, warm, local or a DIST"},
		{"--service -1s", `--service: distribution "-1s"`},
		{"--restart uniform:2s", "--restart: "},
		{"--max 0", `"0": want a whole number >= 1`},
		{"--provider nova,ec2", "give each provider its cap, e.g. --max nova=4,ec2=8"},
		{"--provider nova,ec2 --max nova=4,gce=4", "--max names gce, which --provider nova,ec2 does not"},
		{"--provider nova,gce --max nova=4,gce=4", "no preset for gce; give its boot times with --boot gce=DIST"},
		{"--provider nova,ec2 --max nova=4,ec2=4 --boot nova=fast", "--boot: nova: want a preset"},
		{"--provider nova,ec2 --max nova=4,ec2=4 --restart 1s", "--restart, --stop and --bill-boot are for one provider"},
		{"--max nova=4", "--max NAME=N, --price and --min-billed are for several providers"},
		{"--price ec2=1", "--max NAME=N, --price and --min-billed are for several providers"},
		{"--workload day:0,1h", "day:PEAK,DURATION"},
		{"--xmax -1s", "--xmax -1s: must not be negative"},
		{"--xmax 60s", "give --out DIR"},
		{"--out /tmp --measured /nonexistent.csv", "--measured"},
	} {
		code, _, errOut := runImgrec(t, append([]string{"simulate"}, strings.Fields(c.args)...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("simulate %s: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// TestSimulateFleet: `simulate --provider nova,ec2` gives each policy's
// cost and providers' shares, and what bursting saves against EC2 alone;
// its own boot times for a provider with commas in the DIST.
func TestSimulateFleet(t *testing.T) {
	code, out, errOut := runImgrec(t, "simulate", "--provider", "nova,ec2", "--max", "nova=2,ec2=6", "--price", "ec2=0.1/h",
		"--boot", "nova=uniform:10s,20s", "--policy", "a,e", "--workload", "burst:40")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"burst:40, nova (max 2, 0/h, launch uniform:10s,20s, restart uniform:10s,20s) + ec2 (max 6, 0.1/h, launch uniform:26s,40s, restart uniform:4s,6s), service 200ms, seed 1\n",
		"billed-s (peak) by provider", "nova ", "(2), ec2 ", "\nagainst ec2 alone (max 8), the same requests:\n", "cost ec2 alone", " %  ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runImgrec(t, "simulate", "--provider", "nova,ec2", "--max", "nova=2,ec2=6", "--policy", "e", "--workload", "day:5,10m", "--json")
	var got struct {
		Providers []struct {
			Name         string
			Max          int
			PricePerHour float64 `json:"price_per_hour"`
			MinBilled    float64 `json:"min_billed_seconds"`
		}
		Alone   string
		Results []struct {
			Cost      *float64
			Providers []struct{ Name string }
		}
		AloneResults []struct{ Cost *float64 } `json:"alone_results"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("--json: exit %d, %v: %s%s", code, err, out, errOut)
	}
	if len(got.Providers) != 2 || got.Providers[0].Name != "nova" || got.Providers[1].PricePerHour != 0.0416 || got.Providers[1].MinBilled != 60 ||
		got.Alone != "ec2" || len(got.Results) != 1 || got.Results[0].Cost == nil || len(got.Results[0].Providers) != 2 ||
		got.AloneResults[0].Cost == nil || *got.AloneResults[0].Cost <= *got.Results[0].Cost {
		t.Errorf("--json: %s", out)
	}
}
