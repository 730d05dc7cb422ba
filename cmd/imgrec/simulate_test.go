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
		{"--max 0", "--max 0: want at least 1"},
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
