package imgrec

import (
	"bufio"
	"context"
	"io"
	"strings"
)

// A worker started by a local provider reports its status to it, one word a
// line, on an inherited pipe: "ready" once it can take requests, "busy" when
// its first request in hand arrives, "idle" when its last one is done. The
// other way, the provider asks it to drain (finish what it holds, then exit)
// by closing its standard input, which the kernel also does should the
// provider die. This file is the one place that protocol is spelled;
// workers speak it, the local provider listens.

// WorkerStatus is one status word.
type WorkerStatus string

const (
	WorkerReady WorkerStatus = "ready"
	WorkerBusy  WorkerStatus = "busy"
	WorkerIdle  WorkerStatus = "idle"
)

// Environment a provider gives each worker process it starts.
const (
	// StatusFDEnv names the file descriptor (≥ 3) of the status pipe.
	StatusFDEnv = "IMGREC_STATUS_FD"
	// InstanceIDEnv is the instance id the worker reports in answers and logs.
	InstanceIDEnv = "IMGREC_INSTANCE_ID"
)

// DrainOnEOF returns a context that ends when r (the worker's standard
// input) reaches its end or fails, and when ctx ends.
func DrainOnEOF(ctx context.Context, r io.Reader) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		io.Copy(io.Discard, r)
		cancel()
	}()
	return ctx, cancel
}

// WriteStatus writes one status line.
func WriteStatus(w io.Writer, s WorkerStatus) error {
	_, err := io.WriteString(w, string(s)+"\n")
	return err
}

// ScanStatus calls fn with the first word of each newline-terminated line
// read from r until r fails. It skips blank lines, lines longer than a
// status word could be, and an unterminated last line; words it does not
// know are passed on for the reader to ignore. It never stops reading early:
// a worker blocked on a full pipe would hang.
func ScanStatus(r io.Reader, fn func(WorkerStatus)) {
	br := bufio.NewReaderSize(r, 256)
	overlong := false
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			overlong = true
			continue
		case err != nil:
			return
		case overlong:
			overlong = false // the end of an over-long line
			continue
		}
		if fields := strings.Fields(string(line)); len(fields) > 0 {
			fn(WorkerStatus(fields[0]))
		}
	}
}
