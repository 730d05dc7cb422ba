package imgrec_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgrec/imgrec"
)

func TestScanStatus(t *testing.T) {
	in := "ready\n" +
		"\n   \n" + // blank
		"  busy  request-42 \r\n" + // white space and words after the first
		strings.Repeat("z", 1000) + "idle\n" + // over-long: skipped whole
		"idle\n" +
		"unknown\n" +
		"busy" // unterminated: the worker died mid-write
	var got []imgrec.WorkerStatus
	imgrec.ScanStatus(strings.NewReader(in), func(s imgrec.WorkerStatus) { got = append(got, s) })
	if want := []imgrec.WorkerStatus{imgrec.WorkerReady, imgrec.WorkerBusy, imgrec.WorkerIdle, "unknown"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// What WriteStatus writes, ScanStatus reads back.
func TestStatusRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	sent := []imgrec.WorkerStatus{imgrec.WorkerReady, imgrec.WorkerBusy, imgrec.WorkerIdle, imgrec.WorkerBusy}
	for _, s := range sent {
		if err := imgrec.WriteStatus(&buf, s); err != nil {
			t.Fatal(err)
		}
	}
	var got []imgrec.WorkerStatus
	imgrec.ScanStatus(&buf, func(s imgrec.WorkerStatus) { got = append(got, s) })
	if !slices.Equal(got, sent) {
		t.Errorf("got %q, want %q", got, sent)
	}
}

// The drain request is the end of the worker's stdin: a closed pipe, as
// when the provider stops the worker or dies.
func TestDrainOnEOF(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := imgrec.DrainOnEOF(context.Background(), r)
	defer cancel()
	w.Write([]byte("anything written is ignored\n"))
	select {
	case <-ctx.Done():
		t.Fatal("drained before stdin closed")
	case <-time.After(50 * time.Millisecond):
	}
	w.Close()
	<-ctx.Done() // the test's timeout bounds this wait
}
