package local

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds the memory an unterminated line can take.
const maxLine = 64 << 10

// lineWriter passes one worker's output on line by line, each prefixed
// with the instance id, and writes whole lines under a lock that all
// workers share, so their lines never interleave. exec.Cmd calls Write
// from one goroutine.
type lineWriter struct {
	mu     *sync.Mutex
	dst    io.Writer
	prefix []byte
	buf    []byte // an unfinished line
	out    []byte // scratch for prefix + line
}

func newLineWriter(mu *sync.Mutex, dst io.Writer, id string) *lineWriter {
	return &lineWriter{mu: mu, dst: dst, prefix: []byte("[" + id + "] ")}
}

// Write never fails: an error would make exec stop copying, and the worker
// would block on a full pipe.
func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	start := 0
	for {
		i := bytes.IndexByte(w.buf[start:], '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[start : start+i+1])
		start += i + 1
	}
	w.buf = w.buf[:copy(w.buf, w.buf[start:])]
	if len(w.buf) >= maxLine {
		w.flush()
	}
	return len(b), nil
}

// flush writes out an unfinished line, ending it.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(append(w.buf, '\n'))
		w.buf = w.buf[:0]
	}
}

func (w *lineWriter) emit(line []byte) {
	w.out = append(append(w.out[:0], w.prefix...), line...)
	w.mu.Lock()
	w.dst.Write(w.out)
	w.mu.Unlock()
}
