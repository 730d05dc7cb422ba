package local

import (
	"os/exec"
	"runtime"
	"sync"
)

// Workers must die with us, so on Linux they get Pdeathsig (see
// sysProcAttr). But the kernel sends that signal when the *thread* that
// forked the child exits, not the process, and Go ends a thread whenever a
// goroutine that locked it returns without unlocking, which any library
// may do. A worker forked from such a thread would be killed while we
// still run. So every worker is forked from one goroutine that locks its
// thread and never returns: that thread lives exactly as long as the
// process.
var (
	spawnOnce  sync.Once
	spawnQueue = make(chan func())
)

// startCmd runs cmd.Start on the spawning thread.
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked
			for f := range spawnQueue {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnQueue <- func() { errc <- cmd.Start() }
	return <-errc
}
