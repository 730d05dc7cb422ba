//go:build linux

package local_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/imgrec/imgrec/internal/conformance"
)

// A worker must not outlive a parent killed with SIGKILL, which has no
// chance to clean up.
func TestWorkerDiesWithParent(t *testing.T) {
	dir := t.TempDir()
	parent := exec.Command(os.Args[0])
	parent.Env = append(os.Environ(), "FAKE_WORKER=parent", "FAKE_DIR="+dir, noRaceExitSleep)
	parent.Stderr = t.Output()
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Process.Kill(); parent.Wait() })
	for deadline := time.Now().Add(conformance.Generous); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "parent.ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the intermediate process did not get its worker running")
		}
	}
	worker := readPid(t, dir, "w-1")
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	for deadline := time.Now().Add(conformance.Generous); alive(worker); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(worker, syscall.SIGKILL)
			t.Fatalf("worker pid %d outlived its parent", worker)
		}
	}
}
