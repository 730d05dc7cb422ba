package testserver

import "sync"

// Output keeps what a server process writes, for failure messages. It is
// safe for the process's writes while a test reads.
type Output struct {
	// Max, if not 0, keeps only the last Max bytes.
	Max int

	mu sync.Mutex
	b  []byte
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b = append(o.b, p...)
	if over := len(o.b) - o.Max; o.Max > 0 && over > 0 {
		o.b = append(o.b[:0], o.b[over:]...)
	}
	return len(p), nil
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.b)
}
