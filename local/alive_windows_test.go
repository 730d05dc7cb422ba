package local_test

import "os"

// alive reports whether a process pid can be opened; one that exited but
// whose handle is still held counts as alive.
func alive(pid int) bool {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	proc.Release()
	return true
}
