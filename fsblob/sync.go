package fsblob

import (
	"os"
	"sync"
	"time"
)

// groupCommit makes writes durable in groups. Each writer hands over its
// still-open file once the file is in place; whoever finds no flush running
// flushes every file handed over so far, and the directory once, for all of
// them. Under concurrency N writers cost about one journal commit instead of
// 2N fsyncs, and a lone writer pays the same as before.
type groupCommit struct {
	dir   *os.File // the store's directory, whose entries the renames changed
	flush func(files []*os.File, dir *os.File) error
	// coversAll: a flush writes back the whole filesystem, not only the
	// files handed over (syncfs on Linux).
	coversAll bool
	slack     time.Duration // clockSlack; tests shorten it

	mu      sync.Mutex
	cond    sync.Cond
	pending []*os.File
	running bool
	started uint64 // flush generations begun
	done    uint64 // flush generations finished
	failed  uint64 // the last generation whose flush failed, 0 if none
	err     error
	// flushedBefore: when coversAll, every change made before this time is
	// on disk (the start of the last flush that succeeded).
	flushedBefore time.Time
}

// clockSlack allows for the coarse clock the kernel stamps changes with,
// which may lag time.Now by a few milliseconds.
const clockSlack = time.Second

func newGroupCommit(dir *os.File) *groupCommit {
	g := &groupCommit{dir: dir, flush: flush, coversAll: flushCoversAll, slack: clockSlack}
	g.cond.L = &g.mu
	return g
}

// commit returns once f's data and the directory entry naming it are on
// disk. f stays open; the caller closes it.
func (g *groupCommit) commit(f *os.File) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, f)
	// A flush already running may have taken its list before f joined:
	// f needs the one after it.
	want := g.started + 1
	for g.done < want {
		if g.running {
			g.cond.Wait()
			continue
		}
		files := g.pending
		g.pending = nil
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		start := time.Now()
		err := g.flush(files, g.dir)
		g.mu.Lock()
		g.running = false
		g.done = gen
		if err != nil {
			g.failed, g.err = gen, err
		} else if g.coversAll {
			g.flushedBefore = start
		}
		g.cond.Broadcast()
	}
	if g.failed >= want {
		return g.err
	}
	return nil
}

// onDisk reports whether a flush of this process that wrote back the whole
// filesystem began after changed, so a file last changed then needs none.
func (g *groupCommit) onDisk(changed time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.coversAll && !changed.IsZero() && changed.Add(g.slack).Before(g.flushedBefore)
}
