package local_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/internal/conformance"
	"github.com/imgrec/imgrec/local"
)

// newProvider returns a Provider whose workers are fake workers of the
// given mode, steered through the returned directory. It is closed when
// the test ends.
func newProvider(t *testing.T, mode string, cfg local.Config) (*local.Provider, string) {
	t.Helper()
	dir := t.TempDir()
	cfg.Command = []string{os.Args[0]}
	cfg.Env = []string{"FAKE_WORKER=" + mode, "FAKE_DIR=" + dir, noRaceExitSleep}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	if cfg.Stdout == nil {
		cfg.Stdout, cfg.Stderr = t.Output(), t.Output()
	}
	p := local.New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), conformance.Generous)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p, dir
}

func TestConformance(t *testing.T) {
	p, dir := newProvider(t, "worker", local.Config{DrainTimeout: conformance.Generous})
	conformance.Provider(t, p, conformance.ProviderOptions{
		Poll:    10 * time.Millisecond,
		SetBusy: func(t *testing.T, id string, busy bool) { setBusy(t, dir, id, busy) },
	})
}

func TestStopLetsBusyWorkerFinish(t *testing.T) {
	p, dir := newProvider(t, "worker", local.Config{})
	id := launch(t, p)
	setBusy(t, dir, id, true)
	waitFor(t, p, id, func(in imgrec.Instance) bool { return in.Busy })

	start := time.Now()
	if err := p.Stop(t.Context(), []string{id}); err != nil {
		t.Fatal(err)
	}
	in := waitFor(t, p, id, func(in imgrec.Instance) bool { return in.State == imgrec.StateStopped })
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("stopped %v after Stop, before its 300ms of work were done", d)
	}
	if b, err := os.ReadFile(doneFile(dir, id)); string(b) != "finished\n" {
		t.Errorf("the worker's record of finished work: %q, %v; want one request finished", b, err)
	}
	if in.Detail != "drained" || in.Busy {
		t.Errorf("after the drain: %+v, want detail drained and not busy", in)
	}
}

func TestCrashedWorkerCanRestart(t *testing.T) {
	p, dir := newProvider(t, "worker", local.Config{})
	id := launch(t, p)
	pid := readPid(t, dir, id)
	if err := kill(pid); err != nil {
		t.Fatal(err)
	}
	in := waitFor(t, p, id, func(in imgrec.Instance) bool { return in.State == imgrec.StateStopped })
	if in.Detail != "exited: signal: killed" {
		t.Errorf("Detail after kill -9: %q, want %q", in.Detail, "exited: signal: killed")
	}
	if err := p.Start(t.Context(), []string{id}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, id, func(in imgrec.Instance) bool { return in.State == imgrec.StateRunning })
	if readPid(t, dir, id) == pid {
		t.Errorf("restarted %s has the old pid", id)
	}
}

func TestDrainTimeoutKills(t *testing.T) {
	p, _ := newProvider(t, "stubborn", local.Config{DrainTimeout: 200 * time.Millisecond})
	id := launch(t, p)
	start := time.Now()
	if err := p.Stop(t.Context(), []string{id}); err != nil {
		t.Fatal(err)
	}
	in := waitFor(t, p, id, func(in imgrec.Instance) bool { return in.State == imgrec.StateStopped })
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("stopped %v after Stop, before the drain timeout", d)
	}
	if !strings.HasPrefix(in.Detail, "killed") {
		t.Errorf("Detail: %q, want it to say the worker was killed", in.Detail)
	}
}

func TestCloseLeavesNoWorker(t *testing.T) {
	p, dir := newProvider(t, "worker", local.Config{})
	insts, err := p.Launch(t.Context(), 3)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, in := range insts {
		waitFor(t, p, in.ID, func(in imgrec.Instance) bool { return in.State == imgrec.StateRunning })
		pids = append(pids, readPid(t, dir, in.ID))
	}
	setBusy(t, dir, insts[0].ID, true)
	waitFor(t, p, insts[0].ID, func(in imgrec.Instance) bool { return in.Busy })
	if err := p.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("worker pid %d alive after Close", pid)
		}
	}
	if _, err := os.Stat(doneFile(dir, insts[0].ID)); err != nil {
		t.Errorf("the busy worker did not finish its request before Close returned: %v", err)
	}
	_, err = p.Launch(t.Context(), 1)
	if imgrec.ErrorCode(err) != imgrec.EUNAVAILABLE {
		t.Errorf("Launch after Close: %v, want %s", err, imgrec.EUNAVAILABLE)
	}
}

func TestCloseKillsAtDeadline(t *testing.T) {
	p, dir := newProvider(t, "stubborn", local.Config{DrainTimeout: time.Minute})
	id := launch(t, p)
	pid := readPid(t, dir, id)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil {
		t.Errorf("Close killed a worker yet reported no error")
	}
	if alive(pid) {
		t.Errorf("worker pid %d alive after Close", pid)
	}
}

func TestOutputPrefixed(t *testing.T) {
	var out syncBuffer
	p, _ := newProvider(t, "worker", local.Config{Stdout: &out, Stderr: &out})
	id := launch(t, p)
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[" + id + "] fake worker starting\n", "[" + id + "] no newline at exit\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("worker output %q lacks %q", out.String(), want)
		}
	}
}

func TestLaunchFailure(t *testing.T) {
	p := local.New(local.Config{Command: []string{"/nonexistent/imgrec"}, Logger: slog.New(slog.DiscardHandler)})
	if _, err := p.Launch(t.Context(), 1); err == nil || !strings.Contains(err.Error(), "w-1") {
		t.Errorf("Launch of a missing command: %v, want an error naming w-1", err)
	}
	if insts, _ := p.List(t.Context()); len(insts) != 0 {
		t.Errorf("List after a failed Launch: %+v, want nothing", insts)
	}
	_, err := local.New(local.Config{}).Launch(t.Context(), 1)
	if imgrec.ErrorCode(err) != imgrec.EINVALID {
		t.Errorf("Launch without a command: %v, want %s", err, imgrec.EINVALID)
	}
}

// noRaceExitSleep spares each exit of a race-enabled fake worker the race
// detector's default second of sleep.
const noRaceExitSleep = "GORACE=atexit_sleep_ms=0"

func launch(t *testing.T, p *local.Provider) string {
	t.Helper()
	insts, err := p.Launch(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	id := insts[0].ID
	waitFor(t, p, id, func(in imgrec.Instance) bool { return in.State == imgrec.StateRunning })
	return id
}

// waitFor polls until instance id satisfies ok, failing t only after a
// wait no slow machine reaches.
func waitFor(t *testing.T, p *local.Provider, id string, ok func(imgrec.Instance) bool) imgrec.Instance {
	t.Helper()
	var last imgrec.Instance
	for deadline := time.Now().Add(conformance.Generous); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		insts, err := p.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			if in.ID == id {
				if last = in; ok(in) {
					return in
				}
			}
		}
	}
	t.Fatalf("waited %v for %s; last seen %+v", conformance.Generous, id, last)
	return last
}

func setBusy(t *testing.T, dir, id string, busy bool) {
	t.Helper()
	var err error
	if busy {
		err = os.WriteFile(busyFile(dir, id), nil, 0o644)
	} else {
		err = os.Remove(busyFile(dir, id))
	}
	if err != nil {
		t.Fatal(err)
	}
}

func readPid(t *testing.T, dir, id string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile(dir, id))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// kill sends SIGKILL to pid (TerminateProcess on Windows).
func kill(pid int) error {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return proc.Kill()
}
