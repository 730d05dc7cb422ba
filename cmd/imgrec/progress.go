package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line bar on a terminal and stays silent otherwise, so
// logs and pipes get no control characters.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	on    bool
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, label string) *progress {
	return &progress{w: w, label: label, on: isTerminal(w)}
}

func (p *progress) bytes(done, total int64) {
	p.draw(float64(done), float64(total), fmt.Sprintf("%.1f/%.1f MB", float64(done)/1e6, float64(total)/1e6))
}

// draw redraws at most 10 times a second, and always for the final value.
func (p *progress) draw(done, total float64, text string) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = min(done/total, 1)
	}
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %s", p.label, strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, text)
	p.drawn = true
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
