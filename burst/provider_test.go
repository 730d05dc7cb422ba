package burst_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/burst"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/local"
)

// The test binary doubles as the parts' workers: run with FAKE_WORKER set,
// it says ready, is busy while its busy file exists, and exits once its
// standard input ends (the drain request).
func TestMain(m *testing.M) {
	if os.Getenv("FAKE_WORKER") == "" {
		os.Exit(m.Run())
	}
	fd, err := strconv.Atoi(os.Getenv(imgrec.StatusFDEnv))
	if err != nil {
		os.Exit(2)
	}
	status := os.NewFile(uintptr(fd), "status")
	drain, _ := imgrec.DrainOnEOF(context.Background(), os.Stdin)
	imgrec.WriteStatus(status, imgrec.WorkerReady)
	busy := false
	for tick := time.Tick(5 * time.Millisecond); ; {
		select {
		case <-drain.Done():
			os.Exit(0)
		case <-tick:
			_, err := os.Stat(busyFile(os.Getenv("FAKE_DIR"), os.Getenv(imgrec.InstanceIDEnv)))
			if want := err == nil; want != busy {
				busy = want
				imgrec.WriteStatus(status, map[bool]imgrec.WorkerStatus{true: imgrec.WorkerBusy, false: imgrec.WorkerIdle}[busy])
			}
		}
	}
}

func busyFile(dir, id string) string { return filepath.Join(dir, id+".busy") }

