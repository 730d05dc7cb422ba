package local_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
	"github.com/imgrec/imgrec/local"
)

// The test binary doubles as the worker: run with FAKE_WORKER set, it
// acts as one instead of running the tests.
func TestMain(m *testing.M) {
	switch mode := os.Getenv("FAKE_WORKER"); mode {
	case "":
		os.Exit(m.Run())
	case "parent":
		fakeParent()
	default:
		fakeWorker(mode)
	}
}

// Files in FAKE_DIR through which tests steer and observe fake workers.
func busyFile(dir, id string) string { return filepath.Join(dir, id+".busy") } // exists: have work
func pidFile(dir, id string) string  { return filepath.Join(dir, id+".pid") }
func doneFile(dir, id string) string { return filepath.Join(dir, id+".done") } // a line per finished request

// fakeParent launches one fake worker, reports that it runs, and waits to
// be killed.
func fakeParent() {
	dir := os.Getenv("FAKE_DIR")
	p := local.New(local.Config{Command: []string{os.Args[0]}, Env: []string{"FAKE_WORKER=worker", noRaceExitSleep}})
	if _, err := p.Launch(context.Background(), 1); err != nil {
		panic(err)
	}
	for {
		insts, _ := p.List(context.Background())
		if insts[0].State == imgrec.StateRunning {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.WriteFile(filepath.Join(dir, "parent.ready"), nil, 0o644)
	select {}
}

// fakeWorker speaks the status protocol. It is busy while its busy file
// exists. The end of its stdin (the drain request) makes it finish the
// request in hand (300ms of simulated work, recorded in its done file) and
// exit 0; in mode "stubborn" it ignores the drain request.
func fakeWorker(mode string) {
	id, dir := os.Getenv(imgrec.InstanceIDEnv), os.Getenv("FAKE_DIR")
	fd, err := strconv.Atoi(os.Getenv(imgrec.StatusFDEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake worker: no", imgrec.StatusFDEnv)
		os.Exit(2)
	}
	status := os.NewFile(uintptr(fd), "status")
	drain, _ := imgrec.DrainOnEOF(context.Background(), os.Stdin)
	if mode == "stubborn" {
		drain = context.Background()
	}
	os.WriteFile(pidFile(dir, id), []byte(strconv.Itoa(os.Getpid())), 0o644)
	fmt.Println("fake worker starting")
	fmt.Fprint(os.Stderr, "no newline at exit")
	// Noise the provider must skip before the word that counts.
	fmt.Fprint(status, "loading model\n\nbusy-ish\n", strings.Repeat("x", 100<<10), "\n  ready  extra\r\n")

	busy := false
	for tick := time.Tick(5 * time.Millisecond); ; {
		select {
		case <-drain.Done():
			if busy {
				time.Sleep(300 * time.Millisecond)
				f, _ := os.OpenFile(doneFile(dir, id), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
				fmt.Fprintln(f, "finished")
				f.Close()
				imgrec.WriteStatus(status, imgrec.WorkerIdle)
			}
			os.Exit(0)
		case <-tick:
			_, err := os.Stat(busyFile(dir, id))
			if want := err == nil; want != busy {
				busy = want
				imgrec.WriteStatus(status, map[bool]imgrec.WorkerStatus{true: imgrec.WorkerBusy, false: imgrec.WorkerIdle}[busy])
			}
		}
	}
}