// localPart is a local provider of fake workers steered through dir.
func localPart(t *testing.T, name string, max int, price float64) (burst.Part, string) {
	t.Helper()
	dir := t.TempDir()
	p := local.New(local.Config{
		Command:      []string{os.Args[0]},
		Env:          []string{"FAKE_WORKER=1", "FAKE_DIR=" + dir, "GORACE=atexit_sleep_ms=0"},
		DrainTimeout: 5 * time.Second,
		Logger:       slog.New(slog.DiscardHandler),
		Stdout:       t.Output(), Stderr: t.Output(),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	return burst.Part{Name: name, Provider: p, Max: max, Price: price}, dir
}

// fleet is a composite of a dear part given first and a cheap one.
func fleet(t *testing.T, cheapMax, dearMax int) (*burst.Provider, map[string]string) {
	t.Helper()
	dear, dearDir := localPart(t, "dear", dearMax, 0.0416/3600)
	cheap, cheapDir := localPart(t, "cheap", cheapMax, 0)
	p, err := burst.New([]burst.Part{dear, cheap}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p, map[string]string{"dear": dearDir, "cheap": cheapDir}
}

func TestConformance(t *testing.T) {
	p, dirs := fleet(t, 1, 4) // the suite's two instances land on both parts
	conformance.Provider(t, p, conformance.ProviderOptions{
		Timeout: 10 * time.Second,
		Poll:    10 * time.Millisecond,
		SetBusy: func(t *testing.T, id string, busy bool) {
			part, partID, _ := burst.SplitID(id)
			f := busyFile(dirs[part], partID)
			if busy {
				if err := os.WriteFile(f, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// byPart counts a listing's instances by provider and state.
func byPart(t *testing.T, p *burst.Provider) map[string]map[imgrec.InstanceState]int {
	t.Helper()
	insts, err := p.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]map[imgrec.InstanceState]int{}
	for _, in := range insts {
		if !strings.HasPrefix(in.ID, in.Provider+burst.Sep) {
			t.Errorf("instance %s of provider %q: want the id prefixed with its provider", in.ID, in.Provider)
		}
		if m[in.Provider] == nil {
			m[in.Provider] = map[imgrec.InstanceState]int{}
		}
		m[in.Provider][in.State]++
	}
	return m
}

func waitFor(t *testing.T, p *burst.Provider, what string, ok func(map[string]map[imgrec.InstanceState]int) bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m := byPart(t, p)
		if ok(m) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s: %v", what, m)
		}
	}
}

// TestFillsCheapestFirst: launches fill the cheap part to its cap before
// the dear one takes any, a launch beyond both caps does nothing, a start
// beyond a part's cap does nothing, and List gives the cheap part first.
func TestFillsCheapestFirst(t *testing.T) {
	p, _ := fleet(t, 2, 3)
	if parts := p.Parts(); parts[0].Name != "cheap" || p.Max() != 5 {
		t.Fatalf("parts %v, max %d; want cheap first and 5 in all", parts, p.Max())
	}
	ctx := t.Context()
	got, err := p.Launch(ctx, 1)
	if err != nil || len(got) != 1 || got[0].Provider != "cheap" || !strings.HasPrefix(got[0].ID, "cheap:w-") {
		t.Fatalf("Launch(1): %+v, %v; want one instance on cheap", got, err)
	}
	got, err = p.Launch(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	var where []string
	for _, in := range got {
		where = append(where, in.Provider)
	}
	if !slices.Equal(where, []string{"cheap", "dear", "dear"}) {
		t.Errorf("Launch(3) with 1 of 2 cheap taken: on %v, want cheap, dear, dear", where)
	}
	_, err = p.Launch(ctx, 2)
	if imgrec.ErrorCode(err) != imgrec.ECONFLICT || !strings.Contains(err.Error(), "room for 1 (cheap 0 of 2, dear 1 of 3 free)") {
		t.Errorf("Launch(2) with room for 1: %v; want ECONFLICT saying where there is room", err)
	}
	waitFor(t, p, "4 running", func(m map[string]map[imgrec.InstanceState]int) bool {
		return m["cheap"][imgrec.StateRunning] == 2 && m["dear"][imgrec.StateRunning] == 2
	})
	insts, _ := p.List(ctx)
	if insts[0].Provider != "cheap" || insts[1].Provider != "cheap" || insts[2].Provider != "dear" {
		t.Errorf("List: %v; want the cheap part's instances first", insts)
	}

	// Stop one of each; with one more launched on cheap, cheap is full
	// again: its stopped instance cannot start, dear's can.
	cheap, dear := insts[0].ID, insts[2].ID
	if err := p.Stop(ctx, []string{cheap, dear}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, "one stopped on each part", func(m map[string]map[imgrec.InstanceState]int) bool {
		return m["cheap"][imgrec.StateStopped] == 1 && m["dear"][imgrec.StateStopped] == 1
	})
	if got, err := p.Launch(ctx, 1); err != nil || got[0].Provider != "cheap" {
		t.Fatalf("Launch(1) with room on cheap again: %+v, %v", got, err)
	}
	err = p.Start(ctx, []string{dear, cheap})
	if imgrec.ErrorCode(err) != imgrec.ECONFLICT || !strings.Contains(err.Error(), "cap") {
		t.Errorf("Start of a full part's instance: %v, want ECONFLICT", err)
	}
	if m := byPart(t, p); m["dear"][imgrec.StateStopped] != 1 {
		t.Errorf("a refused Start started something: %v", m)
	}
	if err := p.Start(ctx, []string{dear}); err != nil {
		t.Errorf("Start(%s): %v", dear, err)
	}

	// A call across parts with one bad id does nothing.
	running := insts[1].ID // cheap, running
	err = p.Stop(ctx, []string{running, "dear:w-99"})
	if imgrec.ErrorCode(err) != imgrec.ENOTFOUND || !strings.Contains(err.Error(), "dear:w-99") {
		t.Errorf("Stop of a running and an unknown instance: %v, want ENOTFOUND naming dear:w-99", err)
	}
	err = p.Terminate(ctx, []string{running, "moon:w-1"})
	if imgrec.ErrorCode(err) != imgrec.ENOTFOUND || !strings.Contains(err.Error(), "moon:w-1") {
		t.Errorf("Terminate naming an unknown part: %v, want ENOTFOUND naming moon:w-1", err)
	}
	if m := byPart(t, p); m["cheap"][imgrec.StateRunning]+m["cheap"][imgrec.StatePending] != 2 {
		t.Errorf("a refused call changed the cheap part: %v", m)
	}
}

func TestNewRefuses(t *testing.T) {
	part, _ := localPart(t, "a", 1, 0)
	for _, c := range []struct {
		parts []burst.Part
		want  string
	}{
		{nil, "no parts"},
		{[]burst.Part{part, part}, "part a given twice"},
		{[]burst.Part{{Name: "a:b", Provider: part.Provider, Max: 1}}, `part name "a:b"`},
		{[]burst.Part{{Name: "b", Provider: part.Provider}}, "part b: max 0"},
		{[]burst.Part{{Name: "b", Provider: part.Provider, Max: 1, Price: -1}}, "part b: price -1"},
		{[]burst.Part{{Name: "b", Max: 1}}, "part b has no provider"},
	} {
		_, err := burst.New(c.parts, nil)
		if imgrec.ErrorCode(err) != imgrec.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%v): %v, want EINVALID and %q", c.parts, err, c.want)
		}
	}
}

func ExampleSplitID() {
	fmt.Println(burst.ID("nova", "5e0c8d9a"))
	fmt.Println(burst.SplitID("ec2:i-0abc"))
	// Output:
	// nova:5e0c8d9a
	// ec2 i-0abc true
}
